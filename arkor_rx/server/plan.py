"""A job config resolved for the local model: [`TrainingPlan`][arkor_rx.server.plan.TrainingPlan],
and the learning-rate schedule.

Rule 1: the job config ([`arkor_rx.jobs.JobConfig`][arkor_rx.jobs.JobConfig], the client's model)
is the one list of knobs. A plan field has the same (snake_case) name as the
config field it resolves, and
[`TrainingPlan.from_config`][arkor_rx.server.plan.TrainingPlan.from_config] copies every
field the user set by name; only the defaults, and the three names it
normalises (``model``, ``optim``, ``lrSchedulerType``), are written here.

Rule 2: bounds (how big a run may be) are not checked here but by the
server's [`ServerLimits`][arkor_rx.server.ServerLimits], at submission.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Final

from arkor_rx.errors import ConfigError
from arkor_rx.jobs import JobConfig

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_LEARNING_RATE",
    "DEFAULT_LOGGING_STEPS",
    "DEFAULT_LORA_R",
    "DEFAULT_SEED",
    "LR_SCALE",
    "SCHEDULERS",
    "SUPPORTED_MODELS",
    "TrainingPlan",
    "learning_rate_at",
]

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

LR_SCALE: Final = 50.0
"""The optimizer steps with ``learningRate × LR_SCALE``.

The tiny model has ~66k trainable numbers, not billions, so the same knob is
rescaled to land in the same regime as for an LLM: the SDK's usual ``2e-4``
learns well in a couple of hundred steps, and ``1e-2`` or more diverges.
Logs report the rate as the user set it (after warm-up and schedule)."""


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    """The resolved hyper-parameters of one run (every default filled in).

    Build it with [`from_config`][arkor_rx.server.plan.TrainingPlan.from_config], which also rejects
    values the local
    model cannot honour (an unknown model, scheduler or optimizer).

    Examples:
        >>> config = JobConfig.build(model="arkor/tiny",
        ...     datasetSource={"type": "huggingface", "name": "a/b"}, loraR=4, optim="adamw_8bit")
        >>> plan = TrainingPlan.from_config(config)
        >>> plan.lora_r, plan.lora_alpha, plan.optim, plan.batch_size
        (4, 4.0, 'adamw', 8)
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
        """Resolve a validated job config: the fields set, by name, over the defaults.

        Raises:
            ConfigError: ``model``, ``lrSchedulerType`` or ``optim`` is not one
                the local backend supports (the message names the field).
        """
        given = {
            f.name: value
            for f in dataclasses.fields(cls)
            if (value := getattr(config, f.name)) is not None
        }
        given["model"] = _model(config.model)
        given["lr_scheduler_type"] = _scheduler(config.lr_scheduler_type)
        given["optim"] = _optimizer(config.optim)
        if "lora_alpha" not in given:
            given["lora_alpha"] = float(given.get("lora_r", DEFAULT_LORA_R))
        return cls(**given)

    def total_steps(self, train_size: int) -> int:
        """``maxSteps`` when set, else ``ceil(numTrainEpochs × batches per epoch)``."""
        if self.max_steps is not None:
            return self.max_steps
        per_epoch = math.ceil(train_size / self.batch_size)
        return max(1, math.ceil(self.num_train_epochs * per_epoch))


def _unknown(field: str, what: str, given: str | None, expected: str) -> ConfigError:
    shown = repr(given)
    if len(shown) > 80:  # a megabyte of model name is not echoed back whole
        shown = shown[:79] + "…"
    return ConfigError(f"invalid job config: {field}: unknown {what} {shown}; {expected}")


def _model(model: str) -> str:
    if model not in SUPPORTED_MODELS:
        known = ", ".join(SUPPORTED_MODELS)
        raise _unknown("model", "model", model, f"the local backend accepts: {known}")
    return model


def _scheduler(given: str | None) -> str:
    scheduler = (given or "linear").lower()
    if scheduler not in SCHEDULERS:
        expected = f"expected one of {', '.join(SCHEDULERS)}"
        raise _unknown("lrSchedulerType", "scheduler", given, expected)
    return scheduler


def _optimizer(given: str | None) -> str:
    optim = (given or "adamw").lower()
    if optim.startswith("adam"):
        return "adamw"  # adamw_8bit, adamw_torch, adam ...: all the same here
    if optim != "sgd":
        expected = "expected an AdamW variant (e.g. adamw_8bit) or sgd"
        raise _unknown("optim", "optimizer", given, expected)
    return optim


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
