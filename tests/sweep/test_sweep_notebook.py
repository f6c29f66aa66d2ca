"""notebooks/sweep.ipynb runs on the local backend and shows the same sweep on any machine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "sweep.ipynb"


def text_of(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")


def cell_with(notebook: Any, needle: str) -> Any:
    (cell,) = [c for c in notebook.cells if c.cell_type == "code" and needle in c.source]
    return cell


def test_the_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")


async def test_the_notebook_shows_the_pruned_run_its_reason_and_the_best_run() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    await client.async_execute()

    table = text_of(cell_with(notebook, "print(result.table())")).splitlines()
    header = table[0]
    assert header.split()[:5] == ["run", "learning_rate", "max_steps", "job", "outcome"]

    def column(line: str, name: str) -> str:
        start = header.index(name)
        return line[start:].split(" ", 1)[0] if line[start : start + 1] != " " else ""

    rows = [
        tuple(
            column(line, name) for name in ("run", "learning_rate", "max_steps", "outcome", "best")
        )
        for line in table[1:]
    ]
    assert rows == [
        ("0", "0.0002", "", "completed", "yes"),  # the best run is marked
        ("1", "0.001", "", "completed", ""),
        ("2", "0.004", "20", "pruned", ""),
    ]

    said = text_of(cell_with(notebook, 'print(f"pruned:')).splitlines()
    assert re.fullmatch(
        r"pruned: lr-sweep-2 \(learning_rate=0\.004, max_steps=20\) at step 5: .*median.*", said[0]
    )
    assert re.fullmatch(
        r"best: lr-sweep-0 \(learning_rate=0\.0002\) with eval_loss \d\.\d{4}", said[1]
    )
    # The pruned run's job waits before step 11 until it is cancelled: always cancelled.
    assert text_of(cell_with(notebook, "get_job(pruned.run.job_id)")) == (
        "pruned job status: cancelled\n"
    )

    live = cell_with(notebook, "LiveView(")
    html = "".join(
        o.get("data", {}).get("text/html", "")
        for o in live.get("outputs", [])
        if o.get("output_type") in ("display_data", "update_display_data")
    )
    for index in range(3):
        assert f"lr-sweep-{index}" in html
    assert "pruned" in html.lower()
