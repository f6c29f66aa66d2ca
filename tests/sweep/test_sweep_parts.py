"""The sweep's parts: who imports whom, one Mode, and the order a run's events reach the sweep."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import arkor_rx as ax
from arkor_rx import _mode, pruning
from arkor_rx.events import TrainingLog
from arkor_rx.operators import _common
from tests.sweep.sweep_fakes import FakeJobs, Script, losses
from tests.sweep.test_sweep_grid import sweep

PACKAGE = Path(ax.__file__).parent


def imports_of(module: str) -> set[str]:
    """Every module ``arkor_rx/<module>.py`` imports, at the top or inside a function."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_errors_and_protocol_do_not_import_each_other() -> None:
    assert "arkor_rx.protocol" not in imports_of("errors")
    from arkor_rx import _statuses, errors, protocol

    assert protocol.is_transient_status is _statuses.is_transient_status
    assert errors.CloudApiError(503, "busy").is_permanent is False
    assert errors.CloudApiError(401, "no").is_permanent is True


def test_run_sources_never_import_the_sweep() -> None:
    for module in (
        "_sweep_sources",
        "_sweep_runs",
        "_sweep_feed",
        "optuna_bridge",
        "_study_source",
    ):
        assert "arkor_rx.sweep" not in imports_of(module), module


def test_one_mode() -> None:
    assert pruning.Direction is _mode.Mode
    assert _common.Mode is _mode.Mode


def plan(name: str, config: dict[str, object]) -> Script:
    return losses([2.0, 1.0])


async def test_the_sweep_sees_an_event_after_the_runs_own_callback(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = plan
    order: list[tuple[str, int]] = []

    async def on_log(ctx: ax.LogContext) -> None:
        await asyncio.sleep(0)  # an async callback: the sweep waits for it
        order.append(("callback", ctx.step))

    def seen(item: object) -> None:
        if isinstance(item, ax.RunEvent) and isinstance(item.event, TrainingLog):
            order.append(("sweep", item.event.step))

    s = sweep(client, runs=[{}], callbacks={"on_log": on_log})
    s.progress().subscribe(seen)
    result = await s.wait()
    assert result.runs[0].outcome == "completed"
    assert order == [("callback", 1), ("sweep", 1), ("callback", 2), ("sweep", 2)]
