"""Two real processes run one Optuna-driven sweep against one journal file and one local backend."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from arkor_rx import optuna_bridge
from tests.e2e.e2e_helpers import local_backend

ROOT = Path(__file__).resolve().parents[2]


async def test_two_processes_share_the_trials_and_run_none_twice(tmp_path: Path) -> None:
    journal = str(tmp_path / "study.journal")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(journal))
    optuna.create_study(study_name="shared", storage=storage, direction="minimize")
    sync = tmp_path / "sync"
    sync.mkdir()
    n_runs = 4
    async with local_backend() as backend:

        async def worker(tag: str) -> list[dict[str, object]]:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.sweep.optuna_worker",
                backend.server.url,
                backend.server.token,
                journal,
                str(n_runs),
                str(sync),
                tag,
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate()
            assert process.returncode == 0, err.decode()
            runs: list[dict[str, object]] = json.loads(out.decode().strip().splitlines()[-1])
            return runs

        a, b = await asyncio.gather(worker("a"), worker("bb"))
        jobs = await backend.client.list_jobs()  # every job the server holds

    assert a
    assert b
    study = optuna.load_study(
        study_name="shared", storage=JournalStorage(JournalFileBackend(journal))
    )
    real = [t for t in study.trials if not t.user_attrs.get(optuna_bridge.SURPLUS_ATTR)]
    assert len(real) == n_runs
    assert all(t.state == TrialState.COMPLETE for t in real)
    ran = a + b
    assert sorted(r["trial"] for r in ran) == sorted(t.number for t in real)  # type: ignore[type-var]
    job_ids = [r["job"] for r in ran]
    assert len(set(job_ids)) == n_runs == len(jobs)  # no trial ran twice, no extra job
    assert {j.id for j in jobs} == set(job_ids)
    by_id = {j.id: j for j in jobs}
    for trial in real:
        job = by_id[trial.user_attrs[optuna_bridge.JOB_ID_ATTR]]
        assert job.config["learningRate"] == trial.params["learning_rate"]
        assert job.status == "completed"
        assert trial.value is not None
        assert trial.intermediate_values
    assert {j.name.split("-")[1] for j in jobs} == {"a", "bb"}
