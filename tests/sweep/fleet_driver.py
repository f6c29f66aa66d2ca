"""One driver of a sweep shared through a PostgreSQL study (run by test_fleet).

Usage: ``python -m tests.sweep.fleet_driver URL TOKEN DB_URL N_RUNS MAX_RUNNING TAG``.

The study ``fleet`` (minimize, a MedianPruner) is loaded from PostgreSQL with
heartbeats every second and a grace period of four; the driver follows at most
two runs at once, at most MAX_RUNNING trials run across every driver, and its
database connections are named TAG (``application_name``), so the test can
count them in ``pg_stat_activity``. Prints one JSON line: its runs.
"""

from __future__ import annotations

import asyncio
import json
import sys

import optuna

import arkor_rx as ax
from tests.sweep.fleet_study import DEMO, MODEL, load_fleet_study


def space(trial: optuna.Trial) -> dict[str, float]:
    return {"learning_rate": trial.suggest_float("learning_rate", 0.005, 0.3, log=True)}


async def main(url: str, token: str, db: str, n_runs: int, max_running: int, tag: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = load_fleet_study(db, tag)
    async with ax.ArkorClient(url, token, "local", "fleet") as client:
        sweep = ax.create_sweep(
            name="fleet",
            model=MODEL,
            dataset=DEMO,
            max_steps=24,
            eval_steps=4,
            study=study,
            space=space,
            n_runs=n_runs,
            monitor="eval_loss",
            max_concurrent=2,
            max_running=max_running,
            client=client,
        )
        result = await sweep.wait()
    runs = [
        {
            "trial": r.trial_number,
            "job": r.run.job_id,
            "outcome": r.outcome,
            "value_step": r.value_step,
            "last_step": r.last_step,
        }
        for r in result.runs
    ]
    print(json.dumps(runs))


if __name__ == "__main__":
    url, token, db, n_runs, max_running, tag = sys.argv[1:]
    asyncio.run(main(url, token, db, int(n_runs), int(max_running), tag))
