"""Early-stopping rules, checked against plain reference loops and in virtual time."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import pytest
import reactivex
from hypothesis import given
from hypothesis import strategies as st
from reactivex.notification import OnNext
from reactivex.testing import TestScheduler

from arkor_rx import operators as aop
from arkor_rx.errors import ConfigError
from arkor_rx.events import CheckpointSaved, TrainingCompleted, TrainingLog
from arkor_rx.operators import StopDecision
from tests.operators.ops_helpers import (
    collect,
    logs_of,
    on_completed,
    on_error,
    on_next,
    subscribed,
    virtual,
)

# --------------------------------------------------------------------------- references

Point = tuple[int, float]

runs_st = st.lists(
    st.tuples(
        st.integers(0, 5),  # gap to the previous step
        st.one_of(
            st.none(),
            st.floats(0.0, 10.0),
            st.sampled_from([math.nan, math.inf]),
        ),
    ),
    max_size=40,
)


def as_run(drawn: list[tuple[int, float | None]]) -> list[tuple[int, float | None]]:
    step, out = 0, []
    for gap, value in drawn:
        step += gap
        out.append((step, value))
    return out


def ref_smooth(points: list[Point], w: float | None) -> list[Point]:
    if w is None:
        return points
    last, n, out = 0.0, 0, []
    for step, y in points:
        if math.isfinite(y):
            last = last * w + (1 - w) * y
            n += 1
            y = last / (1 - w**n)
        out.append((step, y))
    return out


def ref_checked(
    run: list[tuple[int, float | None]], warmup: int, interval: int, smoothing: float | None
) -> list[Point]:
    """Spec: drop nulls, smooth, drop steps < warmup, then every value whose step is
    at least ``interval`` past the last checked one (every value when interval is 1)."""
    present = [(s, v) for s, v in run if v is not None]
    checked: list[Point] = []
    for step, value in ref_smooth(present, smoothing):
        if step < warmup:
            continue
        if interval > 1 and checked and step - checked[-1][0] < interval:
            continue
        checked.append((step, value))
    return checked


def better(value: float, best: float | None, mode: str, delta: float) -> bool:
    if math.isnan(value) or math.isinf(value):
        return False
    if best is None:
        return True
    return value < best - delta if mode == "min" else value > best + delta


def ref_patience(
    points: list[Point], patience: int, delta: float, mode: str, baseline: float | None
) -> tuple[int, float | None, int | None] | None:
    best, best_step, wait = baseline, None, 0
    for step, value in points:
        if better(value, best, mode, delta):
            best, best_step, wait = value, step, 0
        else:
            wait += 1
            if wait >= patience:
                return step, best, best_step
    return None


def decision_of(rule: Any, run: Sequence[object]) -> StopDecision | None:
    out = collect(reactivex.from_iterable(run), rule)
    assert len(out) <= 1
    return out[0] if out else None


smoothing_st = st.one_of(st.none(), st.floats(0.0, 0.95))

# --------------------------------------------------------------------------- patience


@given(
    drawn=runs_st,
    patience=st.integers(0, 4),
    delta=st.sampled_from([0.0, 0.1, 1.0]),
    mode=st.sampled_from(["min", "max"]),
    baseline=st.one_of(st.none(), st.floats(0.0, 10.0)),
    warmup=st.integers(0, 20),
    interval=st.integers(1, 6),
    smoothing=smoothing_st,
)
def test_patience_matches_reference(
    drawn: list[tuple[int, float | None]],
    patience: int,
    delta: float,
    mode: str,
    baseline: float | None,
    warmup: int,
    interval: int,
    smoothing: float | None,
) -> None:
    run = as_run(drawn)
    rule = aop.patience(
        "loss",
        patience,
        min_delta=delta,
        mode=mode,  # type: ignore[arg-type]
        baseline=baseline,
        warmup_steps=warmup,
        interval=interval,
        smoothing=smoothing,
    )
    got = decision_of(rule, logs_of("loss", run))
    expected = ref_patience(
        ref_checked(run, warmup, interval, smoothing), patience, delta, mode, baseline
    )
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert (got.rule, got.monitor) == ("patience", "loss")
        assert (got.step, got.best, got.best_step) == expected


def test_patience_decision_explains_itself() -> None:
    run = logs_of("eval_loss", [(100, 1.0), (200, 0.8), (300, 0.85), (400, 0.9)])
    got = decision_of(aop.patience("eval_loss", 2, min_delta=0.01), run)
    assert got == StopDecision(
        rule="patience",
        reason=got.reason if got else "",
        step=400,
        value=0.9,
        best=0.8,
        best_step=200,
        monitor="eval_loss",
    )
    assert got is not None
    assert "eval_loss" in got.reason
    assert "0.8" in got.reason
    assert "200" in got.reason


def test_patience_with_a_baseline_never_beaten() -> None:
    run = logs_of("loss", [(1, 2.0), (2, 1.9)])
    got = decision_of(aop.patience("loss", 2, baseline=1.0), run)
    assert got is not None
    assert (got.step, got.best, got.best_step) == (2, 1.0, None)
    assert "baseline" in got.reason


def test_patience_nan_is_never_an_improvement() -> None:
    run = logs_of("loss", [(1, 1.0), (2, math.nan), (3, math.nan)])
    got = decision_of(aop.patience("loss", 2), run)
    assert got is not None
    assert got.step == 3
    assert got.best == 1.0


# --------------------------------------------------------------------------- divergence


def ref_divergence(
    points: list[Point],
    threshold: float | None,
    factor: float | None,
    mode: str,
    patience: int,
    check_finite: bool,
) -> tuple[int, float | None] | None:
    best, streak = None, 0
    for step, value in points:
        if not math.isfinite(value):
            bad = check_finite
        elif threshold is not None and (value > threshold if mode == "min" else value < threshold):
            bad = True
        elif factor is not None and best is not None:
            margin = (factor - 1) * abs(best)
            bad = value > best + margin if mode == "min" else value < best - margin
        else:
            bad = False
        if better(value, best, mode, 0.0):
            best = value
        streak = streak + 1 if bad else 0
        if streak >= patience:
            return step, best
    return None


@given(
    drawn=runs_st,
    threshold=st.one_of(st.none(), st.floats(0.0, 10.0)),
    factor=st.one_of(st.none(), st.floats(1.01, 4.0)),
    mode=st.sampled_from(["min", "max"]),
    patience=st.integers(1, 3),
    check_finite=st.booleans(),
    warmup=st.integers(0, 10),
    interval=st.integers(1, 4),
    smoothing=smoothing_st,
)
def test_divergence_matches_reference(
    drawn: list[tuple[int, float | None]],
    threshold: float | None,
    factor: float | None,
    mode: str,
    patience: int,
    check_finite: bool,
    warmup: int,
    interval: int,
    smoothing: float | None,
) -> None:
    if threshold is None and factor is None:
        factor = 2.0
    run = as_run(drawn)
    rule = aop.divergence(
        "loss",
        threshold=threshold,
        factor=factor,
        mode=mode,  # type: ignore[arg-type]
        patience=patience,
        check_finite=check_finite,
        warmup_steps=warmup,
        interval=interval,
        smoothing=smoothing,
    )
    got = decision_of(rule, logs_of("loss", run))
    expected = ref_divergence(
        ref_checked(run, warmup, interval, smoothing),
        threshold,
        factor,
        mode,
        patience,
        check_finite,
    )
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert got.rule == "divergence"
        assert (got.step, got.best) == expected


def test_divergence_fires_without_any_nan_when_loss_explodes() -> None:
    # A trainer that hides NaN: the loss climbs, then is pinned, never NaN.
    run = logs_of("loss", [(10, 1.0), (20, 0.6), (30, 0.7), (40, 1.5), (50, 1.5)])
    got = decision_of(aop.divergence(factor=2.0, warmup_steps=10), run)
    assert got is not None
    assert (got.step, got.value, got.best, got.best_step) == (40, 1.5, 0.6, 20)
    assert "factor" in got.reason


def test_divergence_threshold_on_the_smoothed_loss() -> None:
    # Raw spikes above the ceiling are tolerated, a sustained climb is not.
    values = [(s, 1.0) for s in range(0, 50, 10)] + [(50, 9.0)] + [(s, 1.0) for s in (60, 70)]
    assert (
        decision_of(aop.divergence(threshold=3.0, smoothing=0.9), logs_of("loss", values)) is None
    )
    climbing = [(s, 1.0 + s / 10) for s in range(0, 200, 10)]
    got = decision_of(aop.divergence(threshold=3.0, smoothing=0.6), logs_of("loss", climbing))
    assert got is not None
    assert got.value is not None
    assert got.value > 3.0


def test_divergence_needs_a_threshold_or_a_factor() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        aop.divergence("loss")
    with pytest.raises(ConfigError, match="factor"):
        aop.divergence("loss", factor=1.0)


# ------------------------------------------------------------ threshold, non_finite, plateau


@given(
    drawn=runs_st,
    target=st.floats(0.0, 10.0),
    mode=st.sampled_from(["min", "max"]),
    warmup=st.integers(0, 10),
    smoothing=smoothing_st,
)
def test_threshold_matches_reference(
    drawn: list[tuple[int, float | None]],
    target: float,
    mode: str,
    warmup: int,
    smoothing: float | None,
) -> None:
    run = as_run(drawn)
    rule = aop.threshold("loss", target, mode=mode, warmup_steps=warmup, smoothing=smoothing)  # type: ignore[arg-type]
    got = decision_of(rule, logs_of("loss", run))
    expected = next(
        (
            (s, v)
            for s, v in ref_checked(run, warmup, 1, smoothing)
            if math.isfinite(v) and (v <= target if mode == "min" else v >= target)
        ),
        None,
    )
    assert (None if got is None else (got.step, got.value)) == expected


@given(drawn=runs_st)
def test_non_finite_matches_reference(drawn: list[tuple[int, float | None]]) -> None:
    run = as_run(drawn)
    got = decision_of(aop.non_finite("loss"), logs_of("loss", run))
    expected = next(((s, v) for s, v in run if v is not None and not math.isfinite(v)), None)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert got.rule == "non_finite"
        assert got.step == expected[0]


def ref_plateau(points: list[Point], window: int, rel: float) -> int | None:
    for i in range(window - 1, len(points)):
        w = [v for _, v in points[i - window + 1 : i + 1]]
        if all(math.isfinite(v) for v in w) and max(w) - min(w) <= rel * abs(sum(w) / window):
            return points[i][0]
    return None


@given(
    drawn=st.lists(
        st.tuples(
            st.integers(1, 3),
            st.one_of(st.sampled_from([1.0, 1.001, 2.0, math.nan]), st.floats(0.5, 1.5)),
        ),
        max_size=40,
    ),
    window=st.integers(2, 6),
    rel=st.sampled_from([0.0, 0.001, 0.01, 0.5]),
    warmup=st.integers(0, 10),
    interval=st.integers(1, 3),
)
def test_plateau_matches_reference(
    drawn: list[tuple[int, float | None]], window: int, rel: float, warmup: int, interval: int
) -> None:
    run = as_run(drawn)
    rule = aop.plateau("loss", window, rel, warmup_steps=warmup, interval=interval)
    got = decision_of(rule, logs_of("loss", run))
    expected = ref_plateau(ref_checked(run, warmup, interval, None), window, rel)
    assert (None if got is None else got.step) == expected


def test_plateau_catches_a_loss_pinned_by_a_nan_hiding_trainer() -> None:
    run = logs_of("loss", [(1, 2.0), (2, 1.5), (3, 1.2)] + [(s, 1.2) for s in range(4, 9)])
    got = decision_of(aop.plateau("loss", window=4, rel_delta=0.0), run)
    assert got is not None
    assert got.rule == "plateau"
    assert got.step == 6


# --------------------------------------------------------------------------- budgets and predicate


def test_step_budget_fires_on_any_event_with_a_step() -> None:
    run = [TrainingLog(step=90), CheckpointSaved(step=100), TrainingLog(step=110)]
    got = decision_of(aop.step_budget(100), run)
    assert got is not None
    assert (got.rule, got.step, got.monitor) == ("budget.steps", 100, "step")


def test_time_budget_fires_on_a_timer_even_with_no_events() -> None:
    scheduler = TestScheduler()
    timeline = [(10.0, TrainingLog(step=5)), (20.0, TrainingLog(step=7))]
    records, xs = virtual(scheduler, timeline, aop.time_budget(60.0))
    assert [(t, kind) for t, kind, _ in records] == [(60.5, "next"), (60.5, "completed")]
    decision = records[0][2]
    assert (decision.rule, decision.step, decision.value) == ("budget.time", 7, 60.0)
    assert xs.subscriptions == [subscribed(0.5, 60.5)]


def test_time_budget_ends_quietly_when_the_stream_ends_first() -> None:
    scheduler = TestScheduler()
    records, _ = virtual(scheduler, [], aop.time_budget(60.0), complete_at=30.0)
    assert records == [(30.0, "completed", None)]
    # The scheduler ran on to t=1000: the cancelled timer never fired.


def test_time_budget_passes_errors_on() -> None:
    scheduler = TestScheduler()
    boom = RuntimeError("boom")
    xs = scheduler.create_hot_observable(on_error(30.0, boom))
    observer = scheduler.start(lambda: aop.time_budget(60.0)(xs), created=0.1, subscribed=0.5)
    assert observer.messages == [on_error(30.0, boom)]


def test_cost_budget_converts_price_into_time() -> None:
    scheduler = TestScheduler()
    rule = aop.cost_budget(price_per_hour=3.6, max_cost=0.5)  # 0.5 / 3.6 h = 500 s
    assert rule.seconds == pytest.approx(500.0)
    records, _ = virtual(scheduler, [(100.0, TrainingLog(step=3))], rule, disposed=2000.0)
    time, kind, decision = records[0]
    assert (time, kind) == (500.5, "next")
    assert decision.rule == "budget.cost"
    assert decision.monitor == "cost"
    assert decision.value == pytest.approx(0.5)
    assert decision.step == 3


def test_predicate_reason_and_name() -> None:
    run = [TrainingLog(step=1, learning_rate=1e-4), TrainingLog(step=2, learning_rate=0.0)]
    got = decision_of(aop.predicate(lambda e: e.learning_rate == 0.0, name="lr_zero"), run)
    assert got is not None
    assert (got.rule, got.step) == ("lr_zero", 2)
    got = decision_of(aop.predicate(lambda e: getattr(e, "step", 0) >= 2 and "enough"), run)
    assert got is not None
    assert (got.rule, got.reason) == ("predicate", "enough")


def test_a_raising_predicate_goes_to_on_error() -> None:
    boom = ValueError("bad predicate")

    def fn(_: object) -> bool:
        raise boom

    errors: list[Exception] = []
    reactivex.from_iterable([TrainingLog(step=1)]).pipe(aop.predicate(fn)).subscribe(
        on_error=errors.append
    )
    assert errors == [boom]


# --------------------------------------------------------------------------- shape of every rule


def test_a_rule_emits_one_decision_completes_and_unsubscribes() -> None:
    scheduler = TestScheduler()
    timeline = [(float(10 * s), TrainingLog(step=s, loss=math.nan)) for s in range(1, 6)]
    records, xs = virtual(scheduler, timeline, aop.non_finite())
    assert [(t, kind) for t, kind, _ in records] == [(10.0, "next"), (10.0, "completed")]
    assert xs.subscriptions == [subscribed(0.5, 10.0)]


def test_rule_objects_are_frozen_comparable_and_reusable() -> None:
    rule = aop.patience("loss", 1)
    assert rule == aop.patience("loss", 1)
    assert "Patience(monitor='loss', patience=1" in repr(rule)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.patience = 5  # type: ignore[misc]
    run = logs_of("loss", [(1, 1.0), (2, 2.0)])
    assert decision_of(rule, run) == decision_of(rule, run)


@pytest.mark.parametrize(
    "build",
    [
        lambda: aop.patience("nope"),
        lambda: aop.patience("loss", -1),
        lambda: aop.patience("loss", mode="up"),  # type: ignore[arg-type]
        lambda: aop.patience("loss", min_delta=-0.1),
        lambda: aop.patience("loss", warmup_steps=-1),
        lambda: aop.patience("loss", interval=0),
        lambda: aop.patience("loss", smoothing=1.0),
        lambda: aop.patience("loss", baseline=math.nan),
        lambda: aop.threshold("loss", math.inf),
        lambda: aop.plateau("loss", window=1),
        lambda: aop.step_budget(0),
        lambda: aop.time_budget(0),
        lambda: aop.cost_budget(0, 1),
        lambda: aop.cost_budget(1, -1),
        lambda: aop.predicate(42),  # type: ignore[arg-type]
        lambda: aop.predicate(bool, name=""),
        lambda: aop.early_stopping(),
        lambda: aop.early_stopping(aop.step_budget(1), combine="most"),  # type: ignore[arg-type]
        lambda: aop.any_of(42),  # type: ignore[arg-type]
    ],
)
def test_bad_configuration_is_a_config_error_when_built(build: Any) -> None:
    with pytest.raises(ConfigError):
        build()


# --------------------------------------------------------------------------- combining


def test_any_of_subscribes_the_source_once_and_takes_the_first_decision() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_cold_observable(
        on_next(10.0, TrainingLog(step=1, loss=1.0)),
        on_next(20.0, TrainingLog(step=2, loss=1.0)),
        on_next(30.0, TrainingLog(step=3, loss=math.nan)),
        on_completed(40.0),
    )
    rule = aop.any_of(aop.non_finite(), aop.step_budget(2), aop.time_budget(100.0))
    observer = scheduler.start(lambda: rule(xs), created=0.1, subscribed=0.5)
    assert len(xs.subscriptions) == 1
    assert [m.time for m in observer.messages] == [20.5, 20.5]
    first = observer.messages[0].value
    assert isinstance(first, OnNext)
    assert first.value.rule == "budget.steps"


def test_all_of_latches_each_rule_and_fires_when_the_last_one_does() -> None:
    run = logs_of("loss", [(s, 0.5) for s in range(1, 10)])
    got = decision_of(aop.all_of(aop.step_budget(6), aop.threshold("loss", 0.6)), run)
    assert got is not None
    assert got.rule == "all_of(threshold, budget.steps)"
    assert got.step == 6
    assert "reached the target" in got.reason
    assert "budget" in got.reason


def test_all_of_never_fires_if_one_rule_never_does() -> None:
    run = logs_of("loss", [(s, 0.5) for s in range(1, 10)])
    assert decision_of(aop.all_of(aop.step_budget(6), aop.non_finite()), run) is None


def test_early_stopping_is_the_one_entry_point() -> None:
    rules = [aop.step_budget(3), aop.non_finite()]
    assert aop.early_stopping(*rules) == aop.any_of(*rules)
    assert aop.early_stopping(rules, combine="all") == aop.all_of(*rules)
    run = logs_of("loss", [(1, 1.0), (2, math.inf), (3, 1.0)])
    got = decision_of(aop.early_stopping(rules), run)
    assert got is not None
    assert got.rule == "non_finite"


def test_combinators_nest() -> None:
    run = logs_of("loss", [(s, 1.0) for s in range(1, 20)])
    inner = aop.all_of(aop.step_budget(5), aop.plateau("loss", 3, 0.0))
    got = decision_of(aop.any_of(inner, aop.step_budget(10)), run)
    assert got is not None
    assert got.step == 5
    assert got.rule.startswith("all_of(")


# --------------------------------------------------------------------------- stop_when


def test_stop_when_forwards_events_then_the_decision_then_completes() -> None:
    scheduler = TestScheduler()
    timeline = [(float(10 * s), TrainingLog(step=s, loss=1.0)) for s in range(1, 6)]
    records, xs = virtual(scheduler, timeline, aop.stop_when(aop.step_budget(3)))
    kinds = [(t, kind, type(v).__name__) for t, kind, v in records]
    assert kinds == [
        (10.0, "next", "TrainingLog"),
        (20.0, "next", "TrainingLog"),
        (30.0, "next", "TrainingLog"),
        (30.0, "next", "StopDecision"),
        (30.0, "completed", "NoneType"),
    ]
    assert xs.subscriptions == [subscribed(0.5, 30.0)]


def test_stop_when_without_a_decision_completes_with_the_source() -> None:
    run = [TrainingLog(step=1, loss=1.0), TrainingCompleted()]
    out = collect(reactivex.from_iterable(run), aop.stop_when(aop.non_finite()))
    assert out == run


def test_stop_when_passes_errors_from_rules_on() -> None:
    boom = KeyError("x")

    def fn(_: object) -> bool:
        raise boom

    errors: list[Exception] = []
    seen: list[object] = []
    reactivex.from_iterable([TrainingLog(step=1)]).pipe(aop.stop_when(aop.predicate(fn))).subscribe(
        seen.append, errors.append
    )
    assert errors == [boom]
    assert len(seen) == 1  # the event reached the subscriber before the rule saw it


def test_stop_when_with_time_budget_in_virtual_time() -> None:
    scheduler = TestScheduler()
    timeline = [(10.0, TrainingLog(step=1)), (90.0, TrainingLog(step=2))]
    records, _ = virtual(scheduler, timeline, aop.stop_when(aop.time_budget(50.0)))
    assert [(t, type(v).__name__) for t, _, v in records] == [
        (10.0, "TrainingLog"),
        (50.5, "StopDecision"),
        (50.5, "NoneType"),
    ]
