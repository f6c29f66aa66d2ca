"""aop.to_sink on any Observable of events: pass-through, open/close, outcomes, sweeps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.subject import Subject

from arkor_rx import operators as aop
from arkor_rx.events import TrainingFailed, TrainingLog
from arkor_rx.runs import PruneDecision, Run, RunEvent
from arkor_rx.stopping import StopDecision
from tests.sinks.sink_helpers import RecordingSink, run_events


async def collect(source: reactivex.Observable[Any]) -> list[Any]:
    result: list[Any] = await source.pipe(ops.to_list())
    return result


async def test_passes_through_and_closes_completed_before_the_output_completes() -> None:
    sink = RecordingSink()
    events = run_events(steps=3)
    out = await collect(reactivex.from_iterable(events).pipe(aop.to_sink(sink)))
    assert out == events
    assert sink.kinds[0] == "open"
    assert sink.calls[0][1].id == "j1"
    assert sink.items == events
    (outcome,) = sink.outcomes()
    assert (outcome.kind, outcome.job_id) == ("completed", "j1")
    assert outcome.job is not None
    assert outcome.job.status == "completed"


async def test_failed_event_closes_failed_with_the_error() -> None:
    sink = RecordingSink()
    events = [*run_events(steps=2, end=False), TrainingFailed(job_id="j1", error="OOM", step=2)]
    await collect(reactivex.from_iterable(events).pipe(aop.to_sink(sink)))
    (outcome,) = sink.outcomes()
    assert (outcome.kind, outcome.error) == ("failed", "OOM")


async def test_source_ending_before_the_run_closes_cancelled() -> None:
    sink = RecordingSink()
    await collect(reactivex.from_iterable(run_events(steps=4)).pipe(ops.take(3), aop.to_sink(sink)))
    assert [o.kind for o in sink.outcomes()] == ["cancelled"]
    assert len(sink.items) == 3


async def test_source_error_closes_error_then_passes_the_error_on() -> None:
    sink = RecordingSink()
    source = reactivex.concat(
        reactivex.from_iterable(run_events(end=False)), reactivex.throw(OSError("link down"))
    )
    with pytest.raises(OSError, match="link down"):
        await collect(source.pipe(aop.to_sink(sink)))
    (outcome,) = sink.outcomes()
    assert outcome.kind == "error"
    assert outcome.error == "OSError: link down"


async def test_stop_decision_from_stop_when_closes_stopped() -> None:
    sink = RecordingSink()
    events: list[Any] = [TrainingLog(job_id="j1", step=s, loss=1.0) for s in range(1, 10)]
    stopped = reactivex.from_iterable(events).pipe(aop.stop_when(aop.step_budget(3)))
    out = await collect(stopped.pipe(aop.to_sink(sink)))
    assert isinstance(out[-1], StopDecision)
    (outcome,) = sink.outcomes()
    assert outcome.kind == "stopped"
    assert outcome.stop == out[-1]


async def test_sweep_run_events_are_unwrapped_labelled_by_run_and_pruned_runs_stop() -> None:
    sink = RecordingSink()
    ra = Run(index=0, job_id="ja", config={"learning_rate": 1e-4}, name="sweep-0")
    rb = Run(index=1, job_id="jb", config={"learning_rate": 2e-4}, name="sweep-1")
    a, b = run_events("ja", 3), run_events("jb", 3, end=False)
    merged: list[Any] = [RunEvent(ra, a[0]), RunEvent(rb, b[0])]
    merged += [
        RunEvent(r, e)
        for pair in zip(a[1:], b[1:], strict=False)
        for r, e in zip((ra, rb), pair, strict=True)
    ]
    decision = StopDecision(rule="prune.median", reason="worse than median", step=3)
    merged += [PruneDecision(rb, decision), RunEvent(ra, a[-1])]
    out = await collect(reactivex.from_iterable(merged).pipe(aop.to_sink(sink)))
    assert out == merged
    opened = {job.id: job for kind, job in sink.calls if kind == "open"}
    assert opened["ja"].name == "sweep-0"
    assert opened["jb"].config == {"learning_rate": 2e-4}
    assert [e for e in sink.items if e.job_id == "ja"] == a
    outcomes = {o.job_id: o for o in sink.outcomes()}
    assert outcomes["jb"].kind == "stopped"
    assert outcomes["jb"].stop == decision
    assert outcomes["ja"].kind == "completed"


async def test_fail_on_error_turns_completion_into_the_sinks_error() -> None:
    sink = RecordingSink(fail_write=True, fail_on_error=True)
    with pytest.raises(RuntimeError, match="sink is broken"):
        await collect(reactivex.from_iterable(run_events()).pipe(aop.to_sink(sink)))
    assert sink.kinds[-1] == "close"


async def test_dispose_closes_open_runs_cancelled() -> None:
    sink = RecordingSink()
    subject: Subject[Any] = Subject()
    seen: list[Any] = []
    disposable = subject.pipe(aop.to_sink(sink, name="live")).subscribe(seen.append)
    for event in run_events(steps=2, end=False):
        subject.on_next(event)
    disposable.dispose()
    await asyncio.wait_for(sink.closed.wait(), 5)
    assert sink.calls[0][1].name == "live"
    assert [o.kind for o in sink.outcomes()] == ["cancelled"]
    assert len(seen) == 3


def test_without_a_loop_the_output_fails_with_a_clear_error() -> None:
    errors: list[Exception] = []
    reactivex.from_iterable(run_events()).pipe(aop.to_sink(RecordingSink())).subscribe(
        on_error=errors.append
    )
    assert "subscribe in a running loop" in str(errors[0])
