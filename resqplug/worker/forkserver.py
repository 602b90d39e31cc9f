"""The fork server: a lean process that forks a fork-mode worker's job children.

Forking costs the kernel time in proportion to the forking process's memory
(its page tables are copied, and every page either side writes afterwards is
copied again), and each child pays again to tear that memory down. The worker
holds a Redis client (redis-py alone is about 15 MiB), its registry, lease and
ack machinery; a job child needs none of it. So the worker starts this server
once, as a fresh interpreter (``python -m resqplug.worker.forkserver``) that
imports only the job side: resqplug's core, the plugins and the worker's job
modules. The worker still supervises each child through pipes it made itself
(their ends travel to the server with SCM_RIGHTS); the server forks, runs
``before_fork``, reaps, and tells the worker a child's exit status when asked.

Redis is loaded here only once a job needs it: a child that had to import the
Redis client exits with PRELOAD_EXIT after its jobs, and the server then
imports it, so later children inherit it instead of importing it again.
"""

from __future__ import annotations

import array
import contextlib
import gc
import json
import logging
import os
import select
import signal
import socket
import struct
import sys
import time
from collections import OrderedDict
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import ResqplugError
from ..wake import close_fds
from .child import ChildLoop
from .taken import entry_to_taken

if TYPE_CHECKING:
    import subprocess

    from ..job import Job
    from ..plugins import Plugins
    from .options import WorkerOptions
    from .processor import Processor
    from .taken import Taken
    from .worker import Worker

log = logging.getLogger("resqplug.worker")
SERVER_MODULE = "resqplug.worker.forkserver"
BOUND, HOOK, SPARE = b"B", b"H", b"N"  # fork a child with its job / for it / a spare
FORK, WAIT = b"F", b"W"
FRAME_MAX = 128 * 1024  # a bigger job is not sent along: its child starts unbound
START_TIMEOUT_S = 60.0  # importing a large app can take a while
PRELOAD_EXIT = 75  # a child's exit code: it had to import the Redis client
REAP_S = 0.05
KEEP_STATUSES = 4096
_PID = struct.Struct("=i?")  # pid, whether the child has its job from birth
_STATUS = struct.Struct("=ii")  # pid, wait status
CMSG_SPACE = socket.CMSG_SPACE(3 * 4)  # room for the three descriptors of a fork


def descriptors(data: bytes) -> list[int]:
    fds = array.array("i")
    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return list(fds)


class ForkServerGone(ResqplugError):
    """The fork server did not answer (it died, or never started)."""


def supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "SOCK_SEQPACKET")


# --- the worker's side -------------------------------------------------------------


class ForkServer:
    """The worker's handle on its fork server. ``launch`` returns at once; the
    server is ``ready`` once it has loaded the worker's jobs and plugins (the
    worker forks its children itself meanwhile)."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket, worker: Worker) -> None:
        self.proc, self.sock, self.worker = proc, sock, worker
        self.ready = False
        self.started = time.monotonic()

    @classmethod
    def launch(cls, worker: Worker) -> ForkServer:
        import subprocess  # here: the server itself has no use for it

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cmd = [sys.executable, "-m", SERVER_MODULE, str(theirs.fileno())]
        proc = subprocess.Popen(
            cmd, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, start_new_session=True
        )
        theirs.close()
        server = cls(proc, ours, worker)
        try:
            ours.sendall(json.dumps(server_config(worker)).encode())
        except OSError as exc:
            server.close()
            raise ForkServerGone(str(exc)) from None
        return server

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
            check_same_jobs(self.worker, reply)
        except (OSError, ValueError, ForkServerGone) as exc:
            self.close(timeout=1.0)
            raise ForkServerGone(str(exc)) from None
        self.ready = True
        return True

    def fork(self, taken: Taken | None, bound: bool, fds: tuple[int, int, int]) -> tuple[int, bool]:
        """Have a child forked with the pipe ends ``fds`` (its reader, writer
        and claim reader). ``taken``: the job it is forked for (``bound``: it
        runs it on GO). Returns its pid and whether it is bound to the job."""
        frame = b"" if taken is None else taken.queue.encode() + b"\t" + taken.raw
        kind = (BOUND if bound else HOOK) if frame else SPARE
        if len(frame) > FRAME_MAX:
            kind, frame = SPARE, b""
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        try:
            self.sock.sendmsg([FORK + kind + frame], rights)
            reply = self.sock.recv(_PID.size)
        except OSError as exc:
            raise ForkServerGone(f"fork server: {exc}") from None
        if len(reply) != _PID.size:
            raise ForkServerGone("the fork server exited")
        pid, is_bound = _PID.unpack(reply)
        return pid, is_bound

    def status(self, pid: int) -> int:
        """The wait status of child ``pid`` (waits for it to exit)."""
        try:
            self.sock.sendall(WAIT + _PID.pack(pid, False))
            reply = self.sock.recv(_STATUS.size)
        except OSError as exc:
            raise ForkServerGone(f"fork server: {exc}") from None
        if len(reply) != _STATUS.size:
            raise ForkServerGone("the fork server exited")
        status: int = _STATUS.unpack(reply)[1]
        return status

    def close(self, timeout: float = 10.0) -> None:
        """End the server: it waits for its children (whose pipes the worker has
        closed), then exits."""
        import subprocess

        if not self.ready and self.proc.poll() is None:
            self.proc.kill()  # still starting: it has forked nothing
        self.ready = False
        self.sock.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def server_config(worker: Worker) -> dict[str, Any]:
    options, client = worker.options, worker.client
    return {
        "parent": os.getpid(),
        "worker_id": worker.id,
        "queues": options.queues,
        "max_jobs_per_child": options.max_jobs_per_child,
        "job_timeout": options.job_timeout,
        "modules": modules_to_load(worker),
        "entry_points": worker.plugins.entry_point_specs(),
        "path": sys.path,
        "url": client.url,
        "namespace": client.namespace,
        "backend": client.backend,
        "max_payload_bytes": client.max_payload_bytes,
        "log_level": logging.getLogger().getEffectiveLevel(),
    }


def modules_to_load(worker: Worker) -> list[str]:
    """The worker's --app modules, then those of its job classes and plugins
    (never a module a payload named: only what this worker imported itself)."""
    from .. import registry

    names = list(worker.options.apps)
    names += [cls.__module__ for cls in registry.classes()]
    for _, plugin in worker.plugins.pm.list_name_plugin():
        if plugin is not None:
            names.append(
                plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
            )
    return [n for n in dict.fromkeys(names) if n != "__main__"]


def check_same_jobs(worker: Worker, reply: dict[str, Any]) -> None:
    from .. import registry

    jobs = set(registry.names()) - set(reply["jobs"])
    plugins = set(worker.plugins.names()) - set(reply["plugins"])
    if jobs or plugins:
        missing = ", ".join(sorted(jobs | plugins))
        raise ForkServerGone(f"the fork server could not load {missing}")


# --- the server's side -------------------------------------------------------------


class ServerWorker:
    """What ``before_fork``/``after_fork`` get as ``worker`` when a fork server
    forks: the worker's id, queues, options and pid, and this process's
    plugins and processor."""

    def __init__(self, config: dict[str, Any], plugins: Plugins) -> None:
        from .options import WorkerOptions
        from .processor import Processor

        self.id: str = config["worker_id"]
        self.pid: int = config["parent"]
        self.queues: list[str] = config["queues"]
        self.options: WorkerOptions = WorkerOptions(
            queues=self.queues,
            max_jobs_per_child=config["max_jobs_per_child"],
            job_timeout=config["job_timeout"],
        )
        self.plugins = plugins
        self.processor: Processor = Processor(plugins, self.id)

    def __repr__(self) -> str:
        return f"<Worker {self.id} (fork server)>"


class Server:
    def __init__(self, sock: socket.socket, worker: ServerWorker) -> None:
        self.sock, self.worker = sock, worker
        self.live: set[int] = set()
        self.statuses: OrderedDict[int, int] = OrderedDict()
        self.has_client = "redis" in sys.modules
        # One buffer for every request: a fresh 128 KiB one per request would be
        # mapped and unmapped each time.
        self.buffer = bytearray(FRAME_MAX + 16)

    def serve(self) -> None:
        while True:
            ready = select.select([self.sock], [], [], REAP_S if self.live else None)[0]
            if ready:
                size, ancillary, _, _ = self.sock.recvmsg_into([self.buffer], CMSG_SPACE)
                fds = [fd for _, _, data in ancillary for fd in descriptors(data)]
                if not size:
                    break
                self.answer(bytes(self.buffer[:size]), fds)
            self.reap()
        self.shut_down()

    def answer(self, msg: bytes, fds: list[int]) -> None:
        if msg[:1] == FORK and len(fds) == 3:
            pid, bound = self.fork(msg[1:2], msg[2:], (fds[0], fds[1], fds[2]))
            self.sock.sendall(_PID.pack(pid, bound))
        elif msg[:1] == WAIT:
            pid = _PID.unpack(msg[1:])[0]
            self.sock.sendall(_STATUS.pack(pid, self.wait(pid)))
        else:
            close_fds(*fds)

    def fork(self, kind: bytes, frame: bytes, fds: tuple[int, int, int]) -> tuple[int, bool]:
        taken, job = self.load(frame)
        bound = (taken, job) if kind == BOUND and taken is not None and job is not None else None
        self.worker.plugins.call_each("before_fork", worker=self.worker, job=job)
        gc.freeze()  # keep the collector from touching (and copying) inherited pages
        loop = ChildLoop(self.worker, os.getpid(), *fds, None, bound)  # type: ignore[arg-type]
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self.sock.close()
                code = loop.run()
                if code == 0 and not self.has_client and "redis" in sys.modules:
                    code = PRELOAD_EXIT
            except BaseException:
                log.exception("child crashed")
            finally:
                os._exit(code)
        close_fds(*fds)
        try:  # noqa: SIM105 - the child may have done it, or exited
            os.setpgid(pid, pid)
        except OSError:
            pass
        self.live.add(pid)
        return pid, bound is not None

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
            self.reaped(pid, status)
            if status:  # a clean exit need not be kept: wait() says 0 for an unknown pid
                self.statuses[pid] = status
                while len(self.statuses) > KEEP_STATUSES:
                    self.statuses.popitem(last=False)

    def reaped(self, pid: int, status: int) -> None:
        self.live.discard(pid)
        needs_client = os.WIFEXITED(status) and os.WEXITSTATUS(status) == PRELOAD_EXIT
        if needs_client and not self.has_client:
            log.debug("fork server: jobs use Redis; loading the client for later children")
            import resqplug.client  # noqa: F401 - inherited by every later child

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
    from .. import config, registry
    from ..plugins import Plugins, disabled_from_env, use_plugins
    from .child import die_with_parent, warm_up

    die_with_parent(cfg["parent"])
    logging.basicConfig(level=cfg["log_level"], format=config.LOG_FORMAT, stream=sys.stderr)
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
        warm_up(worker)  # type: ignore[arg-type]
    except Exception as exc:
        sock.sendall(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        return None
    ready = {"jobs": registry.names(), "plugins": worker.plugins.names()}
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
