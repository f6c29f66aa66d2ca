"""``sinks.CSV(path)``: one row per ``training.log`` event."""

from __future__ import annotations

import asyncio
import csv
import os
from collections.abc import Sequence
from typing import IO, Any

from arkor_rx.events import TrainingLog
from arkor_rx.sinks._base import SinkItem
from arkor_rx.sinks._builtin import FileSink
from arkor_rx.sinks._tracking import METRICS

__all__ = ["CSV", "CSV_COLUMNS"]

CSV_COLUMNS = ("job_id", "name", "step", "timestamp", *METRICS)
"""The header row: who, when, then the five metrics (empty when not logged)."""


class CSV(FileSink[IO[str]]):
    """Write one row per log event (``job_id, name, step, timestamp`` and the metrics).

    The header is written when the file is created; rows are written and
    flushed per batch, in a worker thread. Many runs may share one file (the
    ``job_id`` and ``name`` columns tell them apart). A metric not logged at
    a step is an empty cell; a non-finite loss is written as ``nan``/``inf``.

    Examples:
        >>> CSV("metrics.csv").path
        'metrics.csv'

    Args:
        path: the file, created (truncated) at the first run unless ``append``.
        append: add rows to an existing file (no second header).
        overflow: ``"block"`` by default: every row is written.
        fail_on_error: fail ``wait()`` when writing fails.
        buffer_size: events buffered before the overflow policy applies.
    """

    _writer: Any = None  # the csv writer of the open file

    def _open_file(self) -> IO[str]:
        fresh = not (self._append and os.path.exists(self.path))
        handle = open(self.path, "w" if fresh else "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(handle)
        if fresh:
            self._writer.writerow(CSV_COLUMNS)
        return handle

    async def write(self, events: Sequence[SinkItem]) -> None:
        """One row per log event, then flush."""
        if self._file is None:
            return
        rows = []
        for event in events:
            if isinstance(event, TrainingLog):
                metrics = ["" if v is None else repr(v) for v in _values(event)]
                name = self.run_names.get(event.job_id, "")
                row = [cell(event.job_id), cell(name), event.step, cell(event.timestamp or "")]
                rows.append([*row, *metrics])
        if rows:
            await asyncio.to_thread(self._emit, rows)  # one thread hop per batch

    def _emit(self, rows: list[list[Any]]) -> None:
        assert self._file is not None
        self._writer.writerows(rows)
        self._file.flush()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(text: str) -> str:
    """A string cell from the server, never read as a formula by a spreadsheet: one
    starting with ``= + - @``, tab or CR gets a leading ``'`` (OWASP's advice on CSV
    injection). The metrics are numbers and are written as they are.

    Examples:
        >>> cell('=HYPERLINK("http://x", "y")')[:12]
        "'=HYPERLINK("
        >>> cell("run-1"), cell("-2+3=job")
        ('run-1', "'-2+3=job")
    """
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _values(event: TrainingLog) -> tuple[float | None, ...]:
    return (event.loss, event.eval_loss, event.learning_rate, event.epoch, event.samples_per_second)
