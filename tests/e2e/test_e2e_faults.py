"""The local backend's dropped-connection fault really makes the client reconnect."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import arkor_rx as ax
from arkor_rx.server import FaultConfig, ServerConfig
from tests.e2e.e2e_helpers import local_backend

SAFETY = 120.0
"""A bound on a hung test, not a timing goal."""

DROP_AFTER = 3


async def test_a_dropped_connection_is_reopened_after_the_last_event_and_nothing_is_lost() -> None:
    ids: list[str | None] = []

    def on_any(ctx: Any) -> None:
        ids.append(ctx.event.event_id)

    names = ("on_started", "on_log", "on_checkpoint", "on_completed", "on_failed")
    faults = FaultConfig(drop_after_events=DROP_AFTER)  # and nothing else that reconnects
    async with local_backend(ServerConfig(faults=faults)) as live:
        trainer = live.trainer(
            max_steps=20,
            logging_steps=2,
            callbacks=dict.fromkeys(names, on_any),
            reconnect=ax.ReconnectPolicy.immediate(max_attempts=3),
        )
        async with asyncio.timeout(SAFETY):
            result = await trainer.wait()
        _, stored = await live.server_log(result.job.id)

    assert result.status == "completed"
    assert ids == [str(i) for i in range(1, len(stored) + 1)]  # none lost, none repeated
    # Every connection carried DROP_AFTER events, then the server closed it:
    # the client opened the stream again each time, resuming after the last id.
    opens = live.transport.streams
    assert len(opens) == math.ceil(len(stored) / DROP_AFTER)
    assert result.stats.reconnects == len(opens) - 1
    assert result.stats.failures == 0  # a clean close is not a failure, only a reconnect
    resumed_from = [(s.headers or {}).get("Last-Event-ID") for s in opens]
    assert resumed_from == [None] + [str(DROP_AFTER * k) for k in range(1, len(opens))]
