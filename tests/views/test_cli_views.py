"""``arkor-rx watch`` on a job it did not submit: honest status, time and checkpoints."""

from __future__ import annotations

import asyncio
import re

import pytest

from arkor_rx.cli import EXIT_OK, main
from tests.cli.test_cli import serve_process, submit_job, use_backend


def test_watch_says_following_not_submitted_and_asks_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_process("--token", "views-tok") as (url, _proc, _lines):
        job_id = asyncio.run(submit_job(url, "views-tok"))
        use_backend(monkeypatch, url, "views-tok")
        assert main(["watch", job_id]) == EXIT_OK
    out = capsys.readouterr().out
    assert "submitted" not in out
    assert re.search(rf"following job {job_id}: \S+ \((queued|running|completed), 8 steps\)", out)
    assert "(asking…)" not in out
    assert "training completed at step 8" in out
