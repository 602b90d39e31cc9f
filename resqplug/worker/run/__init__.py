"""How jobs run: in the worker process, on threads, or in forked children."""
