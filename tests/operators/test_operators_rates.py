"""Rates: steps_per_second, samples_per_second, eta, on both clocks, in virtual time."""

from __future__ import annotations

import pytest
import reactivex
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

from arkor_rx import operators as aop
from arkor_rx.errors import ConfigError
from arkor_rx.events import CheckpointSaved, TrainingLog
from arkor_rx.operators import Eta, MetricPoint
from tests.operators.ops_helpers import collect, virtual


def stamped(step: int, second: int) -> TrainingLog:
    return TrainingLog(step=step, timestamp=f"2026-01-01T00:{second // 60:02d}:{second % 60:02d}Z")


def test_steps_per_second_on_the_scheduler_clock() -> None:
    scheduler = TestScheduler()
    timeline = [
        (10.0, TrainingLog(step=0)),
        (20.0, TrainingLog(step=50)),
        (20.0, CheckpointSaved(step=50)),
        (25.0, TrainingLog(step=50)),  # same step: nothing, anchor kept
        (30.0, TrainingLog(step=150)),  # 100 steps in 10 s since the anchor at t=20
    ]
    op = aop.steps_per_second(clock="scheduler")
    records, _ = virtual(scheduler, timeline, op, complete_at=40.0)
    assert records == [
        (20.0, "next", MetricPoint(50, 5.0)),
        (30.0, "next", MetricPoint(150, 10.0)),
        (40.0, "completed", None),
    ]


def test_steps_per_second_on_event_timestamps_ignores_arrival_bursts() -> None:
    scheduler = TestScheduler()
    # A reconnect delivers three missed logs at once; their own timestamps are spaced.
    timeline = [(50.0, stamped(0, 0)), (50.0, stamped(20, 10)), (50.0, stamped(40, 20))]
    records, _ = virtual(scheduler, timeline, aop.steps_per_second())
    assert [r[2] for r in records] == [MetricPoint(20, 2.0), MetricPoint(40, 2.0)]


def test_steps_per_second_same_instant_keeps_anchor_and_backwards_step_resets() -> None:
    run = [stamped(0, 0), stamped(10, 0), stamped(20, 10), stamped(5, 11), stamped(15, 16)]
    out = collect(reactivex.from_iterable(run), aop.steps_per_second())
    assert out == [MetricPoint(20, 2.0), MetricPoint(15, 2.0)]


def test_steps_per_second_skips_logs_without_timestamp_on_event_clock() -> None:
    run = [stamped(0, 0), TrainingLog(step=5), stamped(10, 5)]
    assert collect(reactivex.from_iterable(run), aop.steps_per_second()) == [MetricPoint(10, 2.0)]


def test_explicit_scheduler_wins_over_subscribe_scheduler() -> None:
    mine, other = TestScheduler(), TestScheduler()
    out: list[MetricPoint] = []
    subject: Subject[TrainingLog] = Subject()
    subject.pipe(aop.steps_per_second(mine, clock="scheduler")).subscribe(
        out.append, scheduler=other
    )
    subject.on_next(TrainingLog(step=0))
    mine.advance_to(4.0)
    other.advance_to(100.0)
    subject.on_next(TrainingLog(step=8))
    assert out == [MetricPoint(8, 2.0)]


def test_samples_per_second_reports_the_backend_values() -> None:
    run = [
        TrainingLog(step=1, samples_per_second=40.0),
        TrainingLog(step=2, samples_per_second=None),
        TrainingLog(step=3, samples_per_second=float("nan")),
        TrainingLog(step=4, samples_per_second=42.5),
    ]
    out = collect(reactivex.from_iterable(run), aop.samples_per_second())
    assert out == [MetricPoint(1, 40.0), MetricPoint(4, 42.5)]


def test_eta_uses_average_speed_since_the_first_log() -> None:
    scheduler = TestScheduler()
    timeline = [
        (10.0, TrainingLog(step=0)),
        (20.0, TrainingLog(step=20)),  # 2 steps/s, 80 left -> 40 s
        (30.0, TrainingLog(step=60)),  # 60 steps in 20 s = 3/s, 40 left
        (40.0, TrainingLog(step=120)),  # past the end: 0 s left
    ]
    records, _ = virtual(scheduler, timeline, aop.eta(100, clock="scheduler"))
    etas = [r[2] for r in records]
    assert etas[0] == Eta(20, 100, 2.0, 40.0)
    assert etas[1].steps_per_second == pytest.approx(3.0)
    assert etas[1].seconds_left == pytest.approx(40 / 3)
    assert etas[2].seconds_left == 0.0
    assert etas[2].fraction == 1.0
    assert etas[0].fraction == pytest.approx(0.2)


def test_eta_on_recorded_events() -> None:
    run = [stamped(0, 0), stamped(50, 10)]
    assert collect(reactivex.from_iterable(run), aop.eta(200)) == [Eta(50, 200, 5.0, 30.0)]


@pytest.mark.parametrize(
    "build",
    [
        lambda: aop.eta(0),
        lambda: aop.eta(10, clock="wall"),  # type: ignore[arg-type]
        lambda: aop.steps_per_second(clock="nope"),  # type: ignore[arg-type]
    ],
)
def test_rate_operators_validate_arguments(build: object) -> None:
    with pytest.raises(ConfigError):
        build()  # type: ignore[operator]
