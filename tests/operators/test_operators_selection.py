"""Selection operators: logs(), checkpoints(), terminal(), metric()."""

from __future__ import annotations

import math

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.testing import TestScheduler

from arkor_rx import operators as aop
from arkor_rx.errors import ConfigError
from arkor_rx.events import (
    CheckpointSaved,
    TrainingCompleted,
    TrainingFailed,
    TrainingLog,
    TrainingStarted,
    UnknownEvent,
)
from arkor_rx.operators import MetricPoint
from tests.operators.ops_helpers import collect, virtual

RUN = [
    TrainingStarted(),
    TrainingLog(step=10, loss=2.0, eval_loss=None),
    UnknownEvent.model_validate({"type": "training.new_thing", "jobId": "j1"}),
    CheckpointSaved(step=10),
    TrainingLog(step=20, loss=None, eval_loss=1.5),
    TrainingLog(step=30, loss=math.nan),
    TrainingLog(step=40, loss=math.inf),
    CheckpointSaved(step=40),
    TrainingCompleted(),
]


def test_logs_keeps_only_training_logs_in_order() -> None:
    out = collect(reactivex.from_iterable(RUN), aop.logs())
    assert [e.step for e in out] == [10, 20, 30, 40]
    assert all(isinstance(e, TrainingLog) for e in out)


def test_checkpoints_keeps_only_checkpoints() -> None:
    out = collect(reactivex.from_iterable(RUN), aop.checkpoints())
    assert [(type(e), e.step) for e in out] == [(CheckpointSaved, 10), (CheckpointSaved, 40)]


def test_terminal_keeps_completed_and_failed() -> None:
    failed = TrainingFailed(error="boom", step=3)
    out = collect(reactivex.from_iterable([*RUN, failed]), aop.terminal())
    assert [type(e) for e in out] == [TrainingCompleted, TrainingFailed]


def test_metric_skips_nulls_and_other_events_but_keeps_non_finite() -> None:
    out = collect(reactivex.from_iterable(RUN), aop.metric("loss"))
    assert [p.step for p in out] == [10, 30, 40]
    assert out[0] == MetricPoint(10, 2.0)
    assert math.isnan(out[1].value)
    assert out[2].value == math.inf


def test_metric_finite_only_drops_nan_and_inf() -> None:
    out = collect(reactivex.from_iterable(RUN), aop.metric("loss", finite_only=True))
    assert out == [MetricPoint(10, 2.0)]


def test_metric_accepts_camel_case_names() -> None:
    out = collect(reactivex.from_iterable(RUN), aop.metric("evalLoss"))
    assert out == [MetricPoint(20, 1.5)]


def test_metric_unknown_name_is_a_config_error_at_build_time() -> None:
    with pytest.raises(ConfigError, match="nope"):
        aop.metric("nope")


def test_metric_point_is_a_named_tuple() -> None:
    step, value = MetricPoint(3, 0.5)
    assert (step, value) == (3, 0.5)
    assert MetricPoint(3, 0.5)._fields == ("step", "value")


def test_selection_preserves_virtual_timing_completion_and_errors() -> None:
    scheduler = TestScheduler()
    timeline = [(10.0, TrainingLog(step=1, loss=1.0)), (20.0, CheckpointSaved(step=1))]
    records, _ = virtual(scheduler, timeline, aop.metric("loss"), complete_at=30.0)
    assert records == [(10.0, "next", MetricPoint(1, 1.0)), (30.0, "completed", None)]

    boom = RuntimeError("boom")
    out: list[Exception] = []
    reactivex.throw(boom).pipe(aop.logs()).subscribe(on_error=out.append)
    assert out == [boom]


def test_selection_operators_can_be_reused_across_subscriptions() -> None:
    op = aop.metric("loss", finite_only=True)
    source = reactivex.from_iterable(RUN)
    first = source.pipe(op, ops.to_list()).run()
    second = source.pipe(op, ops.to_list()).run()
    assert first == second == [MetricPoint(10, 2.0)]
