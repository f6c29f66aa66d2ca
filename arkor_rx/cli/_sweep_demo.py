"""``arkor-rx demo --sweep``: a small grid on a local backend, a median pruner, one live table.

Rule 1: four learning rates around the local model's default, two runs at a
time, on a fresh local backend; the median pruner
(``aop.median_pruner("eval_loss", n_startup_runs=2)``) stops a run whose
validation loss is worse than the median of the completed runs at the same
step, and its job is cancelled once. The live table shows a row per run, the
pruned ones marked with their reason; the end names the best run.

Rule 2: the sink flags (``--record FILE``, ``--tensorboard DIR`` ...) take
every run, each labelled by its job id and run name.

Rule 3: Ctrl-C cancels every unfinished run (exit 130). Otherwise exit 0 when
a best run was found, 1 when no run completed.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from arkor_rx.cli import _live
from arkor_rx.cli._common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from arkor_rx.cli._sinks import with_sinks
from arkor_rx.cli._web import dashboard_beside

if TYPE_CHECKING:
    from rich.console import Console

    from arkor_rx.runs import PruneDecision, RunEvent, SweepResult

__all__ = ["SWEEP_GRID", "SWEEP_PRUNER", "report", "run"]

SWEEP_GRID: dict[str, list[Any]] = {"learning_rate": [2e-4, 1e-3, 4e-3, 1.5e-2]}
"""The demo's grid: the local model's default learning rate, and three higher ones."""

SWEEP_PRUNER: dict[str, Any] = {"monitor": "eval_loss", "n_startup_runs": 2}
"""The median pruner's settings: judge runs once two have completed."""


def report(console: Console, result: SweepResult) -> None:
    """Print the pruned runs with their reasons, then the best run (or that there is none)."""
    for item in result.runs:
        if item.outcome in ("pruned", "stopped") and item.stop is not None:
            console.print(f"{item.outcome}: {item.run.name}: {item.stop.reason}", markup=False)
        elif item.outcome in ("error", "failed"):
            reason = item.error if item.error is not None else item.result and item.result.job.error
            console.print(f"{item.outcome}: {item.run.name}: {reason}", markup=False)
    best = result.best
    if best is None:
        console.print("no run completed: there is no best run", markup=False)
    else:
        value = "" if best.value is None else f" ({result.monitor} {best.value:.4f})"
        console.print(f"best run: {best.run.name}{value}", markup=False)


async def run(args: argparse.Namespace) -> int:
    """Run the sweep demo on a fresh local backend under one live table."""
    from arkor_rx.cli.demo import (
        DEMO_CHAOS,
        DEMO_DATASET,
        DEMO_STEP_DELAY,
        SWEEP_MAX_CONCURRENT,
    )

    if args.max_concurrent is None:
        args.max_concurrent = SWEEP_MAX_CONCURRENT

    chaos: dict[str, Any] = dict(DEMO_CHAOS) if args.chaos else {}
    step_delay = DEMO_STEP_DELAY / 3 if args.step_delay is None else args.step_delay
    dataset: dict[str, Any] = dict(DEMO_DATASET)
    if args.dataset is not None:
        dataset = {"type": "blob", "url": args.dataset}
    return await with_sinks(args, lambda sinks: _run(args, chaos, step_delay, dataset, sinks))


async def _run(
    args: argparse.Namespace,
    chaos: dict[str, Any],
    step_delay: float,
    dataset: dict[str, Any],
    sinks: list[Any],
) -> int:
    from arkor_rx.cli.demo import DEMO_MODEL
    from arkor_rx.client import ArkorClient
    from arkor_rx.operators import median_pruner
    from arkor_rx.retry import ReconnectPolicy
    from arkor_rx.server import FaultConfig, LocalServer, ServerConfig
    from arkor_rx.sweep import create_sweep

    console = _live.console()
    view = _live.view(console, args.no_live)
    async with (
        LocalServer(ServerConfig(step_delay=step_delay, faults=FaultConfig(**chaos))) as server,
        ArkorClient(server.url, server.token, "local", "demo") as client,
        dashboard_beside(args, client) as web,
    ):
        sweep = create_sweep(
            name="lr-sweep",
            model=DEMO_MODEL,
            dataset=dataset,
            max_steps=args.steps,
            logging_steps=2,
            eval_steps=max(1, args.steps // 6),
            seed=args.seed,
            grid=SWEEP_GRID,
            max_concurrent=args.max_concurrent,
            pruner=median_pruner(**SWEEP_PRUNER),
            client=client,
            reconnect=ReconnectPolicy(initial_delay=0.05, max_delay=0.5, max_attempts=20),
            sinks=[*sinks, *web],
        )

        def show(item: RunEvent | PruneDecision) -> None:
            view.dispatch(item)

        sweep.progress().subscribe(show)
        interrupted = False
        with view:
            try:
                result = await sweep.wait()
            except asyncio.CancelledError:  # Ctrl-C: cancel every unfinished run
                interrupted = True
                await sweep.cancel()
                result = sweep.snapshot()
        view.print_summary()
        report(console, result)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.best is not None else EXIT_ERROR
