"""What a tracker logs of a run: its label, its config as parameters, its metrics.

Rule 1: a run is labelled by its name and job id everywhere (`run_label`).

Rule 2: a config is logged flat, without its credentials (`flat_config`);
a log event's metrics are the five of `METRICS`, in that order, when present.

Rule 3: a step outside int64, which TensorBoard and MLflow cannot store, is
skipped and reported (`StepRangeError`); the rest of the batch is written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic.alias_generators import to_snake

from arkor_rx._credentials import credential_key, safe_url
from arkor_rx.errors import ArkorError
from arkor_rx.events import TrainingLog
from arkor_rx.jobs import TrainingJob

__all__ = [
    "INT64",
    "METRICS",
    "SkippedSteps",
    "StepRangeError",
    "finite",
    "flat_config",
    "log_metrics",
    "run_label",
]

METRICS = ("loss", "eval_loss", "learning_rate", "epoch", "samples_per_second")
"""The metrics of a ``training.log`` event, snake_case, in a fixed order."""


_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


def run_label(job: TrainingJob) -> str:
    """``<name>-<job id>`` (or the job id alone), safe as a folder or run name.

    Examples:
        >>> run_label(TrainingJob(id="j1", name="support bot/v1"))
        'support_bot_v1-j1'
        >>> run_label(TrainingJob(id="j1"))
        'j1'
    """
    label = f"{job.name}-{job.id}" if job.name else job.id
    return _UNSAFE.sub("_", label).strip("._") or "run"


def flat_config(config: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """A job config flattened to scalar values with snake_case dotted keys.

    A credential (a key such as ``token`` or ``api_key``, at any depth, as a
    server may echo a blob dataset's token) is left out, and a URL loses its
    query and userinfo ([`safe_url`][arkor_rx._credentials.safe_url]): sinks
    never write them.

    Examples:
        >>> flat_config({"maxSteps": 200, "lora": {"r": 16}, "dataset": {"name": "d"}, "x": None})
        {'max_steps': 200, 'lora.r': 16, 'dataset.name': 'd'}
        >>> blob = {"type": "blob", "url": "https://b/d?sig=x", "token": "t"}
        >>> flat_config({"datasetSource": blob})
        {'dataset_source.type': 'blob', 'dataset_source.url': 'https://b/d?<redacted>'}
    """
    out: dict[str, str | int | float | bool] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if credential_key(key):
                    continue
                name = to_snake(str(key))
                walk(f"{prefix}.{name}" if prefix else name, inner)
        elif value is None:
            return
        elif isinstance(value, str):
            out[prefix] = safe_url(value)
        elif isinstance(value, bool | int | float):
            out[prefix] = value
        else:
            out[prefix] = safe_url(json.dumps(value, default=str))

    walk("", config)
    return out


def log_metrics(event: TrainingLog) -> list[tuple[str, float]]:
    """The metrics present in a log event, as ``(snake name, value)`` pairs."""
    values = (
        event.loss,
        event.eval_loss,
        event.learning_rate,
        event.epoch,
        event.samples_per_second,
    )
    return [(name, value) for name, value in zip(METRICS, values, strict=True) if value is not None]


INT64 = range(-(2**63), 2**63)
"""The steps TensorBoard and MLflow can store (a protobuf/SQL int64)."""


class StepRangeError(ArkorError, ValueError):
    """Events whose step is outside int64 were skipped; the rest of the batch was written."""

    def __init__(self, steps: list[int]) -> None:
        super().__init__(
            f"{len(steps)} event(s) with a step outside int64 skipped (the first: {steps[0]})"
        )
        self.steps = steps
        """The steps skipped."""


def finite(value: Any) -> float | None:
    """``value`` as a finite float, else None (for final metrics of any shape)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class SkippedSteps:
    """The steps of one batch that were outside int64, by run: skipped, then reported.

    Examples:
        >>> skipped = SkippedSteps()
        >>> skipped.skip("j1", 2**63), skipped.skip("j1", 5)
        (True, False)
        >>> skipped.errors()
        {'j1': StepRangeError('1 event(s) with a step outside int64 skipped (the first: 9223372036854775808)')}
    """  # noqa: E501

    __slots__ = ("_steps",)

    def __init__(self) -> None:
        self._steps: dict[str, list[int]] = {}

    def skip(self, job_id: str, step: int) -> bool:
        """True, and the step noted for the run, when ``step`` is outside int64."""
        if step in INT64:
            return False
        self._steps.setdefault(job_id, []).append(step)
        return True

    def errors(self) -> dict[str, Exception]:
        """A [`StepRangeError`][arkor_rx.sinks._tracking.StepRangeError] for each run that had a
        step skipped."""
        return {job_id: StepRangeError(steps) for job_id, steps in self._steps.items()}
