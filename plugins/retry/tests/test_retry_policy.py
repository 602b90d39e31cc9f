"""A job class's retry policy: checks at class definition, matching, delays,
jitter and inheritance. The plugin is loaded from its entry point (the class
statements below go through the ``job_defined`` hook)."""

from __future__ import annotations

import builtins
from typing import Any

import pytest
from resqplug_retry import policy_for

import resqplug


class Flaky(resqplug.Job):
    abstract = True
    queue = "retry"

    def perform(self) -> None:
        pass


def define(test_name: str, **attrs: Any) -> type[resqplug.Job]:
    """Define a job class (a registered one, as a user would) named for the test."""
    return type(
        "Defined", (Flaky,), {"name": f"retry_tests.policy.{test_name}", "abstract": False, **attrs}
    )


# --- bad settings are refused at class definition, naming the attribute ------------


BAD = [
    ("not-a-class", {"retry_exceptions": (ValueError, "nope")}, "retry_exceptions"),
    ("not-a-class-key", {"retry_exceptions": {ValueError: 1, 42: 2}}, "retry_exceptions"),
    ("a-string", {"retry_exceptions": "ValueError"}, "retry_exceptions"),
    ("an-instance", {"retry_exceptions": (ValueError("x"),)}, "retry_exceptions"),
    ("negative-dict-delay", {"retry_exceptions": {ValueError: -1}}, "retry_exceptions"),
    ("negative-in-list", {"retry_exceptions": {ValueError: [0.1, -0.5]}}, "retry_exceptions"),
    ("empty-delay-list", {"retry_exceptions": {ValueError: []}}, "retry_exceptions"),
    ("negative-delay", {"retry_exceptions": (ValueError,), "retry_delay": -1}, "retry_delay"),
    ("text-delay", {"retry_exceptions": (ValueError,), "retry_delay": "1"}, "retry_delay"),
    ("negative-backoff", {"retry_exceptions": (ValueError,), "retry_backoff": [0.1, -1]}, None),
    ("empty-backoff", {"retry_exceptions": (ValueError,), "retry_backoff": []}, None),
    ("negative-jitter", {"retry_exceptions": (ValueError,), "retry_jitter": -0.1}, None),
    ("float-limit", {"retry_exceptions": (ValueError,), "retry_limit": 2.5}, "retry_limit"),
    ("text-limit", {"retry_exceptions": (ValueError,), "retry_limit": "3"}, "retry_limit"),
    ("bool-limit", {"retry_exceptions": (ValueError,), "retry_limit": True}, "retry_limit"),
    ("negative-limit", {"retry_exceptions": (ValueError,), "retry_limit": -1}, "retry_limit"),
    ("criterion-not-callable", {"retry_exceptions": (ValueError,), "retry_criteria": [42]}, None),
    ("criteria-a-function", {"retry_criteria": lambda job, exc: True}, "retry_criteria"),
    ("criteria-a-number", {"retry_criteria": 42}, "retry_criteria"),
]


@pytest.mark.parametrize(("case", "attrs", "attr"), BAD, ids=[c[0] for c in BAD])
def test_bad_setting_is_an_error_at_definition_naming_the_attribute(
    case: str, attrs: dict[str, Any], attr: str | None
) -> None:
    # The attribute named in the message: the one that was set wrong (the last
    # key given when not spelled out).
    attr = attr or list(attrs)[-1]
    with pytest.raises(resqplug.ConfigError, match=attr):
        define(case, **attrs)


def test_both_lists_in_one_class_body_is_an_error() -> None:
    with pytest.raises(resqplug.ConfigError) as info:

        class BothLists(Flaky):
            name = "retry_tests.policy.BothLists"
            retry_exceptions = (builtins.ConnectionError,)
            fatal_exceptions = (ConnectionResetError,)

    assert "retry_exceptions" in str(info.value)
    assert "fatal_exceptions" in str(info.value)


def test_fatal_exceptions_of_a_subclass_are_checked() -> None:
    class Base(Flaky):
        abstract = True
        retry_exceptions = (OSError,)

    with pytest.raises(resqplug.ConfigError, match="fatal_exceptions"):

        class BadFatal(Base):
            name = "retry_tests.policy.BadFatal"
            fatal_exceptions = ("FileNotFoundError",)


@pytest.mark.parametrize(
    ("case", "attrs"),
    [
        ("lone-text-limit", {"retry_limit": "3"}),
        ("lone-negative-delay", {"retry_delay": -1}),
        ("lone-bad-fatal", {"fatal_exceptions": ("nope",)}),
    ],
)
def test_bad_setting_without_retry_exceptions_is_an_error_too(
    case: str, attrs: dict[str, Any]
) -> None:
    with pytest.raises(resqplug.ConfigError, match=next(iter(attrs))):
        define(case, **attrs)


def test_good_settings_are_accepted() -> None:
    klass = define(
        "good",
        retry_exceptions={TimeoutError: [1, 2.5], builtins.ConnectionError: 3, KeyError: None},
        retry_limit=0,
        retry_delay=0,
        retry_backoff=(1, 2),
        retry_jitter=1.5,
        retry_criteria=(lambda job, exc: True,),
        retry_record_failures=True,
    )
    policy = policy_for(klass)
    assert policy is not None
    assert policy.limit == 0
    assert policy.exceptions == {
        TimeoutError: [1.0, 2.5],
        builtins.ConnectionError: 3.0,
        KeyError: None,
    }
    assert policy.backoff == [1.0, 2.0]
    assert policy.record_failures is True


def test_a_single_exception_class_is_accepted() -> None:
    policy = policy_for(define("single", retry_exceptions=TimeoutError))
    assert policy is not None
    assert policy.match(TimeoutError()) is TimeoutError


def test_no_retry_settings_means_no_policy() -> None:
    assert policy_for(define("plain")) is None
    assert policy_for(define("empty", retry_exceptions=())) is None


# --- limits --------------------------------------------------------------------------


def test_default_limit_is_three() -> None:
    policy = policy_for(define("default-limit", retry_exceptions=(ValueError,)))
    assert policy is not None and policy.limit == 3


def test_default_limit_is_the_longest_delay_list() -> None:
    policy = policy_for(
        define("list-limit", retry_exceptions={ValueError: [1, 2], KeyError: [1, 2, 3, 4, 5]})
    )
    assert policy is not None and policy.limit == 5


def test_explicit_limit_wins_over_delay_lists() -> None:
    policy = policy_for(define("own-limit", retry_exceptions={ValueError: [1, 2]}, retry_limit=7))
    assert policy is not None and policy.limit == 7


# --- matching and delays ---------------------------------------------------------------


def test_closest_listed_superclass_wins() -> None:
    policy = policy_for(
        define(
            "closest",
            retry_exceptions={OSError: 0.0, builtins.ConnectionError: [0.2]},
        )
    )
    assert policy is not None
    assert policy.match(ConnectionResetError()) is builtins.ConnectionError
    assert policy.delay_for(1, ConnectionResetError()) == 0.2
    assert policy.delay_for(4, ConnectionResetError()) == 0.2  # the last delay repeats
    assert policy.match(FileNotFoundError()) is OSError
    assert policy.delay_for(1, FileNotFoundError()) == 0.0
    assert policy.match(ValueError()) is None


def test_closest_superclass_wins_whatever_the_listing_order() -> None:
    policy = policy_for(
        define("closest-order", retry_exceptions={builtins.ConnectionError: 5, OSError: 1})
    )
    assert policy is not None
    assert policy.delay_for(1, ConnectionResetError()) == 5
    assert policy.delay_for(1, PermissionError()) == 1


def test_per_exception_delay_list_is_per_retry() -> None:
    policy = policy_for(define("delay-list", retry_exceptions={TimeoutError: [0.2, 0.5, 3]}))
    assert policy is not None
    assert [policy.delay_for(n, TimeoutError()) for n in (1, 2, 3, 4)] == [0.2, 0.5, 3, 3]


def test_delay_precedence_per_exception_then_backoff_then_retry_delay() -> None:
    policy = policy_for(
        define(
            "precedence",
            retry_exceptions={TimeoutError: 0.2, builtins.ConnectionError: None},
            retry_backoff=[0.4, 0.6],
            retry_delay=9,
        )
    )
    assert policy is not None
    assert [policy.delay_for(n, TimeoutError()) for n in (1, 2, 3)] == [0.2, 0.2, 0.2]
    assert [policy.delay_for(n, ConnectionResetError()) for n in (1, 2, 3)] == [0.4, 0.6, 0.6]
    only_delay = policy_for(define("only-delay", retry_exceptions=(KeyError,), retry_delay=1.5))
    assert only_delay is not None
    assert [only_delay.delay_for(n, KeyError()) for n in (1, 2)] == [1.5, 1.5]
    no_delay = policy_for(define("no-delay", retry_exceptions=(KeyError,)))
    assert no_delay is not None and no_delay.delay_for(1, KeyError()) == 0.0


def test_backoff_callable_gets_the_retry_number_and_the_exception() -> None:
    seen: list[tuple[int, BaseException]] = []

    def backoff(retry: int, exc: BaseException) -> float:
        seen.append((retry, exc))
        return 2**retry

    policy = policy_for(define("callable", retry_exceptions=(TimeoutError,), retry_backoff=backoff))
    assert policy is not None
    exc = TimeoutError("slow")
    assert [policy.delay_for(n, exc) for n in (1, 2, 3)] == [2, 4, 8]
    assert seen == [(1, exc), (2, exc), (3, exc)]


# --- jitter ------------------------------------------------------------------------


def samples(policy: Any, exc: BaseException, n: int = 3000, retry: int = 1) -> list[float]:
    return [policy.delay_for(retry, exc) for _ in range(n)]


def test_jitter_as_a_fraction_stays_within_bounds() -> None:
    policy = policy_for(
        define("jitter-fraction", retry_exceptions=(TimeoutError,), retry_delay=2, retry_jitter=0.5)
    )
    got = samples(policy, TimeoutError())
    assert all(2.0 <= d <= 3.0 for d in got), (min(got), max(got))
    # It does spread over the whole range (3000 samples: misses are ~0 likely).
    assert min(got) < 2.1 and max(got) > 2.9
    assert len(set(got)) > 100


def test_jitter_in_seconds_stays_within_bounds() -> None:
    policy = policy_for(
        define("jitter-seconds", retry_exceptions=(TimeoutError,), retry_delay=0.5, retry_jitter=2)
    )
    got = samples(policy, TimeoutError())
    assert all(0.5 <= d <= 2.5 for d in got), (min(got), max(got))
    assert min(got) < 0.6 and max(got) > 2.4


def test_jitter_applies_to_per_exception_delays_and_backoff() -> None:
    policy = policy_for(
        define(
            "jitter-lists",
            retry_exceptions={TimeoutError: [1, 10]},
            retry_jitter=0.1,
        )
    )
    first = samples(policy, TimeoutError(), retry=1)
    second = samples(policy, TimeoutError(), retry=2)
    assert all(1.0 <= d <= 1.1 for d in first)
    assert all(10.0 <= d <= 11.0 for d in second)
    assert max(second) > 10.9


def test_no_jitter_gives_exact_delays() -> None:
    policy = policy_for(define("no-jitter", retry_exceptions=(TimeoutError,), retry_delay=0.3))
    assert set(samples(policy, TimeoutError(), n=200)) == {0.3}


# --- inheritance -----------------------------------------------------------------------


def team_backoff(retry: int, exc: BaseException) -> float:
    return 2**retry


class TeamMailJob(resqplug.Job):
    """A team's abstract base class carrying the retry policy for all its jobs."""

    abstract = True
    queue = "mail"
    retry_exceptions = (TimeoutError, builtins.ConnectionError)
    retry_limit = 5
    retry_backoff = team_backoff
    retry_jitter = 0.2


class TeamSendReceipt(TeamMailJob):
    name = "retry_tests.policy.TeamSendReceipt"

    def perform(self) -> None:
        pass


class TeamSendDigest(TeamMailJob):
    name = "retry_tests.policy.TeamSendDigest"
    retry_limit = 1
    fatal_exceptions = (ConnectionRefusedError,)

    def perform(self) -> None:
        pass


def test_policy_is_inherited_from_an_abstract_base() -> None:
    policy = policy_for(TeamSendReceipt)
    assert policy is not None
    assert set(policy.exceptions) == {TimeoutError, builtins.ConnectionError}
    assert policy.limit == 5
    assert policy.backoff is team_backoff
    assert all(4 <= d <= 4.8 for d in samples(policy, TimeoutError(), n=200, retry=2))


def test_subclass_overrides_and_adds_fatal_exceptions() -> None:
    policy = policy_for(TeamSendDigest)
    assert policy is not None
    assert policy.limit == 1
    assert set(policy.exceptions) == {TimeoutError, builtins.ConnectionError}
    job = TeamSendDigest([])
    # ConnectionRefusedError is a listed ConnectionError, but fatal here.
    assert not policy.wants_retry(job, ConnectionRefusedError())
    assert policy.wants_retry(job, ConnectionResetError())
    assert policy.wants_retry(job, TimeoutError())
    # The base class is untouched.
    base = policy_for(TeamSendReceipt)
    assert base is not None and base.wants_retry(TeamSendReceipt([]), ConnectionRefusedError())


def test_subclass_can_switch_retries_off() -> None:
    class NoRetries(TeamMailJob):
        name = "retry_tests.policy.NoRetries"
        retry_exceptions = ()

    assert policy_for(NoRetries) is None


# --- criteria --------------------------------------------------------------------------


def not_vip(job: Any, exc: BaseException) -> bool:
    return "vip" not in job.args


def only_key_errors(job: Any, exc: BaseException) -> bool:
    return isinstance(exc, KeyError)


def test_a_false_criterion_vetoes_a_listed_exception() -> None:
    policy = policy_for(
        define("criteria-veto", retry_exceptions=(TimeoutError,), retry_criteria=[not_vip])
    )
    assert policy is not None
    assert not policy.wants_retry(resqplug.Job(["vip"]), TimeoutError())
    assert policy.wants_retry(resqplug.Job(["x"]), TimeoutError())


def test_a_true_criterion_forces_an_unlisted_exception() -> None:
    policy = policy_for(define("criteria-force", retry_criteria=(only_key_errors,)))
    assert policy is not None
    assert policy.wants_retry(resqplug.Job(["x"]), KeyError("k"))
    assert not policy.wants_retry(resqplug.Job(["x"]), ValueError())


def test_fatal_wins_over_a_forcing_criterion() -> None:
    class Base(Flaky):
        abstract = True
        retry_criteria = (only_key_errors,)

    class Fatal(Base):
        name = "retry_tests.policy.FatalOverCriteria"
        fatal_exceptions = (KeyError,)

    policy = policy_for(Fatal)
    assert policy is not None
    assert not policy.wants_retry(Fatal([]), KeyError("k"))
