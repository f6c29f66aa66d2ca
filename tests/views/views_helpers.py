"""Shared helpers of the views' tests: a captured console, a tiny terminal, fake clocks."""

from __future__ import annotations

import io
import re

from rich.console import Console

from arkor_rx.events import TrainingLog
from arkor_rx.jobs import TrainingJob


def text_of(renderable: object, *, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def log(
    step: int,
    loss: float | None = None,
    eval_loss: float | None = None,
    *,
    job: str = "j1",
    eid: int | None = None,
) -> TrainingLog:
    return TrainingLog(
        job_id=job,
        step=step,
        loss=loss,
        eval_loss=eval_loss,
        event_id=None if eid is None else str(eid),
    )


def job(
    job_id: str = "j1",
    *,
    name: str = "bot",
    max_steps: int = 40,
    status: str = "running",
    started_at: str | None = None,
) -> TrainingJob:
    return TrainingJob(
        id=job_id, name=name, status=status, config={"maxSteps": max_steps}, started_at=started_at
    )


class FixedClock:
    """A clock that moves only when told."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


_CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


class Terminal:
    """Enough of a VT100 to replay rich's live output: printable cells with the
    pending-wrap rule of xterm, CR, LF (as CR LF, like a tty's onlcr), cursor up
    and erase line. What the screen holds at the end is what a user sees."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.lines: list[list[str]] = [[]]
        self.row = 0
        self.col = 0
        self.pending = False

    def _cell(self, ch: str) -> None:
        if self.pending:
            self._down()
            self.col = 0
            self.pending = False
        line = self.lines[self.row]
        while len(line) < self.col:
            line.append(" ")
        if self.col < len(line):
            line[self.col] = ch
        else:
            line.append(ch)
        if self.col == self.width - 1:
            self.pending = True
        else:
            self.col += 1

    def _down(self) -> None:
        self.row += 1
        if self.row == len(self.lines):
            self.lines.append([])

    def feed(self, data: str) -> None:
        i = 0
        while i < len(data):
            m = _CSI.match(data, i)
            if m:
                arg, op = m.groups()
                if op == "A":
                    self.row = max(0, self.row - int(arg or "1"))
                    self.pending = False
                elif op == "K":
                    self.lines[self.row] = []
                i = m.end()
                continue
            ch = data[i]
            if ch == "\r":
                self.col, self.pending = 0, False
            elif ch == "\n":
                self._down()
                self.col, self.pending = 0, False
            elif ch >= " ":
                self._cell(ch)
            i += 1

    @property
    def screen(self) -> list[str]:
        return ["".join(line).rstrip() for line in self.lines]
