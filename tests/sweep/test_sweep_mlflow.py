"""A sweep's runs nest under one MLflow parent run by default, read back with MlflowClient."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

import arkor_rx as ax
from arkor_rx import sinks
from tests.sweep.sweep_fakes import FakeJobs, Script, losses
from tests.sweep.test_sweep_grid import sweep

pytestmark = pytest.mark.filterwarnings(
    "ignore::sqlalchemy.exc.SADeprecationWarning"  # mlflow's own models, SQLAlchemy 2.1
)


def plan(name: str, config: dict[str, Any]) -> Script:
    return losses([2.0, 1.0])


@pytest.mark.parametrize(("given", "parent"), [(None, "lr-sweep"), ("mine", "mine")])
async def test_the_runs_of_a_sweep_nest_under_one_parent_run(
    jobs: FakeJobs, client: ax.ArkorClient, tmp_path: Path, given: str | None, parent: str
) -> None:
    jobs.plan = plan
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    sink = sinks.MLflow(uri, experiment="sweeps", parent_run=given,
                        artifact_location=(tmp_path / "art").as_uri())  # fmt: skip
    result = await sweep(
        client, name="lr-sweep", grid={"learning_rate": [0.01, 0.02, 0.05]}, sinks=[sink],
        max_concurrent=2,
    ).wait()  # fmt: skip
    assert [r.outcome for r in result.runs] == ["completed"] * 3

    tracking = MlflowClient(tracking_uri=uri)
    experiment = tracking.get_experiment_by_name("sweeps")
    assert experiment is not None
    found = {r.info.run_name: r for r in tracking.search_runs([experiment.experiment_id])}
    top = found.pop(parent)
    assert top.info.status == "FINISHED"
    assert len(found) == 3
    assert {r.data.tags["mlflow.parentRunId"] for r in found.values()} == {top.info.run_id}
    assert {r.data.tags["arkor.job_id"] for r in found.values()} == {
        r.run.job_id for r in result.runs
    }


async def test_one_sink_reused_for_two_sweeps_gives_each_its_own_parent(
    jobs: FakeJobs, client: ax.ArkorClient, tmp_path: Path
) -> None:
    jobs.plan = plan
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    sink = sinks.MLflow(uri, experiment="sweeps", artifact_location=(tmp_path / "art").as_uri())
    results = {}
    for name, lrs in (("first", [0.01, 0.02]), ("second", [0.05])):
        s = sweep(client, name=name, grid={"learning_rate": lrs}, sinks=[sink])
        results[name] = await s.wait()
    assert sink.parent_run is None  # the sink given is left as it was
    assert sink.stats.written > 0  # and counts what its copies wrote

    tracking = MlflowClient(tracking_uri=uri)
    experiment = tracking.get_experiment_by_name("sweeps")
    assert experiment is not None
    found = tracking.search_runs([experiment.experiment_id])
    parents = {r.info.run_name: r.info.run_id for r in found if r.info.run_name in results}
    assert set(parents) == {"first", "second"}
    for name, result in results.items():
        children = {
            r.data.tags["arkor.job_id"]
            for r in found
            if r.data.tags.get("mlflow.parentRunId") == parents[name]
        }
        assert children == {r.run.job_id for r in result.runs}
