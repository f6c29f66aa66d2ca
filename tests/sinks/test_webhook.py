"""The Webhook sink against a loopback aiohttp receiver that fails first, then accepts."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import reactivex
from aiohttp import web

from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingFailed, TrainingLog, TrainingStarted
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks import Outcome, SinkHub
from arkor_rx.stopping import StopDecision
from tests.sinks.sink_helpers import loopback_post, run_events


@dataclass
class Receiver:
    """Answers each POST from a script (status, headers), then 200; records every body."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    accepted: list[Any] = field(default_factory=list)
    hang_first: bool = False
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        if self.hang_first:
            self.hang_first = False
            await asyncio.Event().wait()  # never answers: the client's timeout fires
        if self.script:
            status, headers = self.script.pop(0)
            return web.Response(status=status, headers=headers, text="busy")
        self.accepted.append(body)
        return web.Response(status=200, text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    async with loopback_post("/hook/{secret}", rec.handle) as server:
        rec.url = str(server.make_url("/hook/s3cr3t"))
        yield rec


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def test_retries_honour_retry_after_then_every_payload_arrives(receiver: Receiver) -> None:
    receiver.script = [(503, {"Retry-After": "2"}), (429, {"Retry-After": "0"}), (500, {})]
    sleeps = Sleeps()
    hook = sinks.Webhook(receiver.url, format="json", sleep=sleeps, stall_after=None)
    events = [
        TrainingStarted(job_id="j1"),
        TrainingLog(job_id="j1", step=10, loss=2.0),
        TrainingLog(job_id="j1", step=20, loss=math.nan),
        TrainingLog(job_id="j1", step=30, loss=math.inf),  # only the first non-finite is noticed
    ]
    decision = StopDecision(rule="non_finite", reason="loss is nan at step 20", step=20)
    await reactivex.from_iterable([*events, decision]).pipe(aop.to_sink(hook, name="bot"))
    assert sleeps.delays == [2.0, 0.0, 2.0]  # Retry-After, Retry-After, then the backoff 0.5*2^2
    assert [b["event"] for b in receiver.accepted] == ["started", "non_finite", "stopped"]
    started, non_finite, stopped = receiver.accepted
    assert started == {
        "event": "started",
        "jobId": "j1",
        "name": "bot",
        "text": "▶️ bot (j1) started",
    }
    assert non_finite["step"] == 20
    assert non_finite["loss"] == "nan"
    assert non_finite["text"] == "⚠️ bot (j1) loss is nan at step 20"
    assert stopped["rule"] == "non_finite"
    assert stopped["reason"] == "loss is nan at step 20"
    assert stopped["text"] == "🛑 bot (j1) stopped by non_finite at step 20: loss is nan at step 20"
    assert len(receiver.bodies) == 6  # three refused, three accepted
    assert hook.stats.errors == 0


@pytest.mark.parametrize(("fmt", "key"), [("slack", "text"), ("discord", "content")])
async def test_slack_and_discord_shapes(receiver: Receiver, fmt: str, key: str) -> None:
    hook = sinks.Webhook(receiver.url, format=fmt, on=("completed", "failed"), stall_after=None)  # type: ignore[arg-type]
    await reactivex.from_iterable(run_events("j1", 3)).pipe(aop.to_sink(hook, name="bot"))
    failed = [*run_events("j2", 1, end=False), TrainingFailed(job_id="j2", error="CUDA OOM")]
    await reactivex.from_iterable(failed).pipe(aop.to_sink(hook, name="bot2"))
    quiet: dict[str, Any] = {"allowed_mentions": {"parse": []}} if fmt == "discord" else {}
    assert receiver.accepted == [
        {key: "✅ bot (j1) completed at step 3 (loss 0.3333)", **quiet},
        {key: "❌ bot2 (j2) failed at step 1: CUDA OOM", **quiet},
    ]


async def test_a_hanging_endpoint_times_out_and_is_retried(receiver: Receiver) -> None:
    receiver.hang_first = True
    # The timeout bounds each attempt, the answered one too: 0.3 s made a loaded
    # machine's slow (answered) second attempt a third one. 2 s is only spent once.
    hook = sinks.Webhook(
        receiver.url, on=("completed",), timeout=2.0, sleep=Sleeps(), stall_after=None
    )
    await reactivex.from_iterable(run_events("j1", 1)).pipe(aop.to_sink(hook))
    assert len(receiver.bodies) == 2
    assert [b["event"] for b in receiver.accepted] == ["completed"]


async def test_a_permanent_refusal_is_counted_not_raised_and_never_logs_the_url(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.script = [(400, {}), (503, {"Retry-After": "3600"})]
    hook = sinks.Webhook(
        receiver.url, on=("started", "completed"), sleep=Sleeps(), stall_after=None
    )
    out = await reactivex.from_iterable(run_events("j1", 1)).pipe(aop.to_sink(hook))
    assert out.type == "training.completed"  # the run goes on
    assert len(receiver.bodies) == 2  # no retry of a 400, none sooner than Retry-After asked
    assert hook.stats.errors == 2
    assert "Retry-After 3600 s is past max_delay" in (hook.stats.last_error or "")
    assert "status 400" in caplog.text
    assert "s3cr3t" not in caplog.text
    assert "s3cr3t" not in repr(hook)


async def test_a_stalled_run_is_noticed_once_per_silence_with_an_injected_clock(
    receiver: Receiver,
) -> None:
    now = [1000.0]
    hook = sinks.Webhook(receiver.url, on=("stalled",), stall_after=60.0, clock=lambda: now[0])
    hub = SinkHub([hook])
    hub.open(TrainingJob(id="j1", name="bot"))
    hub.put(TrainingLog(job_id="j1", step=7, loss=1.0))
    await written(hook, 7)
    now[0] += 59
    assert await hook.check_stalls() == []
    now[0] += 2
    (notice,) = await hook.check_stalls()
    assert notice.text == "⏸️ bot (j1) no event for 61 s (last at step 7)"
    now[0] += 600
    assert await hook.check_stalls() == []  # once per silence
    hub.put(TrainingLog(job_id="j1", step=8, loss=1.0))
    await written(hook, 8)
    now[0] += 61
    assert len(await hook.check_stalls()) == 1  # a new silence after the run moved again
    hub.close(Outcome("completed", job_id="j1"))
    await hub.finish()
    assert [b["event"] for b in receiver.accepted] == ["stalled", "stalled"]
    assert json.dumps(receiver.accepted[0])


async def written(hook: sinks.Webhook, step: int) -> None:
    """Until the sink's task has written the event of ``step`` (a few loop turns)."""
    for _ in range(1000):
        if any(run.step == step for run in hook._runs.values()):
            return
        await asyncio.sleep(0)
    raise AssertionError(f"step {step} never written")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"url": "ftp://x"}, "http"),
        ({"format": "teams"}, "format"),
        ({"on": ("finished",)}, "unknown notices"),
        ({"timeout": 0}, "timeout"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    args = {"url": "http://127.0.0.1:9/hook", **kwargs}
    with pytest.raises(ConfigError, match=match):
        sinks.Webhook(**args)
