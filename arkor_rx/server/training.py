"""The small, real model the local backend trains: numpy only, CPU only.

Whatever ``model`` a job names (see :data:`SUPPORTED_MODELS`), the local
backend trains the same tiny classifier over the assistant replies of the
dataset. It is small, but everything it reports is measured, not simulated:

- **Features.** The last user message is lower-cased and split into words;
  word unigrams, word bigrams and character trigrams are hashed (CRC-32, so
  the same on every machine) into :data:`FEATURE_DIM` buckets with a sign bit,
  and each count ``c`` becomes ``log1p(c)``; the row is then scaled to
  the norm :data:`FEATURE_NORM`. ``maxLength`` keeps only the first
  ``maxLength`` words.
- **Model.** ``logits = x @ W0 + (loraAlpha / loraR) * (x @ A) @ B + bias``.
  ``W0`` is a frozen "base" matrix drawn from a seed derived from the model
  name; ``A`` (``FEATURE_DIM × loraR``, random) and ``B`` (``loraR × labels``,
  zeros) form the low-rank adapter that training updates, with the bias. A
  smaller ``loraR`` really limits what the adapter can learn.
- **Training.** Softmax cross-entropy, AdamW (``weightDecay`` decoupled, on
  the adapter matrices) or plain SGD (``optim: "sgd"``), mini-batches of
  ``batchSize`` reshuffled every epoch, a learning rate with ``warmupSteps``
  of linear warm-up followed by a ``linear``, ``cosine`` or ``constant``
  schedule. Too high a learning rate really diverges: the bilinear adapter
  overshoots and the loss climbs by orders of magnitude.
- **Evaluation.** 15% of the records (at least one) are held out, chosen by
  the seed; ``evalSteps`` measures the loss on them. A dataset of fewer than 8
  records is evaluated on its training records (``evalOnTrain`` in the
  metadata).

Rule 1: a run is deterministic given its config and seed (default 42): same
losses, same checkpoints, on every machine.

Rule 2: nothing here touches the event loop, the store or the network. The
trainer reports through :class:`TrainingHooks`, checks ``should_stop`` before
every step (so a cancel takes effect within one step), and is safe to run in a
worker thread.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from arkor_rx.errors import ConfigError
from arkor_rx.jobs import JobConfig
from arkor_rx.server.datasets import ChatDataset

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

FloatArray = npt.NDArray[np.float64]

FEATURE_DIM: Final = 4096
"""Hashed feature buckets per example."""

FEATURE_NORM: Final = 8.0
"""Every feature row is scaled to this Euclidean norm."""

SUPPORTED_MODELS: Final[dict[str, str]] = {
    "unsloth/gemma-4-E4B-it": "the official SDK's default model name",
    "arkor/triage-tiny": "a name for the local model itself",
    "arkor/tiny": "an alias of arkor/triage-tiny",
}
"""Model names the local backend accepts. All of them train the same tiny numpy
classifier: the name picks nothing heavy, it only seeds the frozen base matrix."""

SCHEDULERS: Final = ("linear", "cosine", "constant")
"""The ``lrSchedulerType`` values understood (each after ``warmupSteps`` of warm-up)."""

DEFAULT_LEARNING_RATE: Final = 2e-4
DEFAULT_BATCH_SIZE: Final = 8
DEFAULT_SEED: Final = 42
DEFAULT_LOGGING_STEPS: Final = 10
DEFAULT_LORA_R: Final = 16
EVAL_FRACTION: Final = 0.15
_MIN_FOR_SPLIT: Final = 8
_BASE_SCALE: Final = 0.01
_A_INIT_STD: Final = 1.0

LR_SCALE: Final = 50.0
"""The optimizer steps with ``learningRate × LR_SCALE``.

The tiny model has ~66k trainable numbers, not billions, so the same knob is
rescaled to land in the same regime as for an LLM: the SDK's usual ``2e-4``
learns well in a couple of hundred steps, and ``1e-2`` or more diverges.
Logs report the rate as the user set it (after warm-up and schedule)."""
_WORD = re.compile(r"[a-z0-9']+")


class TrainingStopped(Exception):
    """Raised inside :func:`train` when ``should_stop`` asks it to stop.

    Attributes:
        reason: what ``should_stop`` returned (e.g. ``"cancelled by user"``).
        step: the last completed step.
    """

    def __init__(self, reason: str, step: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.step = step


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    """The resolved hyper-parameters of one run (every default filled in).

    Build it with :meth:`from_config`, which also rejects values the local
    model cannot honour (an unknown model, scheduler or optimizer).
    """

    model: str
    max_steps: int | None = None
    num_train_epochs: float = 1.0
    learning_rate: float = DEFAULT_LEARNING_RATE
    batch_size: int = DEFAULT_BATCH_SIZE
    optim: str = "adamw"
    lr_scheduler_type: str = "linear"
    weight_decay: float = 0.0
    warmup_steps: int = 0
    logging_steps: int = DEFAULT_LOGGING_STEPS
    eval_steps: int | None = None
    save_steps: int | None = None
    lora_r: int = DEFAULT_LORA_R
    lora_alpha: float = float(DEFAULT_LORA_R)
    max_length: int | None = None
    dry_run: bool = False
    seed: int = DEFAULT_SEED

    @classmethod
    def from_config(cls, config: JobConfig) -> TrainingPlan:
        """Resolve a validated job config.

        Raises:
            ConfigError: ``model``, ``lrSchedulerType`` or ``optim`` is not one
                the local backend supports (the message names the field).
        """
        if config.model not in SUPPORTED_MODELS:
            known = ", ".join(SUPPORTED_MODELS)
            raise ConfigError(
                f"invalid job config: model: unknown model {config.model!r}; "
                f"the local backend accepts: {known}"
            )
        scheduler = (config.lr_scheduler_type or "linear").lower()
        if scheduler not in SCHEDULERS:
            raise ConfigError(
                f"invalid job config: lrSchedulerType: unknown scheduler "
                f"{config.lr_scheduler_type!r}; expected one of {', '.join(SCHEDULERS)}"
            )
        optim = (config.optim or "adamw").lower()
        if optim.startswith("adam"):
            optim = "adamw"  # adamw_8bit, adamw_torch, adam ...: all the same here
        elif optim != "sgd":
            raise ConfigError(
                f"invalid job config: optim: unknown optimizer {config.optim!r}; "
                f"expected an AdamW variant (e.g. adamw_8bit) or sgd"
            )
        lora_r = config.lora_r or DEFAULT_LORA_R
        return cls(
            model=config.model,
            max_steps=config.max_steps,
            num_train_epochs=config.num_train_epochs or 1.0,
            learning_rate=config.learning_rate or DEFAULT_LEARNING_RATE,
            batch_size=config.batch_size or DEFAULT_BATCH_SIZE,
            optim=optim,
            lr_scheduler_type=scheduler,
            weight_decay=config.weight_decay or 0.0,
            warmup_steps=config.warmup_steps or 0,
            logging_steps=config.logging_steps or DEFAULT_LOGGING_STEPS,
            eval_steps=config.eval_steps,
            save_steps=config.save_steps,
            lora_r=lora_r,
            lora_alpha=config.lora_alpha if config.lora_alpha is not None else float(lora_r),
            max_length=config.max_length,
            dry_run=bool(config.dry_run),
            seed=config.seed if config.seed is not None else DEFAULT_SEED,
        )

    def total_steps(self, train_size: int) -> int:
        """``maxSteps`` when set, else ``ceil(numTrainEpochs × batches per epoch)``."""
        if self.max_steps is not None:
            return self.max_steps
        per_epoch = math.ceil(train_size / self.batch_size)
        return max(1, math.ceil(self.num_train_epochs * per_epoch))


def learning_rate_at(step: int, *, base: float, warmup: int, total: int, kind: str) -> float:
    """The learning rate used for the 1-based ``step`` of ``total``.

    Warm-up rises linearly to ``base`` over ``warmup`` steps (``base × step /
    warmup``); then ``linear`` decays towards 0, ``cosine`` follows half a
    cosine towards 0, ``constant`` stays at ``base``. The rate never reaches
    exactly 0 within the run.

    Examples:
        >>> [round(learning_rate_at(s, base=1.0, warmup=2, total=6, kind="linear"), 2)
        ...  for s in range(1, 7)]
        [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]
    """
    if warmup > 0 and step <= warmup:
        return base * step / warmup
    if kind == "constant":
        return base
    progress = (step - warmup - 1) / max(1, total - warmup)
    if kind == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * progress))
    return base * (1.0 - progress)


# --- features -----------------------------------------------------------------


def _bucket(key: str) -> tuple[int, float]:
    h = zlib.crc32(key.encode("utf-8"))
    return h % FEATURE_DIM, (1.0 if h & 0x80000000 else -1.0)


def featurize(texts: tuple[str, ...] | list[str], max_length: int | None = None) -> FloatArray:
    """Hashed word, word-bigram and character-trigram features, one row per text.

    Examples:
        >>> x = featurize(["Refund please"])
        >>> x.shape, bool((x != 0).any())
        ((1, 4096), True)
    """
    out = np.zeros((len(texts), FEATURE_DIM), dtype=np.float64)
    for row, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        if max_length is not None:
            words = words[:max_length]
        counts: dict[int, float] = {}
        keys = [f"w:{w}" for w in words]
        keys += [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
        for w in words:
            padded = f" {w} "
            keys += [f"c:{padded[i : i + 3]}" for i in range(len(padded) - 2)]
        for key in keys:
            index, sign = _bucket(key)
            counts[index] = counts.get(index, 0.0) + sign
        for index, value in counts.items():
            out[row, index] = math.copysign(math.log1p(abs(value)), value)
        norm = math.sqrt(float(out[row] @ out[row]))
        if norm > 0:
            # A fixed norm: a short message speaks as loudly as a long one.
            out[row] *= FEATURE_NORM / norm
    return out


_FEATURE_CACHE: OrderedDict[tuple[str, int | None], FloatArray] = OrderedDict()
_FEATURE_LOCK = threading.Lock()


def _dataset_features(data: ChatDataset, max_length: int | None) -> FloatArray:
    key = (data.digest, max_length)
    with _FEATURE_LOCK:
        cached = _FEATURE_CACHE.get(key)
        if cached is not None:
            _FEATURE_CACHE.move_to_end(key)
            return cached
    features = featurize(data.texts, max_length)
    features.flags.writeable = False  # shared between runs: nobody may change it
    with _FEATURE_LOCK:
        _FEATURE_CACHE[key] = features
        while len(_FEATURE_CACHE) > 8:
            _FEATURE_CACHE.popitem(last=False)
    return features


def _base_matrix(model: str, classes: int) -> FloatArray:
    rng = np.random.default_rng(zlib.crc32(model.encode("utf-8")))
    return rng.normal(0.0, _BASE_SCALE, size=(FEATURE_DIM, classes))


def _log_softmax(z: FloatArray) -> FloatArray:
    shifted = z - z.max(axis=1, keepdims=True)
    result: FloatArray = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return result


# --- the adapter ---------------------------------------------------------------


@dataclass(slots=True)
class Adapter:
    """A trained low-rank adapter with its label set: what a checkpoint holds.

    Attributes:
        model: the base model name (seeds the frozen base matrix).
        labels: the class texts, in index order.
        a, b, bias: the adapter parameters.
        scale: ``loraAlpha / loraR``.
        max_length: the word limit used for features.
        step: the training step it was saved at.
    """

    model: str
    labels: tuple[str, ...]
    a: FloatArray
    b: FloatArray
    bias: FloatArray
    scale: float
    max_length: int | None = None
    step: int = 0
    base: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.base = _base_matrix(self.model, len(self.labels))

    def logits(self, x: FloatArray) -> FloatArray:
        """Class scores for the feature rows ``x``."""
        with np.errstate(all="ignore"):
            z: FloatArray = x @ self.base + self.scale * ((x @ self.a) @ self.b) + self.bias
        return z

    def predict(self, text: str, choices: list[str] | None = None) -> str:
        """The label for ``text``; with ``choices``, the best of those.

        A choice that is not one of the trained labels ranks below every
        trained one; when no choice is a trained label, the first choice is
        returned.
        """
        scores = self.logits(featurize([text], self.max_length))[0]
        scores = np.nan_to_num(scores, nan=-np.inf)
        if not choices:
            return self.labels[int(np.argmax(scores))]
        index = {label: i for i, label in enumerate(self.labels)}
        best, best_score = choices[0], -math.inf
        for choice in choices:
            i = index.get(choice)
            if i is not None and float(scores[i]) > best_score:
                best, best_score = choice, float(scores[i])
        return best

    def save(self, path: Path) -> int:
        """Write the adapter to ``path`` (``.npz``) atomically; return its size in bytes."""
        meta = {
            "model": self.model,
            "scale": self.scale,
            "maxLength": self.max_length,
            "step": self.step,
            "featureDim": FEATURE_DIM,
            "format": "arkor-rx-lora-v1",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            np.savez(
                fh,
                a=self.a,
                b=self.b,
                bias=self.bias,
                labels=np.array(self.labels, dtype=str),
                meta=np.array(json.dumps(meta)),
            )
        os.replace(tmp, path)
        return path.stat().st_size


def load_adapter(path: Path) -> Adapter:
    """Read an adapter written by :meth:`Adapter.save`.

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not an arkor_rx adapter.
    """
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("format") != "arkor-rx-lora-v1" or meta.get("featureDim") != FEATURE_DIM:
            raise ValueError(f"{path.name} is not an arkor_rx adapter")
        return Adapter(
            model=str(meta["model"]),
            labels=tuple(str(v) for v in data["labels"]),
            a=np.array(data["a"], dtype=np.float64),
            b=np.array(data["b"], dtype=np.float64),
            bias=np.array(data["bias"], dtype=np.float64),
            scale=float(meta["scale"]),
            max_length=meta.get("maxLength"),
            step=int(meta.get("step", 0)),
        )


# --- the training loop -----------------------------------------------------------


@dataclass(slots=True)
class TrainingHooks:
    """How :func:`train` reports and is steered. Every callable runs in the training thread.

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


def _split(n: int, seed: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], bool]:
    order = np.random.default_rng(seed).permutation(n)
    if n < _MIN_FOR_SPLIT:
        return order, order, True
    n_eval = max(1, round(n * EVAL_FRACTION))
    return order[n_eval:], order[:n_eval], False


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
    labels = tuple(sorted(set(data.labels)))
    label_index = {label: i for i, label in enumerate(labels)}
    y_all = np.array([label_index[label] for label in data.labels], dtype=np.intp)
    x_all = _dataset_features(data, plan.max_length)
    train_idx, eval_idx, eval_on_train = _split(len(data), plan.seed)
    rng = np.random.default_rng(plan.seed + 1)

    classes = len(labels)
    adapter = Adapter(
        model=plan.model,
        labels=labels,
        a=rng.normal(0.0, _A_INIT_STD, size=(FEATURE_DIM, plan.lora_r)),
        b=np.zeros((plan.lora_r, classes)),
        bias=np.zeros(classes),
        scale=plan.lora_alpha / plan.lora_r,
        max_length=plan.max_length,
    )
    total = 0 if plan.dry_run else plan.total_steps(len(train_idx))
    x_eval, y_eval = x_all[eval_idx], y_all[eval_idx]
    n_params = adapter.a.size + adapter.b.size + adapter.bias.size
    hooks.on_start(
        {
            "model": plan.model,
            "localModel": "hashed n-gram classifier with a LoRA adapter (numpy, CPU)",
            "dataset": data.name,
            "synthetic": data.synthetic,
            "trainExamples": len(train_idx),
            "evalExamples": len(eval_idx),
            "evalOnTrain": eval_on_train,
            "labels": list(labels),
            "maxSteps": total,
            "batchSize": plan.batch_size,
            "learningRate": plan.learning_rate,
            "lrSchedulerType": plan.lr_scheduler_type,
            "optim": plan.optim,
            "loraR": plan.lora_r,
            "loraAlpha": plan.lora_alpha,
            "trainableParameters": int(n_params),
            "seed": plan.seed,
            "dryRun": plan.dry_run,
        }
    )

    def evaluate() -> tuple[float, float]:
        with np.errstate(all="ignore"):
            logp = _log_softmax(adapter.logits(x_eval))
            loss = float(-logp[np.arange(len(y_eval)), y_eval].mean())
            accuracy = float((logp.argmax(axis=1) == y_eval).mean())
        return loss, accuracy

    if plan.dry_run:
        eval_loss, accuracy = evaluate()
        hooks.on_log(0, eval_loss, eval_loss, 0.0, 0.0, 0.0)
        metrics = {"evalLoss": eval_loss, "evalAccuracy": accuracy, "steps": 0, "dryRun": True}
        return TrainingOutcome(metrics, None, 0, 0)

    params = [adapter.a, adapter.b, adapter.bias]
    decay = [True, True, False]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    order = rng.permutation(train_idx)
    cursor = 0
    epoch_count = 0
    seen = 0
    window_loss = 0.0
    window_count = 0
    window_samples = 0
    window_time = 0.0
    last_loss = math.nan
    n_train = len(train_idx)

    for step in range(1, total + 1):
        reason = hooks.should_stop()
        if reason is not None:
            raise TrainingStopped(reason, step - 1)
        started = time.perf_counter()
        if cursor >= n_train:
            order = rng.permutation(train_idx)
            cursor = 0
            epoch_count += 1
        batch = order[cursor : cursor + plan.batch_size]
        cursor += len(batch)
        seen += len(batch)
        xb, yb = x_all[batch], y_all[batch]
        lr = learning_rate_at(
            step,
            base=plan.learning_rate,
            warmup=plan.warmup_steps,
            total=total,
            kind=plan.lr_scheduler_type,
        )
        step_lr = lr * LR_SCALE
        with np.errstate(all="ignore"):
            xa = xb @ adapter.a
            z = xb @ adapter.base + adapter.scale * (xa @ adapter.b) + adapter.bias
            logp = _log_softmax(z)
            loss = float(-logp[np.arange(len(yb)), yb].mean())
            dz = np.exp(logp)
            dz[np.arange(len(yb)), yb] -= 1.0
            dz /= len(yb)
            grad_b = adapter.scale * (xa.T @ dz)
            grad_a = adapter.scale * (xb.T @ (dz @ adapter.b.T))
            grad_bias = dz.sum(axis=0)
            grads = [grad_a, grad_b, grad_bias]
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                if decay[i] and plan.weight_decay:
                    p -= step_lr * plan.weight_decay * p
                if plan.optim == "sgd":
                    p -= step_lr * g
                    continue
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * (g * g)
                m_hat = m[i] / (1 - beta1**step)
                v_hat = v[i] / (1 - beta2**step)
                p -= step_lr * m_hat / (np.sqrt(v_hat) + eps)
        elapsed = time.perf_counter() - started
        window_loss += loss
        window_count += 1
        window_samples += len(batch)
        window_time += elapsed
        last_loss = loss
        epoch = seen / n_train

        is_last = step == total
        is_eval = is_last or (plan.eval_steps is not None and step % plan.eval_steps == 0)
        if is_last or is_eval or step % plan.logging_steps == 0:
            held_out = evaluate()[0] if is_eval else None
            sps = window_samples / window_time if window_time > 0 else 0.0
            hooks.on_log(step, window_loss / window_count, held_out, lr, epoch, sps)
            window_loss, window_count, window_samples, window_time = 0.0, 0, 0, 0.0
        if plan.save_steps is not None and step % plan.save_steps == 0:
            adapter.step = step
            path = hooks.checkpoint_dir / f"step-{step}.npz"
            size = adapter.save(path)
            hooks.on_checkpoint(step, path, size)
        if hooks.step_delay > 0 and not is_last:
            hooks.pause(hooks.step_delay)

    eval_loss, accuracy = evaluate()
    adapter.step = total
    final_path = hooks.checkpoint_dir / "final.npz"
    final_size = adapter.save(final_path)
    metrics = {
        "evalLoss": eval_loss,
        "evalAccuracy": accuracy,
        "trainLoss": last_loss,
        "steps": total,
        "epochs": seen / n_train,
        "labels": len(labels),
    }
    return TrainingOutcome(metrics, final_path, final_size, total)
