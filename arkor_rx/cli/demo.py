"""Start the local backend on a free port, submit a triage job and show it live; an
early-stopping rule watches the run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from arkor_rx.cli import _live
from arkor_rx.cli._common import (
    EXIT_USAGE,
    PROG,
    file_uri,
    non_negative_float,
    positive_float,
    positive_int,
    usage_error,
)
from arkor_rx.cli._sinks import add_sink_flags, with_sinks
from arkor_rx.cli._web import add_dashboard_flag, dashboard_beside
from arkor_rx.dashboard import CheckpointAnswer, LiveDashboard

if TYPE_CHECKING:
    from arkor_rx.trainer import Trainer

__all__ = [
    "DEMO_CHAOS",
    "DEMO_DATASET",
    "DEMO_MODEL",
    "DEMO_TICKET",
    "add_arguments",
    "run",
]

DEMO_MODEL = "unsloth/gemma-4-E4B-it"
DEMO_DATASET = {"type": "huggingface", "name": "arkorlab/triage-demo"}
DEMO_TICKET = "Hello, can you explain the extra fee on my latest invoice? My bill is higher."
"""The support ticket each checkpoint is asked to triage in the demo."""

DEMO_STEP_DELAY = 0.15
"""Default seconds between steps in the demo: 60 steps take about 10 s to watch."""

DEMO_CHAOS = {"drop_after_events": 7, "garbage_every": 3, "fail_first_opens": 1}
"""What ``demo --chaos`` breaks: drop every connection after 7 events, a garbage
frame before every third event, and the first stream open answered 503."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags."""
    _add_run_flags(parser)
    _live.add_view_flags(parser)
    _add_sweep_flags(parser)
    add_sink_flags(parser)
    add_dashboard_flag(parser)


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The run's flags: its length, learning rate, seed, pace, dataset and the faults to show."""
    parser.add_argument("--chaos", action="store_true", help="drop connections, send garbage")
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=60,
        metavar="N",
        help="max steps (default %(default)s)",
    )
    parser.add_argument(
        "--learning-rate",
        type=positive_float,
        default=None,
        metavar="X",
        help="learning rate (default: the local model's own)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="S", help="random seed (default %(default)s)"
    )
    parser.add_argument(
        "--step-delay",
        metavar="SECONDS",
        type=non_negative_float,
        default=None,
        help="seconds between steps (default: a pace that is pleasant to watch)",
    )
    parser.add_argument(
        "--dataset",
        type=file_uri,
        default=None,
        metavar="PATH",
        help="train on this chat JSONL file instead of the built-in triage set",
    )
    parser.add_argument(
        "--fail-at-step",
        type=positive_int,
        default=None,
        metavar="N",
        help="make the local backend fail the run at step N, to see the failure path",
    )


def _add_sweep_flags(parser: argparse.ArgumentParser) -> None:
    """``--sweep`` and how many of its runs train at once."""
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="run a small learning-rate grid with a median pruner, one live table",
    )
    parser.add_argument(
        "--max-concurrent",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"with --sweep: runs at a time (default {SWEEP_MAX_CONCURRENT})",
    )


SWEEP_MAX_CONCURRENT = 2
"""Runs of ``demo --sweep`` at a time unless ``--max-concurrent`` says otherwise."""

DEMO_SMOOTHING = _live.VIEW_SMOOTHING
"""The divergence rule's smoothing, and every view's: the "smoothed" column shows
the very value the rule judges, so a stop message never cites a third loss."""


def demo_rules() -> list[Any]:
    """The demo's early-stopping rules."""
    from arkor_rx.operators import divergence, patience

    return [
        # Per-step losses of small batches are noisy: judge the smoothed curve.
        divergence("loss", factor=3.0, threshold=20.0, smoothing=DEMO_SMOOTHING, warmup_steps=10),
        patience("eval_loss", 3, min_delta=1e-3),
    ]


async def run(args: argparse.Namespace) -> int:
    """Run the demo job on a fresh local backend under the live view."""
    if not args.sweep and args.max_concurrent is not None:
        return usage_error("demo: error: --max-concurrent goes with --sweep")
    if args.sweep:
        clash = [
            f
            for f, v in (
                ("--learning-rate", args.learning_rate),
                ("--fail-at-step", args.fail_at_step),
            )
            if v is not None
        ]
        if clash:
            return usage_error(f"demo: error: {clash[0]} does not go with --sweep")
        from arkor_rx.cli import _sweep_demo

        return await _sweep_demo.run(args)
    from arkor_rx.server import FaultConfig

    if args.fail_at_step is not None and args.fail_at_step > args.steps:
        print(
            f"{PROG} demo: error: --fail-at-step {args.fail_at_step} is beyond the last step "
            f"(--steps {args.steps}); the run would never fail",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_USAGE
    chaos: dict[str, Any] = dict(DEMO_CHAOS) if args.chaos else {}
    faults = FaultConfig(**chaos, fail_at_step=args.fail_at_step)
    step_delay = DEMO_STEP_DELAY if args.step_delay is None else args.step_delay
    dataset: dict[str, Any] = dict(DEMO_DATASET)
    roots = None  # the server's default: the current folder
    if args.dataset is not None:
        dataset = {"type": "blob", "url": args.dataset}
        # The user named this file: let the demo's server read it wherever it is.
        roots = [Path.cwd(), Path(url2pathname(urlsplit(args.dataset).path)).parent]
    return await with_sinks(
        args, lambda sinks: _run(args, faults, step_delay, dataset, roots, sinks)
    )


class _AnswersShown:
    """A sink that shows each checkpoint's sample answers on the demo's view."""

    name = "view"
    overflow = "block"  # an answer is never dropped

    def __init__(self, view: LiveDashboard) -> None:
        self._view = view

    async def open(self, job: Any) -> None:
        """Nothing to do: the view follows the run as a consumer of the trainer (`_live`)."""

    async def write(self, items: Sequence[Any]) -> None:
        """Show the answers among ``items`` (the events reach the view as a consumer)."""
        from arkor_rx.samples import SamplesAnswered

        for item in items:
            if isinstance(item, SamplesAnswered):
                for sample in item.samples:
                    failed = sample.error is not None
                    text = (sample.error if failed else sample.answer) or ""
                    answer = CheckpointAnswer(item.step, text, error=failed, prompt=sample.prompt)
                    self._view.dispatch(answer)

    async def close(self, outcome: Any) -> None:
        """Nothing to do: the view's end comes from the trainer's result."""


async def _run(
    args: argparse.Namespace,
    faults: Any,
    step_delay: float,
    dataset: Any,
    roots: list[Path] | None,
    sinks: list[Any],
) -> int:
    from arkor_rx.client import ArkorClient
    from arkor_rx.server import LocalServer, ServerConfig

    console = _live.console()
    view = _live.view(console, args.no_live)  # smoothing with DEMO_SMOOTHING
    config = ServerConfig(step_delay=step_delay, faults=faults)

    async with (
        LocalServer(config, dataset_roots=roots) as server,
        ArkorClient(server.url, server.token, "local", "demo") as client,
        dashboard_beside(args, client) as web,
    ):
        trainer = _demo_trainer(args, client, dataset, [*sinks, *web, _AnswersShown(view)])
        return await _live.follow_trainer(trainer, view, console)


def _demo_trainer(args: argparse.Namespace, client: Any, dataset: Any, sinks: list[Any]) -> Trainer:
    """The demo's trainer: the sinks see every event and answer."""
    from arkor_rx.retry import ReconnectPolicy
    from arkor_rx.samples import CheckpointSamples
    from arkor_rx.server.demo_data import SYSTEM_PROMPT
    from arkor_rx.trainer import create_trainer

    return create_trainer(
        name="triage-demo",
        model=DEMO_MODEL,
        dataset=dataset,
        max_steps=args.steps,
        learning_rate=args.learning_rate,
        logging_steps=2,
        eval_steps=max(1, args.steps // 12),
        save_steps=max(1, args.steps // 3),
        seed=args.seed,
        client=client,
        # quick reconnects: the backend is on this machine
        reconnect=ReconnectPolicy(initial_delay=0.05, max_delay=0.5, max_attempts=20),
        early_stopping=demo_rules(),
        # The question each checkpoint is asked: its answers travel to every sink
        # (TensorBoard's text, MLflow's and W&B's tables, the web dashboard) and,
        # through _AnswersShown, to the view.
        samples=CheckpointSamples([DEMO_TICKET], max_tokens=40, system=SYSTEM_PROMPT),
        sinks=sinks,
    )
