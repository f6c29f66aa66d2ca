"""The bearer token appears in no file, payload, metric label or log line any sink produced."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.server import ServerConfig
from tests.e2e.e2e_helpers import local_backend

TOKEN = "arkor-SECRET-tok-7f3a9c51e2"


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SADeprecationWarning")
@pytest.mark.timeout(300)
async def test_the_token_is_in_no_sink_output(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    payloads: list[bytes] = []

    async def receive(request: web.Request) -> web.Response:
        payloads.append(await request.read())
        payloads.append(repr(dict(request.headers)).encode())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    receiver = TestServer(app, host="127.0.0.1", port=0)
    await receiver.start_server()
    prometheus = sinks.Prometheus(port=0)
    try:
        out = tmp_path / "out"
        out.mkdir()
        every = [
            sinks.TensorBoard(out / "tb"),
            sinks.MLflow(
                f"sqlite:///{out / 'mlruns.db'}",
                experiment="secrets",
                artifact_location=(out / "mlruns").as_uri(),
            ),
            sinks.WandB(project="secrets", mode="offline", dir=out),
            prometheus,
            sinks.Webhook(str(receiver.make_url("/hook")), on=sinks.NOTICES, stall_after=None),
            sinks.JSONL(out / "run.jsonl"),
            sinks.CSV(out / "metrics.csv"),
        ]
        caplog.set_level(logging.DEBUG)
        async with local_backend(ServerConfig(step_delay=0.0, token=TOKEN)) as backend:
            assert backend.server.token == TOKEN
            trainer = backend.trainer(
                name="secret-run",
                max_steps=8,
                save_steps=4,
                samples=ax.CheckpointSamples(prompts=["My invoice is wrong"], max_tokens=4),
                early_stopping=[aop.step_budget(6)],
                sinks=every,
            )
            result = await trainer.wait()
            assert result.stop is not None
        assert prometheus.url is not None
        async with aiohttp.ClientSession() as session, session.get(prometheus.url) as response:
            scraped = await response.read()
    finally:
        await prometheus.aclose()
        await receiver.close()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 10  # event files, the sqlite store, W&B's run, the recording, the CSV
    assert any(p.suffix == ".wandb" for p in files)
    assert len(payloads) >= 4
    secret = TOKEN.encode()
    for path in files:
        assert secret not in path.read_bytes(), path
    for payload in payloads:
        assert secret not in payload
    assert secret not in scraped
    assert b'name="secret-run"' in scraped
    assert TOKEN not in caplog.text
    for sink in every:
        assert TOKEN not in repr(sink)
        assert TOKEN not in repr(getattr(sink, "stats", ""))
