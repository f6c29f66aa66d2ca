"""One process of a sweep shared through an Optuna journal file (run by test_sweep_processes).

Usage: ``python -m tests.sweep.optuna_worker URL TOKEN JOURNAL N_RUNS SYNC_DIR TAG``.
Prints one JSON line: the trial numbers and job ids this process ran.

The first run of each process waits in ``on_started`` until the first runs of
both processes have started (a file per process in SYNC_DIR), so each process
holds a trial while the other asks for one: both really share the study.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

import arkor_rx as ax

MODEL = "arkor/triage-tiny"
DEMO = {"type": "huggingface", "name": "arkorlab/triage-demo"}


async def main(url: str, token: str, journal: str, n_runs: int, sync: Path, tag: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name="shared",
        storage=JournalStorage(JournalFileBackend(journal)),
        sampler=optuna.samplers.RandomSampler(seed=len(tag)),
        pruner=optuna.pruners.NopPruner(),
    )
    first = True

    async def on_started(ctx: ax.StartedContext) -> None:
        nonlocal first
        if not first:
            return
        first = False
        (sync / tag).write_text(ctx.job.id)
        deadline = time.monotonic() + 60
        while len(await asyncio.to_thread(lambda: list(sync.iterdir()))) < 2:
            if time.monotonic() > deadline:
                raise TimeoutError("the other process never started a run")
            await asyncio.sleep(0.02)

    async with ax.ArkorClient(url, token, "local", "shared") as client:
        sweep = ax.create_sweep(
            name=f"shared-{tag}",
            model=MODEL,
            dataset=DEMO,
            max_steps=12,
            eval_steps=4,
            study=study,
            space=lambda t: {
                "learning_rate": t.suggest_float("learning_rate", 0.01, 0.2, log=True)
            },
            n_runs=n_runs,
            monitor="eval_loss",
            max_concurrent=1,
            callbacks={"on_started": on_started},
            client=client,
        )
        result = await sweep.wait()
    runs = [
        {"trial": r.trial_number, "job": r.run.job_id, "outcome": r.outcome} for r in result.runs
    ]
    print(json.dumps(runs))


if __name__ == "__main__":
    url, token, journal, n_runs, sync, tag = sys.argv[1:]
    asyncio.run(main(url, token, journal, int(n_runs), Path(sync), tag))
