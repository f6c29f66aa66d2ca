"""Every notebook in notebooks/ runs top to bottom without a cell error.

Each one is executed by nbclient in a fresh ``python3`` kernel (ipykernel, in
this same virtualenv), with a 120 s timeout per cell. The notebooks start
their own in-process local backend, so nothing outside loopback is needed.
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
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_small(path: Path) -> None:
    notebook = read(path)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        size = len(json.dumps(cell.get("outputs", [])))
        assert size <= MAX_STORED_OUTPUT, f"cell {index} stores {size} bytes of output"
