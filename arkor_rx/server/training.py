"""The training loop of the local backend: numpy only, CPU only.

Whatever ``model`` a job names (see
[`SUPPORTED_MODELS`][arkor_rx.server.training.SUPPORTED_MODELS]), the local
backend trains the same tiny classifier (`arkor_rx.server.model`) over
the assistant replies of the dataset. It is small, but everything it reports
is measured, not simulated:

- **Training.** Softmax cross-entropy, AdamW (``weightDecay`` decoupled, on
  the adapter matrices) or plain SGD (``optim: "sgd"``) from
  `arkor_rx.server.optim`, mini-batches of ``batchSize`` reshuffled
  every epoch, a learning rate with ``warmupSteps`` of linear warm-up
  followed by a ``linear``, ``cosine`` or ``constant`` schedule. Too high a
  learning rate really diverges: the bilinear adapter overshoots and the loss
  climbs by orders of magnitude.
- **Evaluation.** 15% of the records (at least one) are held out, chosen by
  the seed; ``evalSteps`` measures the loss on them. A dataset of fewer than 8
  records is evaluated on its training records (``evalOnTrain`` in the
  metadata).

Rule 1: a run is deterministic given its config and seed (default 42): same
losses, same checkpoints, on every machine.

Rule 2: nothing here touches the event loop, the store or the network. The
trainer reports through [`TrainingHooks`][arkor_rx.server.training.TrainingHooks], checks
``should_stop`` before
every step (so a cancel takes effect within one step), and is safe to run in a
worker thread.

The model, the optimiser and the plan live in their own modules; their names
are re-exported here, where release 1 had them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from arkor_rx.server.datasets import ChatDataset
from arkor_rx.server.model import (
    FEATURE_DIM,
    Adapter,
    FloatArray,
    dataset_features,
    featurize,
    load_adapter,
)
from arkor_rx.server.optim import make_optimizer
from arkor_rx.server.plan import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LEARNING_RATE,
    DEFAULT_SEED,
    LR_SCALE,
    SCHEDULERS,
    SUPPORTED_MODELS,
    TrainingPlan,
    learning_rate_at,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_LEARNING_RATE",
    "DEFAULT_SEED",
    "FEATURE_DIM",
    "LR_SCALE",
    "SCHEDULERS",
    "SUPPORTED_MODELS",
    "Adapter",
    "TrainingHooks",
    "TrainingOutcome",
    "TrainingPlan",
    "TrainingStopped",
    "featurize",
    "learning_rate_at",
    "load_adapter",
    "train",
]

EVAL_FRACTION: Final = 0.15
_MIN_FOR_SPLIT: Final = 8
_A_INIT_STD: Final = 1.0
IntArray = npt.NDArray[np.intp]


class TrainingStopped(Exception):
    """Raised inside [`train`][arkor_rx.server.training.train] when ``should_stop`` asks it to stop.

    Attributes:
        reason: what ``should_stop`` returned (e.g. ``"cancelled by user"``).
        step: the last completed step.
    """

    def __init__(self, reason: str, step: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.step = step


@dataclass(slots=True)
class TrainingHooks:
    """How [`train`][arkor_rx.server.training.train] reports and is steered. Every callable runs in
    the training thread.

    Attributes:
        on_start: called once with the run's metadata, before the first step.
        on_log: ``(step, loss, eval_loss, learning_rate, epoch, samples_per_second)``.
        on_checkpoint: ``(step, path, size_in_bytes)`` after a checkpoint is written.
        should_stop: returns a reason to stop (checked before every step), or None.
        pause: ``pause(seconds)`` waits between steps (the server's ``step_delay``);
            it should return early when a stop is requested.
        checkpoint_dir: where ``step-N.npz`` and ``final.npz`` are written.
    """

    checkpoint_dir: Path
    on_start: Callable[[dict[str, Any]], None] = lambda meta: None
    on_log: Callable[[int, float, float | None, float, float, float], None] = lambda *args: None
    on_checkpoint: Callable[[int, Path, int], None] = lambda step, path, size: None
    should_stop: Callable[[], str | None] = lambda: None
    pause: Callable[[float], None] = lambda seconds: None
    step_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class TrainingOutcome:
    """What a finished run produced.

    Attributes:
        metrics: final metrics (``evalLoss``, ``evalAccuracy``, ``trainLoss``, ...).
        final_path: the final adapter file, or None for a dry run.
        final_size: its size in bytes (0 for a dry run).
        steps: the number of optimizer steps taken.
    """

    metrics: dict[str, Any]
    final_path: Path | None
    final_size: int
    steps: int


def split(n: int, seed: int) -> tuple[IntArray, IntArray, bool]:
    """Train and held-out indices of ``n`` records, and whether eval is on the train set."""
    order = np.random.default_rng(seed).permutation(n)
    if n < _MIN_FOR_SPLIT:
        return order, order, True
    n_eval = max(1, round(n * EVAL_FRACTION))
    return order[n_eval:], order[:n_eval], False


class _Batches:
    """Mini-batches in a fresh random order every epoch."""

    def __init__(self, indices: IntArray, size: int, rng: np.random.Generator) -> None:
        self._indices = indices
        self._size = size
        self._rng = rng
        self._order = rng.permutation(indices)
        self._cursor = 0
        self.seen = 0

    def next(self) -> IntArray:
        if self._cursor >= len(self._indices):
            self._order = self._rng.permutation(self._indices)
            self._cursor = 0
        batch = self._order[self._cursor : self._cursor + self._size]
        self._cursor += len(batch)
        self.seen += len(batch)
        return batch


@dataclass(slots=True)
class _Window:
    """The steps since the last ``training.log``: their mean loss and throughput."""

    loss: float = 0.0
    steps: int = 0
    samples: int = 0
    seconds: float = 0.0

    def add(self, loss: float, samples: int, seconds: float) -> None:
        self.loss += loss
        self.steps += 1
        self.samples += samples
        self.seconds += seconds

    def flush(self) -> tuple[float, float]:
        """Mean loss and samples per second of the window; then start a new one."""
        mean = self.loss / self.steps
        sps = self.samples / self.seconds if self.seconds > 0 else 0.0
        self.loss, self.steps, self.samples, self.seconds = 0.0, 0, 0, 0.0
        return mean, sps


@dataclass(frozen=True, slots=True)
class _Data:
    labels: tuple[str, ...]
    x: FloatArray
    y: IntArray
    train: IntArray
    eval_on_train: bool
    x_eval: FloatArray
    """The held-out features, taken once per run."""
    y_eval: IntArray
    """The held-out labels."""

    @classmethod
    def prepare(cls, data: ChatDataset, plan: TrainingPlan) -> _Data:
        labels = tuple(sorted(set(data.labels)))
        index = {label: i for i, label in enumerate(labels)}
        y = np.array([index[label] for label in data.labels], dtype=np.intp)
        train_idx, eval_idx, eval_on_train = split(len(data), plan.seed)
        x = dataset_features(data, plan.max_length)
        return cls(labels, x, y, train_idx, eval_on_train, x[eval_idx], y[eval_idx])


def _metadata(
    plan: TrainingPlan, data: ChatDataset, prepared: _Data, adapter: Adapter, total: int
) -> dict[str, Any]:
    return {
        "model": plan.model,
        "localModel": "hashed n-gram classifier with a LoRA adapter (numpy, CPU)",
        "dataset": data.name,
        "synthetic": data.synthetic,
        "trainExamples": len(prepared.train),
        "evalExamples": len(prepared.y_eval),
        "evalOnTrain": prepared.eval_on_train,
        "labels": list(prepared.labels),
        "maxSteps": total,
        "batchSize": plan.batch_size,
        "learningRate": plan.learning_rate,
        "lrSchedulerType": plan.lr_scheduler_type,
        "optim": plan.optim,
        "loraR": plan.lora_r,
        "loraAlpha": plan.lora_alpha,
        "trainableParameters": int(sum(p.size for p in adapter.parameters)),
        "seed": plan.seed,
        "dryRun": plan.dry_run,
    }


def train(plan: TrainingPlan, data: ChatDataset, hooks: TrainingHooks) -> TrainingOutcome:
    """Train the adapter on ``data`` following ``plan``; report through ``hooks``.

    A ``training.log`` is reported every ``loggingSteps`` steps, on every
    ``evalSteps`` step (with the held-out loss) and at the last step (with the
    held-out loss too). A checkpoint is written every ``saveSteps`` steps, and
    the final adapter at the end. A dry run takes no step and writes nothing:
    it reports the untrained model's held-out loss and completes.

    Raises:
        TrainingStopped: ``hooks.should_stop`` returned a reason.
    """
    prepared = _Data.prepare(data, plan)
    rng = np.random.default_rng(plan.seed + 1)
    adapter = _initial_adapter(plan, prepared.labels, rng)
    total = 0 if plan.dry_run else plan.total_steps(len(prepared.train))
    x_eval, y_eval = prepared.x_eval, prepared.y_eval
    hooks.on_start(_metadata(plan, data, prepared, adapter, total))

    if plan.dry_run:
        eval_loss, accuracy = adapter.evaluate(x_eval, y_eval)
        hooks.on_log(0, eval_loss, eval_loss, 0.0, 0.0, 0.0)
        metrics = {"evalLoss": eval_loss, "evalAccuracy": accuracy, "steps": 0, "dryRun": True}
        return TrainingOutcome(metrics, None, 0, 0)

    last_loss, epochs = _steps(plan, prepared, adapter, hooks, rng, total)
    eval_loss, accuracy = adapter.evaluate(x_eval, y_eval)
    adapter.step = total
    final_path = hooks.checkpoint_dir / "final.npz"
    final_size = adapter.save(final_path)
    metrics = {
        "evalLoss": eval_loss,
        "evalAccuracy": accuracy,
        "trainLoss": last_loss,
        "steps": total,
        "epochs": epochs,
        "labels": len(prepared.labels),
    }
    return TrainingOutcome(metrics, final_path, final_size, total)


def _steps(
    plan: TrainingPlan,
    prepared: _Data,
    adapter: Adapter,
    hooks: TrainingHooks,
    rng: np.random.Generator,
    total: int,
) -> tuple[float, float]:
    """Take the ``total`` optimizer steps, logging and saving checkpoints as planned.

    Returns:
        The last step's loss and the epochs gone through.
    """
    optimizer = make_optimizer(
        plan.optim, adapter.parameters, decay=[True, True, False], weight_decay=plan.weight_decay
    )
    batches = _Batches(prepared.train, plan.batch_size, rng)
    window = _Window()
    n_train = len(prepared.train)
    x_eval, y_eval = prepared.x_eval, prepared.y_eval
    last_loss = float("nan")
    for step in range(1, total + 1):
        reason = hooks.should_stop()
        if reason is not None:
            raise TrainingStopped(reason, step - 1)
        started = time.perf_counter()
        batch = batches.next()
        lr = learning_rate_at(
            step,
            base=plan.learning_rate,
            warmup=plan.warmup_steps,
            total=total,
            kind=plan.lr_scheduler_type,
        )
        last_loss, grads = adapter.loss_and_grads(prepared.x[batch], prepared.y[batch])
        optimizer.step(grads, lr * LR_SCALE, step)
        window.add(last_loss, len(batch), time.perf_counter() - started)

        is_last = step == total
        is_eval = is_last or (plan.eval_steps is not None and step % plan.eval_steps == 0)
        if is_eval or step % plan.logging_steps == 0:
            held_out = adapter.evaluate(x_eval, y_eval)[0] if is_eval else None
            mean_loss, sps = window.flush()
            hooks.on_log(step, mean_loss, held_out, lr, batches.seen / n_train, sps)
        if plan.save_steps is not None and step % plan.save_steps == 0:
            adapter.step = step
            path = hooks.checkpoint_dir / f"step-{step}.npz"
            hooks.on_checkpoint(step, path, adapter.save(path))
        if hooks.step_delay > 0 and not is_last:
            hooks.pause(hooks.step_delay)

    return last_loss, batches.seen / n_train


def _initial_adapter(
    plan: TrainingPlan, labels: tuple[str, ...], rng: np.random.Generator
) -> Adapter:
    """The untrained adapter: ``A`` drawn from ``rng``, ``B`` and the bias zero."""
    classes = len(labels)
    return Adapter(
        model=plan.model,
        labels=labels,
        a=rng.normal(0.0, _A_INIT_STD, size=(FEATURE_DIM, plan.lora_r)),
        b=np.zeros((plan.lora_r, classes)),
        bias=np.zeros(classes),
        scale=plan.lora_alpha / plan.lora_r,
        max_length=plan.max_length,
    )
