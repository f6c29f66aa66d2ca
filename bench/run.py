"""The entry point of ``make bench``: run every group, print one table, write the docs page.

The harness lives in :mod:`bench.harness` (rows, interleaved runs), the groups
in :mod:`bench.groups` (:data:`~bench.groups.GROUPS`, a list other bench
modules append to), the report in :mod:`bench.report`. Ratios are same-run
ratios against the group's reference row.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from bench.groups import GROUPS, Context
from bench.harness import Row, Sizes, measure, run_group, typed_count
from bench.report import (
    layers,
    machine,
    memory_lines,
    render_md,
    render_targets,
    render_text,
    report,
    table,
    targets,
)
from bench.server import spawn

__all__ = [
    "EXTRA_GROUP_MODULES",
    "Row",
    "Sizes",
    "layers",
    "machine",
    "main",
    "measure",
    "render_md",
    "report",
    "run_group",
    "table",
    "targets",
    "typed_count",
]

ROOT = Path(__file__).resolve().parent.parent

EXTRA_GROUP_MODULES = ("bench.sinks", "bench.sweep", "bench.startup", "bench.web")
"""Bench modules that, when present, add their groups to ``GROUPS`` on import."""


def _load_extra_groups() -> None:
    for name in EXTRA_GROUP_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def main(argv: list[str] | None = None) -> None:
    """``python -m bench [--repeats 5] [--quick] [--only abc] [--output docs/performance.md]``."""
    _load_extra_groups()
    letters = "".join(dict.fromkeys("".join(g.letter for g in GROUPS)))
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per contestant (>= 5)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick look")
    parser.add_argument("--output", type=Path, default=None, help="write the markdown report here")
    parser.add_argument(
        "--only", default=letters, help=f"groups to run, e.g. 'ad' (default: all of {letters})"
    )
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    ctx = Context(sizes=sizes, repeats=args.repeats, quick=args.quick)
    chosen = [g for g in GROUPS if set(g.letter) & set(args.only)]
    started = time.perf_counter()
    rows: list[Row] = []
    for group in (g for g in chosen if not g.needs_server):
        rows += group.run(ctx)
    served = [g for g in chosen if g.needs_server]
    if served:
        warm = [sizes.e2e, sizes.e2e_slow, sizes.fan_small[1], sizes.fan_large[1], sizes.memory]
        with spawn(warm) as server:
            ctx.server_url, ctx.server_pid = server.base_url, server.pid
            for group in served:
                rows += group.run(ctx)
    rows.sort(key=lambda r: r.group)
    elapsed = time.perf_counter() - started
    cells = table(rows)
    goals = targets(rows, ctx.memory)
    print()
    print(render_text(cells))
    print()
    print(render_text(layers(rows)))
    print()
    print("\n".join(memory_lines(ctx.memory)))
    print()
    print(render_targets(goals, markdown=False))
    print(f"\n(whole run: {elapsed:.0f} s)")
    if args.output is not None:
        path = args.output if args.output.is_absolute() else ROOT / args.output
        page = report(rows, cells, ctx.memory, goals, machine(), sizes, args.repeats, elapsed, argv)
        path.write_text(page)
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        sys.stdout.flush()
