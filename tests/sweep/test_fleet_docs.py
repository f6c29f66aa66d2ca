"""The walk-through of docs/sweeps-across-machines.md, run as written.

Its ``driver.py`` block is saved to a file and run twice against one local
backend and one PostgreSQL database (the only change: heartbeats every second
with a grace period of four, not 5 and 10, to keep the test short): the first
driver is SIGKILLed while it holds running trials, the second adopts them and
finishes the study.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from arkor_rx import optuna_bridge as ob
from arkor_rx.server import ServerConfig
from tests.e2e.e2e_helpers import local_backend
from tests.postgres.server import PostgresServer
from tests.sweep.test_fleet import freeze, until

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "sweeps-across-machines.md"
SLOW = "heartbeat_interval=5, grace_period=10"


def driver_block() -> str:
    text = PAGE.read_text()
    match = re.search(r"<!-- tested: [^>]*-->\n```py\n(.*?)```", text, re.DOTALL)
    assert match, "the page's tested driver block is gone"
    code = match.group(1)
    assert SLOW in code
    return code.replace(SLOW, "heartbeat_interval=1, grace_period=4")


@pytest.mark.timeout(600)  # two driver processes and real training on a loaded machine
async def test_the_walk_through_recovers_a_killed_driver(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    driver = tmp_path / "driver.py"
    driver.write_text(driver_block())
    db = postgres.new_database("walk_through")
    config = ServerConfig(step_delay=0.05, max_concurrent_jobs=3)
    storage = optuna.storages.RDBStorage(db)
    try:
        async with local_backend(config) as backend:
            env = {
                **os.environ,
                "ARKOR_CLOUD_API_URL": backend.server.url,
                "ARKOR_TOKEN": backend.server.token,
                "ARKOR_ORG_SLUG": "local",
                "ARKOR_PROJECT_SLUG": "demo",
                "SWEEP_DB": db,
            }

            async def run() -> asyncio.subprocess.Process:
                return await asyncio.create_subprocess_exec(
                    sys.executable, str(driver), cwd=tmp_path, env=env,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip

            async def study_or_none() -> optuna.Study | None:
                try:
                    return optuna.load_study(study_name="lr-sweep", storage=storage)
                except KeyError:  # the first driver has not created it yet
                    return None

            first = await run()
            study = await until(study_or_none)  # the first driver created the study
            orphans = await until(lambda: freeze(first, study))  # the first driver holds trials
            first.send_signal(signal.SIGKILL)
            await first.wait()
            second = await run()
            out, err = await second.communicate()
            jobs = await backend.client.list_jobs()
        trials = study.get_trials()
    finally:
        storage.engine.dispose()

    assert second.returncode == 0, err.decode()[-3000:]
    assert "outcome" in out.decode()  # the table was printed
    assert len(trials) == 8
    assert len(jobs) == 8
    assert {t.user_attrs[ob.JOB_ID_ATTR] for t in trials} == {j.id for j in jobs}
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL) for t in trials)
    for trial in trials:
        if trial.number in orphans:
            assert trial.user_attrs[ob.ADOPTED_ATTR]
