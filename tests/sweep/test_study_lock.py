"""The study's lock on PostgreSQL never blocks a driver's event loop.

The test itself plays a driver frozen while it holds the lock: it takes the
study's advisory lock on a connection of its own and keeps it. A sweep on
the same study goes on following its running job, reporting its values and
telling its trial meanwhile; it asks for nothing new until the lock is
free. With a lock taken by a blocking ``pg_advisory_lock`` on the loop, the
sweep's loop (the test's too) stops at its next claim and this test never
gets to release the lock (tried: it hangs until its timeout).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import optuna
import psycopg
import pytest
import sqlalchemy
from optuna.trial import TrialState

import arkor_rx as ax
from arkor_rx._study_fleet import StudyFleet, _check_pool
from arkor_rx._study_source import StudySource
from arkor_rx.errors import ConfigError
from tests.postgres.server import PostgresServer
from tests.sweep.sweep_fakes import FakeJobs, Script, log
from tests.sweep.test_sweep_grid import sweep

optuna.logging.set_verbosity(optuna.logging.WARNING)


def space(trial: optuna.Trial) -> dict[str, Any]:
    return {"learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True)}


@pytest.fixture
def study_db(postgres: PostgresServer) -> Iterator[tuple[optuna.Study, str]]:
    url = postgres.new_database("study_lock")
    storage = optuna.storages.RDBStorage(url)
    yield optuna.create_study(storage=storage), postgres.dsn("study_lock")
    storage.engine.dispose()


# A regression would block the loop inside libpq, where pytest-timeout's signal cannot reach.
@pytest.mark.timeout(120, method="thread")
async def test_a_frozen_lock_holder_stops_claims_not_streams(
    jobs: FakeJobs,
    client: ax.ArkorClient,
    study_db: tuple[optuna.Study, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study, dsn = study_db
    gate = asyncio.Event()  # j0 waits here after its first value
    jobs.plan = lambda name, config: Script(
        [{"type": "training.started"}, log(1, loss=2.0), gate, log(2, loss=1.0)]
    )
    busy, told = asyncio.Event(), asyncio.Event()
    claim, finished = StudySource._claim, StudySource.finished

    def watched_claim(self: StudySource) -> Any:
        outcome = claim(self)
        if outcome == "busy":
            busy.set()
        return outcome

    async def watched_finished(self: StudySource, slot: Any) -> None:
        await finished(self, slot)
        told.set()

    monkeypatch.setattr(StudySource, "_claim", watched_claim)
    monkeypatch.setattr(StudySource, "finished", watched_finished)
    s = sweep(
        client, study=study, space=space, n_runs=2, monitor="loss", max_running=1,
        max_concurrent=2,
    )  # fmt: skip
    waiting = asyncio.get_running_loop().create_task(s.wait())
    await jobs.emitted(2)  # trial 0's job runs; the other worker waits at the cap
    key = StudyFleet(study, optuna)._key
    with psycopg.connect(dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))  # frozen, holding the lock
        gate.set()
        await told.wait()  # trial 0's stream went on to its end and its trial was told
        (first,) = study.get_trials()
        assert first.state == TrialState.COMPLETE
        assert first.intermediate_values == {1: 2.0, 2: 1.0}
        busy.clear()
        await busy.wait()  # the free worker tries the lock, finds it held, and asks nothing
        assert len(study.get_trials()) == 1
        assert not waiting.done()
        holder.execute("SELECT pg_advisory_unlock(%s)", (key,))
    result = await waiting
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2
    assert [r.outcome for r in result.runs] == ["completed"] * 2


@pytest.mark.parametrize(("pool", "refused"), [((1, 0), True), ((1, 1), False), ((2, 0), False)])
def test_a_pool_that_cannot_lend_two_connections_is_refused(
    postgres: PostgresServer, pool: tuple[int, int], refused: bool
) -> None:
    """Checked on the engine itself: Optuna 5's own RDBStorage cannot even start on a pool of
    one (its constructor waits for a second connection), so no study can reach the sweep."""
    engine = sqlalchemy.create_engine(
        postgres.url("postgres"), pool_size=pool[0], max_overflow=pool[1]
    )
    try:
        if refused:
            with pytest.raises(ConfigError, match=r"at most 1 database connection.*needs 2"):
                _check_pool(engine)
        else:
            _check_pool(engine)
    finally:
        engine.dispose()
