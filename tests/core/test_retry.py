"""ReconnectPolicy and the pure ReconnectState: the delay schedule, without any I/O."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from arkor_rx.errors import (
    CloudApiError,
    ConfigError,
    ReconnectExhaustedError,
    SSEError,
    StreamIdleTimeout,
    TransportError,
    UpgradeRequiredError,
)
from arkor_rx.protocol import is_transient_status
from arkor_rx.retry import (
    SERVER_RETRY_FLOOR,
    GiveUp,
    ReconnectPolicy,
    ReconnectState,
    Retry,
    is_transient,
)

DOWN = TransportError("connection refused")


def delays(state: ReconnectState, n: int, exc: BaseException = DOWN) -> list[float]:
    out = []
    for _ in range(n):
        decision = state.on_failure(exc)
        assert isinstance(decision, Retry)
        out.append(decision.delay)
    return out


def exhausted(state: ReconnectState, last: BaseException) -> ReconnectExhaustedError:
    """The error ``state`` gives up with on ``last``; its cause must be ``last``."""
    decision = state.on_failure(last)
    assert isinstance(decision, GiveUp)
    assert isinstance(decision.error, ReconnectExhaustedError)
    assert decision.error.__cause__ is last
    return decision.error


def test_defaults_match_the_official_sdk() -> None:
    policy = ReconnectPolicy()
    assert (policy.initial_delay, policy.max_delay, policy.max_attempts) == (1.0, 60.0, None)
    assert policy.jitter == 0.25
    assert policy.idle_timeout == 45.0
    assert policy.honor_server_retry is True


def test_policy_is_frozen_comparable_and_readable() -> None:
    policy = ReconnectPolicy(initial_delay=0.5)
    assert policy == ReconnectPolicy(initial_delay=0.5)
    assert policy != ReconnectPolicy()
    assert "initial_delay=0.5" in repr(policy)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.initial_delay = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"initial_delay": -1}, "initial_delay"),
        ({"initial_delay": math.nan}, "initial_delay"),
        ({"initial_delay": "1"}, "initial_delay"),
        ({"max_delay": math.inf}, "max_delay"),
        ({"initial_delay": 5, "max_delay": 1}, "max_delay"),
        ({"jitter": 1.5}, "jitter"),
        ({"jitter": -0.1}, "jitter"),
        ({"max_attempts": -1}, "max_attempts"),
        ({"max_attempts": 1.5}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"idle_timeout": 0}, "idle_timeout"),
        ({"honor_server_retry": 1}, "honor_server_retry"),
        ({"dedupe_window": -1}, "dedupe_window"),
    ],
)
def test_bad_values_are_config_errors_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        ReconnectPolicy(**kwargs)


def test_immediate_has_no_delays() -> None:
    state = ReconnectState(ReconnectPolicy.immediate(), random=lambda: 0.99)
    assert delays(state, 5) == [0.0] * 5
    assert delays(
        ReconnectState(ReconnectPolicy.immediate()), 1, CloudApiError(429, "x", retry_after=9)
    ) == [0.0]


def test_failures_double_from_initial_and_clamp_at_max() -> None:
    state = ReconnectState(ReconnectPolicy(initial_delay=1, max_delay=10, jitter=0))
    assert delays(state, 6) == [1, 2, 4, 8, 10, 10]


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.75), (0.5, 1.0), (1.0, 1.25)])
def test_jitter_spreads_by_plus_or_minus_a_quarter(draw: float, factor: float) -> None:
    state = ReconnectState(ReconnectPolicy(initial_delay=2, jitter=0.25), random=lambda: draw)
    assert delays(state, 3) == pytest.approx([2 * factor, 4 * factor, 8 * factor])


def test_jitter_never_passes_the_max_delay() -> None:
    state = ReconnectState(ReconnectPolicy(initial_delay=8, max_delay=10), random=lambda: 1.0)
    assert delays(state, 3) == [10.0, 10.0, 10.0]


def test_clean_close_after_data_is_the_base_delay_and_not_a_failure() -> None:
    state = ReconnectState(ReconnectPolicy(initial_delay=3, jitter=0.25), random=lambda: 1.0)
    state.record_data()
    assert state.on_clean_close() == Retry(3.0, failure=False)
    assert state.failures == 0
    # The flag is per connection: a second close without new data is a failure.
    assert state.on_clean_close() == Retry(3.75, failure=True)
    assert state.failures == 1


def test_a_data_frame_resets_the_consecutive_failure_count() -> None:
    state = ReconnectState(ReconnectPolicy(jitter=0))
    assert delays(state, 3) == [1, 2, 4]
    state.record_data()
    assert state.failures == 0
    assert delays(state, 2) == [1, 2]
    assert state.total_failures == 5


def test_server_retry_is_the_base_delay() -> None:
    state = ReconnectState(ReconnectPolicy(jitter=0))
    state.record_server_retry(250)
    assert state.base_delay == 0.25
    assert delays(state, 3) == [0.25, 0.5, 1.0]
    state.record_data()
    assert state.on_clean_close() == Retry(0.25, failure=False)


def test_server_retry_is_ignored_when_the_policy_says_so() -> None:
    state = ReconnectState(ReconnectPolicy(jitter=0, honor_server_retry=False))
    state.record_server_retry(250)
    assert delays(state, 1) == [1.0]


def test_retry_after_is_a_floor_for_one_attempt() -> None:
    state = ReconnectState(ReconnectPolicy(jitter=0, max_delay=5))
    busy = CloudApiError(503, "busy", retry_after=30)
    assert delays(state, 1, busy) == [30.0]  # the server asked: more than max_delay
    assert delays(state, 1) == [2.0]
    small = CloudApiError(429, "slow", retry_after=0.5)
    assert delays(state, 1, small) == [4.0]  # a floor, not a replacement


@pytest.mark.parametrize("status", [401, 403, 410, 426, 400, 405, 409, 422])
def test_permanent_statuses_give_up_with_the_error_itself(status: int) -> None:
    state = ReconnectState(ReconnectPolicy())
    error = (UpgradeRequiredError if status == 426 else CloudApiError)(status, "no")
    assert state.on_failure(error) == GiveUp(error)
    assert not is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        CloudApiError(404, "not yet"),
        CloudApiError(408, "timeout"),
        CloudApiError(429, "slow"),
        CloudApiError(500, "oops"),
        CloudApiError(503, "busy"),
        TransportError("reset"),
        StreamIdleTimeout("silent"),
        SSEError("garbage"),
    ],
)
def test_transient_errors_are_retried(error: Exception) -> None:
    assert is_transient(error)
    assert isinstance(ReconnectState(ReconnectPolicy()).on_failure(error), Retry)


def test_errors_that_are_not_about_the_stream_are_permanent() -> None:
    bug = KeyError("bug")
    assert ReconnectState(ReconnectPolicy()).on_failure(bug) == GiveUp(bug)


def test_max_attempts_gives_up_with_the_last_error_as_cause() -> None:
    state = ReconnectState(ReconnectPolicy(max_attempts=2, jitter=0))
    assert delays(state, 2) == [1, 2]
    assert exhausted(state, TransportError("third")).attempts == 3


def test_max_attempts_counts_consecutive_failures_only() -> None:
    state = ReconnectState(ReconnectPolicy(max_attempts=1, jitter=0))
    for _ in range(5):
        assert isinstance(state.on_failure(DOWN), Retry)
        state.record_data()
    assert isinstance(state.on_failure(DOWN), Retry)
    assert isinstance(state.on_failure(DOWN), GiveUp)


def test_max_attempts_zero_never_retries() -> None:
    decision = ReconnectState(ReconnectPolicy(max_attempts=0)).on_failure(DOWN)
    assert isinstance(decision, GiveUp)
    assert decision.error.__cause__ is DOWN


# --- the schedule is pure and finite (issue: retry: 0 became a reconnect storm) ------


def test_the_state_keeps_no_derived_schedule() -> None:
    # Only facts: what happened so far. The delay is computed from them each time.
    names = {f.name for f in dataclasses.fields(ReconnectState)}
    assert names == {"policy", "random", "failures", "total_failures", "server_retry", "_saw_data"}


def test_delay_is_a_pure_function_of_the_attempt() -> None:
    policy = ReconnectPolicy(initial_delay=1, max_delay=60, jitter=0.25)
    assert [policy.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert policy.delay(3, draw=0.0) == 3.0
    assert policy.delay(3, draw=1.0) == 5.0
    assert policy.delay(3, base=0.5) == 2.0
    assert policy.delay(3) == policy.delay(3)  # no state moved
    with pytest.raises(ValueError, match="attempt"):
        policy.delay(0)


@pytest.mark.parametrize("attempt", [1023, 1024, 1025, 10**6, 10**100])
@pytest.mark.parametrize(
    ("initial", "maximum", "expected"),
    [(0.0, 60.0, 0.0), (1.0, 60.0, 60.0), (1e-300, 60.0, 60.0), (0.0, 0.0, 0.0)],
)
def test_delay_never_overflows_for_any_attempt_count(
    attempt: int, initial: float, maximum: float, expected: float
) -> None:
    policy = ReconnectPolicy(initial_delay=initial, max_delay=maximum, jitter=0)
    assert policy.delay(attempt) == expected


def test_a_tiny_base_still_reaches_the_ceiling_by_doubling() -> None:
    policy = ReconnectPolicy(initial_delay=2.0**-1070, max_delay=1.0, jitter=0)
    assert policy.delay(1) == 2.0**-1070
    assert policy.delay(1060) == 2.0**-11  # 1059 doublings: past the 1000-step walk
    assert policy.delay(1071) == 1.0
    assert policy.delay(5000) == 1.0
    widest = ReconnectPolicy(initial_delay=5e-324, max_delay=1e308, jitter=0)
    assert widest.delay(1025) == math.ldexp(5e-324, 1024)  # finite; 2.0**1024 is not
    assert widest.delay(10**6) == 1e308


def test_zero_initial_delay_exhausts_with_reconnect_exhausted_not_overflow() -> None:
    # Issue: initial_delay=0 died with OverflowError after 1,024 failures.
    state = ReconnectState(ReconnectPolicy(initial_delay=0, max_attempts=3000, jitter=0.25))
    assert delays(state, 3000) == [0.0] * 3000
    assert exhausted(state, TransportError("again")).attempts == 3001


def test_server_retry_zero_is_raised_to_the_documented_floor() -> None:
    assert SERVER_RETRY_FLOOR == 0.1
    state = ReconnectState(ReconnectPolicy(jitter=0, max_attempts=2000))
    state.record_server_retry(0)
    assert state.server_retry == SERVER_RETRY_FLOOR
    state.record_data()
    assert state.on_clean_close() == Retry(0.1, failure=False)
    # Failures double from the floor up to max_delay: no storm, no overflow.
    got = delays(state, 2000)
    assert got[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert got[-1] == 60.0
    assert sum(got) > 100_000  # two thousand failures take over a day, not 5 s
    assert isinstance(state.on_failure(DOWN), GiveUp)


@pytest.mark.parametrize("ms", [1, 99, 100])
def test_server_retry_under_the_floor_counts_as_the_floor(ms: int) -> None:
    state = ReconnectState(ReconnectPolicy(jitter=0))
    state.record_server_retry(ms)
    assert state.base_delay == SERVER_RETRY_FLOOR


@pytest.mark.parametrize("ms", [10**9, 10**15, 10**400])
def test_a_huge_server_retry_is_clamped_at_max_delay(ms: int) -> None:
    state = ReconnectState(ReconnectPolicy(jitter=0, max_delay=60))
    state.record_server_retry(ms)
    assert delays(state, 3) == [60.0, 60.0, 60.0]
    state.record_data()
    assert state.on_clean_close() == Retry(60.0, failure=False)


def test_negative_or_absent_server_retry_changes_nothing() -> None:
    state = ReconnectState(ReconnectPolicy(jitter=0))
    state.record_server_retry(None)
    state.record_server_retry(-5)
    assert state.server_retry is None
    assert state.base_delay == 1.0


def test_the_status_rule_has_one_home() -> None:
    # CloudApiError.is_permanent and retry.is_transient both ask the protocol.
    for status in range(100, 700):
        error = CloudApiError(status, "x")
        assert error.is_permanent is not is_transient_status(status)
        assert is_transient(error) is is_transient_status(status)
