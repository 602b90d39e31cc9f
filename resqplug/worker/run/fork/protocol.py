"""Every byte that crosses between fork mode's processes: the pipes between the
parent (the worker) and a job child, and the socket between the worker and its
fork server. Nothing else defines a wire byte.

Parent and child: a job frame is a 4-byte length and a body. From parent to
child: ``R`` + ``queue\\tpayload`` (run it), ``C`` + the same (run it if the
claim token can be taken: a hand-over), or ``G`` (run the job the child was
forked with). From child to parent: ``job id\\nfailure JSON\\nwrites`` (empty
failure: not failed). The claim pipe carries single TOKEN bytes.

Worker and fork server (SOCK_SEQPACKET, one message per request and reply):
``F`` + ``B``/``U`` + ``queue\\tpayload`` (or nothing) with the child's three
pipe ends as SCM_RIGHTS, answered with PID_REPLY; ``W`` + WAIT_REQUEST,
answered with STATUS_REPLY. A child of the server that had to import the Redis
client exits with PRELOAD_EXIT.
"""

from __future__ import annotations

import array
import os
import select
import socket
import struct

from ....writes import from_text, to_text
from ...taken import Ack, Taken

# --- parent and child ---------------------------------------------------------------

_LEN = struct.Struct(">I")
RUN, CLAIM = b"R", b"C"  # first byte of a job frame: run it; run it if the claim is won
GO = b"G"  # the frame that starts the job a child was forked for
TOKEN = b"!"
HANDOVER_MAX = select.PIPE_BUF - _LEN.size  # a hand-over is one atomic write


def write_frame(fd: int, data: bytes) -> None:
    """Write one frame, waiting for room if ``fd`` is non-blocking."""
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


def try_write_frame(fd: int, data: bytes) -> bool:
    """Write a small frame whole, now, to a non-blocking ``fd``, or not at all."""
    try:
        os.write(fd, _LEN.pack(len(data)) + data)
        return True
    except BlockingIOError:
        return False


def take_token(fd: int) -> bool:
    try:
        return os.read(fd, 1) == TOKEN
    except BlockingIOError:
        return False


def read_frame(fd: int) -> bytes | None:
    """One frame, or None at end of file (the other side is gone)."""
    head = _read_exact(fd, _LEN.size)
    if head is None:
        return None
    return _read_exact(fd, _LEN.unpack(head)[0])


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def outcome_frame(ack: Ack) -> bytes:
    """Job id, failure record and the plugins' writes, a line each (JSON
    strings hold no raw newline)."""
    return f"{ack.job_id}\n{ack.failure}\n{to_text(ack.writes)}".encode()


def outcome_of(entry: bytes, frame: bytes) -> Ack:
    """The Ack a child's outcome frame stands for (``entry``: the job's
    in-flight entry)."""
    job_id, failure, writes = frame.decode("utf-8").split("\n", 2)
    return Ack(entry, job_id, failure, from_text(writes))


def job_frame(taken: Taken) -> bytes:
    """Queue and payload, whatever the form of the in-flight entry."""
    return taken.queue.encode() + b"\t" + taken.raw


# --- worker and fork server ---------------------------------------------------------

BOUND, UNBOUND = b"B", b"U"  # fork a child that has its job from birth / gets it later
FORK, WAIT = b"F", b"W"
FRAME_MAX = 128 * 1024  # a bigger job is not sent along: its child starts unbound
PRELOAD_EXIT = 75  # a child's exit code: it had to import the Redis client
PID_REPLY = struct.Struct("=i?")  # pid, whether the child has its job from birth
STATUS_REPLY = struct.Struct("=ii")  # pid, wait status
WAIT_REQUEST = struct.Struct("=i")  # pid
CMSG_SPACE = socket.CMSG_SPACE(3 * 4)  # room for the three descriptors of a fork


def descriptors(data: bytes) -> list[int]:
    fds = array.array("i")
    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return list(fds)
