"""The documented facade: its names, its lazy imports, and the examples it shows."""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from pathlib import Path

import pytest

import arkor_rx.operators as aop

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_all_is_sorted_unique_and_importable() -> None:
    names = aop.__all__
    assert names == sorted(names, key=lambda n: (not n[0].isupper(), n))
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(aop, name) is not None


def test_every_public_function_has_a_marble_an_example_and_returns() -> None:
    for name in aop.__all__:
        obj = getattr(aop, name)
        if name[0].isupper():  # types and aliases
            continue
        doc = obj.__doc__ or ""
        assert "::" in doc, name
        assert "Examples:" in doc, name
        assert "Returns:" in doc, name


def test_the_facade_imports_operator_modules_lazily() -> None:
    code = (
        "import sys, arkor_rx.operators as aop\n"
        "before = {m for m in sys.modules if m.startswith('arkor_rx.operators._')}\n"
        "aop.patience('loss')\n"
        "after = {m for m in sys.modules if m.startswith('arkor_rx.operators._')}\n"
        "print(sorted(before)); print(sorted(after - before))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert "arkor_rx.operators._patience" not in out[0]
    assert "arkor_rx.operators._patience" in out[1]


def test_docstring_examples_run() -> None:
    result = doctest.testmod(aop, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 30
    assert result.failed == 0


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("page", ["operators.md", "cookbook.md"])
def test_doc_pages_python_blocks_run(page: str) -> None:
    blocks = _python_blocks(DOCS / page)
    assert blocks
    for index, block in enumerate(blocks):
        namespace: dict[str, object] = {"__name__": f"docs_{page}_{index}"}
        exec(compile(block, f"{page}[{index}]", "exec"), namespace)
