"""A wake-up that a signal handler may set, for loops that wait on a timer.

``threading.Event`` must not be set from a signal handler: its lock is not
reentrant, so a signal that lands while the main thread is inside
``Event.wait`` or ``Event.clear`` deadlocks the process (a worker that then
ignores even TERM). A non-blocking self-pipe has no lock: ``set`` writes a
byte, ``wait`` selects on the pipe and drains it. It also wakes a waiter on
another thread.
"""

from __future__ import annotations

import contextlib
import os
import select
import time


def close_fds(*fds: int) -> None:
    """Close descriptors, ignoring ones already closed."""
    for fd in fds:
        try:  # noqa: SIM105 - runs in every fork child, where less code is cheaper
            os.close(fd)
        except OSError:
            pass


class Wake:
    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def set(self) -> None:
        # OSError: the pipe is full (already set) or closed (the loop ended).
        with contextlib.suppress(OSError):
            os.write(self._write, b"!")

    def wait(self, timeout: float) -> bool:
        """Block until set or ``timeout``; true when set. Clears it."""
        try:
            ready, _, _ = select.select([self._read], [], [], timeout)
        except (OSError, ValueError):
            time.sleep(timeout)  # closed: behave like a plain pause
            return False
        self.clear()
        return bool(ready)

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self._read, 512):
                pass

    def close(self) -> None:
        close_fds(self._read, self._write)
        self._read = self._write = -1

    def __del__(self) -> None:
        if self._read >= 0:
            self.close()
