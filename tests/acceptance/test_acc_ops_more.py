"""More black-box acceptance tests of `arkor_rx.operators`: rule settings, time, windows."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import pytest
import reactivex
from reactivex.testing import ReactiveTest, TestScheduler

import arkor_rx as ax
from arkor_rx import operators as aop
from tests.acceptance._acc_fake import msgs, run_list


def losses(pairs: Sequence[tuple[int, float]]) -> list[ax.TrainingLog]:
    return [ax.TrainingLog(step=s, loss=v) for s, v in pairs]


def test_interval_checks_only_every_k_steps() -> None:
    # steps 10..60 every 10; interval=20 checks 10, 30, 50 only (first value checked)
    run = losses([(10, 1.0), (20, 0.1), (30, 2.0), (40, 0.1), (50, 3.0), (60, 0.1)])
    [d] = run_list(run, aop.patience("loss", 2, interval=20))
    assert (d.step, d.best, d.best_step) == (50, 1.0, 10)


def test_smoothing_applies_tensorboard_before_check() -> None:
    values = [1.0, 1.0, 1.0, 5.0]
    run = losses(list(enumerate(values, start=1)))
    # raw 5.0 > 3.0, smoothed with 0.9 stays well below 3.0
    assert run_list(run, aop.divergence(threshold=3.0, smoothing=0.9)) == []
    [d] = run_list(run, aop.divergence(threshold=3.0))
    assert d.step == 4


def test_smoothing_sees_warmup_values() -> None:
    # warm-up values still feed the smoother: a huge warm-up value drags the smoothed curve up
    run = losses([(1, 100.0), (2, 1.0), (3, 1.0)])
    [d] = run_list(run, aop.divergence(threshold=10.0, smoothing=0.5, warmup_steps=2))
    assert d.step == 2
    assert d.value == pytest.approx((0.25 * 100.0 + 0.5 * 1.0) / 0.75)


def test_stop_decision_fields_and_frozen() -> None:
    [d] = run_list(losses([(1, 1.0), (2, 1.0)]), aop.patience("loss", 1))
    assert isinstance(d, aop.StopDecision)
    assert (d.rule, d.step, d.value, d.best, d.best_step, d.monitor) == (
        "patience",
        2,
        1.0,
        1.0,
        1,
        "loss",
    )
    with pytest.raises(Exception):  # noqa: B017
        d.step = 3  # type: ignore[misc]


def test_rule_reusable_state_per_subscription() -> None:
    rule = aop.patience("loss", 1)
    run = losses([(1, 1.0), (2, 1.0)])
    assert run_list(run, rule) == run_list(run, rule)
    assert len(run_list(run, rule)) == 1


def test_rules_ignore_other_event_kinds() -> None:
    run: list[Any] = [
        ax.TrainingStarted(),
        ax.CheckpointSaved(step=1),
        ax.TrainingLog(step=2, loss=math.nan),
    ]
    [d] = run_list(run, aop.non_finite())
    assert d.step == 2


def test_plateau_window_needs_full_window() -> None:
    assert run_list(losses([(1, 1.0), (2, 1.0)]), aop.plateau("loss", 3, 0.0)) == []
    [d] = run_list(losses([(1, 1.0), (2, 1.0), (3, 1.0)]), aop.plateau("loss", 3, 0.0))
    assert d.step == 3


def test_plateau_catches_hidden_nan_running_mean() -> None:
    run = losses([(s, 2.0 - 0.1 * s) for s in range(1, 6)] + [(s, 1.5) for s in range(6, 12)])
    [d] = run_list(run, aop.plateau("loss", 5, 1e-6))
    assert d.step == 9  # 1.5 first logged at step 5 (2.0 - 0.5): steps 5..9 fill the window


def test_nested_combinators() -> None:
    run = losses([(s, 1.0) for s in range(1, 10)])
    rule = aop.any_of(
        aop.all_of(aop.step_budget(5), aop.threshold("loss", 1.0)), aop.step_budget(8)
    )
    [d] = run_list(run, rule)
    assert d.step == 5
    assert d.rule.startswith("all_of(")


def test_early_stopping_bad_combine() -> None:
    with pytest.raises(ax.ConfigError):
        aop.early_stopping(aop.step_budget(1), combine="some")  # type: ignore[arg-type]


def test_stop_when_without_decision_passes_all() -> None:
    run = losses([(1, 1.0), (2, 1.0)])
    assert run_list(run, aop.stop_when(aop.step_budget(100))) == run


def test_cost_budget_virtual_time() -> None:
    scheduler = TestScheduler()
    out: list[aop.StopDecision] = []
    aop.cost_budget(price_per_hour=2.4, max_cost=0.2)(reactivex.never()).subscribe(
        out.append, scheduler=scheduler
    )
    scheduler.advance_to(299.0)
    assert out == []
    scheduler.advance_to(300.0)
    assert out[0].rule == "budget.cost"
    assert round(out[0].value or 0.0, 6) == 0.2


def test_time_budget_explicit_scheduler() -> None:
    scheduler = TestScheduler()
    out: list[aop.StopDecision] = []
    done: list[bool] = []
    aop.time_budget(10.0, scheduler=scheduler)(reactivex.never()).subscribe(
        out.append, on_completed=lambda: done.append(True)
    )
    scheduler.advance_to(9.9)
    assert out == []
    scheduler.advance_to(10.0)
    assert len(out) == 1
    assert done == [True]
    assert out[0].rule == "budget.time"


def test_time_budget_in_any_of_virtual_time() -> None:
    scheduler = TestScheduler()
    events = scheduler.create_hot_observable(
        ReactiveTest.on_next(300, ax.TrainingLog(step=1, loss=1.0))
    )
    rule = aop.any_of(aop.time_budget(100.0), aop.non_finite())
    obs = scheduler.start(lambda: rule(events))
    assert [(m.time, m.value.kind) for m in msgs(obs.messages)] == [(300, "N"), (300, "C")]


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_time_budget_bad_seconds(bad: float) -> None:
    with pytest.raises(ax.ConfigError):
        aop.time_budget(bad)


def test_window_by_steps() -> None:
    points = [aop.MetricPoint(s, 0.0) for s in (0, 5, 10, 12, 30)]
    windows = run_list(points, aop.window_by_steps(10))
    assert [[p.step for p in w] for w in windows] == [[0, 5], [10, 12], [30]]


def test_window_by_time_virtual() -> None:
    scheduler = TestScheduler()
    windows: list[list[int]] = []
    reactivex.interval(2.0, scheduler=scheduler).pipe(aop.window_by_time(5.0)).subscribe(
        windows.append, scheduler=scheduler
    )
    scheduler.advance_to(10.5)
    assert windows == [[0, 1], [2, 3]]


def test_steps_per_second_and_eta() -> None:
    run = [
        ax.TrainingLog(step=s, timestamp=f"2026-01-01T00:00:{t:02d}Z")
        for s, t in [(0, 0), (10, 5), (30, 9)]
    ]
    assert run_list(run, aop.steps_per_second()) == [
        aop.MetricPoint(10, 2.0),
        aop.MetricPoint(30, 5.0),
    ]
    eta_run = [
        ax.TrainingLog(step=0, timestamp="2026-01-01T00:00:00Z"),
        ax.TrainingLog(step=50, timestamp="2026-01-01T00:00:10Z"),
    ]
    e = reactivex.from_iterable(eta_run).pipe(aop.eta(200)).run()
    assert (e.seconds_left, e.fraction) == (30.0, 0.25)


def test_time_weighted_ema() -> None:
    out = run_list([aop.MetricPoint(0, 4.0), aop.MetricPoint(10, 0.0)], aop.time_weighted_ema(10))
    assert out[0].value == 4.0
    assert out[1].value == pytest.approx(4.0 / 3.0)


async def test_checkpoint_eval_patience_max() -> None:
    scores = {100: 0.5, 200: 0.7, 300: 0.6}

    async def scorer(ckpt: ax.CheckpointSaved) -> float:
        await asyncio.sleep(0)
        return scores[ckpt.step]

    run = reactivex.from_iterable([ax.CheckpointSaved(step=s) for s in scores])
    d = await run.pipe(aop.checkpoint_eval(scorer, 1))
    assert (d.step, d.best, d.best_step) == (300, 0.7, 200)


async def test_checkpoint_eval_scorer_raises() -> None:
    async def scorer(ckpt: ax.CheckpointSaved) -> float:
        raise KeyError("bad")

    run = reactivex.from_iterable([ax.CheckpointSaved(step=1)])
    with pytest.raises(KeyError):
        await run.pipe(aop.checkpoint_eval(scorer, 1))
