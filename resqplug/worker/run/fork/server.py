"""The fork server: a lean process that forks a fork-mode worker's job children.

Forking costs the kernel time in proportion to the forking process's memory
(its page tables are copied, and every page either side writes afterwards is
copied again), and each child pays again to tear that memory down. The worker
holds a Redis client (redis-py alone is about 15 MiB), its registry, lease and
ack machinery; a job child needs none of it. So the worker starts this server
once, as a fresh interpreter (``python -m resqplug.worker.run.fork.server``) that
imports only the job side: resqplug's core, the plugins and the worker's job
modules. The worker still supervises each child through pipes it made itself
(their ends travel to the server with SCM_RIGHTS); the server forks, runs
``before_fork``, reaps, and tells the worker a child's exit status when asked.

Redis is loaded here only once a job needs it: a child that had to import the
Redis client exits with PRELOAD_EXIT after its jobs, and the server then
imports it, so later children inherit it instead of importing it again.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sys
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ....wake import close_fds
from ...options import JobSettings
from ...taken import entry_to_taken
from .child import ChildLoop, fork_child
from .protocol import (
    BOUND,
    CMSG_SPACE,
    FORK,
    FRAME_MAX,
    PID_REPLY,
    PRELOAD_EXIT,
    STATUS_REPLY,
    WAIT,
    WAIT_REQUEST,
    descriptors,
)
from .warmup import warm_client

if TYPE_CHECKING:
    from ....client import Resq
    from ....job import Job
    from ....plugins import Plugins
    from ...options import WorkerOptions
    from ...processor import Processor
    from ...taken import Taken

log = logging.getLogger("resqplug.worker")
REAP_S = 0.05
KEEP_STATUSES = 4096


class ServerWorker:
    """What ``before_fork``/``after_fork`` get as ``worker`` when a fork server
    forks: the worker's ``id``, ``pid``, ``queues`` and ``options``, this
    process's ``plugins`` and ``processor``, and ``client``, the default
    client (built on first use)."""

    def __init__(self, config: dict[str, Any], plugins: Plugins) -> None:
        from ...options import WorkerOptions
        from ...processor import Processor

        self.id: str = config["worker_id"]
        self.pid: int = config["parent"]
        self.options: WorkerOptions = WorkerOptions(**config["options"])
        self.queues: list[str] = self.options.queues
        self.plugins = plugins
        self.processor: Processor = Processor(plugins, self.id)
        # What the job children are given (hooks get this stand-in as worker).
        self.settings = JobSettings(self.id, self.options, plugins, self.processor, self)

    @property
    def client(self) -> Resq:
        from .... import config

        return config.default_client()

    def __repr__(self) -> str:
        return f"<Worker {self.id} (fork server)>"


class Server:
    def __init__(self, sock: socket.socket, worker: ServerWorker) -> None:
        self.sock, self.worker = sock, worker
        self.live: set[int] = set()
        self.statuses: OrderedDict[int, int] = OrderedDict()
        self.has_client = False
        if "redis" in sys.modules:  # a plugin or job module loaded it
            self.load_client()
        # One buffer for every request: a fresh 128 KiB one per request would be
        # mapped and unmapped each time.
        self.buffer = bytearray(FRAME_MAX + 16)

    def serve(self) -> None:
        sock, buffers = self.sock, [self.buffer]
        while True:
            sock.settimeout(REAP_S if self.live else None)
            try:
                # Close-on-exec, as the worker made them: a program a job
                # starts must not hold a pipe end (the worker would never see
                # the end of file of a child that died).
                size, ancillary, flags, _ = sock.recvmsg_into(
                    buffers, CMSG_SPACE, socket.MSG_CMSG_CLOEXEC
                )
            except TimeoutError:
                self.reap()
                continue
            fds = [fd for _, _, data in ancillary for fd in descriptors(data)]
            if flags & socket.MSG_CTRUNC:  # some descriptors did not come (out of them)
                close_fds(*fds)
                fds = []
            if not size:
                break
            self.answer(bytes(self.buffer[:size]), fds)
            self.reap()
        self.shut_down()

    def answer(self, msg: bytes, fds: list[int]) -> None:
        """Every request gets its reply (pid -1: no child), or the worker
        would wait for it."""
        if msg[:1] == FORK:
            pid, bound = -1, False
            if len(fds) == 3:
                try:
                    pid, bound = self.fork(msg[1:2], msg[2:], (fds[0], fds[1], fds[2]))
                except OSError as exc:  # no processes or memory left
                    log.error("fork server: cannot fork: %s", exc)
            close_fds(*fds)
            self.sock.sendall(PID_REPLY.pack(pid, bound))
        elif msg[:1] == WAIT:
            close_fds(*fds)
            pid = WAIT_REQUEST.unpack(msg[1:])[0]
            self.sock.sendall(STATUS_REPLY.pack(pid, self.wait(pid)))
        else:
            close_fds(*fds)

    def fork(self, kind: bytes, frame: bytes, fds: tuple[int, int, int]) -> tuple[int, bool]:
        taken, job = self.load(frame)
        bound = (taken, job) if kind == BOUND and taken is not None and job is not None else None
        loop = ChildLoop(self.worker.settings, os.getpid(), *fds, None, bound)
        pid = fork_child(loop, job, self.sock.close, self.exit_code)
        self.live.add(pid)
        self.statuses.pop(pid, None)  # an earlier child's, with the same pid
        return pid, bound is not None

    def exit_code(self, code: int) -> int:
        """In a child: PRELOAD_EXIT if it had to import the Redis client."""
        if code == 0 and not self.has_client and "redis" in sys.modules:
            return PRELOAD_EXIT
        return code

    def load(self, frame: bytes) -> tuple[Taken | None, Job | None]:
        if not frame:
            return None, None
        taken = entry_to_taken(frame)
        return taken, self.worker.processor.load_quietly(taken)

    def wait(self, pid: int) -> int:
        if pid in self.statuses:
            return self.statuses.pop(pid)
        try:
            status = os.waitpid(pid, 0)[1]
        except ChildProcessError:
            return 0
        self.reaped(pid, status)
        return status

    def reap(self) -> None:
        while self.live:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.live.clear()
                return
            if not pid:
                return
            # A clean exit need not be kept: wait() says 0 for an unknown pid.
            if not self.reaped(pid, status):
                self.statuses[pid] = status
                while len(self.statuses) > KEEP_STATUSES:
                    self.statuses.popitem(last=False)

    def reaped(self, pid: int, status: int) -> bool:
        """Note a child's exit; True if it was clean (a child that had to load
        the Redis client exits with PRELOAD_EXIT: the server loads it now)."""
        self.live.discard(pid)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == PRELOAD_EXIT:
            if not self.has_client:
                log.debug("fork server: jobs use Redis; loading the client for later children")
                self.load_client()
            return True
        return status == 0

    def load_client(self) -> None:
        """Build the children's default client here, once, and warm it up: each
        child inherits it unused (its pool connects anew in the child), its
        code already run. A cold one cost each child more than the fork saved:
        a job with one Redis command ran at 108/s from a cold server, 172/s
        from the worker, 186/s from a warm server."""
        from .... import config

        warm_client(config.default_client())
        self.has_client = True

    def shut_down(self, timeout: float = 5.0) -> None:
        """The worker is done: wait for the children (their pipes are closed),
        kill the ones that outlive ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.live and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.01)
        for pid in self.live:  # each child leads its own process group
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        while self.live:
            self.wait(next(iter(self.live)))


def load_modules(names: list[str]) -> None:
    import importlib

    for name in names:
        importlib.import_module(name)


def main(fd: int) -> int:
    sock = socket.socket(fileno=fd)
    try:
        cfg = json.loads(sock.recv(1 << 20))
        worker = start(cfg, sock)
        if worker is None:
            return 1
        server = Server(sock, worker)
        trim_heap()
        server.serve()
    except (OSError, ValueError):
        return 1  # the worker went away (it says why, if it can)
    return 0


def start(cfg: dict[str, Any], sock: socket.socket) -> ServerWorker | None:
    """Load what the worker's jobs need and greet the worker with the job
    classes and plugins loaded here (or what failed)."""
    from .... import config, registry
    from ....plugins import Plugins, disabled_from_env, use_plugins
    from .child import die_with_parent
    from .warmup import warm_up

    die_with_parent(cfg["parent"])
    logging.basicConfig(level=cfg["log_level"], format=config.LOG_FORMAT, stream=sys.stderr)
    logging.getLogger(config.EVENTS_LOGGER).setLevel(cfg["events_level"])  # failed-job lines
    sys.path[:] = cfg["path"]
    config.preset(cfg["url"], cfg["namespace"], cfg["backend"], cfg["max_payload_bytes"])
    try:
        # The worker's entry-point plugins by name: importlib.metadata, which
        # finds them, would be a quarter of this process's memory.
        plugins = Plugins(load_entry_points=False, disabled=disabled_from_env())
        plugins.load_specs(cfg["entry_points"])
        use_plugins(plugins)
        load_modules(cfg["modules"])
        worker = ServerWorker(cfg, plugins)
        warm_up(worker.settings)
    except Exception as exc:
        sock.sendall(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        return None
    ready = {
        "jobs": registry.names(),
        "plugins": worker.plugins.names(),
        "client": "redis" in sys.modules,  # loaded by a plugin or a job module
    }
    sock.sendall(json.dumps(ready).encode())
    return worker


def trim_heap() -> None:
    """Give the C heap's free memory back to the system (about 0.5 MiB left by
    the imports): every page this process keeps is copied into each child's
    page tables and torn down at its exit."""
    import ctypes

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
