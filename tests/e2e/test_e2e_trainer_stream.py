"""The Trainer and its event stream end to end, against the real local backend.

Callbacks see every event type in stream order (sync and async alike), a
checkpoint's ``ctx.infer`` talks to that checkpoint's adapter, a stream broken
by injected faults still delivers each event once and in order, and
``trainer.events()`` composes with the operators.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from reactivex import operators as ops

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx.operators import MetricPoint
from arkor_rx.server import FaultConfig, ServerConfig
from tests.e2e.e2e_helpers import LABELS, Backend, local_backend, tensorboard_smoothed

SAFETY = 120.0
"""Seconds before a hung run fails the test (a safety net, not a synchronization)."""


def kinds(events: list[ax.TrainingEvent]) -> list[tuple[str, int | None]]:
    return [(e.type, getattr(e, "step", None)) for e in events]


@pytest.mark.parametrize("style", ["sync", "async"])
async def test_callbacks_receive_every_event_type_in_stream_order(
    live: Backend, style: str
) -> None:
    seen: list[tuple[str, int | None]] = []
    answers: dict[int, str] = {}
    busy = False  # set while an async callback is suspended: none may overlap

    def make(kind: str) -> Callable[[Any], Awaitable[None] | None]:
        def sync(ctx: Any) -> None:
            seen.append((kind, getattr(ctx, "step", None)))

        async def async_(ctx: Any) -> None:
            nonlocal busy
            assert not busy, "an async callback started before the previous one finished"
            busy = True
            try:
                await asyncio.sleep(0)  # yield to the loop: the next event must still wait
                seen.append((kind, getattr(ctx, "step", None)))
            finally:
                busy = False

        return sync if style == "sync" else async_

    async def on_checkpoint(ctx: ax.CheckpointContext) -> None:
        # Always async: it awaits inference on this very checkpoint.
        seen.append(("checkpoint.saved", ctx.step))
        assert ctx.adapter == ax.CheckpointAdapter(job_id=ctx.job.id, step=ctx.step)
        response = await ctx.infer(
            messages=[{"role": "user", "content": "I was charged twice this month."}],
            max_tokens=5,
        )
        answers[ctx.step] = await response.text()

    callbacks = ax.TrainerCallbacks(
        on_started=make("training.started"),
        on_log=make("training.log"),
        on_checkpoint=on_checkpoint,
        on_completed=make("training.completed"),
        on_failed=make("training.failed"),
    )
    trainer = live.trainer(max_steps=20, logging_steps=5, save_steps=10, callbacks=callbacks)

    async with asyncio.timeout(SAFETY):
        result = await trainer.wait()

    assert result.status == "completed"
    _, stored = await live.server_log(result.job.id)
    assert seen == kinds(stored)  # every event, in the order the server stored them
    assert seen == [
        ("training.started", None),
        ("training.log", 5),
        ("training.log", 10),
        ("checkpoint.saved", 10),
        ("training.log", 15),
        ("training.log", 20),
        ("checkpoint.saved", 20),
        ("training.completed", None),
    ]
    assert sorted(answers) == [10, 20]
    assert all(answer in LABELS for answer in answers.values())


async def test_faults_lose_nothing_and_repeat_nothing() -> None:
    faults = FaultConfig(drop_after_events=3, garbage_every=2, fail_first_opens=1)
    ids: list[str | None] = []

    def on_any(ctx: Any) -> None:
        ids.append(ctx.event.event_id)

    names = ("on_started", "on_log", "on_checkpoint", "on_completed", "on_failed")
    callbacks = dict.fromkeys(names, on_any)
    async with local_backend(ServerConfig(faults=faults)) as backend:
        trainer = backend.trainer(
            max_steps=20,
            logging_steps=2,
            save_steps=10,
            callbacks=callbacks,
            reconnect=ax.ReconnectPolicy.immediate(max_attempts=3),
        )
        async with asyncio.timeout(SAFETY):
            result = await trainer.wait()
        _, stored = await backend.server_log(result.job.id)

    assert result.status == "completed"
    # started + 10 logs + 2 checkpoints + completed, each seen once, ids 1..N in order.
    assert len(stored) == 14
    assert ids == [str(i) for i in range(1, len(stored) + 1)]
    stats = result.stats
    assert stats.events == len(stored)
    assert stats.reconnects > 0
    assert stats.failures >= 1  # the refused first open (drops after 3 events reconnect too)
    assert stats.last_event_id == str(len(stored))


async def test_events_through_metric_and_tensorboard_smooth(live: Backend) -> None:
    trainer = live.trainer(max_steps=30, logging_steps=1, eval_steps=10)

    async with asyncio.timeout(SAFETY):
        points: list[MetricPoint] = await trainer.events().pipe(
            aop.metric("loss"),
            aop.tensorboard_smooth(0.6),
            ops.to_list(),
        )

    assert trainer.job_id is not None
    job, stored = await live.server_log(trainer.job_id)
    assert job.status == "completed"
    raw = [(e.step, e.loss) for e in stored if isinstance(e, ax.TrainingLog) and e.loss is not None]
    assert [p.step for p in points] == [step for step, _ in raw] == list(range(1, 31))
    expected = tensorboard_smoothed([loss for _, loss in raw], 0.6)
    assert [p.value for p in points] == pytest.approx(expected, rel=1e-12)
    assert points[0].value == pytest.approx(
        raw[0][1], rel=1e-12
    )  # debiased: the first point is the first loss
