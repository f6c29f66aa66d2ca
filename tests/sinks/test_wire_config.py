"""Sinks read the job config as the server sends it (camelCase, ``datasetSource``) and never
write a credential it carries (a blob dataset's ``token``, which a server may echo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
    EventAccumulator,
)

from arkor_rx import sinks
from arkor_rx.events import TrainingCompleted, TrainingLog
from arkor_rx.jobs import JobConfig, TrainingJob
from arkor_rx.sinks import Outcome, SinkHub
from arkor_rx.sinks._tracking import flat_config

SECRET = "dataset-SECRET-9b1c"


def wire_config(dataset: dict[str, str]) -> dict[str, object]:
    return JobConfig.of(model="arkor/tiny", dataset=dataset, max_steps=4, lora_r=8).to_wire()


async def run_through(sink: sinks.Sink, config: dict[str, object]) -> TrainingJob:
    job = TrainingJob(id="j1", name="wire", config=config)
    hub = SinkHub([sink])
    hub.open(job)
    hub.put(TrainingLog(job_id="j1", step=1, loss=1.5))
    hub.put(TrainingCompleted(job_id="j1"))
    hub.close(Outcome("completed", job_id="j1", job=job))
    await hub.finish()
    return job


def test_a_credential_at_any_depth_is_left_out_of_the_flat_config() -> None:
    config = {**wire_config({"type": "huggingface", "name": "a/b"}), "apiKey": "k"}
    config["datasetSource"] = {"type": "blob", "url": "file:///d.jsonl", "token": SECRET}
    flat = flat_config(config)
    assert SECRET not in repr(flat)
    assert "k" not in flat.values()
    assert flat["dataset_source.url"] == "file:///d.jsonl"
    assert flat["lora_r"] == 8


def test_the_flat_config_and_the_web_dashboard_agree_on_what_is_secret() -> None:
    # One definition (arkor_rx._credentials): a key the web dashboard masks is one
    # a sink leaves out, and a URL loses the same parts in both.
    from arkor_rx.dashboard.web._redact import Scrub

    config: dict[str, Any] = {"clientSecret": SECRET, "Access-Token": SECRET}
    config["extra"] = {"API_KEY": SECRET}
    config["urls"] = ["https://u:p@ss@b/d?sig=" + SECRET + "#f", "http://m:5000/?x=" + SECRET]
    flat = flat_config(config)
    shown = Scrub().action(config)
    assert SECRET not in repr(flat)
    assert SECRET not in repr(shown)
    assert flat == {"urls": '["https://<redacted>@b/d?<redacted>", "http://m:5000/?<redacted>"]'}
    assert shown["urls"] == ["https://<redacted>@b/d?<redacted>", "http://m:5000/?<redacted>"]
    assert shown["clientSecret"] == shown["Access-Token"] == shown["extra"]["API_KEY"] == "***"


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SADeprecationWarning")
async def test_mlflow_tags_the_dataset_of_a_wire_config_and_logs_no_token(tmp_path: Path) -> None:
    # The sink looked for "dataset", which the wire calls "datasetSource": no tag.
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    sink = sinks.MLflow(uri, experiment="wire", artifact_location=(tmp_path / "a").as_uri())
    config = wire_config({"type": "huggingface", "name": "arkorlab/triage-demo"})
    config["datasetSource"] = {**config["datasetSource"], "token": SECRET}  # type: ignore[dict-item]
    await run_through(sink, config)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("wire")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["arkor.dataset"] == "arkorlab/triage-demo"
    assert run.data.tags["arkor.model"] == "arkor/tiny"
    assert run.data.params["lora_r"] == "8"
    assert SECRET not in repr(run.data.params) + repr(run.data.tags)


async def test_tensorboard_hparams_hold_no_token(tmp_path: Path) -> None:
    config = wire_config({"type": "huggingface", "name": "a/b"})
    config["datasetSource"] = {"type": "blob", "url": "file:///d.jsonl", "token": SECRET}
    await run_through(sinks.TensorBoard(tmp_path), config)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]  # noqa: ASYNC240 (a test's read-back)
    assert files
    assert all(SECRET.encode() not in p.read_bytes() for p in files)
    folder = tmp_path / "wire-j1"
    acc = EventAccumulator(str(folder))
    acc.Reload()
    assert acc.Tags()["scalars"]


def test_a_bad_webhook_url_is_refused_without_echoing_it() -> None:
    from arkor_rx.errors import ConfigError

    secret_url = "hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
    with pytest.raises(ConfigError) as info:
        sinks.Webhook(secret_url)
    assert "SECRET" not in str(info.value)
    assert str(info.value).startswith("Webhook url must be an http(s) URL")
