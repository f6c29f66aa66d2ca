"""Every notebook in notebooks/ runs top to bottom, and shows what a person should see.

Each one is executed by nbclient in a fresh ``python3`` kernel (ipykernel, in
this same virtualenv), with a 120 s timeout per cell. The notebooks start
their own in-process local backend, so nothing outside loopback is needed.

After the run, every output of every code cell is looked at as a person
would see it under the cell (nbclient applies ``update_display_data`` in
place, as a frontend does, so the stored outputs are the final screen):
no error and nothing on stderr; at most one rich display per cell, and that
one is a LiveView frame (``class="arkor-live"``) updated to the run's end,
with a non-empty ``text/plain`` fallback for frontends without HTML.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_STORED_OUTPUT = 100_000
"""Bytes of stored output a committed notebook may carry per cell (no huge images)."""


def read(path: Path) -> nbformat.NotebookNode:
    node: nbformat.NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    return node


def test_there_are_notebooks() -> None:
    assert "early_stopping.ipynb" in {p.name for p in NOTEBOOKS}


# No warning filter is needed: with the jupyter_core, jupyter_client, pyzmq and
# nbclient of this venv, executing a notebook emits no warning, so it runs
# under the project's filterwarnings=error like every other test.
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
async def test_notebook_runs_without_errors(path: Path) -> None:
    notebook = read(path)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=False,  # a cell error raises CellExecutionError, naming the cell
        resources={"metadata": {"path": str(path.parent)}},
    )
    await client.async_execute()
    shown = 0
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            shown += check_cell(index, cell.get("outputs", []))
    assert shown >= 1, "no LiveView was shown"


FINAL = ("completed", "early-stopped", "failed", "cancelled", "finished")
"""Words a view's final frame shows in its header: the run (or every run) has ended."""


def check_cell(index: int, outputs: list[nbformat.NotebookNode]) -> int:
    """Check one cell's outputs as a person sees them; return how many views it shows."""
    kinds = [output["output_type"] for output in outputs]
    assert "error" not in kinds, f"cell {index} shows an error"
    stderr = [o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"]
    assert stderr == [], f"cell {index} writes to stderr: {stderr}"
    displays = [o for o in outputs if o["output_type"] in ("display_data", "execute_result")]
    assert len(displays) <= 1, f"cell {index} shows {len(displays)} displays, not one updated view"
    for display in displays:
        html, plain = display["data"].get("text/html", ""), display["data"].get("text/plain", "")
        assert 'class="arkor-live"' in html, f"cell {index} shows something other than the view"
        assert plain.strip(), f"cell {index}: the view's text/plain fallback is empty"
        header = plain.splitlines()[0]
        assert any(word in header for word in FINAL), f"cell {index} ends on {header!r}"
    return len(displays)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_small(path: Path) -> None:
    notebook = read(path)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        size = len(json.dumps(cell.get("outputs", [])))
        assert size <= MAX_STORED_OUTPUT, f"cell {index} stores {size} bytes of output"
