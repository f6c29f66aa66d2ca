"""checkpoint_eval: an async scorer per checkpoint, feeding the patience logic."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from arkor_rx import operators as aop
from arkor_rx.errors import ConfigError
from arkor_rx.events import CheckpointSaved, TrainingEvent, TrainingLog
from arkor_rx.operators import StopDecision
from tests.operators.ops_helpers import Blocker


async def first_decision(rule: aop.StopRule, events: list[TrainingEvent]) -> StopDecision | None:
    decisions: reactivex.Observable[StopDecision] = rule(reactivex.from_iterable(events))
    out: list[StopDecision] = await decisions.pipe(ops.to_list())
    assert len(out) <= 1
    return out[0] if out else None


async def test_scores_feed_patience_in_checkpoint_order() -> None:
    scores = {100: 0.50, 200: 0.70, 300: 0.65, 400: 0.69}
    seen: list[int] = []

    async def scorer(ckpt: CheckpointSaved) -> float:
        seen.append(ckpt.step)
        await asyncio.sleep(0)  # a real scorer awaits infer(...)
        return scores[ckpt.step]

    events: list[TrainingEvent] = [TrainingLog(step=50)]
    events += [CheckpointSaved(step=s) for s in scores]
    got = await first_decision(aop.checkpoint_eval(scorer, 2), events)
    assert got is not None
    assert (got.rule, got.step, got.value, got.best, got.best_step) == (
        "checkpoint_eval",
        400,
        0.69,
        0.70,
        200,
    )
    assert seen == [100, 200, 300, 400]


async def test_scorers_run_one_at_a_time_without_blocking_the_stream() -> None:
    release = asyncio.Event()
    running = 0
    peak = 0

    async def scorer(ckpt: CheckpointSaved) -> float:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        return float(ckpt.step)

    subject: Subject[TrainingEvent] = Subject()
    decisions: list[StopDecision] = []
    done = asyncio.Event()
    rule = aop.checkpoint_eval(scorer, 0, mode="min")  # fires on the first non-improvement
    rule(subject).subscribe(decisions.append, on_completed=done.set)
    subject.on_next(CheckpointSaved(step=1))
    subject.on_next(CheckpointSaved(step=2))  # accepted while the first scorer is pending
    subject.on_next(TrainingLog(step=3))
    await asyncio.sleep(0)
    assert running == 1
    release.set()
    await asyncio.wait_for(done.wait(), 2)
    assert peak == 1
    assert [d.step for d in decisions] == [2]


async def test_a_raising_scorer_goes_to_on_error() -> None:
    async def scorer(_: CheckpointSaved) -> float:
        raise RuntimeError("judge crashed")

    with pytest.raises(RuntimeError, match="judge crashed"):
        await first_decision(aop.checkpoint_eval(scorer), [CheckpointSaved(step=1)])


async def test_a_non_numeric_score_is_a_type_error() -> None:
    async def scorer(_: CheckpointSaved) -> float:
        return "good"  # type: ignore[return-value]

    with pytest.raises(TypeError, match="not a number"):
        await first_decision(aop.checkpoint_eval(scorer), [CheckpointSaved(step=1)])


async def test_nan_score_is_not_an_improvement_and_warmup_skips_checkpoints() -> None:
    scores = {10: 0.9, 100: 0.5, 200: math.nan}
    scored: list[int] = []

    async def scorer(ckpt: CheckpointSaved) -> float:
        scored.append(ckpt.step)
        return scores[ckpt.step]

    rule = aop.checkpoint_eval(scorer, 1, warmup_steps=50, name="judge")
    got = await first_decision(rule, [CheckpointSaved(step=s) for s in scores])
    assert scored == [100, 200]
    assert got is not None
    assert (got.rule, got.monitor, got.step, got.best) == ("judge", "judge", 200, 0.5)


async def test_a_pending_scorer_is_cancelled_when_another_rule_stops_first() -> None:
    blocker = Blocker()

    async def scorer(_: CheckpointSaved) -> float:
        return await blocker.run(0.0)

    started, cancelled = blocker.started, blocker.cancelled

    subject: Subject[TrainingEvent] = Subject()
    decisions: list[StopDecision] = []
    rule = aop.any_of(aop.checkpoint_eval(scorer), aop.step_budget(5))
    rule(subject).subscribe(
        decisions.append, scheduler=AsyncIOScheduler(asyncio.get_running_loop())
    )
    subject.on_next(CheckpointSaved(step=1))
    await asyncio.wait_for(started.wait(), 2)
    subject.on_next(TrainingLog(step=5))
    await asyncio.wait_for(cancelled.wait(), 2)
    assert [d.rule for d in decisions] == ["budget.steps"]


async def test_stop_when_waits_for_a_pending_score_before_completing() -> None:
    async def scorer(_: CheckpointSaved) -> float:
        await asyncio.sleep(0)
        return 0.1

    run: list[TrainingEvent] = [CheckpointSaved(step=1), CheckpointSaved(step=2)]
    watched: reactivex.Observable[TrainingEvent | StopDecision] = reactivex.from_iterable(run).pipe(
        aop.stop_when(aop.checkpoint_eval(scorer, 0))
    )
    out: list[TrainingEvent | StopDecision] = await watched.pipe(ops.to_list())
    assert [type(x).__name__ for x in out] == ["CheckpointSaved", "CheckpointSaved", "StopDecision"]


def test_bad_scorer_configuration() -> None:
    with pytest.raises(ConfigError):
        aop.checkpoint_eval(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        aop.checkpoint_eval(lambda _: asyncio.sleep(0, 1.0), name="")


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"patience": -1}, "patience"),
        ({"mode": "up"}, "mode"),
        ({"min_delta": -0.1}, "min_delta"),
        ({"baseline": math.nan}, "baseline"),
        ({"warmup_steps": -1}, "warmup_steps"),
    ],
)
def test_bad_patience_settings_are_refused_as_patience_refuses_them(
    settings: dict[str, Any], named: str
) -> None:
    async def scorer(_: object) -> float:
        return 1.0

    with pytest.raises(ConfigError, match=named):
        aop.checkpoint_eval(scorer, **settings)
    if named != "warmup_steps":  # the same check, the same words, in patience()
        with pytest.raises(ConfigError, match=named):
            aop.patience("loss", **settings)
