"""Threads mode (``--threads N``): N jobs at once on N threads in one process,
for I/O-bound jobs, taking jobs from the feed as threads come free."""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections import Counter
from types import FrameType

from ..feed import SLOW_JOB_S, JobFeed
from ..options import JobSettings
from ..taken import Ack, Taken

log = logging.getLogger("resqplug.worker")


class Threads:
    """N jobs at once on N threads in one process (``--threads N``), for I/O-bound
    jobs. The feed keeps at most 2N jobs in flight (``room``) and acknowledges
    in batches. When every thread has been busy for SLOW_JOB_S, the jobs
    waiting for a thread go back to their queues (for other workers) and the
    feed takes no more until a thread is free. A running thread cannot be
    stopped: timeouts and USR1 are not enforced in this mode, and at the end of
    the shutdown wait unfinished jobs are put back at the front of their queues
    and the process exits."""

    watch_slow_jobs = False  # no batches: threads take jobs one by one

    def __init__(self, feed: JobFeed, settings: JobSettings) -> None:
        self.feed, self.settings = feed, settings
        self.count = settings.options.threads
        self.todo: queue.Queue[Taken | None] = queue.Queue()
        self.done: queue.Queue[Ack] = queue.Queue()
        self.threads: list[threading.Thread] = []
        # In-flight entries handed to the threads and not yet acknowledged.
        self.held: Counter[bytes] = Counter()
        self.busy = 0  # threads running a job
        self.last_start = 0.0  # when a thread last started one
        self.busy_lock = threading.Lock()
        self.last_room = 0  # what room() said last

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGUSR1:
            log.warning("USR1: a running thread cannot be killed in threads mode")

    def run(self) -> None:
        self.threads = [
            threading.Thread(target=self._thread, daemon=True, name=f"job-{i}")
            for i in range(self.count)
        ]
        for t in self.threads:
            t.start()
        self.feed.run(self)
        self.drain()

    def _thread(self) -> None:
        feed, processor = self.feed, self.settings.processor
        while True:
            taken = self.todo.get()
            if taken is None:
                return
            with self.busy_lock:
                self.busy += 1
                self.last_start = time.monotonic()
            feed.current, feed.current_started = taken, time.time()
            try:
                self.done.put(processor.process(taken))
            finally:
                with self.busy_lock:
                    self.busy -= 1

    # --- the feed's consumer ----------------------------------------------------------

    def room(self) -> int:
        self.collect(0)
        room = 2 * self.count - self.held.total()
        if self.stalled():
            self.give_back_waiting()
            room = 0  # every thread is on a slow job: take no more for now
        self.last_room = room
        return min(room, self.feed.options.max_batch) if room > 0 else 0

    def holds(self) -> Counter[bytes]:
        return self.held

    def take(self, batch: list[Taken]) -> None:
        for taken in batch:
            self.todo.put(taken)
        self.held.update(taken.entry for taken in batch)
        self.collect(0.01 if self.last_room > len(batch) else 0.05)

    def idle(self, wait: float) -> float:
        return wait

    def while_paused(self) -> None:
        self.collect(0.05)  # threads finish meanwhile

    # --- outcomes and giving back -----------------------------------------------------

    def collect(self, wait: float) -> None:
        try:
            ack = self.done.get(timeout=wait) if wait > 0 else self.done.get_nowait()
        except queue.Empty:
            return
        acks = [ack]
        while True:
            try:
                acks.append(self.done.get_nowait())
            except queue.Empty:
                break
        self.held -= Counter(ack.entry for ack in acks)  # drops entries at zero
        for ack in acks:
            self.feed.add(ack)
        self.feed.write_soon()  # while the threads go on

    def stalled(self) -> bool:
        """Every thread has been busy with a job for SLOW_JOB_S."""
        with self.busy_lock:
            full = self.busy >= len(self.threads)
            return full and time.monotonic() - self.last_start > SLOW_JOB_S

    def give_back_waiting(self) -> None:
        """Jobs waiting for a thread go back to the front of their queues (one
        try: if Redis is away, they wait here for a thread after all)."""
        waiting = self.take_waiting()
        kept = self.feed.give_back_once(waiting)
        for taken in kept:
            self.todo.put(taken)
        self.held -= Counter(taken.entry for taken in waiting[len(kept) :])

    def take_waiting(self) -> list[Taken]:
        waiting: list[Taken] = []
        while True:
            try:
                item = self.todo.get_nowait()
            except queue.Empty:
                return waiting
            if item is None:  # not expected while running; keep it for a thread
                self.todo.put(None)
                return waiting
            waiting.append(item)

    def drain(self) -> None:
        feed = self.feed
        unstarted = self.take_waiting()
        self.held -= Counter(taken.entry for taken in unstarted)
        feed.give_back(unstarted)
        for _ in self.threads:
            self.todo.put(None)
        while self.held and not feed.control.abandon_due():
            self.collect(0.05)
        self.collect(0)  # outcomes that came at the deadline are recorded too

    def close(self) -> None:
        # Jobs still running on threads stay in the in-flight list; Worker._leave
        # puts them back at the front when the worker is stopping. What finished
        # is recorded first, as late as can be: it must not go back.
        self.collect(0)
