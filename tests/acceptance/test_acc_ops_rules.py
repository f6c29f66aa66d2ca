"""Black-box acceptance tests of `arkor_rx.operators` against docs/operators.md."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler

import arkor_rx as ax
from arkor_rx import operators as aop
from tests.acceptance._acc_fake import msgs, run_list
from tests.operators.ops_helpers import reference_tensorboard as ref_tb


def logs(values: Sequence[float | None], start: int = 1, key: str = "loss") -> list[ax.TrainingLog]:
    out = []
    for i, v in enumerate(values, start=start):
        out.append(
            ax.TrainingLog.model_validate(
                {"step": i, {"loss": "loss", "eval_loss": "evalLoss"}[key]: v}
            )
        )
    return out


def pts(values: Sequence[float]) -> list[aop.MetricPoint]:
    return [aop.MetricPoint(i, v) for i, v in enumerate(values)]


# ------------------------------------------------------------ metric / smoothing


def test_metric_skips_null_keeps_nan() -> None:
    run = [
        ax.TrainingLog(step=1, loss=2.0),
        ax.CheckpointSaved(step=1),
        ax.TrainingLog(step=2),
        ax.TrainingLog(step=3, loss=math.inf),
        ax.TrainingLog(step=4, loss=math.nan),
        ax.TrainingLog(step=5, loss=1.0),
    ]
    out = run_list(run, aop.metric("loss"))
    assert [p.step for p in out] == [1, 3, 4, 5]
    assert out[1].value == math.inf
    assert math.isnan(out[2].value)
    assert run_list(run, aop.metric("loss", finite_only=True)) == [
        aop.MetricPoint(1, 2.0),
        aop.MetricPoint(5, 1.0),
    ]


def test_metric_other_fields() -> None:
    run = [
        ax.TrainingLog(step=1, eval_loss=0.5, learning_rate=1e-4, epoch=0.1, samples_per_second=3.0)
    ]
    assert run_list(run, aop.metric("eval_loss")) == [aop.MetricPoint(1, 0.5)]
    assert run_list(run, aop.metric("learning_rate")) == [aop.MetricPoint(1, 1e-4)]
    assert run_list(run, aop.metric("loss")) == []


@pytest.mark.parametrize("w", [0.0, 0.3, 0.6, 0.9, 0.99])
def test_tensorboard_smooth_matches_formula(w: float) -> None:
    values = [2.0, 1.6, math.nan, 1.5, 3.0, math.inf, -math.inf, 0.2, 0.7, 1.1]
    out = run_list(pts(values), aop.tensorboard_smooth(w))
    expected = ref_tb(values, w)
    assert [p.step for p in out] == list(range(len(values)))
    for got, exp in zip(out, expected, strict=True):
        if math.isfinite(exp):
            assert got.value == pytest.approx(exp, rel=1e-12, abs=1e-12)
        elif math.isnan(exp):
            assert math.isnan(got.value)
        else:
            assert got.value == exp


def test_tensorboard_smooth_doc_example() -> None:
    out = run_list(
        [ax.TrainingLog(step=s, loss=v) for s, v in [(10, 2.0), (20, 1.6), (30, 1.5)]],
        aop.metric("loss"),
        aop.tensorboard_smooth(0.6),
    )
    # docs/operators.md's intro comment prints 1.624, but its own formula gives
    # 1.272 / 0.784 = 1.6224: the comment is the typo, the formula is the spec.
    assert [round(p.value, 3) for p in out] == [2.0, 1.75, 1.622]


def test_tensorboard_smooth_state_per_subscription() -> None:
    op = aop.tensorboard_smooth(0.5)
    a = run_list(pts([1.0, 3.0]), op)
    b = run_list(pts([1.0, 3.0]), op)
    assert a == b


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, math.nan])
def test_tensorboard_smooth_bad_weight(bad: float) -> None:
    with pytest.raises(ValueError):
        aop.tensorboard_smooth(bad)


def test_ema() -> None:
    out = run_list(pts([4.0, 0.0, math.nan, 0.0]), aop.ema(0.5))
    vals = [p.value for p in out]
    assert vals[0:2] == [4.0, 2.0]
    assert math.isnan(vals[2])
    assert vals[3] == 1.0


def test_ema_starts_at_first_finite() -> None:
    out = run_list(pts([math.nan, 4.0, 0.0]), aop.ema(0.25))
    assert math.isnan(out[0].value)
    assert [p.value for p in out[1:]] == [4.0, 3.0]


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5])
def test_ema_bad_alpha(bad: float) -> None:
    with pytest.raises(ax.ConfigError):
        aop.ema(bad)


def test_rolling_windows() -> None:
    data = pts([3.0, 1.0, 4.0, 5.0, 2.0])
    assert [p.value for p in run_list(data, aop.rolling_mean(2))] == [3.0, 2.0, 2.5, 4.5, 3.5]
    assert [p.value for p in run_list(data, aop.rolling_min(2))] == [3.0, 1.0, 1.0, 4.0, 2.0]
    assert [p.value for p in run_list(data, aop.rolling_max(3))] == [3.0, 3.0, 4.0, 5.0, 5.0]
    assert [p.step for p in run_list(data, aop.rolling_max(3))] == [0, 1, 2, 3, 4]


def test_rolling_nan_poisons_until_leaves() -> None:
    out = [p.value for p in run_list(pts([1.0, math.nan, 3.0, 5.0]), aop.rolling_mean(2))]
    assert out[0] == 1.0
    assert math.isnan(out[1])
    assert math.isnan(out[2])
    assert out[3] == 4.0


@pytest.mark.parametrize("bad", [0, -1])
def test_rolling_bad_n(bad: int) -> None:
    with pytest.raises(ax.ConfigError):
        aop.rolling_mean(bad)


# ------------------------------------------------------------ rules


def one(source: Sequence[Any], rule: Any) -> list[aop.StopDecision]:
    out = run_list(source, rule)
    assert len(out) <= 1
    return out


def test_patience_doc() -> None:
    run = logs([1.0, 0.9, 0.95, 0.91], key="eval_loss")
    [d] = one(run, aop.patience("eval_loss", 2))
    assert (d.rule, d.step, d.value, d.best, d.best_step) == ("patience", 4, 0.91, 0.9, 2)
    assert isinstance(d.reason, str)
    assert d.reason
    assert d.monitor == "eval_loss"


def test_patience_min_delta() -> None:
    # improvements of < 0.01 do not beat best by more than min_delta=0.01
    run = logs([1.0, 0.995, 0.992, 0.996, 0.5])
    [d] = one(run, aop.patience("loss", 3, min_delta=0.01))
    assert (d.step, d.best, d.best_step) == (4, 1.0, 1)


def test_patience_resets_on_improvement() -> None:
    run = logs([1.0, 1.1, 0.8, 0.9, 0.95, 0.96])
    [d] = one(run, aop.patience("loss", 3))
    assert (d.step, d.best_step) == (6, 3)


def test_patience_mode_max() -> None:
    run = logs([0.1, 0.5, 0.4, 0.45])
    [d] = one(run, aop.patience("loss", 2, mode="max"))
    assert (d.step, d.best, d.best_step) == (4, 0.5, 2)
    assert one(logs([0.1, 0.2, 0.3, 0.4]), aop.patience("loss", 2, mode="max")) == []


def test_patience_baseline() -> None:
    run = logs([1.0, 0.9, 0.8])
    [d] = one(run, aop.patience("loss", 3, baseline=0.5))
    assert d.step == 3
    assert one(logs([0.4, 0.3, 0.2]), aop.patience("loss", 3, baseline=0.5)) == []


def test_patience_nan_never_improves() -> None:
    run = logs([1.0, math.nan, math.nan])
    [d] = one(run, aop.patience("loss", 2))
    assert (d.step, d.best) == (3, 1.0)


def test_patience_warmup() -> None:
    run = logs([5.0, 6.0, 7.0, 1.0, 1.5, 1.6])
    # steps 1..3 ignored (step < 4)
    [d] = one(run, aop.patience("loss", 2, warmup_steps=4))
    assert (d.step, d.best_step) == (6, 4)


def test_patience_completes_after_decision() -> None:
    seen: list[str] = []
    rule = aop.patience("loss", 1)
    reactivex.from_iterable(logs([1.0, 2.0, 3.0, 4.0])).pipe(rule).subscribe(
        lambda d: seen.append("next"), on_completed=lambda: seen.append("done")
    )
    assert seen == ["next", "done"]


@pytest.mark.parametrize(
    "bad", [{"patience": -1}, {"min_delta": -1.0}, {"mode": "sideways"}, {"warmup_steps": -1}]
)
def test_patience_bad_args(bad: dict[str, Any]) -> None:
    with pytest.raises(ax.ConfigError):
        aop.patience("loss", **bad)


def test_rules_are_frozen_and_comparable() -> None:
    assert aop.patience("loss", 2) == aop.patience("loss", 2)
    assert aop.patience("loss", 2) != aop.patience("loss", 3)
    r = aop.patience("loss", 2)
    with pytest.raises(Exception):  # noqa: B017
        r.patience = 5  # type: ignore[misc]


def test_divergence_factor_without_nan() -> None:
    [d] = one(logs([1.0, 0.5, 0.6, 1.2]), aop.divergence(factor=2.0))
    assert (d.rule, d.step, d.value, d.best) == ("divergence", 4, 1.2, 0.5)


def test_divergence_threshold_climbing_loss() -> None:
    run = logs([1.0, 2.0, 10.0, 100.0, 1000.0])
    [d] = one(run, aop.divergence(threshold=50.0))
    assert (d.step, d.value) == (4, 100.0)


def test_divergence_patience() -> None:
    run = logs([1.0, 5.0, 1.0, 5.0, 5.0])
    [d] = one(run, aop.divergence(threshold=3.0, patience=2))
    assert d.step == 5


def test_divergence_nan_and_check_finite_off() -> None:
    [d] = one(logs([1.0, math.nan]), aop.divergence(factor=2.0))
    assert d.step == 2
    assert one(logs([1.0, math.nan, 1.0]), aop.divergence(threshold=5.0, check_finite=False)) == []
    [d] = one(logs([1.0, math.inf]), aop.divergence(threshold=5.0))
    assert d.step == 2


def test_divergence_needs_threshold_or_factor() -> None:
    # documented in help(aop.divergence): "Raises: ConfigError: neither threshold nor factor given"
    with pytest.raises(ax.ConfigError):
        aop.divergence()
    with pytest.raises(ax.ConfigError):
        aop.divergence(factor=1.0)


def test_divergence_mode_max() -> None:
    [d] = one(logs([0.5, 0.9, 0.2]), aop.divergence(threshold=0.3, mode="max"))
    assert d.step == 3


def test_divergence_smoothing_tolerates_spike() -> None:
    spiky = [ax.TrainingLog(step=s, loss=9.0 if s == 50 else 1.0) for s in range(0, 100, 10)]
    assert one(spiky, aop.divergence(threshold=3.0, smoothing=0.9, warmup_steps=20)) == []


def test_non_finite() -> None:
    [d] = one(logs([0.9, 0.8, math.inf, math.nan]), aop.non_finite())
    assert (d.rule, d.step) == ("non_finite", 3)
    assert one(logs([0.9, 100.0]), aop.non_finite()) == []


def test_plateau() -> None:
    [d] = one(logs([1.0, 0.5, 0.5, 0.501, 0.5]), aop.plateau("loss", 3, 0.01))
    assert (d.rule, d.step) == ("plateau", 4)
    assert one(logs([1.0, 0.9, 0.8, 0.7, 0.6]), aop.plateau("loss", 3, 0.01)) == []


def test_threshold_modes() -> None:
    [d] = one(logs([0.9, 0.4, 0.3]), aop.threshold("loss", 0.5))
    assert d.step == 2
    [d] = one(logs([0.1, 0.6]), aop.threshold("loss", 0.5, mode="max"))
    assert d.step == 2
    assert one(logs([math.nan, 0.9]), aop.threshold("loss", 0.5)) == []


def test_step_budget_any_event() -> None:
    run = [ax.TrainingLog(step=90), ax.CheckpointSaved(step=100), ax.TrainingLog(step=110)]
    [d] = one(run, aop.step_budget(100))
    assert (d.rule, d.step) == ("budget.steps", 100)
    assert one(run[:1], aop.step_budget(100)) == []


def test_predicate() -> None:
    run = [ax.TrainingLog(step=1, learning_rate=2e-4), ax.TrainingLog(step=2, learning_rate=0.0)]
    [d] = one(
        run,
        aop.predicate(
            lambda e: getattr(e, "learning_rate", None) == 0.0 and "lr reached 0", name="lr"
        ),
    )
    assert (d.rule, d.reason, d.step) == ("lr", "lr reached 0", 2)
    [d] = one(run, aop.predicate(lambda e: e.step == 2))
    assert d.rule == "predicate"


def test_predicate_raising_errors_stream() -> None:
    def boom(e: object) -> bool:
        raise RuntimeError("boom")

    errors: list[Exception] = []
    reactivex.from_iterable(logs([1.0])).pipe(aop.predicate(boom)).subscribe(on_error=errors.append)
    assert isinstance(errors[0], RuntimeError)


def test_any_of_first_wins() -> None:
    run = logs([2.0, 1.5, 1.2, math.inf, 1.1])
    rule = aop.any_of(
        aop.patience("loss", 3, min_delta=0.01),
        aop.divergence("loss", factor=3.0, warmup_steps=2),
        aop.non_finite("loss"),
    )
    [d] = one(run, rule)
    assert (d.rule, d.step) == ("divergence", 4)
    [d2] = one(run, aop.early_stopping(aop.step_budget(2), aop.non_finite()))
    assert (d2.rule, d2.step) == ("budget.steps", 2)


def test_all_of_latches() -> None:
    run = logs([2.0, 1.5, 1.2, math.inf, 1.1])
    [d] = one(run, aop.all_of(aop.threshold("loss", 1.3), aop.step_budget(5)))
    assert (d.rule, d.step) == ("all_of(threshold, budget.steps)", 5)
    [d] = one(
        run, aop.early_stopping(aop.step_budget(2), aop.threshold("loss", 1.3), combine="all")
    )
    assert d.step == 3
    assert one(run, aop.all_of(aop.step_budget(2), aop.threshold("loss", 0.1))) == []


def test_any_of_subscribes_source_once() -> None:
    count = 0

    def sub(observer: Any, scheduler: Any = None) -> Any:
        nonlocal count
        count += 1
        for e in logs([1.0, 2.0, 3.0]):
            observer.on_next(e)
        observer.on_completed()
        return reactivex.disposable.Disposable()

    src: reactivex.Observable[Any] = reactivex.create(sub)
    out = src.pipe(aop.any_of(aop.step_budget(10), aop.threshold("loss", 0.0)), ops.to_list()).run()
    assert out == []
    assert count == 1


def test_stop_when_inline() -> None:
    out = run_list(logs([1.0, 1.0, 1.0, 1.0]), aop.stop_when(aop.step_budget(3)))
    assert [type(x).__name__ for x in out] == ["TrainingLog"] * 3 + ["StopDecision"]


def test_time_budget_virtual_time() -> None:
    scheduler = TestScheduler()
    events = scheduler.create_hot_observable(
        ReactiveTest.on_next(300, ax.TrainingLog(step=10, loss=1.0)),
        ReactiveTest.on_next(900, ax.TrainingLog(step=20, loss=1.0)),
    )
    observer = scheduler.start(lambda: aop.time_budget(500.0)(events), disposed=2000)
    kinds = [(m.time, m.value.kind) for m in msgs(observer.messages)]
    assert kinds == [(700, "N"), (700, "C")]
    d = msgs(observer.messages)[0].value.value
    assert d.rule == "budget.time"


def test_time_budget_stream_ends_first_no_decision() -> None:
    scheduler = TestScheduler()
    events = scheduler.create_hot_observable(
        ReactiveTest.on_next(300, ax.TrainingLog(step=10, loss=1.0)),
        ReactiveTest.on_completed(400),
    )
    observer = scheduler.start(lambda: aop.time_budget(500.0)(events), disposed=2000)
    assert [(m.time, m.value.kind) for m in msgs(observer.messages)] == [(400, "C")]


def test_doc_virtual_time_any_of() -> None:
    scheduler = TestScheduler()
    events = scheduler.create_hot_observable(
        ReactiveTest.on_next(300, ax.TrainingLog(step=10, loss=1.0)),
        ReactiveTest.on_next(400, ax.TrainingLog(step=20, loss=1.0)),
    )
    rule = aop.any_of(aop.time_budget(500.0), aop.plateau("loss", 2, 0.0))
    observer = scheduler.start(lambda: rule(events))
    decision = msgs(observer.messages)[0].value.value
    assert (msgs(observer.messages)[0].time, decision.rule, decision.step) == (400, "plateau", 20)
