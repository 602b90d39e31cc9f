"""Fork mode: the parent (the worker) and its handles on children, the child side,
the fork server and the worker's link to it, the pipe protocol, the warm-up."""
