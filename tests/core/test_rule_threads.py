"""A stop rule that decides on another thread still stops ``wait()`` (the latch is thread-safe,
and the loop that waits on the network is interrupted from the loop's own thread)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import reactivex
from reactivex import abc
from reactivex import operators as ops

from arkor_rx.client import ArkorClient
from arkor_rx.events import TrainingEvent, TrainingLog
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.stopping import StopDecision
from arkor_rx.trainer import create_trainer
from tests.core.core_fakes import FakeBackend, Serve, log, started

DATASET = {"type": "huggingface", "name": "arkorlab/triage-demo"}


async def test_a_rule_deciding_on_another_thread_interrupts_a_waiting_stream(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([started("0"), log("1", 1)], end="hang"))
    connected = threading.Event()
    threads: list[threading.Thread] = []

    def from_a_thread(_: Any) -> reactivex.Observable[StopDecision]:
        def subscribe(
            observer: abc.ObserverBase[StopDecision], _s: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def decide() -> None:
                connected.wait(30)  # the stream is waiting on the network by then
                observer.on_next(StopDecision(rule="threaded", reason="decided on a thread"))

            thread = threading.Thread(target=decide)
            threads.append(thread)
            thread.start()
            return reactivex.disposable.Disposable()

        return reactivex.create(subscribe)

    def rule(events: reactivex.Observable[TrainingEvent]) -> reactivex.Observable[StopDecision]:
        return events.pipe(
            ops.filter(lambda e: isinstance(e, TrainingLog)),
            ops.take(1),
            ops.flat_map(from_a_thread),
        )

    trainer = create_trainer(
        name="t",
        model="m",
        dataset=DATASET,
        client=client,
        reconnect=ReconnectPolicy.immediate(),
        early_stopping=rule,
    )
    task = asyncio.create_task(trainer.wait())
    await asyncio.wait_for(backend.connected.wait(), 30)
    connected.set()
    result = await asyncio.wait_for(task, 30)
    for thread in threads:
        thread.join(30)
    assert result.stop is not None
    assert result.stop.rule == "threaded"
    assert backend.cancel_requests == 1
