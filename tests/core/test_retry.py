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
from arkor_rx.retry import GiveUp, ReconnectPolicy, ReconnectState, Retry, is_transient

DOWN = TransportError("connection refused")


def delays(state: ReconnectState, n: int, exc: BaseException = DOWN) -> list[float]:
    out = []
    for _ in range(n):
        decision = state.on_failure(exc)
        assert isinstance(decision, Retry)
        out.append(decision.delay)
    return out


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
    last = TransportError("third")
    decision = state.on_failure(last)
    assert isinstance(decision, GiveUp)
    assert isinstance(decision.error, ReconnectExhaustedError)
    assert decision.error.attempts == 3
    assert decision.error.__cause__ is last


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
