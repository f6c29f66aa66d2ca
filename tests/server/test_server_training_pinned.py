"""Pins what a training run produces for a seed, so that refactors of the loop keep the training.

Two properties, each true on any machine:

- Determinism: two runs with the same seed on the same machine are
  bit-identical (every log, every metric, every checkpoint's bytes).
- Fidelity: a run matches the numbers recorded from the release-1 loop
  within ``REL_TOL``. Floating-point results differ across CPUs and BLAS
  builds (another kernel sums a matrix product in another order), so the
  recorded values cannot be compared bit for bit, and neither can the
  adapters' digests.

Why ``REL_TOL = 1e-10``: on one AMD EPYC with numpy 2.4.6 and its bundled
OpenBLAS 0.3.31, the six kernels ``OPENBLAS_CORETYPE`` selects (Prescott,
Nehalem, SandyBridge, Haswell, Zen, SkylakeX), with 1 or 2 threads, move
these values by at most 4.7e-16 relative (about two units in the last
place). 1e-10 leaves five orders of magnitude for other CPUs, BLAS builds and
compilers over these 30-60 step runs. A change to the training itself moves
them far more: the learning rate scaled by (1 + 1e-6) alone moves the
losses by 3.9e-7 relative or more.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from arkor_rx.jobs import JobConfig
from arkor_rx.server.datasets import load_dataset
from arkor_rx.server.training import Adapter, TrainingHooks, TrainingPlan, load_adapter, train

DEMO = {"type": "huggingface", "name": "arkorlab/triage-demo"}


def _digest(adapter: Adapter) -> str:
    raw = adapter.a.tobytes() + adapter.b.tobytes() + adapter.bias.tobytes()
    return hashlib.sha256(raw).hexdigest()


def _run(tmp_path: Path, **knobs: Any) -> tuple[list[tuple[Any, ...]], list[str], dict[str, Any]]:
    config = JobConfig.build(model="arkor/tiny", datasetSource=DEMO, **knobs)
    logs: list[tuple[Any, ...]] = []
    checkpoints: list[str] = []
    hooks = TrainingHooks(
        checkpoint_dir=tmp_path,
        on_log=lambda step, loss, ev, lr, epoch, sps: logs.append((step, loss, ev, lr, epoch)),
        on_checkpoint=lambda step, path, size: checkpoints.append(_digest(load_adapter(path))),
    )
    outcome = train(TrainingPlan.from_config(config), load_dataset(config.dataset_source), hooks)
    assert outcome.final_path is not None
    checkpoints.append(_digest(load_adapter(outcome.final_path)))
    return logs, checkpoints, outcome.metrics


ADAMW = {
    "maxSteps": 60,
    "loggingSteps": 10,
    "evalSteps": 20,
    "saveSteps": 30,
    "seed": 3,
    "weightDecay": 0.01,
    "warmupSteps": 5,
    "lrSchedulerType": "cosine",
}
ADAMW_LOGS = [
    (10, 1.6643623323750045, None, 0.00019740119169423337, 0.26143790849673204),
    (20, 0.9873353491552646, 0.7233765512374144, 0.00016969375686552937, 0.5228758169934641),
    (30, 0.7658513629135463, None, 0.00011985904666457455, 0.7843137254901961),
    (40, 0.6598326233462309, 0.3627048160918965, 6.371922946493591e-05, 1.026143790849673),
    (50, 0.36818783685293305, None, 1.9098300562505266e-05, 1.2875816993464053),
    (60, 0.6674353117299215, 0.3524839267732363, 1.630896073864352e-07, 1.5490196078431373),
]
ADAMW_METRICS = {
    "evalLoss": 0.3524839267732363,
    "evalAccuracy": 0.9259259259259259,
    "trainLoss": 0.6770276317161315,
    "steps": 60,
    "epochs": 1.5490196078431373,
    "labels": 6,
}

SGD = {
    "numTrainEpochs": 1.5,
    "batchSize": 16,
    "optim": "sgd",
    "seed": 9,
    "loraR": 4,
    "loraAlpha": 8,
    "maxLength": 6,
    "learningRate": 1e-3,
}
SGD_LOGS = [
    (10, 3.6239634265346856, None, 0.0007, 0.5228758169934641),
    (20, 3.6328007245671587, None, 0.0003666666666666667, 1.0),
    (30, 3.0653277717343625, 1.6014813155065417, 3.333333333333333e-05, 1.522875816993464),
]
SGD_METRICS = {
    "evalLoss": 1.6014813155065417,
    "evalAccuracy": 0.3333333333333333,
    "trainLoss": 1.8150665084763153,
    "steps": 30,
    "epochs": 1.522875816993464,
    "labels": 6,
}


REL_TOL = 1e-10  # see the module docstring for why
CASES = pytest.mark.parametrize(
    ("knobs", "logs", "metrics"),
    [(ADAMW, ADAMW_LOGS, ADAMW_METRICS), (SGD, SGD_LOGS, SGD_METRICS)],
    ids=["adamw-cosine-warmup-decay-checkpoints", "sgd-epochs-small-rank"],
)


def _close(got: Any, want: Any) -> bool:
    """Floats within ``REL_TOL``; everything else (steps, None, counts) exactly."""
    if isinstance(want, float) and isinstance(got, float):
        return got == pytest.approx(want, rel=REL_TOL, abs=0.0)
    return bool(got == want)


@CASES
def test_two_seeded_runs_on_one_machine_are_bit_identical(
    tmp_path: Path, knobs: dict[str, Any], logs: list[tuple[Any, ...]], metrics: dict[str, Any]
) -> None:
    first = _run(tmp_path / "a", **knobs)
    second = _run(tmp_path / "b", **knobs)
    assert first == second  # logs, checkpoint digests and metrics, bit for bit
    _, digests, _ = first
    if knobs.get("saveSteps"):
        assert len(digests) == 3  # step-30, step-60, final
        assert digests[1] == digests[2]  # the last checkpoint is the final adapter


@CASES
def test_a_seeded_run_matches_the_recorded_one_within_tolerance(
    tmp_path: Path, knobs: dict[str, Any], logs: list[tuple[Any, ...]], metrics: dict[str, Any]
) -> None:
    got_logs, _, got_metrics = _run(tmp_path, **knobs)
    assert [row[0] for row in got_logs] == [row[0] for row in logs]  # the same steps logged
    for got, want in zip(got_logs, logs, strict=True):
        assert all(_close(g, w) for g, w in zip(got, want, strict=True)), (got, want)
    assert got_metrics.keys() == metrics.keys()
    for key, want in metrics.items():
        assert _close(got_metrics[key], want), (key, got_metrics[key], want)
