"""Edge cases of the stream lifecycle: terminal frames on open connections, unknown events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

import arkor_rx as ax

from ._acc_fake import FakeBackend, Opener, completed, ev, frames, log, policy, trainer


class Holder:
    """An opener that writes frames, then holds the connection open until the client leaves."""

    def __init__(self, *parts: bytes) -> None:
        self.parts = parts
        self.written = asyncio.Event()
        self.client_gone = asyncio.Event()

    def opener(self) -> Opener:
        async def handler(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            try:
                for part in self.parts:
                    await resp.write(part)
                self.written.set()
                while True:  # keep writing comments until the client closes the socket
                    await asyncio.sleep(0.01)
                    await resp.write(b": still here\n\n")
            except (ConnectionResetError, asyncio.CancelledError):
                self.client_gone.set()
                raise
            return resp

        return handler


async def test_unknown_event_counts_as_data_not_failure(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    unknown = ev("training.paused", None, why="x")
    backend.opens = [
        frames(ev("training.paused", "1", why="x")),
        frames(ev("training.paused", "2", why="x")),
        frames(ev("training.paused", "3", why="x")),
        frames(unknown, completed("4")),
    ]
    result = await trainer(client, [], reconnect=policy(max_attempts=1)).wait()
    assert result.status == "completed"


async def test_terminal_event_ends_wait_on_open_connection(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    holder = Holder(log("1", 1), completed("2"))
    backend.opens = [holder.opener()]
    steps: list[int] = []
    result = await asyncio.wait_for(trainer(client, steps).wait(), 5)
    assert result.status == "completed"
    assert steps == [1]
    await asyncio.wait_for(holder.client_gone.wait(), 5)
    assert len(backend.stream_opens) == 1


async def test_end_frame_ends_wait_on_open_connection(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    holder = Holder(log("1", 1), b"event: end\ndata: {}\n\n")
    backend.opens = [holder.opener()]
    await asyncio.wait_for(trainer(client, []).wait(), 5)
    await asyncio.wait_for(holder.client_gone.wait(), 5)
    assert len(backend.stream_opens) == 1


async def test_cancelling_wait_mid_stream_closes_connection(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    holder = Holder(log("1", 1))
    backend.opens = [holder.opener()]
    got_log = asyncio.Event()

    def on_log(ctx: Any) -> None:
        got_log.set()

    t = trainer(client, [], callbacks={"on_log": on_log})
    task = asyncio.create_task(t.wait())
    await asyncio.wait_for(got_log.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    await asyncio.wait_for(holder.client_gone.wait(), 5)
    assert backend.of("POST", "/cancel") == []


async def test_replay_with_opaque_unordered_ids(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [
        frames(log("zeta", 1), log("alpha", 2)),
        frames(log("zeta", 1), log("alpha", 2), log("mu", 3)),
        frames(log("alpha", 2), log("mu", 3), completed("beta")),
    ]
    steps: list[int] = []
    await trainer(client, steps).wait()
    assert steps == [1, 2, 3]
    assert backend.stream_opens[1].headers["Last-Event-ID"] == "alpha"
    assert backend.stream_opens[2].headers["Last-Event-ID"] == "mu"


async def test_dataset_and_flat_lora_kwargs(backend: FakeBackend, client: ax.ArkorClient) -> None:
    t = ax.create_trainer(
        name="n",
        model="m",
        dataset={"type": "huggingface", "name": "d", "split": "train"},
        lora_r=8,
        lora_alpha=16,
        num_train_epochs=1.5,
        dry_run=True,
        client=client,
    )
    await t.start()
    assert backend.of("POST", "/v1/jobs")[0].body["config"] == {
        "model": "m",
        "datasetSource": {"type": "huggingface", "name": "d", "split": "train"},
        "loraR": 8,
        "loraAlpha": 16,
        "numTrainEpochs": 1.5,
        "dryRun": True,
    }


async def test_blob_dataset(backend: FakeBackend, client: ax.ArkorClient) -> None:
    dataset = {"type": "blob", "url": "https://example.invalid/d.jsonl", "token": "blobtok"}
    t = ax.create_trainer(name="n", model="m", dataset=dataset, client=client)
    await t.start()
    assert backend.of("POST", "/v1/jobs")[0].body["config"]["datasetSource"] == dataset


async def test_infer_error_inside_callback_fails_wait_without_reconnect(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    # A CloudApiError 503 raised by the user's callback is the callback's error, not a
    # transient stream failure: no reconnect.
    from ._acc_fake import status

    backend.infer_answer = status(503, {"error": "gpu busy"})
    backend.opens = [frames(ev("checkpoint.saved", "1", step=5)), frames(completed("2"))]

    async def on_checkpoint(ctx: Any) -> None:
        await ctx.infer(messages=[{"role": "user", "content": "hi"}])

    t = trainer(client, [], callbacks={"on_checkpoint": on_checkpoint})
    with pytest.raises(ax.CloudApiError) as info:
        await t.wait()
    assert info.value.status == 503
    assert len(backend.stream_opens) == 1


async def test_cancelling_wait_during_pending_open_is_prompt(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    never = asyncio.Event()
    gone = asyncio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        try:
            await never.wait()
        except asyncio.CancelledError:
            gone.set()
            raise
        return web.Response()

    backend.opens = [stall]
    t = trainer(client, [])
    await t.start()
    task = asyncio.create_task(t.wait())
    await asyncio.wait_for(backend.opened.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    await asyncio.wait_for(gone.wait(), 5)
    assert backend.of("POST", "/cancel") == []


async def test_raising_completed_callback_fails_wait(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [frames(log("1", 1), completed("2"))]
    boom = RuntimeError("late")

    async def on_completed(ctx: Any) -> None:
        raise boom

    with pytest.raises(RuntimeError) as info:
        await trainer(client, [], callbacks={"on_completed": on_completed}).wait()
    assert info.value is boom
    assert len(backend.stream_opens) == 1


async def test_no_skipped_event_after_callback_raises(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    # API.md: "A callback that raises fails wait() ... no reconnect, no skipped event."
    # The server honours Last-Event-ID: it resumes after the id it is given.
    all_frames = [log("1", 1), log("2", 2), log("3", 3), completed("4")]

    async def resume(request: web.Request) -> web.StreamResponse:
        after = int(request.headers.get("Last-Event-ID", "0"))
        return await frames(*all_frames[after:])(request)

    backend.opens = [resume]
    seen: list[int] = []
    fail_once = [True]

    def on_log(ctx: Any) -> None:
        seen.append(ctx.step)
        if ctx.step == 2 and fail_once[0]:
            fail_once[0] = False
            raise ValueError("once")

    t = trainer(client, [], callbacks={"on_log": on_log})
    with pytest.raises(ValueError, match="once"):
        await t.wait()
    result = await t.wait()
    assert result.status == "completed"
    assert seen == [1, 2, 2, 3]
