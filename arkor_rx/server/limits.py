"""How big a job the local backend accepts: [`ServerLimits`][arkor_rx.server.ServerLimits], checked
at submission.

The job config is validated first by the client's own model
([`arkor_rx.jobs.JobConfig`][arkor_rx.jobs.JobConfig]: types, signs, unknown fields); these are
the local backend's extra bounds on top, so that everything it accepts it
can also run: no allocation that cannot fit, no number that overflows, no
event log or checkpoint directory without end.

Rule 1: a field of [`ServerLimits`][arkor_rx.server.ServerLimits] named like a
[`JobConfig`][arkor_rx.jobs.JobConfig]
field is that field's maximum; a value above it is a
[`ConfigError`][arkor_rx.errors.ConfigError] (HTTP 400) naming the wire field and
the limit: ``invalid job config: loraR: must be at most 256 (got 200000)``.

Rule 2: the other limits bound what the run would produce, computed from the
config and the dataset's size before the job exists: its total number of
steps (``maxSteps``, or what ``numTrainEpochs`` resolves to), its
``training.log`` events and its checkpoint files. Nothing is checked at step N.

Rule 3: ``seed`` must also be at least 0 (numpy seeds are non-negative).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Final

from arkor_rx.errors import ConfigError
from arkor_rx.jobs import JobConfig
from arkor_rx.server.model import FEATURE_DIM
from arkor_rx.server.plan import TrainingPlan

__all__ = ["DEFAULT_LIMITS", "ServerLimits"]

_PREFIX: Final = "invalid job config"


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The local backend's upper bounds on a job. Frozen; every field has a default.

    Examples:
        >>> from arkor_rx.jobs import JobConfig
        >>> config = JobConfig.build(model="arkor/tiny", loraR=200000,
        ...     datasetSource={"type": "huggingface", "name": "arkorlab/triage-demo"})
        >>> try:
        ...     ServerLimits().check(config)
        ... except ValueError as exc:
        ...     print(exc)
        invalid job config: loraR: must be at most 256 (got 200000)

    Raises:
        ConfigError (a ValueError): a limit below 1.
    """

    max_steps: int = 100_000
    """``maxSteps``, and the total steps ``numTrainEpochs`` resolves to."""
    num_train_epochs: float = 1_000.0
    learning_rate: float = 10.0
    batch_size: int = 4_096
    weight_decay: float = 10.0
    warmup_steps: int = 100_000
    logging_steps: int = 100_000
    save_steps: int = 100_000
    eval_steps: int = 100_000
    lora_r: int = 256
    """The adapter rank: ``A`` is ``4096 × loraR`` (8 MiB at 256), times three with AdamW."""
    lora_alpha: float = 1e6
    max_length: int = 1_000_000
    seed: int = 2**32 - 1
    max_log_events: int = 20_000
    """``training.log`` events one run may emit (one per ``loggingSteps``, plus evaluations)."""
    max_checkpoints: int = 1_000
    """Checkpoint files one run may write (``total steps / saveSteps``)."""
    max_checkpoint_bytes: int = 1 << 30
    """Bytes of checkpoints one run may write: files × the adapter's size, which is
    ``8 × (4096 × loraR + loraR × labels + labels)`` bytes (512 KiB at loraR 16)."""
    max_records: int = 10_000
    """Records of a dataset (each becomes a dense row of 4096 features: 320 MiB at the limit)."""
    max_labels: int = 1_000
    """Distinct assistant replies of a dataset: the model's classes (the frozen base matrix
    is ``4096 × labels``: 32 MiB at the limit)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if not getattr(self, f.name) >= 1:
                raise ConfigError(f"ServerLimits.{f.name} must be at least 1")

    def rows(self) -> list[tuple[str, float]]:
        """``(wire name or limit name, maximum)`` for every limit, for docs and messages."""
        aliases = {name: info.alias or name for name, info in JobConfig.model_fields.items()}
        return [
            (aliases.get(f.name, f.name), getattr(self, f.name)) for f in dataclasses.fields(self)
        ]

    def check(self, config: JobConfig) -> None:
        """Refuse a config with a field over its maximum (or a negative seed).

        Raises:
            ConfigError: naming the first field over its bound, the bound and the value.
        """
        for f in dataclasses.fields(self):
            info = JobConfig.model_fields.get(f.name)
            value = getattr(config, f.name, None)
            if info is None or value is None:
                continue
            limit = getattr(self, f.name)
            if value > limit:
                raise ConfigError(
                    f"{_PREFIX}: {info.alias}: must be at most {_show(limit)} (got {value!r})"
                )
        if config.seed is not None and config.seed < 0:
            raise ConfigError(f"{_PREFIX}: seed: must be at least 0 (got {config.seed})")

    def check_run(self, plan: TrainingPlan, train_size: int, labels: int = 1) -> None:
        """Refuse a run that would take too many steps or emit too many events or files.

        ``train_size`` is the number of training records (the dataset less its held-out
        part), ``labels`` the number of distinct replies (the model's classes).

        Raises:
            ConfigError: naming the fields that set the total and the limit passed.
        """
        if plan.dry_run:
            return
        total = plan.total_steps(train_size)
        if total > self.max_steps:
            raise ConfigError(
                f"{_PREFIX}: numTrainEpochs: {_show(plan.num_train_epochs)} epochs of "
                f"{train_size} records in batches of {plan.batch_size} is {total} steps; "
                f"the local backend runs at most {self.max_steps} (set maxSteps or fewer epochs)"
            )
        logs = total // plan.logging_steps + 1
        if plan.eval_steps is not None:
            logs += total // plan.eval_steps
        if logs > self.max_log_events:
            raise ConfigError(
                f"{_PREFIX}: loggingSteps: {total} steps logged every {plan.logging_steps} "
                f"(evalSteps {plan.eval_steps}) is about {logs} training.log events; the local "
                f"backend keeps at most {self.max_log_events} per job (log less often)"
            )
        if plan.save_steps is None:
            return
        files = total // plan.save_steps
        size = 8 * (FEATURE_DIM * plan.lora_r + plan.lora_r * labels + labels)
        if files > self.max_checkpoints or files * size > self.max_checkpoint_bytes:
            raise ConfigError(
                f"{_PREFIX}: saveSteps: {total} steps saved every {plan.save_steps} is "
                f"{files} checkpoints of {size} bytes; the local backend writes at most "
                f"{self.max_checkpoints} checkpoints and {self.max_checkpoint_bytes} bytes "
                f"per job (save less often)"
            )


def _show(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return str(int(value)) if abs(value) < 1e15 else f"{value:g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


DEFAULT_LIMITS: Final = ServerLimits()
"""The limits a server uses unless given others (``ServerConfig.limits``)."""
