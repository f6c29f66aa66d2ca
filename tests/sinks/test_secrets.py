"""The bearer token appears in no file, payload, metric label or log line any sink produced."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.server import ServerConfig
from tests.e2e.e2e_helpers import local_backend
from tests.sinks.sink_helpers import webhook_receiver

TOKEN = "arkor-SECRET-tok-7f3a9c51e2"


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SADeprecationWarning")
@pytest.mark.timeout(300)
async def test_the_token_is_in_no_sink_output(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prometheus = sinks.Prometheus(port=0)
    async with webhook_receiver() as hook:
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
            sinks.Webhook(hook.url, on=sinks.NOTICES, stall_after=None),
            sinks.JSONL(out / "run.jsonl"),
            sinks.CSV(out / "metrics.csv"),
        ]
        try:
            scraped = await _run_and_scrape(every, prometheus, caplog)
        finally:
            await prometheus.aclose()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 10  # event files, the sqlite store, W&B's run, the recording, the CSV
    assert any(p.suffix == ".wandb" for p in files)
    assert len(hook.bodies) >= 2
    secret = TOKEN.encode()
    for path in files:
        assert secret not in path.read_bytes(), path
    for payload in [*hook.bodies, *hook.headers]:
        assert secret not in payload
    assert secret not in scraped
    assert b'name="secret-run"' in scraped
    assert TOKEN not in caplog.text
    for sink in every:
        assert TOKEN not in repr(sink)
        assert TOKEN not in repr(getattr(sink, "stats", ""))


SIG = "sig=SIGNATURE-9d1e"
BLOB = f"https://reader:PASSWORD-42@blob.example/data/d.jsonl?sv=2024&{SIG}"


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SADeprecationWarning")
async def test_a_blob_urls_query_and_userinfo_reach_no_tracker(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    config = {"model": "m", "datasetSource": {"type": "blob", "url": BLOB}, "maxSteps": 3}
    job = ax.TrainingJob(id="j1", name="blob-run", config=config)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    tb = sinks.TensorBoard(tmp_path / "tb")
    mlflow = sinks.MLflow(uri, experiment="blob", artifact_location=(tmp_path / "a").as_uri())
    hub = sinks.SinkHub([tb, mlflow])
    hub.open(job)
    hub.put(ax.TrainingLog(job_id="j1", step=1, loss=1.0))
    hub.close(sinks.Outcome("completed", job_id="j1", job=job))
    await hub.finish()
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("blob")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    shown = repr(run.data.params) + repr(run.data.tags)
    assert "blob.example/data/d.jsonl" in shown  # the URL is there, its secrets are not
    for secret in (SIG, "PASSWORD-42"):
        assert secret not in shown
        for path in (tmp_path / "tb").rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes()


def test_an_mlflow_uri_password_is_not_in_the_sinks_repr(tmp_path: Path) -> None:
    sink = sinks.MLflow("http://user:PASSWORD-42@127.0.0.1:9/", experiment="x")
    assert "PASSWORD-42" not in repr(sink)
    assert "127.0.0.1:9" in repr(sink)


async def _run_and_scrape(
    every: list[Any], prometheus: sinks.Prometheus, caplog: pytest.LogCaptureFixture
) -> bytes:
    """Train against a backend whose token is ``TOKEN`` with ``every`` sink; scrape Prometheus."""
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
        return await response.read()
