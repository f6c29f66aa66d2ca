"""A run that really fails, end to end: the backend fails it mid-training (``fail_at_step``).

The Trainer must report it as the run's outcome, not as an error of its own:
``on_failed`` runs once, ``wait()`` returns a failed :class:`TrainingResult`,
and nothing is cancelled (the job is already over).
"""

from __future__ import annotations

import asyncio
from typing import Any

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx.server import FaultConfig, ServerConfig
from tests.e2e.e2e_helpers import local_backend

SAFETY = 120.0
"""Seconds before a hung run fails the test (a safety net, not a synchronization)."""


async def test_a_run_failed_by_the_backend_is_a_failed_result_not_an_exception() -> None:
    seen: list[tuple[str, int | None]] = []
    failures: list[ax.FailedContext] = []
    completed: list[Any] = []

    def on_event(ctx: Any) -> None:
        seen.append((ctx.event.type, getattr(ctx.event, "step", None)))

    def on_failed(ctx: ax.FailedContext) -> None:
        on_event(ctx)
        failures.append(ctx)

    callbacks = ax.TrainerCallbacks(
        on_started=on_event,
        on_log=on_event,
        on_checkpoint=on_event,
        on_completed=completed.append,
        on_failed=on_failed,
    )
    server_config = ServerConfig(step_delay=0.0, faults=FaultConfig(fail_at_step=3))
    async with local_backend(server_config) as backend:
        trainer = backend.trainer(
            max_steps=20,
            logging_steps=1,
            save_steps=2,
            callbacks=callbacks,
            # a rule that watches the run: a failure must not make it cancel anything
            early_stopping=aop.patience("eval_loss", 3),
        )
        async with asyncio.timeout(SAFETY):
            result = await trainer.wait()
        job, stored = await backend.server_log(result.job.id)
        cancels = backend.transport.cancels()

    assert isinstance(result, ax.TrainingResult)
    assert result.status == "failed"
    assert result.job.status == "failed"
    assert result.stop is None
    assert not result.early_stopped
    assert result.artifacts == []
    assert isinstance(result.terminal_event, ax.TrainingFailed)
    assert result.terminal_event.step == 3
    assert "injected fault at step 3" in result.terminal_event.error
    assert result.job.error == result.terminal_event.error

    assert len(failures) == 1
    ctx = failures[0]
    assert "step 3" in ctx.error
    assert ctx.step == 3
    assert ctx.job.id == result.job.id
    assert ctx.event == result.terminal_event
    assert completed == []

    # the callbacks saw the run as the server stored it: two steps, a checkpoint, the failure
    assert seen == [(e.type, getattr(e, "step", None)) for e in stored]
    assert seen == [
        ("training.started", None),
        ("training.log", 1),
        ("training.log", 2),
        ("checkpoint.saved", 2),
        ("training.failed", 3),
    ]
    assert job.status == "failed"
    assert cancels == []  # the job ended on its own: no cancel request reached the server
