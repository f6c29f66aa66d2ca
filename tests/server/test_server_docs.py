"""docs/local-backend.md states the limits and timeouts the code has."""

from __future__ import annotations

import re
from pathlib import Path

from arkor_rx.server.config import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT
from arkor_rx.server.limits import ServerLimits
from arkor_rx.server.routes import MAX_JOB_EVENTS
from arkor_rx.server.streaming import PAGE

DOC = (Path(__file__).parents[2] / "docs" / "local-backend.md").read_text(encoding="utf-8")


def _table(header: str) -> list[list[str]]:
    lines = DOC.split(header, 1)[1].strip().splitlines()[1:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_limits_table_is_the_code() -> None:
    documented = {}
    for name, bound in _table("| field | at most |"):
        key = name.strip("`")
        key = {"training.log` events per job": "max_log_events"}.get(key, key)
        key = {"checkpoints per job": "max_checkpoints"}.get(key, key)
        key = {"checkpoint bytes per job": "max_checkpoint_bytes"}.get(key, key)
        key = {"dataset records": "max_records"}.get(key, key)
        key = {"distinct assistant replies": "max_labels"}.get(key, key)
        documented[key] = float(re.match(r"\d+", bound).group())  # type: ignore[union-attr]
    assert documented == {name: float(limit) for name, limit in ServerLimits().rows()}


def test_the_timeouts_and_caps_are_the_code() -> None:
    rows = {row[0]: row for row in _table("| timeout | default | flag | what happens |")}
    assert rows["header"][1] == f"{DEFAULT_HEADER_TIMEOUT:g} s"
    assert rows["body"][1] == f"{DEFAULT_BODY_TIMEOUT:g} s"
    assert f"latest {MAX_JOB_EVENTS} events" in DOC
    assert f"a page ({PAGE} events)" in DOC
