"""The parent's check before it kills a fork child for its job: a kill decided
just as the job ends must not hit the handed-over next job (real pipes, the
claim protocol of resqplug.worker.run.fork.protocol)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import worker_jobs as wj

from resqplug.worker.run.fork.handle import ChildHandle as Child
from resqplug.worker.run.fork.protocol import TOKEN, outcome_frame, take_token, write_frame
from resqplug.worker.taken import Ack, Taken


class ChildEnds:
    """The child's ends of the pipes, to act as the child would."""

    def __init__(self, up_w: int, claim_r: int) -> None:
        self.up_w, self.claim_r = up_w, claim_r

    def answer(self, job_id: str) -> None:
        write_frame(self.up_w, outcome_frame(Ack(b"entry", job_id)))

    def claim(self) -> bool:
        return take_token(self.claim_r)


@pytest.fixture
def pair() -> Iterator[tuple[Child, ChildEnds]]:
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    claim_r, claim_w = os.pipe()
    os.set_blocking(claim_r, False)
    child = Child(os.getpid(), down_w, up_r, (claim_r, claim_w))
    yield child, ChildEnds(up_w, claim_r)
    child.close_pipes()
    for fd in (down_r, up_w):
        os.close(fd)


def hand_over(child: Child) -> Taken:
    upcoming = Taken("work", b"entry-b", b"{}")
    os.write(child.claim_w, TOKEN)
    child.ahead = (upcoming, wj.WRecord([1], id="b", queue="work"))
    return upcoming


def test_a_job_that_ended_as_the_child_took_the_next_one_is_not_killed(pair):
    child, ends = pair
    hand_over(child)
    ends.answer("a")  # the job ends, then the child claims the next one
    assert ends.claim()
    assert child.ended_meanwhile()
    assert child.ahead is not None  # the next job is the child's: it runs to its end


def test_before_a_kill_an_unclaimed_hand_over_is_taken_back(pair):
    child, ends = pair
    hand_over(child)
    assert not child.ended_meanwhile()  # still running: the kill may go ahead
    assert child.ahead is None
    assert not ends.claim()  # the child can no longer start the next job


def test_without_a_hand_over_a_waiting_outcome_means_the_job_ended(pair):
    child, ends = pair
    assert not child.ended_meanwhile()
    ends.answer("a")
    assert child.ended_meanwhile()
