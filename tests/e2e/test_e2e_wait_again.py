"""wait() again: the same result after a run ended, a resume after an interrupted wait."""

from __future__ import annotations

import asyncio

import pytest

import arkor_rx as ax
from arkor_rx.server import LocalServer, ServerConfig

DATASET = {"type": "huggingface", "name": "arkorlab/triage-demo"}


async def test_a_new_wait_resumes_after_the_last_handled_event() -> None:
    async with (
        LocalServer(ServerConfig()) as server,
        ax.ArkorClient(server.url, server.token, "local", "demo") as client,
    ):
        steps: list[int] = []
        reached = asyncio.Event()
        hold = True

        async def on_log(ctx: ax.LogContext) -> None:
            steps.append(ctx.step)
            if hold and ctx.step == 3:
                reached.set()
                await asyncio.Event().wait()  # stuck until the wait() is cancelled

        trainer = ax.create_trainer(
            name="resume",
            model="arkor/triage-tiny",
            dataset=DATASET,
            max_steps=8,
            logging_steps=1,
            client=client,
            callbacks={"on_log": on_log},
        )
        first = asyncio.create_task(trainer.wait())
        await asyncio.wait_for(reached.wait(), 120)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        hold = False
        result = await asyncio.wait_for(trainer.wait(), 120)

        # Step 3's callback was interrupted, so it is delivered again; nothing else is.
        assert steps == [1, 2, 3, 3, 4, 5, 6, 7, 8]
        assert result.status == "completed"
        assert await trainer.wait() is result


async def test_a_callback_error_then_wait_again_loses_no_event() -> None:
    async with (
        LocalServer(ServerConfig()) as server,
        ax.ArkorClient(server.url, server.token, "local", "demo") as client,
    ):
        steps: list[int] = []
        failed_once = False

        def on_log(ctx: ax.LogContext) -> None:
            nonlocal failed_once
            if ctx.step == 2 and not failed_once:
                failed_once = True
                raise RuntimeError("flaky sink")
            steps.append(ctx.step)

        trainer = ax.create_trainer(
            name="retry-callback",
            model="arkor/triage-tiny",
            dataset=DATASET,
            max_steps=5,
            logging_steps=1,
            client=client,
            callbacks={"on_log": on_log},
        )
        with pytest.raises(RuntimeError, match="flaky sink"):
            await trainer.wait()
        result = await trainer.wait()
        assert steps == [1, 2, 3, 4, 5]
        assert result.status == "completed"
