"""notebooks/early_stopping.ipynb, executed: what its LiveView shows, the same every time.

The notebook is run by nbclient in a fresh kernel; the final frame of each
view is the cell's ``text/html`` output (``update_display_data`` replaced it
in place). The run is deterministic (``seed=7``), so the stop step and the
number of points are constants: a slow machine that delayed the stop, or a
view that dropped events, would change them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "early_stopping.ipynb"
STOP_STEP = 27
"""The step the divergence rule fires at with seed=7 (every run, loaded or idle)."""


def views(notebook: Any) -> list[tuple[str, str]]:
    """(final html, printed text of the next cell) for each cell that shows a LiveView."""
    found = []
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    for i, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html", "")
            if "arkor-live" in html:
                nxt = cells[i + 1] if i + 1 < len(cells) else cell
                printed = "".join(
                    o.get("text", "")
                    for o in [*cell.outputs, *nxt.outputs]
                    if o.get("name") == "stdout"
                )
                found.append((html, printed))
    return found


def points(html: str, gid: str) -> int:
    group = re.search(rf'<g id="{gid}">\s*<path d="([^"]*)"', html)
    assert group is not None, f"no {gid} in the frame"
    return len(re.findall(r"[ML] ", group.group(1)))


def rows(html: str, cls: str) -> int:
    table = re.search(rf'<table class="{cls}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert table is not None
    return table.group(1).count("<tr")


@pytest.mark.timeout(240)
async def test_early_stopping_notebook_shows_the_run_and_the_stop() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    await client.async_execute()
    shown = views(notebook)
    assert len(shown) == 2, "one LiveView per run"
    (hot, hot_text), (healthy, _) = shown

    m = re.search(r"shown: (\d+) losses, (\d+) evaluations", hot_text)
    assert m is not None, hot_text
    losses, evaluations = int(m.group(1)), int(m.group(2))
    assert points(hot, "arkor-loss-raw") == losses
    assert points(hot, "arkor-loss-smoothed") == losses
    assert points(hot, "arkor-loss-eval") == evaluations
    assert rows(hot, "arkor-evals") == evaluations
    assert '<g id="arkor-stop">' in hot
    assert f"stopped by divergence at step {losses} (loss " in hot
    assert "early-stopped" in hot
    assert (losses, evaluations) == (STOP_STEP, STOP_STEP // 10)

    assert points(healthy, "arkor-loss-raw") == 150
    assert rows(healthy, "arkor-evals") == 15
    assert "stopped by" not in healthy
    assert 'data-status="completed"' in healthy
    assert "<script" not in hot + healthy  # readable in a static export
