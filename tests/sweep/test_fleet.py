"""Drivers that crash lose nothing and run nothing twice: a fleet on one PostgreSQL study.

Three driver processes share the study ``fleet`` (12 trials, Optuna's
MedianPruner, heartbeats every second, ``max_running=4``) against one local
backend; the first is SIGKILLed while it follows two running jobs, and a
fourth driver is started afterwards. Every wait below is on a state (the
study's trials, the backend's jobs, a process's exit), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import psycopg
import pytest
from optuna.trial import TrialState

from arkor_rx import optuna_bridge as ob
from arkor_rx.server import ServerConfig
from tests.e2e.e2e_helpers import Backend, local_backend
from tests.postgres.server import PostgresServer
from tests.sweep.fleet_study import fleet_storage

ROOT = Path(__file__).resolve().parents[2]
N_RUNS = 12
MAX_RUNNING = 4
POOL_LIMIT = 4  # fleet_storage: pool_size 2 + max_overflow 2


async def spawn(backend: Backend, db: str, tag: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.sweep.fleet_driver",
        backend.server.url, backend.server.token, db, str(N_RUNS), str(MAX_RUNNING), tag,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def trials_of(study: optuna.Study, pid: int) -> list[optuna.trial.FrozenTrial]:
    marker = f":{pid}:"
    return [t for t in study.get_trials() if marker in str(t.user_attrs.get(ob.DRIVER_ATTR, ""))]


async def until(check: Any) -> Any:
    """Poll ``check()`` (a state of the study or the backend) until it is truthy.

    No deadline of its own: how long a state takes depends on the machine's load, and
    the test's timeout (pytest-timeout) is the one safety net.
    """
    while True:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)


def when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def most_alive(jobs: list[Any]) -> int:
    """The most jobs alive at once, from the backend's own timestamps (created .. ended)."""
    edges: list[tuple[float, int]] = []
    for job in jobs:
        edges += [(when(job.created_at), 1), (when(job.completed_at), -1)]
    alive = most = 0
    for _, step in sorted(edges):  # at the same millisecond, an end comes before a start
        alive += step
        most = max(most, alive)
    return most


@dataclass
class Fleet:
    """What the fleet left: the study's trials, the backend's jobs, who was killed holding what."""

    trials: list[optuna.trial.FrozenTrial]
    jobs: list[Any]
    orphans: set[int]
    tags: dict[int, str]
    connections: dict[str, int] = field(default_factory=dict)

    def tag(self, driver: object) -> str:
        """``d1`` ... for a driver id ``host:pid:random`` (empty for none)."""
        parts = str(driver or "").split(":")
        return self.tags.get(int(parts[1]), "?") if len(parts) == 3 else ""

    def table(self) -> str:
        rows = [
            "trial  state     job                   driver  adopted_by  steps      reason",
        ]
        for t in self.trials:
            steps = sorted(t.intermediate_values)
            span = f"{steps[0]}..{steps[-1]}" if steps else "-"
            rows.append(
                f"{t.number:<6} {t.state.name:<9} {t.user_attrs.get(ob.JOB_ID_ATTR)!s:<21} "
                f"{self.tag(t.user_attrs.get(ob.DRIVER_ATTR)):<7} "
                f"{self.tag(t.user_attrs.get(ob.ADOPTED_ATTR)):<11} {span:<10} "
                f"{t.user_attrs.get(ob.REASON_ATTR) or ''}"
            )
        return "\n".join(rows)


@pytest.mark.timeout(600)  # four driver processes and real training on a loaded 2-core machine
async def test_a_killed_driver_loses_nothing_and_runs_nothing_twice(
    postgres: PostgresServer,
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = postgres.new_database("fleet_kill")
    storage = fleet_storage(db, "test")
    try:
        fleet = await drive_the_fleet(postgres, db, storage)
    finally:
        storage.engine.dispose()  # the test's own connections, closed before the server stops
    alive = most_alive(fleet.jobs)
    print(f"\n{fleet.table()}\njobs: {len(fleet.jobs)}, most alive at once: {alive}, "
          f"connections per driver (max): {fleet.connections}")  # fmt: skip

    # exactly 12 backend jobs for 12 trials: none run twice, none without a trial
    trials = fleet.trials
    assert len(trials) == N_RUNS
    assert not [t for t in trials if t.user_attrs.get(ob.SURPLUS_ATTR)]
    job_ids = [t.user_attrs.get(ob.JOB_ID_ATTR) for t in trials]
    assert len(set(job_ids)) == N_RUNS
    assert set(job_ids) == {j.id for j in fleet.jobs}
    by_id = {j.id: j for j in fleet.jobs}
    for trial in trials:
        job = by_id[trial.user_attrs[ob.JOB_ID_ATTR]]
        assert job.is_terminal
        assert job.name == trial.user_attrs[ob.JOB_NAME_ATTR]
        assert trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        if trial.state == TrialState.COMPLETE:
            assert job.status == "completed"
            assert trial.value == trial.intermediate_values[24]
        else:
            assert trial.user_attrs[ob.REASON_ATTR]
    # the killed driver's running jobs finished under another driver, reported in full
    victims = [t for t in trials if t.number in fleet.orphans]
    assert victims
    for trial in victims:
        assert trial.user_attrs.get(ob.ADOPTED_ATTR), f"trial {trial.number} was never adopted"
        assert fleet.tag(trial.user_attrs[ob.DRIVER_ATTR]) == "d1"
        assert fleet.tag(trial.user_attrs[ob.ADOPTED_ATTR]) in {"d2", "d3", "d4"}
        if trial.state == TrialState.COMPLETE:
            assert sorted(trial.intermediate_values) == [4, 8, 12, 16, 20, 24]
    # the study-wide cap, from the backend's own job timestamps
    assert most_alive(fleet.jobs) <= MAX_RUNNING
    # each driver's database connections stay within its pool
    drivers = {k: v for k, v in fleet.connections.items() if k in {"d1", "d2", "d3", "d4"}}
    assert set(drivers) == {"d1", "d2", "d3", "d4"}
    assert max(drivers.values()) <= POOL_LIMIT


async def drive_the_fleet(
    postgres: PostgresServer, db: str, storage: optuna.storages.RDBStorage
) -> Fleet:
    """d1 alone until it follows two running jobs; d2 and d3; d1 frozen holding trials and
    SIGKILLed; d4; then until d2, d3 and d4 exit."""
    study = optuna.create_study(study_name="fleet", storage=storage)
    connections: dict[str, int] = {}
    config = ServerConfig(step_delay=0.05, max_concurrent_jobs=MAX_RUNNING)
    async with local_backend(config) as backend:

        async def running_jobs_of(pid: int) -> list[str]:
            ids = [t.user_attrs.get(ob.JOB_ID_ATTR) for t in trials_of(study, pid)]
            jobs = {j.id: j for j in await backend.client.list_jobs()}
            return [i for i in ids if i in jobs and jobs[i].status == "running"]

        counting = asyncio.get_running_loop().create_task(
            count_connections(postgres, "fleet_kill", connections)
        )
        try:
            victim = await spawn(backend, db, "d1")
            await until(lambda: _two(running_jobs_of(victim.pid)))  # d1 follows two running jobs
            others = [await spawn(backend, db, tag) for tag in ("d2", "d3")]
            orphans = await until(lambda: freeze(victim, study))  # d1 frozen holding trials
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            others.append(await spawn(backend, db, "d4"))
            outputs = await asyncio.gather(*(p.communicate() for p in others))
        finally:
            counting.cancel()
        for tag, process, (out, err) in zip(("d2", "d3", "d4"), others, outputs, strict=True):
            print(
                f"--- {tag}: {out.decode()[-3000:]}stderr (its warnings):\n{err.decode()[-3000:]}"
            )
            assert process.returncode == 0, err.decode()[-3000:]
            json.loads(out.decode().strip().splitlines()[-1])
        jobs = await backend.client.list_jobs()
    tags = {p.pid: f"d{i}" for i, p in enumerate([victim, *others], start=1)}
    trials = optuna.load_study(study_name="fleet", storage=storage).trials
    return Fleet(trials, jobs, orphans, tags, connections)


async def count_connections(postgres: PostgresServer, db: str, most: dict[str, int]) -> None:
    """Keep the most connections each ``application_name`` held on ``db`` (until cancelled)."""
    with psycopg.connect(postgres.dsn(db), autocommit=True) as pg:
        while True:
            rows = pg.execute(
                "SELECT application_name, count(*) FROM pg_stat_activity "
                "WHERE datname = %s GROUP BY 1",
                (db,),
            ).fetchall()
            for name, count in rows:
                most[name] = max(most.get(name, 0), count)
            await asyncio.sleep(0.05)


async def freeze(victim: asyncio.subprocess.Process, study: optuna.Study) -> set[int] | None:
    """SIGSTOP the driver, then read which of its trials are RUNNING with a job: a frozen
    driver tells nothing, so exactly those are left when it is killed. None (and SIGCONT)
    while it holds none."""
    victim.send_signal(signal.SIGSTOP)
    held = {
        t.number
        for t in trials_of(study, victim.pid)
        if t.state == TrialState.RUNNING and t.user_attrs.get(ob.JOB_ID_ATTR)
    }
    if held:
        return held
    victim.send_signal(signal.SIGCONT)
    return None


async def _two(ids: Any) -> list[str] | None:
    found: list[str] = await ids
    return found if len(found) >= 2 else None
