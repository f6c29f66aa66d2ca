"""The web dashboard's state: the views' own reducer, a bounded journal, frames of a few bytes."""

from __future__ import annotations

import asyncio
import math

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from arkor_rx.dashboard import RunStopped, ViewAction, ViewState, reduce_view
from arkor_rx.dashboard.web import WebFeed
from arkor_rx.dashboard.web._feed import WEB_TEMPLATE, Series
from arkor_rx.dashboard.web._security import harden
from arkor_rx.dashboard.web._stream import encode_frame, merge, stream_changes
from arkor_rx.events import TrainingLog, TrainingStarted
from arkor_rx.stopping import StopDecision

JOB = "job_0123456789abcdef"


def log(step: int, *, loss: float | None = None, eval_loss: float | None = None) -> TrainingLog:
    return TrainingLog(
        job_id=JOB,
        step=step,
        loss=1.0 / step if loss is None else loss,
        eval_loss=eval_loss,
        learning_rate=2e-4,
        event_id=str(step + 1),
    )


def test_the_run_state_is_the_views_reducers() -> None:
    actions: list[ViewAction] = [
        TrainingStarted(job_id=JOB, event_id="1", metadata={"maxSteps": 50}),
        *(log(s, eval_loss=2.0 / s if s % 5 == 0 else None) for s in range(1, 30)),
        log(12),  # a repeat: counted, ignored
        RunStopped(StopDecision("patience", "eval_loss did not improve", step=29)),
    ]
    feed = WebFeed(clock=lambda: 100.0)
    expected = ViewState(template=WEB_TEMPLATE)
    for action in actions:
        feed.push(action, JOB)
        expected = reduce_view(expected, action, now=100.0, key=JOB)
    assert feed.view.runs[JOB] == expected.runs[JOB]
    row = feed.snapshot()["runs"][0]
    assert (row["state"], row["status"]) == ("early-stopped", "cancelled")
    assert row["stop"] == {"rule": "patience", "reason": "eval_loss did not improve", "step": 29}
    assert feed.detail(JOB)["series"]["step"] == list(range(1, 30))  # type: ignore[index]


def test_a_new_point_costs_the_same_few_bytes_however_long_the_run() -> None:
    sizes = []
    for history in (10, 10_000):
        feed = WebFeed(clock=lambda: 0.0)
        feed.push(TrainingStarted(job_id=JOB, event_id="1"), JOB)
        for step in range(1, history + 1):
            feed.push(log(step, loss=0.123456789), JOB)
        before = feed.seq
        feed.push(log(history + 1, loss=0.123456789), JOB)
        changes = feed.since(before)
        assert changes is not None
        body, last = merge(changes)
        sizes.append(len(encode_frame(last, body)))
    # Only the digits grow: the frame's id, the point's seq and its step (3 numbers, 3 digits more).
    assert sizes[1] - sizes[0] <= 3 * 3
    assert max(sizes) <= 120


def test_resuming_from_before_the_journal_is_refused_not_gapped() -> None:
    feed = WebFeed(clock=lambda: 0.0, journal_limit=5)
    for step in range(1, 20):
        feed.push(log(step), JOB)
    assert feed.since(feed.seq - 5) is not None
    assert [c.seq for c in feed.since(feed.seq - 3) or ()] == [feed.seq - 2, feed.seq - 1, feed.seq]
    assert feed.since(feed.seq - 6) is None  # the page reloads its snapshot instead


def test_a_long_run_is_thinned_keeping_its_ends() -> None:
    series = Series()
    for step in range(1, 102):
        series.append([step, step, float(step), None, None], limit=50)
    steps = list(series.step)
    assert len(steps) <= 51
    assert steps[0] == 1.0
    assert steps[-1] == 101.0
    assert steps == sorted(steps)
    assert all(math.isnan(v) for v in series.eval_loss)
    assert series.to_json()["evalLoss"][0] is None


async def _waiting_stream(feed: WebFeed) -> asyncio.Task[web.StreamResponse]:
    """``GET /api/stream`` served by its handler in a task, once it waits for a change."""
    request = make_mocked_request("GET", "/api/stream")
    task = asyncio.create_task(stream_changes(request, feed, harden))
    while not feed._waiters:  # the handler has sent its first frame and waits on the feed
        assert not task.done()
        await asyncio.sleep(0)
    return task


async def test_a_shutdown_ends_a_stream_and_a_cancellation_is_not_swallowed() -> None:
    feed = WebFeed()
    feed.push(log(1, loss=1.0))
    ended = await _waiting_stream(feed)
    feed.forget()  # shutdown: the stream returns as usual
    assert isinstance(await ended, web.StreamResponse)
    assert feed.closed
    feed.closed = False  # served again
    cancelled = await _waiting_stream(feed)
    cancelled.cancel()  # as aiohttp or the runner's cleanup does
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert cancelled.cancelled()
