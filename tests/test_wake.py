"""Wake: the signal-safe wake-up the worker and scheduler loops wait on."""

from __future__ import annotations

import signal
import threading
import time

from resqplug.wake import Wake


def test_a_set_before_the_wait_returns_at_once_and_is_used_up():
    wake = Wake()
    wake.set()
    wake.set()
    assert wake.wait(5.0) is True
    started = time.monotonic()
    assert wake.wait(0.05) is False
    assert time.monotonic() - started >= 0.04


def test_a_set_from_another_thread_wakes_the_waiter():
    wake = Wake()
    threading.Timer(0.05, wake.set).start()
    started = time.monotonic()
    assert wake.wait(5.0) is True
    assert time.monotonic() - started < 2.0


def test_a_set_from_a_signal_handler_wakes_the_waiter():
    wake = Wake()
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: wake.set())
    try:
        main = threading.main_thread().ident
        threading.Timer(0.05, signal.pthread_kill, (main, signal.SIGUSR2)).start()
        assert wake.wait(5.0) is True
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_after_close_set_is_harmless_and_wait_is_a_plain_pause():
    wake = Wake()
    wake.close()
    wake.set()
    started = time.monotonic()
    assert wake.wait(0.05) is False
    assert time.monotonic() - started >= 0.04
