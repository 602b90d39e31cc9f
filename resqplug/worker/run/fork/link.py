"""The worker's side of its fork server (see server.py): starting it,
asking it for children and for their exit statuses, and when to have one."""

from __future__ import annotations

import array
import dataclasses
import json
import logging
import os
import select
import socket
import sys
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ....config import EVENTS_LOGGER
from ....errors import ResqplugError
from .protocol import (
    BOUND,
    FORK,
    FRAME_MAX,
    PID_REPLY,
    STATUS_REPLY,
    UNBOUND,
    WAIT,
    WAIT_REQUEST,
    job_frame,
)

if TYPE_CHECKING:
    import subprocess

    from ...options import JobSettings
    from ...taken import Taken

log = logging.getLogger("resqplug.worker")
SERVER_MODULE = "resqplug.worker.run.fork.server"  # run with python -m
START_TIMEOUT_S = 60.0  # importing a large app can take a while
REPLY_TIMEOUT_S = 60.0  # a fork runs before_fork, which may be slow; a stopped server is not
SERVER_STARTS = 3  # servers started (after one died) before the worker forks itself


class ForkServerGone(ResqplugError):
    """The fork server did not answer (it died, or never started)."""


class ForkRefused(ResqplugError):
    """The fork server answered but could not fork (no processes, memory or
    descriptors left): it and its children are fine."""


def supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "SOCK_SEQPACKET")


class ForkServer:
    """The worker's handle on its fork server. ``launch`` returns at once; the
    server is ``ready`` once it has loaded the worker's jobs and plugins (the
    worker forks its children itself meanwhile). A request the server does
    not answer within REPLY_TIMEOUT_S ends it (a late reply would desync)."""

    def __init__(
        self, proc: subprocess.Popen[bytes], sock: socket.socket, settings: JobSettings
    ) -> None:
        self.proc, self.sock, self.settings = proc, sock, settings
        self.ready = False
        self.started = time.monotonic()
        self.has_client = False  # loaded the Redis client at start (plugins, job modules)

    @classmethod
    def launch(cls, settings: JobSettings) -> ForkServer:
        """Start a server; ForkServerGone if it cannot be started."""
        import subprocess  # here: the server itself has no use for it

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # The worker's import path from the start: the server must import
            # the same resqplug as the worker.
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            proc = subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        except (OSError, ValueError) as exc:  # no usable sys.executable, no processes left
            ours.close()
            raise ForkServerGone(f"cannot start {sys.executable!r}: {exc}") from None
        finally:
            theirs.close()
        server = cls(proc, ours, settings)
        try:
            ours.sendall(json.dumps(server_config(settings)).encode())
        except (OSError, TypeError, ValueError) as exc:
            server.close()
            raise ForkServerGone(str(exc)) from None
        return server

    def alive(self) -> bool:
        return self.proc.poll() is None

    def poll(self, wait: float = 0.0) -> bool:
        """Whether the server is ready, waiting up to ``wait`` for its greeting;
        ForkServerGone if it failed or cannot run every job class and plugin
        the worker has."""
        if self.ready:
            return True
        try:
            if not select.select([self.sock], [], [], wait)[0]:
                if time.monotonic() - self.started > START_TIMEOUT_S:
                    raise ForkServerGone(f"not ready after {START_TIMEOUT_S:.0f}s")
                return False
            reply = json.loads(self.sock.recv(1 << 20) or b'{"error": "it exited"}')
            if "error" in reply:
                raise ForkServerGone(reply["error"])
            check_same_jobs(self.settings, reply)
            self.has_client = bool(reply.get("client"))
        except (OSError, ValueError, KeyError, TypeError, ForkServerGone) as exc:
            self.close(timeout=1.0)
            raise ForkServerGone(str(exc)) from None
        self.ready = True
        self.sock.settimeout(REPLY_TIMEOUT_S)
        return True

    def fork(self, taken: Taken | None, bound: bool, fds: tuple[int, int, int]) -> tuple[int, bool]:
        """Have a child forked with the pipe ends ``fds`` (its reader, writer
        and claim reader). ``taken``: the job it is forked for (``bound``: it
        runs it on GO). Returns its pid and whether it is bound to the job."""
        frame = b"" if taken is None else job_frame(taken)
        if len(frame) > FRAME_MAX:
            frame = b""  # before_fork gets None; the child gets the job over its pipe
        kind = BOUND if bound and frame else UNBOUND
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        pid, is_bound = PID_REPLY.unpack(self.request(FORK + kind + frame, PID_REPLY.size, rights))
        if pid <= 0:
            raise ForkRefused("the fork server could not fork")
        return pid, is_bound

    def status(self, pid: int) -> int:
        """The wait status of child ``pid`` (waits for it to exit)."""
        request = WAIT + WAIT_REQUEST.pack(pid)
        answered, status = STATUS_REPLY.unpack(self.request(request, STATUS_REPLY.size))
        if answered != pid:
            raise ForkServerGone(f"the fork server answered for {answered}, not {pid}")
        return int(status)

    def request(self, message: bytes, size: int, rights: list[Any] | None = None) -> bytes:
        try:
            self.sock.sendmsg([message], rights or [])
            reply = self.sock.recv(size)
        except OSError as exc:  # a timeout too: it may be stopped, so kill it
            self.ready = False
            self.close(timeout=1.0)
            raise ForkServerGone(f"fork server: {exc}") from None
        if len(reply) != size:
            raise ForkServerGone("the fork server exited")
        return reply

    def close(self, timeout: float = 10.0) -> None:
        """End the server: it waits up to 5 s for its children (they exit once
        the worker has closed their pipes), then kills the rest and exits."""
        import subprocess

        if not self.ready and self.alive():
            self.proc.kill()  # starting, unanswering or done for: nothing to wait for
        self.ready = False
        self.sock.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def server_config(settings: JobSettings) -> dict[str, Any]:
    options, client = settings.options, settings.client
    assert client is not None, "the worker's settings carry its client"
    return {
        "parent": os.getpid(),
        "worker_id": settings.id,
        "options": dataclasses.asdict(options),
        "modules": modules_to_load(settings),
        "entry_points": settings.plugins.entry_point_specs(),
        "path": sys.path,
        "url": client.url,
        "namespace": client.namespace,
        "backend": client.backend,
        "max_payload_bytes": client.max_payload_bytes,
        "log_level": logging.getLogger().getEffectiveLevel(),
        "events_level": logging.getLogger(EVENTS_LOGGER).getEffectiveLevel(),
    }


def modules_to_load(settings: JobSettings) -> list[str]:
    """The worker's --app modules, then those of its job classes and plugins
    (never a module a payload named: only what this worker imported itself)."""
    from .... import registry

    names = list(settings.options.apps)
    names += [cls.__module__ for cls in registry.classes()]
    for _, plugin in settings.plugins.pm.list_name_plugin():
        if plugin is not None:
            names.append(
                plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
            )
    return [n for n in dict.fromkeys(names) if n != "__main__"]


def check_same_jobs(settings: JobSettings, reply: dict[str, Any]) -> None:
    from .... import registry

    jobs = set(registry.names()) - set(reply["jobs"])
    plugins = set(settings.plugins.names()) - set(reply["plugins"])
    if jobs or plugins:
        missing = ", ".join(sorted(jobs | plugins))
        raise ForkServerGone(f"the fork server could not load {missing}")


class ServerLink:
    """When a worker has a fork server: ``auto`` from the first backlog until
    it has been idle ``fork_server_idle_s``, ``always``, or ``never``."""

    def __init__(self, settings: JobSettings) -> None:
        self.settings = settings
        self.policy = settings.options.fork_server
        self.server: ForkServer | None = None
        self.starts = 0

    def launch(self, wait: float = 0.0) -> None:
        """Start a fork server, unless there can be none. It is used once ready
        (at most ``wait`` from now); until then children are forked here."""
        if self.policy == "never" or not supported():
            return
        if self.server is not None or self.starts >= SERVER_STARTS:
            return
        self.starts += 1
        try:
            self.server = ForkServer.launch(self.settings)
        except ForkServerGone as exc:
            self.unusable(exc)
            return
        if wait:
            self.ready(wait)

    def ready(self, wait: float = 0.0) -> ForkServer | None:
        """The server, if it is ready to fork."""
        server = self.server
        try:
            if server is None or not server.poll(wait):
                return None
        except ForkServerGone as exc:
            self.unusable(exc)
            return None
        if server.has_client and self.policy == "auto":
            # Plugins or job modules load the Redis client: the server is about
            # as big as the worker, and forking from it would gain nothing.
            log.debug("fork server not used: the job side loads the Redis client")
            server.close()
            self.server, self.starts = None, SERVER_STARTS
            return None
        return server

    def unusable(self, exc: ForkServerGone) -> None:
        """A server that cannot start (or load the worker's jobs) will not later."""
        log.warning("no fork server (%s): the worker forks its job children itself", exc)
        self.server, self.starts = None, SERVER_STARTS

    def gone(self, server: ForkServer, exc: ForkServerGone) -> None:
        """The server died (its children with it): start another."""
        if server is not self.server:
            return  # known already
        log.warning("the fork server is gone (%s); starting another", exc)
        server.close(timeout=1.0)
        self.server = None
        self.launch()

    def idle_too_long(self, idle_for: float) -> bool:
        """Whether an ``auto`` server should stop, the worker being idle so long."""
        return (
            self.server is not None
            and self.policy == "auto"
            and idle_for >= self.settings.options.fork_server_idle_s
        )

    def socket_fd(self) -> int:
        """The socket a child forked by the worker must close (or -1)."""
        return self.server.sock.fileno() if self.server is not None else -1

    def close(self) -> None:
        """Stop the server (it waits for its children, whose pipes are closed)."""
        if self.server is not None:
            self.server.close()
            self.server = None
            self.starts = 0
