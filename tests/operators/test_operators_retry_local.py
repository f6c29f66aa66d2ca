"""``retry_with`` against a real local backend: the cookbook's poll, and ``trainer.events()``.

docs/cookbook.md's poll stops and restarts a LocalServer; the operators'
facade test runs that block too, but only checks that it runs: here its
printed lines are checked against the ``expect`` comment under it. The
``trainer.events()`` test pins what docs/operators.md says: a resubscription
opens a new stream from the job's first event (it cannot resume), and
``distinct`` on ``event_id`` drops the repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx.events import TrainingEvent, TrainingLog
from arkor_rx.server import LocalServer, ServerConfig

COOKBOOK = Path(__file__).resolve().parents[2] / "docs" / "cookbook.md"
BLOCK = re.compile(r"^```python\n(.*?)^```\n(?:<!-- expect: (.*?) -->\n)?", re.S | re.M)


def test_the_cookbook_poll_survives_a_backend_restart() -> None:
    found = [m for m in BLOCK.finditer(COOKBOOK.read_text("utf-8")) if "def jobs_poll" in m[1]]
    assert len(found) == 1, "the cookbook's list_jobs() poll is missing"
    source, expect = found[0][1], found[0][2]
    assert expect, "the poll's block says what it prints"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # the block runs asyncio.run: no loop here
        exec(compile(source, "cookbook.md[jobs_poll]", "exec"), {"__name__": "cookbook"})
    lines = printed.getvalue().splitlines()
    wanted = [part.strip() for part in expect.split(" | ")]
    # In order: one answer before, at least one failed call while down, one answer after.
    assert lines[0] == "before the restart: 0 jobs"
    assert lines[-1] == "after the restart: 0 jobs"
    failures = lines[1:-1]
    assert failures
    assert all(line == "list_jobs failed: TransportError" for line in failures)
    for want in wanted:
        assert any(line.startswith(want) for line in lines), want


def event_id(event: TrainingEvent) -> str | None:
    return event.event_id


class Flaky(Exception):
    """An error of the user's own pipeline, beyond the stream's policy."""


async def test_retry_with_around_trainer_events_starts_again_from_the_first_event() -> None:
    async with (
        LocalServer(ServerConfig()) as server,
        ax.ArkorClient(
            base_url=server.url, token=server.token, org_slug="local", project_slug="retry"
        ) as client,
    ):
        trainer = ax.create_trainer(
            name="retry",
            model="arkor/triage-tiny",
            dataset={"type": "huggingface", "name": "arkorlab/triage-demo"},
            max_steps=4,
            logging_steps=1,
            client=client,
        )
        failed: list[TrainingEvent] = []

        def fail_once_at_step_3(event: TrainingEvent) -> TrainingEvent:
            if isinstance(event, TrainingLog) and event.step == 3 and not failed:
                failed.append(event)
                raise Flaky("step 3")
            return event

        retry = aop.retry_with(ax.ReconnectPolicy.immediate(), retry_on=Flaky)
        both: Any = reactivex.compose(ops.map(fail_once_at_step_3), retry)
        everything: list[TrainingEvent] = await trainer.events().pipe(both, ops.to_list())
        once: list[TrainingEvent] = await trainer.events().pipe(
            both, ops.distinct(event_id), ops.to_list()
        )
    kinds = [(type(e).__name__, getattr(e, "step", None)) for e in everything]
    first_try = [("TrainingStarted", None), ("TrainingLog", 1), ("TrainingLog", 2)]
    whole_run = [*first_try, ("TrainingLog", 3), ("TrainingLog", 4), ("TrainingCompleted", None)]
    assert kinds == first_try + whole_run  # delivered again, from the first event
    assert [e.event_id for e in everything[3:]] == [e.event_id for e in once]
    assert len({e.event_id for e in once}) == len(once) == len(whole_run)


async def test_a_wrong_token_ends_the_poll_at_once() -> None:
    async with (
        LocalServer(ServerConfig()) as server,
        ax.ArkorClient(
            base_url=server.url, token="not-the-token", org_slug="local", project_slug="retry"
        ) as client,
    ):
        calls: list[int] = []

        def call(_: Any) -> reactivex.Observable[list[ax.TrainingJob]]:
            calls.append(1)
            return reactivex.from_future(asyncio.ensure_future(client.list_jobs()))

        quick = ax.ReconnectPolicy(initial_delay=0.01, max_delay=0.01)
        with pytest.raises(ax.CloudApiError) as raised:
            await reactivex.defer(call).pipe(aop.retry_with(quick))
    assert raised.value.status == 401
    assert calls == [1]  # never called again
