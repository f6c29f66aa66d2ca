"""What the built-in sinks share: policy attributes, the lazy import, run labels, flat configs.

Rule 1: a built-in sink imports its library in its constructor, through
`require`, so a missing extra fails at once with one line naming the
``pip install``, and ``import arkor_rx.sinks`` imports none of them.

Rule 2: a run is labelled by its name and job id everywhere (`run_label`).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import os
import re
from collections.abc import Mapping
from types import ModuleType
from typing import IO, Any, Generic, TypeVar

from pydantic.alias_generators import to_snake

from arkor_rx.errors import ArkorError
from arkor_rx.events import TrainingLog
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks._base import DEFAULT_BUFFER_SIZE, Outcome, Overflow, SinkStats, sink_policy

__all__ = [
    "CREDENTIAL_KEYS",
    "INT64",
    "METRICS",
    "BuiltinSink",
    "FileSink",
    "MissingExtraError",
    "SinkWorkerError",
    "StepRangeError",
    "credential_key",
    "flat_config",
    "log_metrics",
    "require",
    "run_label",
    "safe_url",
]

METRICS = ("loss", "eval_loss", "learning_rate", "epoch", "samples_per_second")
"""The metrics of a ``training.log`` event, snake_case, in a fixed order."""


class MissingExtraError(ArkorError, ImportError):
    """A sink's optional library is not installed; the message names the ``pip install``."""


class SinkWorkerError(ArkorError, RuntimeError):
    """Kept so that code catching it still imports; nothing raises it any more.

    Earlier releases could write TensorBoard's event files in a sink worker
    process, and this error said that process failed. Sinks now run in your
    process (their blocking calls in a thread): a sink's error is its own,
    counted in ``sink.stats`` (or raised by ``wait()`` with ``fail_on_error``).
    """


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or fail with one line naming ``pip install arkor_rx[extra]``.

    Examples:
        >>> require("json", "none").__name__
        'json'
        >>> require("no_such_module_here", "tensorboard")
        Traceback (most recent call last):
        ...
        arkor_rx.sinks._common.MissingExtraError: no_such_module_here is not installed: pip install arkor_rx[tensorboard]
    """  # noqa: E501
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _missing(module, extra) from None


def _missing(module: str, extra: str) -> MissingExtraError:
    return MissingExtraError(f"{module} is not installed: pip install arkor_rx[{extra}]")


class BuiltinSink:
    """The policy attributes every built-in sink takes, validated, plus its counters."""

    def __init__(
        self,
        *,
        overflow: Overflow = "block",
        fail_on_error: bool = False,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> None:
        self.overflow: Overflow = overflow
        """What happens when the buffer is full (see [`arkor_rx.sinks`][arkor_rx.sinks])."""
        self.fail_on_error = bool(fail_on_error)
        """True: an error of this sink fails ``wait()`` (after the other sinks closed)."""
        self.buffer_size = buffer_size
        """Items buffered before the overflow policy applies."""
        self.stats = SinkStats()
        """Counters kept by the runner: written, batches, dropped, errors."""
        sink_policy(self)  # a bad overflow or buffer_size fails here, not at the first run


_F = TypeVar("_F", bound=IO[Any])


class FileSink(BuiltinSink, Generic[_F]):
    """A built-in sink writing one file that all its runs share.

    The file is opened at the first run (created, or appended to with
    ``append``), stays open while any run is, and is closed after the last.
    A subclass says how the file is opened (``_open_file``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        append: bool = False,
        overflow: Overflow = "block",
        fail_on_error: bool = False,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> None:
        super().__init__(overflow=overflow, fail_on_error=fail_on_error, buffer_size=buffer_size)
        self.path = os.fspath(path)
        """The file written."""
        self._append = append
        self._file: _F | None = None
        self._runs = 0
        self.run_names: dict[str, str] = {}
        """The name of each open run, by job id."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    def _open_file(self) -> _F:
        """Open ``path``: appending when ``self._append``, else truncating."""
        raise NotImplementedError

    async def open(self, job: TrainingJob) -> None:
        """Open the file at the first run (later runs add to it), in a thread.

        Off the loop: a path that blocks on open (a FIFO with no reader, a
        slow network mount) holds up this sink only.
        """
        if self._file is None:
            self._file = await asyncio.to_thread(self._open_file)
            self._append = True  # a later run of this sink adds to the same file
        self._runs += 1
        self.run_names[job.id] = job.name

    async def close(self, outcome: Outcome) -> None:
        """Close the file once no run is open."""
        self.run_names.pop(outcome.job_id or "", None)
        self._runs -= 1
        if self._runs <= 0 and self._file is not None:
            handle, self._file = self._file, None
            await asyncio.to_thread(handle.close)


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


CREDENTIAL_KEYS = frozenset(
    {"token", "accesstoken", "apikey", "password", "secret", "clientsecret", "authorization"}
)
"""Mapping keys (lower case, without ``_`` or ``-``) whose values are credentials."""


def credential_key(key: object) -> bool:
    """Whether a mapping's value under ``key`` is a credential (``token``, ``apiKey``,
    ``client_secret`` ..., in any case or spelling): never written or shown.

    Examples:
        >>> credential_key("apiKey"), credential_key("API-KEY"), credential_key("name")
        (True, True, False)
    """
    return isinstance(key, str) and key.lower().replace("_", "").replace("-", "") in CREDENTIAL_KEYS


_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)"
    r"(?P<user>[^\s/?#\"'<>]*@)?"
    r"(?P<rest>[^\s?#\"'<>]*)"
    r"(?P<query>\?[^\s\"'<>]*)?"
)


def _url(match: re.Match[str]) -> str:
    user = "<redacted>@" if match["user"] else ""
    query = "?<redacted>" if match["query"] else ""
    return f"{match['scheme']}{user}{match['rest']}{query}"


def safe_url(text: str) -> str:
    """``text`` without the credentials its URLs may carry: their userinfo and their query.

    A presigned dataset URL holds its signature in the query (``?sig=...``,
    with any fragment after it), a tracking URI its password in the userinfo
    (``user:pass@``); neither is ever written to a sink or shown. Every URL in
    the text is cleaned, the rest is returned as it is.

    Examples:
        >>> safe_url("https://blob.example/d.jsonl?sv=1&sig=s3cret")
        'https://blob.example/d.jsonl?<redacted>'
        >>> safe_url("http://user:p@ss@mlflow:5000/")
        'http://<redacted>@mlflow:5000/'
        >>> safe_url("cannot read https://blob.example/d.jsonl?sig=s3cret: 403")
        'cannot read https://blob.example/d.jsonl?<redacted> 403'
        >>> safe_url("arkorlab/triage-demo")
        'arkorlab/triage-demo'
    """
    if "://" not in text:
        return text
    return _URL.sub(_url, text)


def flat_config(config: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """A job config flattened to scalar values with snake_case dotted keys.

    A credential (a key such as ``token`` or ``api_key``, at any depth, as a
    server may echo a blob dataset's token) is left out, and a URL loses its
    query and userinfo ([`safe_url`][arkor_rx.sinks._common.safe_url]): sinks
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
