"""Early stopping end to end: real rules, a real Trainer, the real local backend.

The contract under test (arkor_rx.trainer, Rule 3): the first StopDecision
closes the stream and cancels the job on the backend, exactly once, even when
several rules fire on the same event; a healthy run is left alone.
"""

from __future__ import annotations

import asyncio

import pytest
import reactivex

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx.server import CANCELLED_ERROR
from tests.e2e.e2e_helpers import DIVERGING, LABELS, LONG_RUN, Backend

SAFETY = 120.0
"""Seconds before a hung run fails the test (a safety net, not a synchronization)."""


async def wait(trainer: ax.Trainer) -> ax.TrainingResult:
    async with asyncio.timeout(SAFETY):
        return await trainer.wait()


async def assert_cancelled_once(live: Backend, result: ax.TrainingResult) -> None:
    """One cancel on the wire, answered 200; the backend ended the job ``cancelled``, once."""
    job_id = result.job.id
    assert [(s.path, s.status) for s in live.transport.cancels()] == [
        (f"/v1/jobs/{job_id}/cancel", 200)
    ]
    job, events = await live.server_log(job_id)
    assert job.status == "cancelled"
    terminals = [e for e in events if isinstance(e, ax.TrainingCompleted | ax.TrainingFailed)]
    assert len(terminals) == 1
    assert isinstance(terminals[0], ax.TrainingFailed)
    assert terminals[0].error == CANCELLED_ERROR
    # The server agrees the job is over: another cancel is refused with 409.
    with pytest.raises(ax.CloudApiError) as caught:
        await live.client.cancel_job(job_id)
    assert caught.value.status == 409


async def test_a_diverging_run_is_stopped_by_divergence_and_cancelled_once(
    live: Backend,
) -> None:
    trainer = live.trainer(
        max_steps=LONG_RUN,
        logging_steps=1,
        **DIVERGING,
        early_stopping=aop.divergence("loss", threshold=10.0),
    )

    result = await wait(trainer)

    assert result.early_stopped
    stop = result.stop
    assert stop is not None
    assert (stop.rule, stop.monitor, stop.step, stop.best_step) == ("divergence", "loss", 2, 1)
    assert stop.value is not None
    assert stop.value > 10.0
    assert stop.best == pytest.approx(1.7808, abs=1e-3)  # the untrained model's first loss
    assert result.status == "cancelled"
    assert result.artifacts == []
    await assert_cancelled_once(live, result)
    # The trainer itself never sends a second cancel either.
    await trainer.cancel()
    assert len(live.transport.cancels()) == 2  # ours above (409), not the trainer's
    assert live.transport.cancels()[1].status == 409


async def test_several_rules_firing_on_the_same_event_cancel_once(live: Backend) -> None:
    rules: list[ax.StopRule] = [
        aop.divergence("loss", threshold=10.0),
        aop.non_finite("loss"),
        aop.divergence("loss", factor=5.0),
        aop.step_budget(2),
    ]
    trainer = live.trainer(max_steps=LONG_RUN, logging_steps=1, **DIVERGING, early_stopping=rules)

    result = await wait(trainer)

    assert result.stop is not None
    assert result.stop.step == 2
    assert result.stop.rule in {"divergence", "budget.steps"}
    assert result.status == "cancelled"
    await assert_cancelled_once(live, result)
    # Replayed offline on the events the server stored, three of the four
    # rules decide on the very same event (the log of step 2).
    _, events = await live.server_log(result.job.id)
    offline = [_decision(rule, events) for rule in rules]
    assert [None if d is None else d.step for d in offline] == [2, None, 2, 2]


def _decision(rule: ax.StopRule, events: list[ax.TrainingEvent]) -> ax.StopDecision | None:
    decisions: list[ax.StopDecision] = []
    reactivex.from_iterable(events).pipe(rule).subscribe(decisions.append)
    assert len(decisions) <= 1
    return decisions[0] if decisions else None


async def test_a_healthy_run_with_the_same_rules_completes_untouched(live: Backend) -> None:
    trainer = live.trainer(
        max_steps=40,
        logging_steps=1,
        learning_rate=2e-4,
        early_stopping=aop.early_stopping(
            aop.divergence("loss", threshold=10.0),
            aop.non_finite("loss"),
            aop.step_budget(1000),
        ),
    )

    result = await wait(trainer)

    assert result.stop is None
    assert not result.early_stopped
    assert result.status == "completed"
    assert isinstance(result.terminal_event, ax.TrainingCompleted)
    assert [a["kind"] for a in result.artifacts] == ["final"]
    assert live.transport.cancels() == []
    _, events = await live.server_log(result.job.id)
    losses = [e.loss for e in events if isinstance(e, ax.TrainingLog) and e.loss is not None]
    assert len(losses) == 40
    assert max(losses) < 10.0


# --- checkpoint evaluation -------------------------------------------------------

PROBES = [
    ("I was charged twice for my subscription this month.", "billing"),
    ("My package never arrived and tracking has not moved in a week.", "shipping"),
    ("I cannot log in, the password reset email never comes.", "account access"),
    ("The app crashes every time I open the settings page.", "technical issue"),
]


class Judge:
    """An async scorer: asks the checkpoint's adapter each probe, scores the share it gets right."""

    def __init__(self, client: ax.ArkorClient) -> None:
        self.client = client
        self.answers: dict[int, list[str]] = {}

    async def __call__(self, ev: ax.CheckpointSaved) -> float:
        assert ev.job_id is not None
        right = 0
        answers = []
        for text, label in PROBES:
            response = await self.client.infer(
                messages=[{"role": "user", "content": text}],
                adapter=ax.checkpoint_adapter(ev.job_id, ev.step),
                max_tokens=5,
            )
            answer = (await response.text()).strip()
            answers.append(answer)
            right += answer == label
        self.answers[ev.step] = answers
        return right / len(PROBES)


async def test_checkpoint_eval_scores_checkpoints_with_inference_and_stops_the_run(
    live: Backend,
) -> None:
    judge = Judge(live.client)
    # A baseline no accuracy can beat: two checkpoints without beating it stop the run.
    rule = aop.checkpoint_eval(judge, patience=2, baseline=1.5)
    trainer = live.trainer(
        max_steps=LONG_RUN, logging_steps=5, save_steps=10, learning_rate=2e-4, early_stopping=rule
    )

    result = await wait(trainer)

    stop = result.stop
    assert stop is not None
    assert (stop.rule, stop.step, stop.best_step) == ("checkpoint_eval", 20, None)
    assert list(judge.answers)[:2] == [10, 20]
    for answers in judge.answers.values():
        assert len(answers) == len(PROBES)
        assert set(answers) <= set(LABELS)  # real answers of the real adapter
    assert result.status == "cancelled"
    await assert_cancelled_once(live, result)


async def test_checkpoint_eval_score_feeds_patience_with_a_real_model(live: Backend) -> None:
    judge = Judge(live.client)
    seen: list[tuple[int, float]] = []

    async def scorer(ev: ax.CheckpointSaved) -> float:
        score = await judge(ev)
        seen.append((ev.step, score))
        return score

    # patience 0: the first checkpoint that does not beat the best stops the run.
    rule = aop.checkpoint_eval(scorer, patience=0, baseline=0.0, name="probe_accuracy")
    trainer = live.trainer(
        max_steps=LONG_RUN, logging_steps=10, save_steps=10, learning_rate=2e-4, early_stopping=rule
    )

    result = await wait(trainer)

    stop = result.stop
    assert stop is not None
    assert stop.rule == "probe_accuracy"
    assert stop.monitor == "probe_accuracy"
    # The run is deterministic (seed 42): the adapter gets 3, 4, then 3 probes
    # of 4 right, so the rule stops at step 30 with the best at step 20.
    assert seen == [(10, 0.75), (20, 1.0), (30, 0.75)]
    assert (stop.step, stop.value, stop.best, stop.best_step) == (30, 0.75, 1.0, 20)
    assert result.status == "cancelled"
    await assert_cancelled_once(live, result)
