"""The cross-run pruners as Rx operators, in virtual time."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import reactivex
from reactivex import Observable
from reactivex import operators as ops
from reactivex.testing import TestScheduler

from arkor_rx import operators as aop
from arkor_rx.errors import ConfigError
from arkor_rx.events import CheckpointSaved, TrainingCompleted, TrainingFailed, TrainingLog
from arkor_rx.runs import PruneDecision, Run, RunEvent
from tests.operators.ops_helpers import on_error, on_next, subscribed, virtual


def BAD(value: object) -> Any:
    """A value of the wrong type, for the argument checks."""
    return value


RUNS = [Run(i, f"job-{i}", {"learning_rate": 10.0**-i}, f"sweep-{i}") for i in range(6)]


def log(run: int, step: int, value: float | None) -> RunEvent:
    return RunEvent(RUNS[run], TrainingLog(job_id=f"job-{run}", step=step, eval_loss=value))


def done(run: int) -> RunEvent:
    return RunEvent(RUNS[run], TrainingCompleted(job_id=f"job-{run}"))


def failed(run: int) -> RunEvent:
    return RunEvent(RUNS[run], TrainingFailed(job_id=f"job-{run}", error="boom"))


def decisions(events: list[Any], pruner: Callable[[Observable[Any]], Observable[Any]]) -> list[Any]:
    out: list[Any] = reactivex.from_iterable(events).pipe(pruner, ops.to_list()).run()
    return out


def completed_runs(values: list[float], step: int = 40) -> list[RunEvent]:
    """Runs 0..len-1 each report ``values[i]`` at ``step`` and complete."""
    return [e for i, v in enumerate(values) for e in (log(i, step, v), done(i))]


# --------------------------------------------------------------------------- virtual time


def test_median_pruner_prunes_once_at_the_event_that_decided_and_keeps_deciding() -> None:
    scheduler = TestScheduler()
    timeline = [
        (10.0, log(0, 40, 0.9)),
        (11.0, log(1, 40, 0.97)),
        (12.0, done(0)),
        (13.0, done(1)),
        (20.0, log(2, 40, 1.21)),  # worse than the median 0.935: pruned here
        (21.0, log(2, 50, 0.1)),  # a pruned run is not judged again
        (22.0, done(2)),  # nor counted as completed
        (30.0, log(3, 40, 0.5)),  # better: kept
        (31.0, log(4, 40, 2.0)),  # worse: pruned too, other runs keep being judged
    ]
    pruner = aop.median_pruner("eval_loss", n_startup_runs=2)
    records, xs = virtual(scheduler, timeline, pruner, complete_at=40.0)
    assert [(t, kind) for t, kind, _ in records] == [
        (20.0, "next"),
        (31.0, "next"),
        (40.0, "completed"),
    ]
    first, second = records[0][2], records[1][2]
    assert isinstance(first, PruneDecision)
    assert first.run == RUNS[2]
    assert first.decision.rule == "prune.median"
    assert first.decision.reason == (
        "eval_loss 1.21 at step 40 is worse than the median 0.935 of 2 completed runs at step 40"
    )
    assert (first.decision.step, first.decision.value, first.decision.monitor) == (
        40,
        1.21,
        "eval_loss",
    )
    assert (first.decision.best, first.decision.best_step) == (1.21, 40)
    assert second.run == RUNS[4]
    assert xs.subscriptions == [subscribed(0.5, 40.0)]


def test_the_events_of_other_runs_keep_flowing_past_a_pruner() -> None:
    scheduler = TestScheduler()
    timeline = [(float(t), e) for t, e in enumerate(completed_runs([0.5, 0.6]), 1)]
    timeline += [(10.0, log(2, 40, 3.0)), (11.0, log(3, 40, 0.1)), (12.0, log(3, 50, 0.05))]

    def fan_out(source: Observable[Any]) -> Observable[Any]:
        shared = source.pipe(ops.share())
        return reactivex.merge(shared, shared.pipe(aop.median_pruner(n_startup_runs=2)))

    records, _ = virtual(scheduler, timeline, fan_out, complete_at=20.0)
    seen = [v for _, kind, v in records if kind == "next"]
    events = [v for v in seen if isinstance(v, RunEvent)]
    assert events == [e for _, e in timeline]  # nothing held back, nothing dropped
    pruned = [(t, v.run.index) for t, kind, v in records if isinstance(v, PruneDecision)]
    assert pruned == [(10.0, 2)]
    assert records[-1] == (20.0, "completed", None)


def test_a_pruner_passes_source_errors_on() -> None:
    scheduler = TestScheduler()
    boom = RuntimeError("stream died")
    xs = scheduler.create_hot_observable(on_next(5.0, log(0, 1, 1.0)), on_error(9.0, boom))
    observer = scheduler.start(
        lambda: aop.successive_halving(min_resource=1)(xs), created=0.1, subscribed=0.5
    )
    assert observer.messages == [on_error(9.0, boom)]


def test_each_subscription_has_its_own_state() -> None:
    pruner = aop.median_pruner(n_startup_runs=1)
    events = [*completed_runs([0.5]), log(1, 40, 0.9)]
    assert len(decisions(events, pruner)) == 1
    assert len(decisions(events, pruner)) == 1  # not "already pruned" from the first run


# --------------------------------------------------------------------------- the rules


def test_median_pruner_compares_the_best_value_so_far() -> None:
    events = [*completed_runs([0.5, 0.7]), log(2, 10, 0.65), log(2, 40, 0.9)]
    [d] = decisions(events, aop.median_pruner(n_startup_runs=2))
    assert d.decision.reason == (
        "the best eval_loss 0.65 (step 10) up to step 40 is worse than the median 0.6 "
        "of 2 completed runs at step 40"
    )
    assert (d.decision.step, d.decision.value) == (40, 0.9)
    assert (d.decision.best, d.decision.best_step) == (0.65, 10)
    kept = [*completed_runs([0.5, 0.7]), log(2, 10, 0.55), log(2, 40, 0.9)]
    assert decisions(kept, aop.median_pruner(n_startup_runs=2)) == []  # 0.55 beats 0.6


def test_median_pruner_waits_for_startup_warmup_and_min_runs() -> None:
    base = [*completed_runs([0.5, 0.7]), log(2, 40, 0.9)]
    assert decisions(base, aop.median_pruner(n_startup_runs=3)) == []
    assert decisions(base, aop.median_pruner(n_startup_runs=2, n_warmup_steps=41)) == []
    assert decisions(base, aop.median_pruner(n_startup_runs=2, n_min_runs=3)) == []
    assert len(decisions(base, aop.median_pruner(n_startup_runs=2, n_min_runs=2))) == 1


def test_median_pruner_checks_the_first_report_of_each_interval() -> None:
    done_runs = [e for i in (0, 1) for s in (10, 11, 12) for e in [log(i, s, 0.5)]]
    done_runs += [done(0), done(1)]
    # interval 10 from warm-up 0: checks at 10 (first report in [10, 20)), not at 11, 12
    kept = [*done_runs, log(2, 10, 0.4), log(2, 11, 0.9), log(2, 12, 0.9)]
    assert decisions(kept, aop.median_pruner(n_startup_runs=2, interval_steps=10)) == []
    assert len(decisions(kept, aop.median_pruner(n_startup_runs=2, interval_steps=1))) == 0
    late = [*done_runs, log(2, 5, 0.9), log(2, 11, 0.9)]  # first report in [10, 20) is 11
    [d] = decisions(late, aop.median_pruner(n_startup_runs=2, interval_steps=10))
    assert d.decision.step == 11


def test_a_run_whose_every_value_is_nan_is_pruned() -> None:
    events = [*completed_runs([0.5]), log(1, 10, math.nan), log(1, 40, math.nan)]
    [d] = decisions(events, aop.median_pruner(n_startup_runs=1))
    assert d.decision.step == 10
    assert d.decision.reason == "eval_loss is NaN at every step reported up to step 10"
    assert d.decision.best is None


def test_none_is_no_report_and_nan_of_completed_runs_is_left_out() -> None:
    events = [
        *completed_runs([0.5, math.nan, 0.7]),
        log(3, 40, None),  # eval_loss not logged at this step: nothing happens
        RunEvent(RUNS[3], CheckpointSaved(step=40)),
        log(3, 40, 0.65),
    ]
    [d] = decisions(events, aop.median_pruner(n_startup_runs=3))
    assert "the median 0.6 of 2 completed runs" in d.decision.reason


def test_nan_of_completed_runs_counts_towards_n_min_runs() -> None:
    # Optuna counts every completed trial that reported the step, NaN or not,
    # then takes the percentile over the non-NaN values only.
    events = [*completed_runs([math.nan, 0.5]), log(2, 40, 0.9)]
    [d] = decisions(events, aop.median_pruner(n_startup_runs=2, n_min_runs=2))
    assert "the median 0.5 of 1 completed run at step 40" in d.decision.reason
    assert decisions(events, aop.median_pruner(n_startup_runs=2, n_min_runs=3)) == []


def test_failed_runs_are_not_completed_runs() -> None:
    events = [log(0, 40, 0.1), failed(0), log(1, 40, 0.9)]
    assert decisions(events, aop.median_pruner(n_startup_runs=0)) == []


def test_mode_max_prunes_lower_values() -> None:
    events = [*completed_runs([0.5, 0.7]), log(2, 40, 0.55), log(3, 40, 0.8)]
    [d] = decisions(events, aop.median_pruner("eval_loss", mode="max", n_startup_runs=2))
    assert d.run == RUNS[2]


def test_percentile_pruner_reason_and_direction() -> None:
    events = [*completed_runs([0.5, 0.6, 0.8, 0.9]), log(4, 40, 0.75)]
    [d] = decisions(events, aop.percentile_pruner(25.0, n_startup_runs=4))
    assert d.decision.rule == "prune.percentile"
    assert "the 25th percentile 0.575 of 4 completed runs at step 40" in d.decision.reason
    [d] = decisions(events, aop.percentile_pruner(10.0, mode="max", n_startup_runs=4))
    assert "the 90th percentile" in d.decision.reason  # the best 10% when higher is better


def test_successive_halving_promotes_the_top_share_at_each_rung() -> None:
    sh = aop.successive_halving("eval_loss", min_resource=10, reduction_factor=2)
    events = [
        log(0, 10, 0.5),  # rung 0: best of 1, promoted
        log(1, 10, 0.4),  # best of 2: promoted
        log(2, 10, 0.6),  # 3 competing, top 1: pruned
        log(0, 20, 0.3),  # rung 1 at step 20: best of 1
        log(1, 20, 0.35),  # not the best of 2 at rung 1: pruned
        log(3, 20, 0.2),  # first report at step 20: rung 0 (best of 4: top 2) and rung 1
    ]
    out = decisions(events, sh)
    assert [d.run.index for d in out] == [2, 1]
    assert out[0].decision.reason == (
        "eval_loss 0.6 at step 10 is worse than 0.4, the cut-off for the best of 3 runs "
        "at rung 0 (step 10)"
    )
    assert out[1].decision.step == 20
    assert out[1].decision.rule == "prune.successive_halving"


def test_successive_halving_prunes_nan_at_a_rung_and_waits_for_auto() -> None:
    sh = aop.successive_halving(min_resource=5)
    [d] = decisions([log(0, 3, math.nan), log(0, 5, math.nan)], sh)
    assert d.decision.step == 5
    assert d.decision.reason == "eval_loss is NaN at step 5 (rung 0, from step 5)"
    auto = aop.successive_halving(min_resource="auto", reduction_factor=2)
    events = [log(0, 1, 0.5), log(1, 1, 0.9)]
    assert decisions(events, auto) == []  # no completed run yet: no rung size
    # Run 0 completes at step 300: rungs at 3 * 2**k. Runs 1 and 2 meet at rung 0 (step 3).
    events = [log(0, 1, 0.5), log(0, 300, 0.4), done(0), log(1, 1, 0.5), log(1, 3, 0.5)]
    events += [log(2, 2, 0.9), log(2, 3, 0.9)]
    [d] = decisions(events, auto)
    assert (d.run.index, d.decision.step) == (2, 3)
    assert "the best of 2 runs at rung 0 (step 3)" in d.decision.reason


def test_items_that_are_not_run_events_are_ignored() -> None:
    events: list[Any] = [TrainingLog(step=1, eval_loss=1.0), "noise", *completed_runs([0.5])]
    assert decisions(events, aop.median_pruner(n_startup_runs=0)) == []


def test_pruners_are_frozen_comparable_configs() -> None:
    assert aop.median_pruner(n_startup_runs=2) == aop.median_pruner(n_startup_runs=2)
    assert "n_startup_runs=2" in repr(aop.median_pruner(n_startup_runs=2))
    assert aop.percentile_pruner(25.0).rule == "prune.percentile"
    assert aop.successive_halving(min_resource=1).rule == "prune.successive_halving"
    with pytest.raises(AttributeError):
        aop.median_pruner().monitor = "loss"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: aop.median_pruner("accuracy"), "monitor"),
        (lambda: aop.median_pruner(mode=BAD("best")), "mode"),
        (lambda: aop.median_pruner(n_startup_runs=-1), "n_startup_runs"),
        (lambda: aop.median_pruner(n_warmup_steps=-1), "n_warmup_steps"),
        (lambda: aop.median_pruner(interval_steps=0), "interval_steps"),
        (lambda: aop.median_pruner(n_min_runs=0), "n_min_runs"),
        (lambda: aop.median_pruner(n_startup_runs=BAD(1.5)), "n_startup_runs"),
        (lambda: aop.percentile_pruner(101.0), "percentile"),
        (lambda: aop.percentile_pruner(-1.0), "percentile"),
        (lambda: aop.percentile_pruner(math.nan), "percentile"),
        (lambda: aop.percentile_pruner(25.0, interval_steps=0), "interval_steps"),
        (lambda: aop.successive_halving(min_resource=0), "min_resource"),
        (lambda: aop.successive_halving(min_resource=BAD("half")), "min_resource"),
        (lambda: aop.successive_halving(min_resource=1, reduction_factor=1), "reduction_factor"),
        (
            lambda: aop.successive_halving(min_resource=1, min_early_stopping_rate=-1),
            "min_early_stopping_rate",
        ),
        (lambda: aop.successive_halving("nope", min_resource=1), "monitor"),
    ],
)
def test_bad_arguments_are_config_errors_at_construction(
    build: Callable[[], object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build()
