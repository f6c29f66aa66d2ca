"""create_trainer(sinks=..., samples=...) against the real local backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from reactivex import operators as ops

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx.errors import ConfigError
from arkor_rx.inference import InferenceRequest
from arkor_rx.server import ServerConfig
from arkor_rx.server.faults import FaultConfig
from arkor_rx.sinks import _runner
from tests.e2e.e2e_helpers import LABELS, Backend, local_backend
from tests.sinks.sink_helpers import RecordingSink


def dump(items: list[Any]) -> list[Any]:
    """Events as their fields (the stored copies carry no SSE id)."""
    return [item.model_dump() for item in items]


async def test_every_handled_event_reaches_the_sink_and_wait_returns_after_close(
    backend: Backend,
) -> None:
    sink = RecordingSink()
    sink.gate = asyncio.Event()
    trainer = backend.trainer(name="bot", max_steps=12, logging_steps=2, sinks=[sink])
    waiting = asyncio.create_task(trainer.wait())
    for _ in range(500):  # until the sink's task is held at the gate
        if sink.busy:
            break
        await asyncio.sleep(0.01)
    assert not waiting.done()
    sink.gate.set()
    result = await waiting
    assert sink.kinds[-1] == "close"
    job = sink.calls[0][1]
    assert (job.id, job.name) == (result.job.id, "bot")
    assert job.config["maxSteps"] == 12
    _, stored = await backend.server_log(result.job.id)
    assert dump(sink.items) == dump(stored)
    (outcome,) = sink.outcomes()
    assert (outcome.kind, outcome.job_id, outcome.stop) == ("completed", result.job.id, None)
    assert outcome.job is not None
    assert outcome.job.status == "completed"


async def test_a_stop_rule_closes_stopped_with_the_decision(backend: Backend) -> None:
    sink = RecordingSink()
    trainer = backend.trainer(
        max_steps=3000, logging_steps=1, early_stopping=[aop.step_budget(5)], sinks=[sink]
    )
    result = await trainer.wait()
    (outcome,) = sink.outcomes()
    assert outcome.kind == "stopped"
    assert outcome.stop == result.stop
    assert outcome.stop is not None
    assert outcome.stop.rule == "budget.steps"
    fired = [e for e in sink.items if isinstance(e, ax.TrainingLog)][-1]
    assert fired.step == 5  # the event that made the rule fire was written


async def test_a_failed_run_and_its_reconnects() -> None:
    faults = FaultConfig(fail_at_step=4, drop_after_events=2)
    async with local_backend(ServerConfig(step_delay=0.0, faults=faults)) as backend:
        sink = RecordingSink()
        result = await backend.trainer(max_steps=10, logging_steps=1, sinks=[sink]).wait()
    (outcome,) = sink.outcomes()
    assert outcome.kind == "failed"
    assert outcome.error is not None
    assert "step 4" in outcome.error
    assert outcome.reconnects == result.reconnects > 0


async def test_a_raising_callback_closes_error_and_wait_raises_it(backend: Backend) -> None:
    sink = RecordingSink()

    def on_log(ctx: Any) -> None:
        if ctx.step == 3:
            raise ValueError("bad callback")

    trainer = backend.trainer(
        max_steps=10, logging_steps=1, callbacks={"on_log": on_log}, sinks=[sink]
    )
    with pytest.raises(ValueError, match="bad callback"):
        await trainer.wait()
    (outcome,) = sink.outcomes()
    assert (outcome.kind, outcome.error) == ("error", "ValueError: bad callback")
    assert [e.step for e in sink.items if isinstance(e, ax.TrainingLog)] == [1, 2]


async def test_a_cancelled_wait_returns_at_once_and_the_sink_still_closes(backend: Backend) -> None:
    sink = RecordingSink()
    seen = asyncio.Event()
    trainer = backend.trainer(
        max_steps=3000, logging_steps=1, callbacks={"on_log": lambda _ctx: seen.set()}, sinks=[sink]
    )
    waiting = asyncio.create_task(trainer.wait())
    await seen.wait()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.wait_for(sink.closed.wait(), 10)
    (outcome,) = sink.outcomes()
    assert outcome.kind == "cancelled"
    assert "wait() was cancelled" in (outcome.error or "")
    await trainer.cancel()


async def test_fail_on_error_fails_wait_after_the_other_sinks_closed(backend: Backend) -> None:
    broken = RecordingSink(fail_write=True, fail_on_error=True, name="broken")
    fine = RecordingSink(name="fine")
    trainer = backend.trainer(max_steps=4, sinks=[broken, fine])
    with pytest.raises(RuntimeError, match="sink is broken"):
        await trainer.wait()
    assert fine.kinds[-1] == "close"
    assert fine.outcomes()[0].kind == "completed"


async def test_checkpoint_samples_are_asked_at_every_checkpoint_and_errors_recorded(
    backend: Backend,
) -> None:
    class Flaky(ax.ArkorClient):
        async def send_inference(self, request: InferenceRequest, **kwargs: Any) -> Any:
            if any("boom" in str(m.get("content")) for m in request.messages):
                raise ax.CloudApiError(500, "inference broke")
            return await super().send_inference(request, **kwargs)

    client = Flaky(
        backend.server.url, token=backend.server.token, org_slug="local", project_slug="e2e"
    )
    sink = RecordingSink()
    order: list[str] = []
    samples = ax.CheckpointSamples(prompts=["My invoice is wrong", "boom"], max_tokens=8)
    async with client:
        trainer = ax.create_trainer(
            name="samples",
            model="arkor/triage-tiny",
            dataset={"type": "huggingface", "name": "arkorlab/triage-demo"},
            max_steps=6,
            save_steps=3,
            client=client,
            samples=samples,
            sinks=[sink],
            callbacks={"on_checkpoint": lambda ctx: order.append(f"cb{ctx.step}")},
        )
        await trainer.wait()
    kinds = [item.type for item in sink.items]
    answered = [i for i in sink.items if isinstance(i, ax.SamplesAnswered)]
    assert [a.step for a in answered] == [3, 6]
    for index, kind in enumerate(kinds):
        if kind == "checkpoint.samples":
            assert kinds[index - 1] == "checkpoint.saved"  # right after its checkpoint
    first = answered[0].samples
    assert first[0].prompt == "My invoice is wrong"
    assert first[0].answer in LABELS
    assert first[0].error is None
    assert (first[1].answer, first[1].error) == (None, "CloudApiError: inference broke (HTTP 500)")
    assert order == ["cb3", "cb6"]


async def test_many_trainers_share_one_sink(backend: Backend) -> None:
    sink = RecordingSink()
    trainers = [backend.trainer(name=f"run-{i}", max_steps=8, sinks=[sink]) for i in range(3)]
    results = await asyncio.gather(*(t.wait() for t in trainers))
    assert not sink.overlapped
    ids = {r.job.id for r in results}
    assert {o.job_id for o in sink.outcomes()} == ids
    assert {job.name for kind, job in sink.calls if kind == "open"} == {"run-0", "run-1", "run-2"}
    for result in results:
        _, stored = await backend.server_log(result.job.id)
        assert dump([e for e in sink.items if e.job_id == result.job.id]) == dump(stored)


async def test_a_full_block_sink_makes_the_stream_wait_and_loses_nothing(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Synchronised on the runner handing the stream something to wait for (its
    # queue is full), not on a sleep: from then on no callback may run until the
    # sink moves.
    waiting_for_room = asyncio.Event()
    full = _runner.SinkRunner._full

    def watched(runner: Any, item: Any) -> Any:
        room = full(runner, item)
        if room is not None:
            waiting_for_room.set()
        return room

    monkeypatch.setattr(_runner.SinkRunner, "_full", watched)
    slow = RecordingSink(overflow="block", buffer_size=2)
    slow.gate = asyncio.Event()
    steps: list[int] = []
    trainer = backend.trainer(
        max_steps=30,
        logging_steps=1,
        sinks=[slow],
        callbacks={"on_log": lambda c: steps.append(c.step)},
    )
    waiting = asyncio.create_task(trainer.wait())
    await asyncio.wait_for(waiting_for_room.wait(), timeout=60)
    held = len(steps)
    assert held < 30
    for _ in range(100):  # give the stream every chance to run ahead: it must not
        await asyncio.sleep(0)
    assert len(steps) == held  # the stream waits for room
    slow.gate.set()
    await waiting
    assert steps == list(range(1, 31))
    assert [e.step for e in slow.items if isinstance(e, ax.TrainingLog)] == steps
    assert slow.stats.dropped == 0


def test_bad_sinks_and_samples_are_config_errors() -> None:
    base: dict[str, Any] = {
        "name": "x",
        "model": "m",
        "dataset": {"type": "huggingface", "name": "a/b"},
    }
    client = ax.ArkorClient("http://127.0.0.1:9", token="t", org_slug="o", project_slug="p")
    cases: list[tuple[Any, str]] = [
        (RecordingSink(), "a list of sinks"),
        ([object()], "is not a sink"),
        ([RecordingSink(overflow="later")], "overflow 'later'"),
    ]
    for sinks, match in cases:
        with pytest.raises(ConfigError, match=match):
            ax.create_trainer(**base, client=client, sinks=sinks)
    with pytest.raises(ConfigError, match=r"samples must be an ax\.CheckpointSamples"):
        ax.create_trainer(**base, client=client, samples=["hi"])  # type: ignore[arg-type]


async def test_callbacks_sinks_consumers_and_rules_see_each_event_in_that_order(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int]] = []
    put = _runner.SinkRunner.put

    def step(event: Any) -> int:
        return int(getattr(event, "step", None) or -1)

    def watched_put(runner: Any, item: Any) -> Any:
        seen.append(("sink", step(item)))
        return put(runner, item)

    def rule(events: Any) -> Any:
        return events.pipe(
            ops.do_action(lambda e: seen.append(("rule", step(e)))), ops.ignore_elements()
        )

    async def consumer(event: Any) -> None:
        await asyncio.sleep(0)  # awaited before the next event, as an async callback is
        seen.append(("consumer", step(event)))

    monkeypatch.setattr(_runner.SinkRunner, "put", watched_put)
    trainer = backend.trainer(
        max_steps=4,
        logging_steps=1,
        sinks=[RecordingSink()],
        early_stopping=[rule],
        callbacks={"on_log": lambda c: seen.append(("callback", c.step))},
    )
    trainer.add_consumer(consumer)
    await trainer.wait()
    logs = [entry for entry in seen if entry[1] >= 1]
    who = ("callback", "sink", "consumer", "rule")
    assert logs == [(name, s) for s in range(1, 5) for name in who]


async def test_a_consumer_that_raises_fails_wait_with_that_error(backend: Backend) -> None:
    boom = ValueError("consumer broke")

    def consumer(event: Any) -> None:
        if isinstance(event, ax.TrainingLog) and event.step == 2:
            raise boom

    trainer = backend.trainer(max_steps=3000, logging_steps=1)
    trainer.add_consumer(consumer)
    with pytest.raises(ValueError) as caught:
        await trainer.wait()
    assert caught.value is boom
    await trainer.cancel()
