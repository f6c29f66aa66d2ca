"""``wait()`` and ``events()`` consume the stream a chunk at a time, and every rule still holds
per event: each test puts the whole run in one chunk (one network read).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from arkor_rx.callbacks import LogContext
from arkor_rx.client import ArkorClient
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.trainer import Trainer, create_trainer
from tests.core.core_fakes import FakeBackend, Serve, completed, log, started
from tests.core.test_trainer import at_step

DATASET = {"type": "huggingface", "name": "arkorlab/triage-demo"}


def make(client: ArkorClient, **kwargs: Any) -> Trainer:
    kwargs.setdefault("reconnect", ReconnectPolicy.immediate())
    return create_trainer(name="t", model="m", dataset=DATASET, client=client, **kwargs)


def one_chunk(*steps: int) -> Serve:
    body = started("0") + b"".join(log(str(s), s) for s in steps) + completed("99")
    return Serve([body])


async def test_a_raising_callback_fails_wait_at_that_event_and_a_new_wait_redoes_it(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(one_chunk(1, 2, 3), Serve([log("2", 2) + log("3", 3) + completed("99")]))
    seen: list[int] = []
    fail = True

    async def on_log(ctx: LogContext) -> None:
        seen.append(ctx.step)
        if ctx.step == 2 and fail:
            raise RuntimeError("boom")

    trainer = make(client, callbacks={"on_log": on_log})
    with pytest.raises(RuntimeError, match="boom"):
        await trainer.wait()
    assert trainer.stats.last_event_id == "1"  # not the chunk's last id: event 2 failed
    assert trainer.stats.events == 2  # started and log 1
    fail = False
    result = await trainer.wait()
    assert backend.connections[1].last_event_id == "1"
    assert seen == [1, 2, 2, 3]  # event 2 again (it failed), nothing else twice
    assert result.status == "completed"


async def test_a_rule_deciding_mid_chunk_stops_the_callbacks_at_that_event(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(one_chunk(1, 2, 3, 4))
    seen: list[int] = []
    trainer = make(
        client,
        callbacks={"on_log": lambda ctx: seen.append(ctx.step)},
        early_stopping=[at_step(2, "mid")],
    )
    result = await asyncio.wait_for(trainer.wait(), 5)
    assert seen == [1, 2]
    assert result.stop is not None
    assert result.stop.rule == "mid"
    assert backend.cancel_requests == 1


async def test_async_callbacks_are_awaited_one_at_a_time_within_a_chunk(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(one_chunk(1, 2, 3))
    trace: list[str] = []

    async def on_log(ctx: LogContext) -> None:
        trace.append(f"start {ctx.step}")
        await asyncio.sleep(0)
        trace.append(f"end {ctx.step}")

    await make(client, callbacks={"on_log": on_log}).wait()
    assert trace == ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]


async def test_events_delivers_a_chunk_in_order_and_disposing_mid_chunk_stops_it(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(one_chunk(1, 2, 3, 4, 5))
    got: list[Any] = []
    done = asyncio.Event()

    def on_next(event: Any) -> None:
        got.append(event.event_id)
        if len(got) == 3:
            subscription.dispose()
            done.set()

    subscription = make(client).events().subscribe(on_next)
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.wait_for(backend.connections_closed(1), 5)
    assert got == ["0", "1", "2"]


async def test_a_big_read_is_taken_in_pieces_with_every_rule_intact(
    backend: FakeBackend, client: ArkorClient
) -> None:
    # About 100 KiB in one write: more than one piece of _PIECE bytes.
    backend.add(one_chunk(*range(1, 1001)), Serve([log("700", 700) + completed("99")]))
    seen: list[int] = []

    def on_log(ctx: LogContext) -> None:
        if ctx.step == 700 and not seen.count(700):
            seen.append(700)
            raise RuntimeError("boom")
        seen.append(ctx.step)

    trainer = make(client, callbacks={"on_log": on_log})
    with pytest.raises(RuntimeError, match="boom"):
        await trainer.wait()
    assert trainer.stats.last_event_id == "699"
    assert trainer.stats.events == 700  # started and logs 1 to 699
    result = await trainer.wait()
    assert backend.connections[1].last_event_id == "699"
    assert seen == [*range(1, 701), 700]
    assert result.status == "completed"
