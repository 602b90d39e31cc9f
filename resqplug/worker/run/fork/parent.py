"""Fork mode, the parent's side (the worker process): jobs run in a child
process, so a crash, leak or hang in a job cannot hurt the worker. A child
runs up to ``max_jobs_per_child`` jobs (1 = a fresh child per job), receiving
each over a pipe and answering with its outcome; the parent keeps the lease,
acknowledges, enforces timeouts and shutdown, and turns a child's death into
a failure of the job it was running.

A child that will run more jobs gets the next one of the batch while it runs
the current one (a hand-over), so it goes on without waiting for the parent.
A handed-over job carries a claim: the parent first puts one token in a claim
pipe that both hold, and the child runs the job only if it can take that token.
The parent can take the token back itself (when the current job turned out
slow, or at shutdown); reading one byte from a pipe is atomic, so exactly one
of them gets it, and a job is either started by the child or given back by the
parent, never both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import time
from collections import deque
from types import FrameType
from typing import TYPE_CHECKING

from ....errors import DirtyExit, JobTimeout
from ....wake import close_fds
from ...control import TICK
from ...feed import SLOW_JOB_S, JobFeed
from ...options import JobSettings, job_timeout
from ...taken import Ack, Taken
from .child import ChildLoop, fork_child
from .handle import ChildHandle, describe_status
from .link import START_TIMEOUT_S, ForkRefused, ForkServer, ForkServerGone, ServerLink
from .protocol import (
    CLAIM,
    GO,
    HANDOVER_MAX,
    RUN,
    TOKEN,
    job_frame,
    outcome_of,
    read_frame,
    take_token,
    try_write_frame,
    write_frame,
)
from .warmup import warm_up

if TYPE_CHECKING:
    from ....client import Resq
    from ....job import Job

log = logging.getLogger("resqplug.worker")
SPARE_LINGER_S = 0.25
REAP_AGAIN_S = 0.05
KILL, SHUTDOWN, TIMEOUT = "kill", "shutdown", "timeout"  # why a running child is killed
SPARES_AHEAD = 2  # children forked ahead of the jobs they will run (a child per job)


class ForkParent:
    watch_slow_jobs = False  # await_outcome gives back itself

    def __init__(self, feed: JobFeed, settings: JobSettings) -> None:
        self.feed, self.settings = feed, settings
        self.control = feed.control
        self.options = settings.options
        self.processor = settings.processor
        self.child: ChildHandle | None = None
        self.spares: deque[ChildHandle] = deque()  # forked ahead, in job order; none ran a job
        self.exiting: list[int] = []  # retired children not yet reaped
        self.idle_since: float | None = None  # when the worker went idle with a spare
        self.preloaded: dict[int, tuple[Taken, Job | None]] = {}  # id(taken) -> its Job
        self.child_client: Resq | None = None  # the default client of every child
        self.link = ServerLink(settings)  # the fork server, when there is one
        self.last_job_at = time.monotonic()

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        pass  # the parent polls Control between reads from the child

    def run(self) -> None:
        warm_up(self.settings)  # children can always be forked here
        if self.link.policy == "always":
            self.link.launch(wait=START_TIMEOUT_S)
        self.feed.run_batches(self)

    def idle(self, wait: float) -> float:
        """Idle: keep a spare child SPARE_LINGER_S after the last job (jobs often
        come in bursts, and a ready child starts the next one without a fork),
        then let them go and reap them, so an idle worker is one process.
        Returns how long the worker may wait for work before calling again."""
        self.reap_exited()
        if self.link.idle_too_long(time.monotonic() - self.last_job_at):
            self.stop_server()  # an idle worker is one process
        if not self.spares:
            # Come back soon for children still exiting: an idle worker has none.
            return min(wait, REAP_AGAIN_S) if self.exiting else wait
        now = time.monotonic()
        if self.idle_since is None:
            self.idle_since = now
        left = SPARE_LINGER_S - (now - self.idle_since)
        if left <= 0:
            self.drop_spares()
            return min(wait, REAP_AGAIN_S)
        return max(min(wait, left), 0.01)

    def drop_spares(self) -> None:
        self.idle_since = None
        while self.spares:
            self.let_go(self.spares.popleft())

    def let_go(self, child: ChildHandle) -> None:
        """Close a child's pipes (it exits at end of file) and have it reaped:
        by its fork server, or here later."""
        child.close_pipes()
        if child.server is None:
            self.exiting.append(child.pid)

    def take_spare(self) -> ChildHandle | None:
        spare = self.spares.popleft() if self.spares else None
        if spare is not None and (spare.exited() or not spare.server_alive()):
            self.let_go(spare)  # it died before it got a job (or will: PDEATHSIG)
            return None
        return spare

    def stop_server(self) -> None:
        """Let the server's children go (spares, and a child that would run more
        jobs), then stop it: it waits for them."""
        self.drop_spares()
        if self.child is not None and self.child.server is not None:
            self.let_go(self.child)
            self.child = None
        self.link.close()

    def server_gone(self, server: ForkServer, exc: ForkServerGone) -> None:
        """The server died and took its children along: none of its spares may
        be sent a job (it would be failed without having run)."""
        for spare in [s for s in self.spares if s.server is server]:
            self.spares.remove(spare)
            self.let_go(spare)
        self.link.gone(server, exc)

    def close(self) -> None:
        self.drop_spares()
        if self.child is not None:
            # A closed pipe tells the child to exit; wait for it like a retired one.
            self.let_go(self.child)
            self.child = None
        self.link.close()
        deadline = time.monotonic() + 5
        while self.exiting and time.monotonic() < deadline:
            self.reap_exited()
            time.sleep(0.01)
        for pid in self.exiting:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.exiting.clear()

    def reap_exited(self) -> None:
        """Collect retired children that have exited, without waiting."""
        for pid in list(self.exiting):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.exiting.remove(pid)

    def run_one(self, taken: Taken, upcoming: Taken | None) -> Ack | None:
        feed = self.feed
        self.idle_since, self.last_job_at = None, time.monotonic()
        if feed.queued and self.link.policy == "auto":
            self.link.launch()  # a backlog: fork from a lean server once it is up
        found = self.child_for(taken)
        if isinstance(found, Ack):
            return found
        job, start = found
        assert self.child is not None
        feed.current, feed.current_started = taken, time.time()
        self.control.forget_kill()  # a kill meant for an earlier job must not hit this one
        try:
            if start:
                write_frame(self.child.to_child, start)
            if self.child.jobs + 1 >= self.options.max_jobs_per_child:
                self.fork_ahead()
            self.hand_over(self.child, upcoming)
            return self.await_outcome(taken, job, self.child)
        except (BrokenPipeError, OSError) as exc:
            if isinstance(exc, BrokenPipeError) or self.child is not None:
                return self.child_died(taken, job)
            raise
        finally:
            feed.current, self.last_job_at = None, time.monotonic()

    def child_for(self, taken: Taken) -> tuple[Job, bytes] | Ack:
        """Make ``self.child`` the child to run ``taken``: the current one (which
        may have it handed over already), the spare forked for it, or a spare or
        new child. Returns the job and the frame that starts it (b"" if none is
        needed), or the Ack of a payload that cannot run."""
        child, spare = self.child, self.spares[0] if self.spares else None
        if child is not None and child.ahead is not None and child.ahead[0] is taken:
            job, child.ahead = child.ahead[1], None
            return job, b""
        if child is None and spare is not None and spare.bound is not None:
            if spare.bound[0] is taken and (ready := self.take_spare()) is not None:
                self.child = ready
                return spare.bound[1], GO
            self.drop_spares()  # forked for jobs given back since, or it died
        loaded = self.load(taken)
        if isinstance(loaded, Ack):
            return loaded
        if self.child is None:
            self.child = self.take_spare() or self.spawn(loaded, taken=taken)
        return loaded, RUN + job_frame(taken)

    def fork_ahead(self) -> None:
        """Fork the children of the next jobs while this one runs (there are two
        cores for the forks and the job), each with its job already loaded in
        it: it starts without a fork or a decode. A child per job forks two
        ahead: a child needs about a job's time after its fork before it can
        start one, and forked only one job ahead it was often not ready yet.
        Past the batch's end, one spare with no job."""
        depth = SPARES_AHEAD if self.options.max_jobs_per_child == 1 else 1
        upcoming = self.feed.upcoming(depth)
        while len(self.spares) < depth:
            if self.spares and self.spares[-1].bound is None:
                return  # one spare with no job is enough
            nth = len(self.spares)
            taken = upcoming[nth] if nth < len(upcoming) else None
            job = self.load_ahead(taken)
            self.spares.append(
                self.spawn(job, bound=(taken, job))
                if taken is not None and job is not None
                else self.spawn(None)
            )

    def load(self, taken: Taken) -> Job | Ack:
        job = self.load_ahead(taken)
        return job if job is not None else self.processor.unrunnable(taken)

    def load_ahead(self, taken: Taken | None) -> Job | None:
        """The Job of ``taken`` (None if it cannot run, or no job). The batch's
        queued jobs are loaded all at once: each fork write-protects the
        parent's memory, and the first use after it of the decoding code
        copies its pages, so loading costs far less once per batch."""
        if taken is None:
            return None
        hit = self.preloaded.pop(id(taken), None)
        if hit is not None and hit[0] is taken:
            return hit[1]
        load = self.processor.load_quietly
        self.preloaded = {id(t): (t, load(t)) for t in self.feed.upcoming()}
        self.preloaded.pop(id(taken), None)
        return load(taken)

    def hand_over(self, child: ChildHandle, upcoming: Taken | None) -> None:
        """Give the child the next job of the batch now, if it will run it."""
        if upcoming is None or not child.handovers or child.ahead is not None:
            return
        if child.jobs + 2 > self.options.max_jobs_per_child:
            return
        frame = CLAIM + job_frame(upcoming)
        if len(frame) > HANDOVER_MAX:
            return
        job = self.load_ahead(upcoming)
        if job is None:
            return  # recorded when its turn comes
        os.write(child.claim_w, TOKEN)  # first: the child must not see the frame without it
        if try_write_frame(child.to_child, frame):
            child.ahead = (upcoming, job)
        else:
            take_token(child.claim_r)  # no room in the pipe: no hand-over

    def started_ahead(self, upcoming: list[Taken]) -> int:
        """How many of ``upcoming`` (the rest of a batch about to be given back)
        the child has started already and must be run to their end: the
        hand-over, unless the parent can still take it back."""
        if any(spare.bound is not None for spare in self.spares):
            self.drop_spares()  # forked for jobs that go back: they never start
        child = self.child
        if child is None or child.ahead is None or child.take_back():
            return 0
        assert upcoming and child.ahead[0] is upcoming[0], "a hand-over is the next job"
        return 1

    def await_outcome(self, taken: Taken, job: Job, child: ChildHandle) -> Ack | None:
        feed, quota = self.feed, self.options.max_jobs_per_child
        timeout = job_timeout(self.settings, job)
        started = time.monotonic()
        hard_deadline = started + timeout + self.options.timeout_grace if timeout else None
        slow_at: float | None = started + SLOW_JOB_S
        while True:
            # Woken to write the outcomes of the jobs before this one, too.
            wait = min(TICK, max(feed.flush_due_in(), 0.0))
            ready, _, _ = select.select([child.from_child], [], [], wait)
            if ready:
                frame = read_frame(child.from_child)
                if frame is None:
                    return self.child_died(taken, job)
                child.jobs += 1
                if child.jobs >= quota:
                    self.retire()
                return outcome_of(taken.entry, frame)
            feed.flush_if_due()
            if slow_at is not None and time.monotonic() >= slow_at:
                slow_at = None
                feed.give_back_queued(patient=False)  # not behind a slow job
            stop = self.stop_reason(job, hard_deadline)
            if stop is None:
                continue
            if child.ended_meanwhile():  # too late: it is done, its outcome is read next
                log.info("%s of job %s dropped: its run is over", stop, job.id)
                continue
            return self.stop_child(taken, job, stop, timeout)

    def stop_reason(self, job: Job, hard_deadline: float | None) -> str | None:
        """Why the running child must be killed now, if it must."""
        control = self.control
        if control.take_kill(job.id):
            return KILL
        if control.abandon_due():
            return SHUTDOWN
        if hard_deadline is not None and time.monotonic() >= hard_deadline:
            return TIMEOUT
        return None

    def stop_child(self, taken: Taken, job: Job, stop: str, timeout: float | None) -> Ack | None:
        if stop == KILL:
            return self.child_died(taken, job, kill=True, reason="killed by USR1")
        self.kill_child()
        if stop == SHUTDOWN:
            self.feed.put_back(taken, job)
            return None
        exc = JobTimeout(f"job ran longer than its timeout of {timeout}s; child killed")
        return self.processor.fail_here(taken, job, exc)

    def child_died(
        self, taken: Taken, job: Job, kill: bool = False, reason: str | None = None
    ) -> Ack:
        child = self.child
        assert child is not None
        if kill:
            child.kill()
        status = child.reap()
        self.child = None
        if child.server is not None and not child.server_alive():
            self.server_gone(child.server, ForkServerGone("it died"))
        why = reason or describe_status(status)
        exc = DirtyExit(f"child {child.pid} {why} while running job {job.id}")
        return self.processor.fail_here(taken, job, exc)

    def kill_child(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child.reap()
            self.child = None

    def retire(self) -> None:
        """The child ran its quota and exits by itself; reap it later, so the next
        fork does not wait for this one's teardown."""
        if self.child is not None:
            self.let_go(self.child)
            self.child = None

    def spawn(
        self, job: Job | None, bound: tuple[Taken, Job] | None = None, taken: Taken | None = None
    ) -> ChildHandle:
        """Fork a child. ``job`` is the job it is forked for (``taken``), or None
        for a spare; ``bound``: a job it has from birth and runs when sent GO."""
        self.reap_exited()
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        claims = os.pipe()
        os.set_blocking(claims[0], False)  # one open file: non-blocking on both sides
        os.set_blocking(down_w, False)  # hand-overs must never block the parent
        try:
            theirs, ours = (down_r, up_w, claims[0]), (down_w, up_r, claims[1])
            pid, bound, server = self.fork_child(job, bound, taken, theirs, ours)
        except BaseException:
            close_fds(down_w, up_r, *claims)
            raise
        finally:
            close_fds(down_r, up_w)
        child = ChildHandle(pid, down_w, up_r, claims, server)
        child.bound = bound
        return child

    def fork_child(
        self,
        job: Job | None,
        bound: tuple[Taken, Job] | None,
        taken: Taken | None,
        theirs: tuple[int, int, int],
        ours: tuple[int, int, int],
    ) -> tuple[int, tuple[Taken, Job] | None, ForkServer | None]:
        """Fork by the fork server if it is ready (starting another if it is
        gone), else here. ``theirs``: the child's reader, writer and claim
        reader; ``ours``: the other ends, which a child forked here closes.
        Returns the pid, the job it has from birth (the server may refuse one
        it could not load, or one too big to send), and the server that forked
        it (None: this process did)."""
        server = self.link.ready()
        if server is not None:
            try:
                subject = bound[0] if bound is not None else taken
                pid, is_bound = server.fork(subject, bound is not None, theirs)
                return pid, bound if is_bound else None, server
            except ForkServerGone as exc:
                self.server_gone(server, exc)  # this child is forked here, later ones there
            except ForkRefused as exc:
                log.warning("%s; the worker forks this child itself", exc)
        return self.fork_here(job, bound, theirs, ours), bound, None

    def fork_here(
        self,
        job: Job | None,
        bound: tuple[Taken, Job] | None,
        theirs: tuple[int, int, int],
        ours: tuple[int, int, int],
    ) -> int:
        # Built here: every object a child does not have to make is a page it
        # does not copy.
        if self.child_client is None:
            assert self.settings.client is not None, "the worker's settings carry its client"
            self.child_client = self.settings.client.clone()
        loop = ChildLoop(self.settings, os.getpid(), *theirs, self.child_client, bound)
        others = [c for c in (self.child, *self.spares) if c is not None]
        server_fd = self.link.socket_fd()

        def in_child() -> None:
            for other in others:
                other.close_pipes()  # else a sibling's pipe never reaches EOF
            close_fds(*ours, server_fd)  # nor its own pipe, nor the server its socket

        return fork_child(loop, job, in_child)
