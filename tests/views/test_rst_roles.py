"""No reST role is left in a docstring: every cross-reference renders as a link.

mkdocstrings renders markdown, so a Sphinx ``:class:`` role shows as literal
text on the reference pages. ``tools/rst_roles.py`` rewrites the roles to
markdown cross-references; these tests hold the package to it.

PENDING lists modules allowed to carry roles for a while (none now); each of
them is converted in memory here, to show the converter leaves nothing behind.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "arkor_rx"

PENDING: frozenset[str] = frozenset()


def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rst_roles", ROOT / "tools" / "rst_roles.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_roles() -> dict[str, str]:
    roles = tool().ROLE
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if roles.search(source):
            found[str(path.relative_to(ROOT))] = source
    return found


def test_no_docstring_outside_pending_has_a_rest_role() -> None:
    left = sorted(set(with_roles()) - PENDING)
    assert left == [], f"reST roles in {left}: run python tools/rst_roles.py arkor_rx <file>"


def test_pending_only_names_files_that_still_need_it() -> None:
    assert set(with_roles()) <= PENDING  # a converted file leaves the list


@pytest.mark.parametrize("name", sorted(PENDING))
def test_the_converter_leaves_no_role_and_no_long_line(name: str) -> None:
    rst = tool()
    path = ROOT / name
    if not path.exists():
        pytest.skip(f"{name} is gone")
    source = path.read_text(encoding="utf-8")
    module = importlib.import_module(rst.module_name(path, ROOT))
    resolver = rst.Resolver("arkor_rx", rst.documented_modules(ROOT / "docs"))
    converted, _unlinked = rst.convert_source(source, module, resolver)
    assert not rst.ROLE.search(converted)
    old_long = sum(len(line) > rst.LIMIT for line in source.splitlines())
    assert sum(len(line) > rst.LIMIT for line in converted.splitlines()) <= old_long
    for target in re.findall(r"\]\[(arkor_rx[\w.]*)\]", converted):
        assert target.split(".")[0] == "arkor_rx"


def test_a_role_becomes_a_link_to_the_rendered_path() -> None:
    rst = tool()
    import arkor_rx.dashboard._state as state

    resolver = rst.Resolver("arkor_rx", rst.documented_modules(ROOT / "docs"))
    text = (
        '"""See :class:`DashboardState`, :func:`~arkor_rx.dashboard.reduce` and '
        ':attr:`DashboardState.step`."""\n'
    )
    out, unlinked = rst.convert_source(text, state, resolver)
    assert unlinked == []
    assert "[`DashboardState`][arkor_rx.dashboard.DashboardState]" in out
    assert "[`reduce`][arkor_rx.dashboard.reduce]" in out
    assert "[`DashboardState.step`][arkor_rx.dashboard.DashboardState.step]" in out
    again, _ = rst.convert_source(out, state, resolver)
    assert again == out  # idempotent


def test_a_private_target_becomes_plain_code() -> None:
    rst = tool()
    import arkor_rx.dashboard._state as state

    resolver = rst.Resolver("arkor_rx", rst.documented_modules(ROOT / "docs"))
    out, unlinked = rst.convert_source('"""Uses :func:`_finish`."""\n', state, resolver)
    assert out == '"""Uses `_finish`."""\n'
    assert unlinked == ["arkor_rx.dashboard._state:1: _finish"]


def test_reflow_keeps_links_whole() -> None:
    rst = tool()
    assert rst.reflow("    a [`X`][p.X] b c d", limit=20) == ["    a [`X`][p.X] b c", "    d"]
    assert rst.reflow("    >>> " + "x" * 120) == ["    >>> " + "x" * 120]
