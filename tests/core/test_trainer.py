"""The Trainer end to end against the scripted backend: start, wait, callbacks, cancel, events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler

from arkor_rx.client import ArkorClient
from arkor_rx.dispatch import (
    CheckpointContext,
    CompletedContext,
    LogContext,
    StartedContext,
    TrainerCallbacks,
)
from arkor_rx.errors import CloudApiError, ConfigError, ReconnectExhaustedError
from arkor_rx.events import TrainingCompleted, TrainingEvent, TrainingFailed, TrainingLog
from arkor_rx.jobs import JobConfig
from arkor_rx.operators import StopDecision
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.trainer import Trainer, create_trainer
from tests.core.core_fakes import (
    JOB_ID,
    ORG,
    PROJECT,
    TOKEN,
    FakeBackend,
    Reject,
    Serve,
    checkpoint,
    completed,
    failed,
    log,
    started,
)

FAST = ReconnectPolicy.immediate()
DATASET = {"type": "huggingface", "name": "arkorlab/triage-demo"}


def make(client: ArkorClient, **kwargs: Any) -> Trainer:
    kwargs.setdefault("reconnect", FAST)
    return create_trainer(name="t", model="m", dataset=DATASET, client=client, **kwargs)


def run_of(*middle: bytes) -> Serve:
    return Serve([started("0"), *middle, completed("99")])


# --- config ------------------------------------------------------------------


async def test_start_sends_only_the_fields_set_in_camel_case(
    backend: FakeBackend, client: ArkorClient
) -> None:
    trainer = make(client, max_steps=20, learning_rate=2e-4, lora={"r": 16, "alpha": 8})
    assert await trainer.start() == "j1"
    assert backend.created == [
        {
            "name": "t",
            "config": {
                "model": "m",
                "datasetSource": DATASET,
                "maxSteps": 20,
                "learningRate": 2e-4,
                "loraR": 16,
                "loraAlpha": 8,
            },
        }
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"max_steps": 0}, "max_steps"),
        ({"dataset": {"type": "ftp"}}, "dataset"),
        ({"lora": {"rank": 4}}, "lora"),
        ({"callbacks": {"on_logs": print}}, "on_logs"),
        ({"callbacks": {"on_log": 3}}, "on_log"),
        ({"early_stopping": [3]}, "stop rule"),
        ({"name": " "}, "name"),
    ],
)
async def test_bad_config_is_a_config_error_naming_the_field(
    client: ArkorClient, kwargs: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {"name": "t", "model": "m", "dataset": DATASET, "client": client}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=field):
        create_trainer(**args)


async def test_start_is_idempotent_even_when_concurrent(
    backend: FakeBackend, client: ArkorClient
) -> None:
    trainer = make(client)
    assert trainer.job_id is None
    first, second = await asyncio.gather(trainer.start(), trainer.start())
    assert first == second == "j1" == await trainer.start()
    assert len(backend.created) == 1
    assert trainer.job is not None


# --- wait() and callbacks ----------------------------------------------------


async def test_wait_runs_each_callback_with_its_context_and_returns_the_result(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(run_of(log("1", 10, 0.5), checkpoint("2", 10)))
    backend.infer_content = "hi"
    seen: list[Any] = []

    def on_started(ctx: StartedContext) -> None:
        seen.append(("started", ctx.job.id, ctx.job.status))

    def on_log(ctx: LogContext) -> None:
        seen.append(("log", ctx.step, ctx.loss, ctx.eval_loss, ctx.job.id))

    async def on_checkpoint(ctx: CheckpointContext) -> None:
        answer = await ctx.infer([{"role": "user", "content": "hello"}])
        seen.append(("ckpt", ctx.step, ctx.adapter.to_wire(), ctx.artifacts, await answer.text()))

    async def on_completed(ctx: CompletedContext) -> None:
        seen.append(("completed", ctx.job.status, ctx.artifacts))

    trainer = make(
        client,
        callbacks=TrainerCallbacks(
            on_started=on_started,
            on_log=on_log,
            on_checkpoint=on_checkpoint,
            on_completed=on_completed,
        ),
    )
    result = await trainer.wait()
    assert seen == [
        ("started", "j1", "running"),
        ("log", 10, 0.5, None, "j1"),
        (
            "ckpt",
            10,
            {"kind": "checkpoint", "jobId": "j1", "step": 10},
            [{"path": "ckpt-10"}],
            "hi",
        ),
        ("completed", "completed", [{"path": "final"}]),
    ]
    assert backend.inference_bodies[0]["adapter"] == {
        "kind": "checkpoint",
        "jobId": "j1",
        "step": 10,
    }
    assert backend.inference_bodies[0]["maxTokens"] == 80
    assert result.status == "completed"
    assert result.artifacts == [{"path": "final"}]
    assert not result.early_stopped
    assert result.stop is None
    assert backend.get_requests == 1  # the final state is fetched
    assert backend.cancel_requests == 0


async def test_wait_returns_a_result_for_a_failed_run_too(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([started("0"), failed("1", error="CUDA OOM")]))
    backend.job_status = "failed"
    errors: list[str] = []
    trainer = make(client, callbacks={"on_failed": lambda ctx: errors.append(ctx.error)})
    result = await trainer.wait()
    assert result.status == "failed"
    assert errors == ["CUDA OOM"]
    assert result.artifacts == []
    assert result.terminal_event is not None


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_callbacks_run_one_at_a_time_in_order(
    backend: FakeBackend, client: ArkorClient, kind: str
) -> None:
    steps = list(range(1, 21))
    backend.add(run_of(b"".join(log(str(s), s) for s in steps)))
    order: list[int] = []
    active = 0
    most = 0

    def sync_cb(ctx: LogContext) -> None:
        order.append(ctx.step)

    async def async_cb(ctx: LogContext) -> None:
        nonlocal active, most
        active += 1
        most = max(most, active)
        for _ in range(3):
            await asyncio.sleep(0)  # give any would-be concurrent callback a chance
        order.append(ctx.step)
        active -= 1

    trainer = make(client, callbacks={"on_log": sync_cb if kind == "sync" else async_cb})
    await trainer.wait()
    assert order == steps
    assert most <= 1


async def test_the_next_callback_is_not_even_created_before_the_previous_one_ended(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(run_of(log("1", 1), log("2", 2), log("3", 3)))
    in_flight: list[int] = []
    created_while_busy: list[int] = []

    async def body(step: int) -> None:
        in_flight.append(step)
        await asyncio.sleep(0)
        in_flight.remove(step)

    def on_log(ctx: LogContext) -> Awaitable[None]:
        # Called when the coroutine is created: nothing may be in flight then.
        if in_flight:
            created_while_busy.append(ctx.step)
        return body(ctx.step)

    await make(client, callbacks={"on_log": on_log}).wait()
    assert created_while_busy == []


async def test_a_raising_callback_fails_wait_with_that_exception_and_no_reconnect(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(run_of(log("1", 1), log("2", 2), log("3", 3)))
    boom = RuntimeError("boom")

    async def on_log(ctx: LogContext) -> None:
        if ctx.step == 2:
            raise boom

    trainer = make(client, callbacks={"on_log": on_log})
    with pytest.raises(RuntimeError) as info:
        await trainer.wait()
    assert info.value is boom
    assert len(backend.connections) == 1
    assert trainer.stats.last_event_id == "1"  # event 2 was not handled: resume would redo it
    assert backend.cancel_requests == 0
    await asyncio.wait_for(backend.connections[0].closed.wait(), 2)


async def test_a_slow_callback_does_not_trip_the_idle_watchdog(
    backend: FakeBackend, client: ArkorClient
) -> None:
    gate = asyncio.Event()
    backend.add(Serve([started("0"), log("1", 1), gate, completed("2")]))
    policy = ReconnectPolicy(initial_delay=0, max_delay=0, idle_timeout=0.05, max_attempts=0)

    async def on_log(ctx: LogContext) -> None:
        # Held for several idle timeouts; the server writes nothing meanwhile.
        await asyncio.sleep(0.25)
        gate.set()

    trainer = make(client, reconnect=policy, callbacks={"on_log": on_log})
    result = await trainer.wait()
    assert result.status == "completed"
    assert result.stats.reconnects == 0
    assert len(backend.connections) == 1


async def test_wait_reconnects_and_delivers_every_event_once(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(
        Serve([started("0"), log("1", 1)], end="drop"),
        Reject(503),
        Serve([started("0"), log("1", 1), log("2", 2), completed("3")]),
    )
    steps: list[int] = []
    trainer = make(client, callbacks={"on_log": lambda ctx: steps.append(ctx.step)})
    result = await trainer.wait()
    assert steps == [1, 2]
    assert result.reconnects == 2
    assert result.stats.duplicates == 2
    assert [c.last_event_id for c in backend.connections] == [None, "1", "1"]


async def test_a_permanent_error_fails_wait(backend: FakeBackend, client: ArkorClient) -> None:
    backend.add(Reject(401, message="bad token"))
    with pytest.raises(CloudApiError) as info:
        await make(client).wait()
    assert info.value.status == 401
    assert len(backend.connections) == 1


async def test_exhausted_reconnects_fail_wait(backend: FakeBackend, client: ArkorClient) -> None:
    backend.add(Reject(503), Reject(503))
    with pytest.raises(ReconnectExhaustedError) as info:
        await make(client, reconnect=ReconnectPolicy.immediate(max_attempts=1)).wait()
    assert isinstance(info.value.__cause__, CloudApiError)


async def test_cancelling_wait_in_a_long_backoff_returns_at_once_and_keeps_the_job(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Reject(503))
    in_backoff = asyncio.Event()

    async def sleep(delay: float) -> None:
        in_backoff.set()
        await asyncio.sleep(delay)

    trainer = Trainer(
        name="t",
        config=JobConfig.build(model="m", dataset_source=DATASET),
        client=client,
        reconnect=ReconnectPolicy(initial_delay=60.0),
        sleep=sleep,
    )
    task = asyncio.create_task(trainer.wait())
    await asyncio.wait_for(in_backoff.wait(), 2)
    task.cancel()
    async with asyncio.timeout(10):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert backend.cancel_requests == 0


async def test_leaving_an_asyncio_timeout_aborts_a_silent_stream(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([started("0")], end="hang"))
    trainer = make(client)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await trainer.wait()
    await asyncio.wait_for(backend.connections[0].closed.wait(), 2)
    assert backend.cancel_requests == 0


# --- cancel ------------------------------------------------------------------


async def test_cancel_is_a_no_op_before_start_then_sends_one_request(
    backend: FakeBackend, client: ArkorClient
) -> None:
    trainer = make(client)
    await trainer.cancel()
    assert backend.cancel_requests == 0
    await trainer.start()
    await asyncio.gather(trainer.cancel(), trainer.cancel())
    await trainer.cancel()
    assert backend.cancel_requests == 1


async def test_cancel_of_an_already_ended_job_is_not_an_error(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.cancel_status = 409
    trainer = make(client)
    await trainer.start()
    await trainer.cancel()
    assert backend.cancel_requests == 1


async def test_cancel_passes_on_other_errors(backend: FakeBackend, client: ArkorClient) -> None:
    backend.cancel_status = 403
    trainer = make(client)
    await trainer.start()
    with pytest.raises(CloudApiError):
        await trainer.cancel()


# --- early stopping ----------------------------------------------------------


def at_step(step: int, name: str) -> Callable[[reactivex.Observable[TrainingEvent]], Any]:
    """A stop rule that fires when a log of ``step`` arrives."""

    def rule(events: reactivex.Observable[TrainingEvent]) -> reactivex.Observable[StopDecision]:
        return events.pipe(
            ops.filter(lambda e: isinstance(e, TrainingLog) and e.step >= step),
            ops.take(1),
            ops.map(lambda e: StopDecision(rule=name, reason="test", step=step)),
        )

    return rule


async def test_two_rules_firing_together_cancel_the_job_exactly_once(
    backend: FakeBackend, client: ArkorClient
) -> None:
    gate = asyncio.Event()  # never set: the run only ends because of the rules
    backend.add(Serve([started("0"), log("1", 1), log("2", 2), log("3", 3), gate]))
    steps: list[int] = []
    trainer = make(
        client,
        callbacks={"on_log": lambda ctx: steps.append(ctx.step)},
        early_stopping=[at_step(2, "first"), at_step(2, "second")],
    )
    result = await asyncio.wait_for(trainer.wait(), 5)
    assert result.stop is not None
    assert result.stop.rule == "first"
    assert result.early_stopped
    assert steps == [1, 2]  # the deciding event's callback ran; nothing after it
    assert backend.cancel_requests == 1
    assert result.status == "cancelled"  # refreshed after the cancel
    await asyncio.wait_for(backend.connections[0].closed.wait(), 2)


async def test_a_rule_deciding_later_interrupts_a_waiting_stream(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([started("0"), log("1", 1)], end="hang"))
    decided = asyncio.Event()

    def late(events: reactivex.Observable[TrainingEvent]) -> reactivex.Observable[StopDecision]:
        # Decides on the loop, after the stream went quiet (like an async evaluation).
        def later(_: Any) -> reactivex.Observable[StopDecision]:
            return reactivex.from_future(asyncio.ensure_future(decided.wait())).pipe(
                ops.map(lambda _: StopDecision(rule="late", reason="eval"))
            )

        return events.pipe(
            ops.filter(lambda e: isinstance(e, TrainingLog)), ops.take(1), ops.flat_map(later)
        )

    trainer = make(client, early_stopping=late)
    task = asyncio.create_task(trainer.wait())
    await asyncio.wait_for(backend.connected.wait(), 2)
    decided.set()
    result = await asyncio.wait_for(task, 2)
    assert result.stop is not None
    assert result.stop.rule == "late"
    assert backend.cancel_requests == 1
    await asyncio.wait_for(backend.connections[0].closed.wait(), 2)


async def test_a_rule_that_errors_fails_wait_with_its_error(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(run_of(log("1", 1), log("2", 2)))
    oops = ValueError("rule broke")

    def broken(events: reactivex.Observable[TrainingEvent]) -> reactivex.Observable[StopDecision]:
        def check(e: TrainingEvent) -> StopDecision:
            raise oops

        return events.pipe(ops.filter(lambda e: isinstance(e, TrainingLog)), ops.map(check))

    with pytest.raises(ValueError) as info:
        await make(client, early_stopping=[broken]).wait()
    assert info.value is oops
    assert backend.cancel_requests == 0


async def test_a_rule_firing_on_the_terminal_event_still_cancels_once(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(run_of(log("1", 1)))
    backend.cancel_status = 409  # the job had already ended

    def on_end(events: reactivex.Observable[TrainingEvent]) -> reactivex.Observable[StopDecision]:
        return events.pipe(
            ops.filter(lambda e: isinstance(e, TrainingCompleted | TrainingFailed)),
            ops.map(lambda e: StopDecision(rule="end", reason="same moment")),
        )

    result = await make(client, early_stopping=on_end).wait()
    assert result.stop is not None
    assert backend.cancel_requests == 1
    assert result.status == "completed"


async def test_a_late_decision_still_reports_the_jobs_own_ending(
    backend: FakeBackend, client: ArkorClient
) -> None:
    # The rule fires on step 1 while the job has in fact already completed on
    # the backend: the cancel answers 409, and the result keeps the decision
    # but takes the terminal event and artifacts from the server.
    backend.add(run_of(log("1", 1), log("2", 2)))
    backend.cancel_status = 409
    backend.stored_events = [
        {"type": "training.log", "jobId": JOB_ID, "step": 1},
        {"type": "training.completed", "jobId": JOB_ID, "artifacts": [{"path": "final"}]},
    ]

    def on_first(events: reactivex.Observable[TrainingEvent]) -> reactivex.Observable[StopDecision]:
        return events.pipe(ops.take(1), ops.map(lambda e: StopDecision(rule="r", reason="late")))

    result = await make(client, early_stopping=on_first).wait()
    assert result.stop is not None
    assert result.stop.rule == "r"
    assert backend.cancel_requests == 1
    assert result.status == "completed"
    assert isinstance(result.terminal_event, TrainingCompleted)
    assert result.artifacts == [{"path": "final"}]


# --- events() ----------------------------------------------------------------


async def observe(source: reactivex.Observable[TrainingEvent]) -> list[TrainingEvent]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[list[TrainingEvent]] = loop.create_future()
    items: list[TrainingEvent] = []
    source.subscribe(
        items.append,
        done.set_exception,
        lambda: done.set_result(items),
        scheduler=AsyncIOScheduler(loop),
    )
    return await asyncio.wait_for(done, 5)


async def test_events_is_cold_and_starts_the_job(backend: FakeBackend, client: ArkorClient) -> None:
    backend.add(run_of(log("1", 1)), run_of(log("1", 1)))
    trainer = make(client)
    source = trainer.events()
    assert backend.created == []  # nothing happens before a subscription
    first = await observe(source)
    second = await observe(source)
    assert [e.event_id for e in first] == ["0", "1", "99"] == [e.event_id for e in second]
    assert len(backend.connections) == 2  # each subscription has its own stream
    assert len(backend.created) == 1  # the job was started once


async def test_events_errors_on_a_permanent_failure(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Reject(410, message="gone"))
    with pytest.raises(CloudApiError) as info:
        await observe(make(client).events())
    assert info.value.status == 410


async def test_disposing_events_closes_the_connection(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([started("0"), log("1", 1)], end="hang"))
    got = asyncio.Event()
    items: list[TrainingEvent] = []

    def on_next(event: TrainingEvent) -> None:
        items.append(event)
        got.set()

    subscription = make(client).events().subscribe(on_next)
    await asyncio.wait_for(got.wait(), 2)
    subscription.dispose()
    await asyncio.wait_for(backend.connections[0].closed.wait(), 2)
    assert items[0].event_id == "0"


async def test_events_compose_with_rx_operators(backend: FakeBackend, client: ArkorClient) -> None:
    backend.add(run_of(log("1", 1), log("2", 2), log("3", 3)))
    source = (
        make(client).events().pipe(ops.filter(lambda e: isinstance(e, TrainingLog)), ops.take(2))
    )
    assert [e.event_id for e in await observe(source)] == ["1", "2"]
    await asyncio.wait_for(backend.connections[0].closed.wait(), 2)


async def test_subscribing_without_a_loop_reports_an_error(client: ArkorClient) -> None:
    errors: list[Exception] = []

    def subscribe_in_thread() -> None:
        make(client).events().subscribe(on_error=errors.append)

    await asyncio.to_thread(subscribe_in_thread)
    assert isinstance(errors[0], RuntimeError)


# --- the client it owns ------------------------------------------------------


async def test_a_trainer_closes_the_client_it_created(
    backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARKOR_CLOUD_API_URL", backend.url)
    monkeypatch.setenv("ARKOR_TOKEN", TOKEN)
    monkeypatch.setenv("ARKOR_ORG_SLUG", ORG)
    monkeypatch.setenv("ARKOR_PROJECT_SLUG", PROJECT)
    backend.add(run_of())
    async with create_trainer(name="t", model="m", dataset=DATASET, reconnect=FAST) as trainer:
        assert (await trainer.wait()).status == "completed"
    assert getattr(trainer.client.transport, "closed", None) is True


async def test_a_trainer_leaves_a_given_client_open(
    backend: FakeBackend, client: ArkorClient
) -> None:
    async with make(client) as trainer:
        pass
    assert getattr(trainer.client.transport, "closed", None) is False


async def test_library_rules_plug_into_early_stopping(
    backend: FakeBackend, client: ArkorClient
) -> None:
    from arkor_rx import operators as aop

    gate = asyncio.Event()
    backend.add(Serve([started("0"), log("1", 1), log("2", 2), log("3", 3), gate]))
    rules = aop.any_of(aop.step_budget(2), aop.non_finite())
    result = await asyncio.wait_for(make(client, early_stopping=rules).wait(), 5)
    assert result.stop is not None
    assert result.stop.rule == "budget.steps"
    assert result.stop.step == 2
    assert backend.cancel_requests == 1


async def test_an_observer_that_raises_gets_the_error_and_the_stream_closes(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([started("0"), log("1", 1)], end="hang"))
    boom = RuntimeError("observer broke")
    errors: list[Exception] = []

    def on_next(event: TrainingEvent) -> None:
        raise boom

    make(client).events().subscribe(on_next, errors.append)
    await asyncio.wait_for(backend.connections_closed(1), 2)
    assert errors == [boom]
