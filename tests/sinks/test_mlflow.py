"""The MLflow sink against a real local tracking store (sqlite), read back with MlflowClient.

mlflow-skinny has no tracking server (no flask), so no ``mlflow server`` here:
the sqlite store is the real SQLAlchemy store a server would use.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import reactivex
from mlflow.tracking import MlflowClient

from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.events import TrainingCompleted, TrainingFailed, TrainingLog, TrainingStarted
from arkor_rx.jobs import TrainingJob
from arkor_rx.runs import PruneDecision, Run, RunEvent
from arkor_rx.samples import Sample, SamplesAnswered
from arkor_rx.sinks import Outcome, SinkHub
from arkor_rx.stopping import StopDecision

pytestmark = pytest.mark.filterwarnings(
    "ignore::sqlalchemy.exc.SADeprecationWarning"  # mlflow's own models, SQLAlchemy 2.1
)

CONFIG = {
    "model": "unsloth/gemma-4-E4B-it",
    "dataset": {"type": "huggingface", "name": "arkorlab/triage-demo"},
    "maxSteps": 1500,
    "learningRate": 2e-4,
    "lora": {"r": 16, "alpha": 16},
}


def by_key(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


async def test_runs_params_metrics_status_tags_samples_and_a_nested_sweep(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    art = (tmp_path / "artifacts").as_uri()
    sink = sinks.MLflow(
        uri, experiment="arkor", buffer_size=4096, artifact_location=art
    )  # one batch > 1000 metrics
    job = TrainingJob(id="j1", name="support-bot", config=CONFIG)
    hub = SinkHub([sink])
    hub.open(job)
    logs = [
        TrainingLog(job_id="j1", step=s, loss=2.0 / s, learning_rate=2e-4) for s in range(1, 1301)
    ]
    logs[-1] = TrainingLog(job_id="j1", step=1300, loss=math.nan, eval_loss=1.25, epoch=1.0)
    samples = SamplesAnswered(
        job_id="j1",
        step=500,
        samples=(Sample("Invoice wrong", "Billing"), Sample("Hi", error="timeout")),
    )
    for item in [TrainingStarted(job_id="j1"), *logs[:600], samples, *logs[600:]]:
        hub.put(item)  # type: ignore[arg-type]
    hub.put(TrainingCompleted(job_id="j1", metrics={"train_runtime": 12.5, "note": "x"}))
    hub.close(Outcome("completed", job_id="j1", job=job))
    await hub.finish()

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("arkor")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "support-bot-j1"
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["arkor.job_id"] == "j1"
    assert tags["arkor.model"] == "unsloth/gemma-4-E4B-it"
    assert tags["arkor.dataset"] == "arkorlab/triage-demo"
    assert tags["arkor.outcome"] == "completed"
    assert run.data.params["learning_rate"] == "0.0002"
    assert run.data.params["lora.r"] == "16"
    assert run.data.params["max_steps"] == "1500"
    losses = by_key(client, run.info.run_id, "loss")
    assert len(losses) == 1300  # more than one log_batch request's worth of metrics
    assert losses[0] == (1, 2.0)
    assert math.isnan(losses[-1][1])
    assert by_key(client, run.info.run_id, "eval_loss") == [(1300, 1.25)]
    assert [v for _, v in by_key(client, run.info.run_id, "final_train_runtime")] == [12.5]
    assert len(by_key(client, run.info.run_id, "learning_rate")) == 1299
    table_path = client.download_artifacts(run.info.run_id, "samples.json", str(tmp_path))
    table = json.loads(Path(table_path).read_text())  # noqa: ASYNC240
    assert table == {
        "columns": ["step", "prompt", "answer", "error"],
        "data": [[500, "Invoice wrong", "Billing", None], [500, "Hi", None, "timeout"]],
    }
    assert json.loads(tags["mlflow.loggedArtifacts"]) == [{"path": "samples.json", "type": "table"}]

    # A sweep, nested under one parent run: one stopped by a pruner, one failed, one cancelled.
    sweep = sinks.MLflow(uri, experiment="sweep", parent_run="lr-sweep", artifact_location=art)
    runs = [
        Run(i, f"s{i}", {"learning_rate": lr}, f"lr-sweep-{i}")
        for i, lr in enumerate((1e-4, 2e-4, 5e-4))
    ]
    decision = StopDecision(
        rule="prune.median", reason="eval_loss 2.0 worse than median 1.5", step=2
    )
    merged: list[Any] = [
        RunEvent(r, TrainingLog(job_id=r.job_id or "", step=1, loss=1.0)) for r in runs
    ]
    merged += [
        PruneDecision(runs[0], decision),
        RunEvent(runs[1], TrainingFailed(job_id="s1", error="OOM")),
    ]
    await reactivex.from_iterable(merged).pipe(aop.to_sink(sweep))  # s2 never ends: cancelled
    sweep_exp = client.get_experiment_by_name("sweep")
    assert sweep_exp is not None
    found = {r.info.run_name: r for r in client.search_runs([sweep_exp.experiment_id])}
    parent = found.pop("lr-sweep")
    assert parent.info.status == "FINISHED"
    assert {r.data.tags["mlflow.parentRunId"] for r in found.values()} == {parent.info.run_id}
    s0, s1, s2 = found["lr-sweep-0-s0"], found["lr-sweep-1-s1"], found["lr-sweep-2-s2"]
    assert (s0.info.status, s0.data.tags["arkor.stop_rule"]) == ("KILLED", "prune.median")
    assert s0.data.tags["arkor.stop_reason"] == decision.reason
    assert (s1.info.status, s1.data.tags["arkor.error"]) == ("FAILED", "OOM")
    assert (s2.info.status, s2.data.tags["arkor.outcome"]) == ("KILLED", "cancelled")
    assert s1.data.params == {"learning_rate": "0.0002"}


def _failing_log_batch(
    monkeypatch: pytest.MonkeyPatch, uri: str, fails: dict[str, Exception]
) -> list[str]:
    """Make MLflow's ``log_batch`` of metrics raise for the runs named in ``fails``.

    Returns the names of the runs whose metrics were logged, in call order.
    """
    real = MlflowClient.log_batch
    names = MlflowClient(tracking_uri=uri)
    logged: list[str] = []

    def log_batch(self: MlflowClient, run_id: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("metrics"):
            name = names.get_run(run_id).data.tags["mlflow.runName"]
            if name in fails:
                raise fails[name]
            logged.append(name)
        return real(self, run_id, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", log_batch)
    return logged


async def _one_batch(sink: sinks.MLflow, names: list[str]) -> dict[str, BaseException | None]:
    """One run per name (job ``j<i>``), one event each, all in one batch; each close's error."""
    hubs = [SinkHub([sink]) for _ in names]
    for i, (hub, name) in enumerate(zip(hubs, names, strict=True)):
        hub.open(TrainingJob(id=f"j{i}", name=name))
    for i, hub in enumerate(hubs):  # no await between: one batch, in this order
        hub.put(TrainingLog(job_id=f"j{i}", step=1, loss=1.0))
    results: dict[str, BaseException | None] = {}
    for i, (hub, name) in enumerate(zip(hubs, names, strict=True)):
        hub.close(Outcome("completed", job_id=f"j{i}"))
        try:
            await hub.finish()
            results[name] = None
        except Exception as exc:
            results[name] = exc
    return results


async def test_a_run_mlflow_refuses_fails_alone_and_the_next_runs_are_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    refused = MlflowException("The run must be in the 'active' state")
    logged = _failing_log_batch(monkeypatch, uri, {"gone-j0": refused})
    sink = sinks.MLflow(uri, artifact_location=(tmp_path / "a").as_uri(), fail_on_error=True)
    results = await _one_batch(sink, ["gone", "next"])
    assert results == {"gone": refused, "next": None}
    assert logged == ["next-j1"]
    assert sink.stats.errors == 1


async def test_a_server_that_cannot_be_reached_is_not_asked_again_for_the_runs_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests
    from mlflow.exceptions import MlflowException

    try:  # what MLflow's REST client raises once its retries ran out
        raise requests.exceptions.ConnectionError("Connection refused")
    except requests.exceptions.ConnectionError:
        try:
            raise MlflowException("API request to http://mlflow/ failed")
        except MlflowException as exc:
            down = exc
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    logged = _failing_log_batch(monkeypatch, uri, {"b-j1": down})
    sink = sinks.MLflow(uri, artifact_location=(tmp_path / "a").as_uri(), fail_on_error=True)
    results = await _one_batch(sink, ["a", "b", "c"])
    assert logged == ["a-j0"]  # c was not tried
    assert results["a"] is None
    assert results["b"] is down
    assert isinstance(results["c"], ConnectionError)
    assert str(results["c"]) == "not logged: the MLflow server could not be reached (job j1 first)"
