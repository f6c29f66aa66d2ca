"""Black-box acceptance tests of ``ax.Trainer`` (API.md, PROTOCOL.md) against a fake backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import arkor_rx as ax

from ._acc_fake import (
    DATASET,
    JOB_ID,
    FakeBackend,
    completed,
    ev,
    frames,
    log,
    policy,
    status,
    trainer,
)


async def test_start_is_idempotent(backend: FakeBackend, client: ax.ArkorClient) -> None:
    t = trainer(client)
    first = await t.start()
    second = await t.start()
    assert first == second == JOB_ID
    assert len(backend.of("POST", "/v1/jobs")) == 1


async def test_concurrent_start_posts_once(backend: FakeBackend, client: ax.ArkorClient) -> None:
    t = trainer(client)
    ids = await asyncio.gather(t.start(), t.start(), t.start())
    assert set(ids) == {JOB_ID}
    assert len(backend.of("POST", "/v1/jobs")) == 1


async def test_wait_starts_the_job_once(backend: FakeBackend, client: ax.ArkorClient) -> None:
    backend.opens = [frames(completed("1"))]
    t = trainer(client)
    await t.start()
    result = await t.wait()
    assert result.status == "completed"
    assert len(backend.of("POST", "/v1/jobs")) == 1


async def test_cancel_before_start_is_a_no_op(backend: FakeBackend, client: ax.ArkorClient) -> None:
    await trainer(client).cancel()
    assert backend.requests == []


async def test_cancel_after_start_posts_cancel(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    t = trainer(client)
    await t.start()
    await t.cancel()
    assert len(backend.of("POST", f"/v1/jobs/{JOB_ID}/cancel")) == 1


async def test_job_config_sends_only_set_fields_in_camel_case(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    t = trainer(
        client,
        max_steps=10,
        learning_rate=2e-4,
        lora={"r": 16, "alpha": 32},
        lr_scheduler_type="cosine",
        load_in_4bit=False,
        warmup_steps=0,
    )
    await t.start()
    body = backend.of("POST", "/v1/jobs")[0].body
    assert body == {
        "name": "n",
        "config": {
            "model": "m",
            "datasetSource": {"type": "huggingface", "name": "d"},
            "maxSteps": 10,
            "learningRate": 2e-4,
            "loraR": 16,
            "loraAlpha": 32,
            "lrSchedulerType": "cosine",
            "loadIn4bit": False,
            "warmupSteps": 0,
        },
    }


async def test_minimal_job_config(backend: FakeBackend, client: ax.ArkorClient) -> None:
    await trainer(client).start()
    body = backend.of("POST", "/v1/jobs")[0].body
    assert body["config"] == {"model": "m", "datasetSource": DATASET}


async def test_callbacks_sync_and_async_serialized_in_order(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [
        frames(
            ev("training.started", "0"),
            log("1", 1),
            ev("checkpoint.saved", "2", step=1, artifacts=[]),
            log("3", 2),
            completed("4"),
        )
    ]
    trace: list[str] = []

    def on_started(ctx: Any) -> None:
        trace.append("started")

    async def on_log(ctx: Any) -> None:
        trace.append(f"log{ctx.step}>")
        for _ in range(5):
            await asyncio.sleep(0)
        trace.append(f"<log{ctx.step}")

    def on_checkpoint(ctx: Any) -> None:
        trace.append(f"ckpt{ctx.step}")

    async def on_completed(ctx: Any) -> None:
        await asyncio.sleep(0)
        trace.append("completed")

    t = trainer(
        client,
        callbacks=ax.TrainerCallbacks(
            on_started=on_started,
            on_log=on_log,
            on_checkpoint=on_checkpoint,
            on_completed=on_completed,
        ),
    )
    result = await t.wait()
    assert trace == ["started", "log1>", "<log1", "ckpt1", "log2>", "<log2", "completed"]
    assert isinstance(result, ax.TrainingResult)
    assert result.status == "completed"


async def test_log_context_fields(backend: FakeBackend, client: ax.ArkorClient) -> None:
    backend.opens = [frames(log("1", 3, loss=0.5), completed("2"))]
    seen: list[tuple[Any, ...]] = []

    def on_log(ctx: Any) -> None:
        seen.append((ctx.step, ctx.loss, ctx.eval_loss, ctx.job.id))

    await trainer(client, callbacks={"on_log": on_log}).wait()
    assert seen == [(3, 0.5, None, JOB_ID)]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_raising_callback_fails_wait_without_reconnect(
    backend: FakeBackend, client: ax.ArkorClient, kind: str
) -> None:
    backend.opens = [frames(log("1", 1), log("2", 2), log("3", 3)), frames(completed("4"))]
    boom = ValueError("boom")
    seen: list[int] = []

    def sync_cb(ctx: Any) -> None:
        seen.append(ctx.step)
        if ctx.step == 2:
            raise boom

    async def async_cb(ctx: Any) -> None:
        sync_cb(ctx)

    cb = sync_cb if kind == "sync" else async_cb
    with pytest.raises(ValueError) as info:
        await trainer(client, callbacks={"on_log": cb}).wait()
    assert info.value is boom
    assert seen == [1, 2]
    assert len(backend.stream_opens) == 1
    assert backend.of("POST", "/cancel") == []


async def test_wait_returns_result_for_failed_run(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.job_status = "failed"
    backend.opens = [frames(log("1", 1), ev("training.failed", "2", error="oom", step=1))]
    errors: list[str] = []

    def on_failed(ctx: Any) -> None:
        errors.append(ctx.error)

    result = await trainer(client, callbacks={"on_failed": on_failed}).wait()
    assert isinstance(result, ax.TrainingResult)
    assert result.job.status == "failed"
    assert result.status == "failed"
    assert errors == ["oom"]
    assert isinstance(result.terminal_event, ax.TrainingFailed)


async def test_completed_result_has_artifacts(backend: FakeBackend, client: ax.ArkorClient) -> None:
    backend.opens = [frames(ev("training.completed", "1", metrics={}, artifacts=[{"a": 1}]))]
    seen: list[Any] = []

    def on_completed(ctx: Any) -> None:
        seen.append(ctx.artifacts)

    result = await trainer(client, callbacks={"on_completed": on_completed}).wait()
    assert result.job.status == "completed"
    assert result.artifacts == [{"a": 1}]
    assert seen == [[{"a": 1}]]


async def test_cancelling_wait_during_backoff_is_prompt_and_sends_no_cancel(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [status(503, {"error": "down"})]
    in_backoff = asyncio.Event()

    async def sleep(delay: float) -> None:  # the real sleep, and a sign that it began
        in_backoff.set()
        await asyncio.sleep(delay)

    t = ax.Trainer(
        name="n",
        config=ax.JobConfig.build(model="m", dataset_source=DATASET),
        client=client,
        reconnect=policy(initial=100.0),
        sleep=sleep,
    )
    await t.start()
    task = asyncio.create_task(t.wait())
    await asyncio.wait_for(in_backoff.wait(), 5)  # the client read the 503 and backs off
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert len(backend.stream_opens) == 1
    assert backend.of("POST", "/cancel") == []


async def test_timeout_during_backoff_is_prompt(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [status(503, {"error": "down"})]
    t = trainer(client, reconnect=policy(initial=100.0))
    loop = asyncio.get_running_loop()
    begin = loop.time()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await t.wait()
    assert loop.time() - begin < 20.0  # far below the 100 s backoff, on a slow machine too
    assert backend.of("POST", "/cancel") == []


async def test_checkpoint_infer_is_bound_to_checkpoint_adapter(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [frames(ev("checkpoint.saved", "1", step=5, artifacts=[]), completed("2"))]
    answers: list[Any] = []

    async def on_checkpoint(ctx: Any) -> None:
        assert ctx.adapter.kind == "checkpoint"
        assert ctx.adapter.job_id == JOB_ID
        assert ctx.adapter.step == 5
        reply = await ctx.infer(messages=[{"role": "user", "content": "hi"}], max_tokens=8)
        answers.append(await reply.json())

    await trainer(client, callbacks={"on_checkpoint": on_checkpoint}).wait()
    calls = backend.of("POST", "/v1/inference/chat")
    assert len(calls) == 1
    body = calls[0].body
    assert body["adapter"] == {"kind": "checkpoint", "jobId": JOB_ID, "step": 5}
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["maxTokens"] == 8
    assert body["stream"] is False
    assert calls[0].query == {"orgSlug": "my org&x", "projectSlug": "demo/1"}
    assert answers[0]["choices"][0]["message"]["content"] == "hello"
