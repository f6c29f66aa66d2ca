"""Group u of ``make bench``: how fast the command and the package start.

Each contestant is a fresh interpreter, timed from spawn to exit: a bare
``python -c pass`` (the floor), ``import arkor_rx``, ``arkor-rx --version``
and ``arkor-rx --help``. The goals (issue 18, item 5) are differences from
the floor measured in this same run: the two commands within 0.1 s of it,
the import within 0.25 s. Interleaved like every group, so a burst of load
from elsewhere slows the floor as much as the rest.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

from bench.groups import GROUPS, Context, Group
from bench.harness import Row, measure, run_group

__all__ = ["COMMANDS", "FLOOR", "group_startup", "startup_goals"]

FLOOR = "python -c pass (floor)"
IMPORT = "python -c 'import arkor_rx'"
VERSION = "arkor-rx --version"
HELP = "arkor-rx --help"
ROOT = Path(__file__).resolve().parent.parent
_VENV = ROOT / ".venv" / "bin"
PYTHON = str(_VENV / "python") if (_VENV / "python").exists() else sys.executable
"""The project venv's interpreter (the one the console script runs), else this one."""
SCRIPT = str(Path(PYTHON).with_name("arkor-rx"))

COMMANDS: dict[str, list[str]] = {
    FLOOR: [PYTHON, "-c", "pass"],
    IMPORT: [PYTHON, "-c", "import arkor_rx"],
    VERSION: [SCRIPT, "--version"],
    HELP: [SCRIPT, "--help"],
}
GOALS = {IMPORT: 0.25, VERSION: 0.1, HELP: 0.1}
"""Seconds a contestant may take beyond the floor."""


def _start(argv: list[str]) -> int:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return 1


def group_startup(ctx: Context) -> list[Row]:
    repeats = max(ctx.repeats, 10)  # one start is short: more repeats for a steady median
    rows = [
        measure(Row("u", name, 1, "ms/start"), functools.partial(_start, argv), repeats, 1)
        for name, argv in COMMANDS.items()
    ]
    return run_group(rows)


def startup_goals(rows: list[Row]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict): each contestant's median minus the floor's."""
    found = {r.name: r for r in rows if r.group == "u" and r.ok}
    floor = found.get(FLOOR)
    out = []
    for name, limit in GOALS.items():
        label = f"{name} within {limit:g} s of a bare interpreter"
        row = found.get(name)
        if floor is None or row is None:
            out.append((label, "not measured", "n/a"))
            continue
        extra = (row.median - floor.median) / 1e3
        shown = f"+{extra * 1e3:.0f} ms ({row.median:.0f} vs {floor.median:.0f} ms)"
        out.append((label, shown, "met" if extra <= limit else "MISSED"))
    return out


GROUPS.append(Group("u", group_startup))
