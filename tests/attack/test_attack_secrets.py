"""A server that echoes the client's token back gets it into no sink (issue 23, item 4).

The hostile backend puts the bearer token in the job's config and error, in
``training.started`` metadata (once plainly, once spelt with JSON escapes)
and in the ``training.failed`` error. The run is followed with every
file-writing sink, a webhook and the terminal view; afterwards no file,
payload, frame, stats line or log line holds the token. The same holds for
a deployment key's plaintext once it was issued, and for an MLflow tracking
URI's password in what a failing sink logs.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import arkor_rx as ax
from arkor_rx import sinks
from arkor_rx._redaction import hide
from arkor_rx.dashboard import LiveDashboard
from arkor_rx.sse import encode
from tests.attack.hostile import TOKEN, Answer, HostileServer, job
from tests.sinks.sink_helpers import webhook_receiver

ESCAPED = "".join(f"\\u{ord(ch):04x}" for ch in TOKEN)
"""The token as JSON may spell it: every character escaped."""


def _echoing_stream(job_id: str) -> bytes:
    at = f'"jobId": "{job_id}", "timestamp": "2026-01-01T00:00:00Z"'
    frames = [
        ("training.started", f'"metadata": {{"auth": "Bearer {TOKEN}"}}'),
        ("training.log", '"step": 1, "loss": 2.0'),
        ("training.log", f'"step": 2, "loss": 1.5, "note": "{ESCAPED}"'),
        ("training.failed", f'"error": "bad token {TOKEN}", "step": 2'),
    ]
    return b"".join(
        encode(f'{{"type": "{kind}", {at}, {fields}}}', event=kind, id=str(n))
        for n, (kind, fields) in enumerate(frames, start=1)
    )


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SADeprecationWarning")
async def test_an_echoed_token_reaches_no_sink(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    screen = io.StringIO()
    async with webhook_receiver() as hook:
        every: list[Any] = [
            sinks.JSONL(tmp_path / "run.jsonl"),
            sinks.CSV(tmp_path / "metrics.csv"),
            sinks.TensorBoard(tmp_path / "tb"),
            sinks.MLflow(
                f"sqlite:///{tmp_path / 'ml.db'}",
                experiment="echo",
                artifact_location=(tmp_path / "a").as_uri(),
            ),
            sinks.Webhook(hook.url, on=sinks.NOTICES, stall_after=None),
            LiveDashboard(console=Console(file=screen, width=200, color_system=None), live=False),
        ]
        echoed = job("j1", name="echo-run", error=f"token {TOKEN}")
        echoed["config"]["note"] = TOKEN
        caplog.set_level(logging.DEBUG)
        with HostileServer() as server:
            server.routes["/v1/jobs/j1"] = Answer.of({"job": echoed})
            server.routes["/v1/jobs/j1/events/stream"] = Answer(
                _echoing_stream("j1"), content_type="text/event-stream"
            )
            async with ax.ArkorClient(server.url, TOKEN, "o1", "p1") as client:
                result = await ax.attach("j1", client=client, sinks=every).wait()
    assert result.job.id == "j1"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]  # noqa: ASYNC240 (the run is over)
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == [
        "training.started",
        "training.log",
        "training.log",
        "training.failed",
    ]  # every event written, the secret masked in each
    assert json.loads(lines[-1])["data"]["error"] == "bad token ***"
    assert hook.bodies, "the webhook was not called"
    assert "echo-run" in screen.getvalue()
    for secret in (TOKEN.encode(), ESCAPED.encode()):
        for path in files:
            assert secret not in path.read_bytes(), path
        for payload in hook.bodies:
            assert secret not in payload
        assert secret.decode() not in screen.getvalue()
        assert secret.decode() not in caplog.text
        for sink in every:
            assert secret.decode() not in repr(getattr(sink, "stats", ""))


async def test_a_hidden_secret_is_masked_in_a_failing_sinks_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "tracker-PASSWORD-5e1"
    hide(secret)

    class Failing:
        async def open(self, job: ax.TrainingJob) -> None:
            raise OSError(f"cannot reach http://u:{secret}@tracker/")

        async def write(self, events: Any) -> None:
            pass

        async def close(self, outcome: sinks.Outcome) -> None:
            pass

    sink = Failing()
    hub = sinks.SinkHub([sink])
    hub.put(ax.TrainingLog(job_id="j9", step=1, loss=1.0))
    hub.end_all("completed")
    await hub.finish()
    stats = hub.runners[0].stats
    assert stats.errors == 1
    assert stats.last_error is not None
    assert "***" in stats.last_error
    assert secret not in stats.last_error
    assert secret not in caplog.text


def test_a_secret_shorter_than_the_minimum_is_not_hidden() -> None:
    from arkor_rx._redaction import HIDE_MIN, hidden

    before = hidden()
    hide("t" * (HIDE_MIN - 1))  # would rewrite ordinary words in every payload
    assert hidden() is before
