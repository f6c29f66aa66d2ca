"""What the run commands write is what the docs say: read back with the tools' own readers.

The demo's checkpoint answers reach TensorBoard as text; its final metrics
are written once each, at the run's last step; MLflow's own INFO lines do
not show; a replay keeps a run's name and does not call a recording running.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from arkor_rx.cli import EXIT_OK, main
from arkor_rx.cli.demo import DEMO_TICKET

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
    EventAccumulator,
)

DEMO = ["demo", "--no-live", "--step-delay", "0"]


def read(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_the_demo_writes_its_answers_and_final_metrics_to_tensorboard(tmp_path: Path) -> None:
    assert main([*DEMO, "--steps", "12", "--tensorboard", str(tmp_path / "tb")]) == EXIT_OK
    (folder,) = (tmp_path / "tb").iterdir()
    assert folder.name.startswith("triage-demo-job_")
    acc = read(folder)
    last = max(s.step for s in acc.Scalars("train/loss"))
    texts = acc.Tensors("samples/text_summary")
    assert [t.step for t in texts] == [s for s in (4, 8, 12) if s <= last]
    for text in texts:
        markdown = text.tensor_proto.string_val[0].decode()
        assert DEMO_TICKET[:40] in markdown  # the question asked ...
        assert markdown.count("\n") == 2  # ... and one answer row
        assert "(error:" not in markdown
    final = {tag for tag in acc.Tags()["scalars"] if tag.startswith("final/")}
    assert {"final/loss", "final/eval_loss", "final/eval_accuracy"} <= final
    assert not any(any(c.isupper() for c in tag) for tag in final), final  # evalLoss: once
    assert "final/labels" not in final
    assert "final/steps" not in final
    for tag in final:
        assert [s.step for s in acc.Scalars(tag)] == [last], tag


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # sqlalchemy's, in MLflow's reader
def test_the_demo_hides_mlflows_info_lines_and_logs_the_run(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_LOGGING_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "arkor_rx", *DEMO, "--steps", "4", "--mlflow", uri],
        capture_output=True,
        text=True,
        env=env,
        timeout=100,
        cwd=tmp_path,
    )
    assert done.returncode == EXIT_OK, done.stderr
    # It said "2026/12/07 02:31:28 INFO mlflow.store.db.utils: Creating initial MLflow
    # database tables..." (its warnings, if any, may still show).
    assert re.search(r"\bINFO\b", done.stderr) is None, done.stderr
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    assert [r.data.tags.get("mlflow.runName", "")[:11] for r in runs] == ["triage-demo"]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "support-run.jsonl"
    assert main([*DEMO, "--steps", "4", "--record", str(path)]) == EXIT_OK
    return path


def test_replay_keeps_the_run_name_and_says_recorded(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    argv = ["replay", str(recording), "--no-live"]
    sinks = ["--csv", str(tmp_path / "r.csv"), "--tensorboard", str(tmp_path / "tb")]
    assert main([*argv, *sinks]) == EXIT_OK
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert header.startswith("following job job_")
    assert header.endswith(": support-run (recorded, 4 steps)")
    assert "running" not in out
    with (tmp_path / "r.csv").open() as handle:
        assert {row["name"] for row in csv.DictReader(handle)} == {"support-run"}
    (folder,) = (tmp_path / "tb").iterdir()
    assert folder.name.startswith("support-run-job_")


def test_replay_name_flag_names_the_run_in_every_sink(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["replay", str(recording), "--no-live", "--name", "triage-demo"]
    assert main([*argv, "--tensorboard", str(tmp_path / "tb")]) == EXIT_OK
    assert ": triage-demo (recorded, 4 steps)" in capsys.readouterr().out
    (folder,) = (tmp_path / "tb").iterdir()
    assert folder.name.startswith("triage-demo-job_")
