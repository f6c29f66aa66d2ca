"""What every built-in sink is: its policy attributes, its lazy import, a shared file.

Rule 1: a built-in sink imports its library in its constructor, through
`require`, so a missing extra fails at once with one line naming the
``pip install``, and ``import arkor_rx.sinks`` imports none of them.

Rule 2: a sink whose runs all write one file (CSV, JSONL) is a `FileSink`:
the file is opened at the first run and closed after the last.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from types import ModuleType
from typing import IO, Any, Generic, TypeVar

from arkor_rx.errors import ArkorError
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks._base import DEFAULT_BUFFER_SIZE, Outcome, Overflow, SinkStats, sink_policy

__all__ = ["BuiltinSink", "FileSink", "MissingExtraError", "SinkWorkerError", "require"]


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
        arkor_rx.sinks._builtin.MissingExtraError: no_such_module_here is not installed: pip install arkor_rx[tensorboard]
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
