"""``arkor_stream_reconnects_total`` moves while a run is live, and is exact at its end.

The live test drops every stream connection after two events (the local
backend's ``drop_after_events``) and holds the job before its step 6
(``hold_at_step``), so the run cannot end until the test cancels it: the
scrape happens while the run is live, on a loaded machine as on an idle one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import arkor_rx as ax
from arkor_rx import sinks
from arkor_rx.jobs import TrainingJob
from arkor_rx.server import FaultConfig, ServerConfig
from arkor_rx.sinks import Outcome, SinkHub
from arkor_rx.sinks._base import SinkItem
from tests.e2e.e2e_helpers import local_backend
from tests.sinks.test_prometheus import lab, parse, scrape


class _Moved(sinks.Prometheus):
    """The Prometheus sink, telling the test when it has counted a reconnect."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.moved = asyncio.Event()
        self.heard: list[tuple[str, int]] = []

    async def reconnected(self, job_id: str, reconnects: int) -> None:
        await super().reconnected(job_id, reconnects)
        self.heard.append((job_id, reconnects))
        self.moved.set()

    async def counted(self, reconnects: int) -> None:
        """Wait until this sink has counted ``reconnects`` (a run's count so far)."""
        while not self.heard or self.heard[-1][1] < reconnects:
            self.moved.clear()
            await self.moved.wait()


@pytest.mark.timeout(90)
async def test_the_counter_moves_while_the_run_is_live_and_is_exact_at_its_end() -> None:
    faults = FaultConfig(drop_after_events=2, hold_at_step=6)
    async with local_backend(ServerConfig(step_delay=0.0, faults=faults)) as backend:
        sink = _Moved(port=0)
        try:
            assert sink.url is not None
            trainer = backend.trainer(name="flaky", max_steps=10, logging_steps=1, sinks=[sink])
            waiting = asyncio.create_task(trainer.wait())
            await sink.moved.wait()  # a reconnect was counted; the job is held, not ended
            live = await scrape(sink.url)
            job_id = trainer.job_id
            assert job_id is not None
            labels = lab(job_id, "flaky")
            assert not waiting.done()
            running = lab(job_id, "flaky", arkor_job_status="running")
            assert live[("arkor_job_status", running)] == 1
            assert live[("arkor_stream_reconnects_total", labels)] >= 1
            await trainer.cancel()
            result = await waiting
            done = await scrape(sink.url)
        finally:
            await sink.aclose()
    assert result.reconnects >= 1
    # exact: each reconnect counted once, live or at the close (never both)
    assert done[("arkor_stream_reconnects_total", labels)] == result.reconnects
    assert done[("arkor_job_status", running)] == 0
    counts = [n for _, n in sink.heard]
    assert counts == sorted(set(counts))  # the run's count so far, growing
    assert counts[-1] <= result.reconnects


class _Plain:
    """A sink without ``reconnected``: it is never asked, and its outcome has the count."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    async def open(self, job: TrainingJob) -> None:
        pass

    async def write(self, events: Sequence[SinkItem]) -> None:
        pass

    async def close(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)


def _reconnects(registry: CollectorRegistry, job_id: str, name: str) -> float:
    got = parse(generate_latest(registry).decode())
    return got[("arkor_stream_reconnects_total", lab(job_id, name))]


async def test_the_hub_hands_counts_on_once_and_the_outcome_carries_the_last() -> None:
    registry = CollectorRegistry()
    prometheus, plain = _Moved(registry=registry), _Plain()
    hub = SinkHub([prometheus, plain], close_at_end=True)
    hub.reconnected("j1", 1)  # before the run opened: handed on when it opens
    await hub.feed(ax.TrainingStarted(job_id="j1"), TrainingJob(id="j1", name="one"))
    hub.reconnected("j1", 3)
    hub.reconnected("j1", 2)  # a count that does not grow is ignored
    await hub.feed(ax.TrainingLog(job_id="j1", step=1, loss=1.0))
    await prometheus.counted(3)
    assert prometheus.heard == [("j1", 1), ("j1", 3)]
    assert _reconnects(registry, "j1", "one") == 3
    await hub.feed(ax.TrainingCompleted(job_id="j1"))  # closes the run (close_at_end)
    await hub.finish()
    assert _reconnects(registry, "j1", "one") == 3  # not counted again at the close
    (outcome,) = plain.outcomes
    assert (outcome.kind, outcome.reconnects) == ("completed", 3)


async def test_a_close_with_more_reconnects_adds_only_the_rest() -> None:
    registry = CollectorRegistry()
    prometheus = sinks.Prometheus(registry=registry)
    hub = SinkHub([prometheus])
    job = TrainingJob(id="j2", name="two", status="running")
    hub.open(job)
    hub.reconnected("j2", 2)
    hub.close(Outcome("completed", job_id="j2", job=job, reconnects=5))  # the owner knew more
    await hub.finish()
    assert _reconnects(registry, "j2", "two") == 5
