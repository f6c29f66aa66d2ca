"""The standing suite of client fault scripts: what the client does when things go wrong.

Each row of ``fault_cases.CASES`` is one script played by the shared fake backend
(``tests/core/core_fakes.py``, plus raw answers and redirects from
``tests/client/faults.py``) to a real :class:`~arkor_rx.client.ArkorClient`
followed by an :class:`~arkor_rx.stream.EventStream`, and says what must come
of it: the events delivered, or the error (type, message, cause); how many
times the stream was opened; the ``Last-Event-ID`` each opening sent; and the
delays waited between them (a recording sleep: no wall time is waited, except
the idle watchdog's 0.2 s in the half-open rows). Every row also checks that
the bearer token shows nowhere: not in the error, its repr, args, attributes,
traceback or causes, and not in the DEBUG log.

The default policy of a row: 1 s doubling to 60 s, no jitter, at most 2
failures in a row, no idle watchdog.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from arkor_rx.client import ArkorClient
from arkor_rx.events import TrainingEvent
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.stream import EventStream
from tests.client.client_helpers import closed_port
from tests.client.fault_cases import CASES, NEXT, TOKEN, Case, Result
from tests.client.faults import FaultBackend, Redirect, assert_no_secret, drain, error_texts
from tests.core.core_fakes import JOB_ID, ORG, PROJECT, SleepSpy


def test_the_matrix_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


# --- running one row -------------------------------------------------------------------


@pytest.fixture
async def backends() -> AsyncIterator[tuple[FaultBackend, FaultBackend]]:
    first, second = FaultBackend(), FaultBackend()
    await first.start()
    await second.start()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def play(case: Case, first: FaultBackend, second: FaultBackend) -> Result:
    first.plan.extend(
        Redirect(step.status, second.stream_url())
        if isinstance(step, Redirect) and step.location == NEXT
        else step
        for step in case.plan
    )
    second.plan.extend(case.then)
    url = f"http://127.0.0.1:{closed_port()}" if case.refused else first.url
    options: dict[str, Any] = {
        "initial_delay": 1.0,
        "max_delay": 60.0,
        "jitter": 0.0,
        "max_attempts": 2,
        "idle_timeout": None,
        **case.policy,
    }
    spy = SleepSpy()
    events: list[TrainingEvent] = []
    error: BaseException | None = None
    async with ArkorClient(url, TOKEN, ORG, PROJECT) as client:
        stream = EventStream(client, JOB_ID, ReconnectPolicy(**options), sleep=spy)
        try:
            events = await drain(stream)
        except Exception as exc:
            error = exc
    return Result(events, error, spy.delays, stream.stats, first, second)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_fault_script(
    case: Case,
    backends: tuple[FaultBackend, FaultBackend],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    first, second = backends
    result = await play(case, first, second)

    if isinstance(case.outcome, tuple):
        assert result.error is None, f"unexpected {result.error!r}"
        assert tuple(event.type for event in result.events) == case.outcome
    else:
        assert type(result.error) is case.outcome, f"got {result.error!r}"
        if case.message is not None:
            assert case.message in str(result.error)
        if case.cause is not None:
            assert type(result.error.__cause__) is case.cause
        assert_no_secret(TOKEN, *error_texts(result.error))

    assert len(first.connections) + len(second.connections) == case.opens
    assert first.unexpected == second.unexpected == 0
    if case.resume is not None:
        assert tuple(c.last_event_id for c in first.connections) == case.resume
    if case.delays is not None:
        assert result.delays == pytest.approx(list(case.delays))
    if case.check is not None:
        case.check(result)
    assert_no_secret(TOKEN, caplog.text)
