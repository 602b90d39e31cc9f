"""Framework layers on top of resqplug (each needs its framework installed):
``resqplug.contrib.django`` is the Django Tasks backend."""
