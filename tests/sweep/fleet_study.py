"""The fleet's study on PostgreSQL: the same storage settings in the test, the drivers and the docs.

``load_fleet_study`` is what docs/sweeps-across-machines.md shows a team: an
``RDBStorage`` with heartbeats (every second here, so a dead driver's trials
go stale within four) and a small connection pool per driver.
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna

MODEL = "arkor/triage-tiny"
DEMO = {"type": "huggingface", "name": "arkorlab/triage-demo"}


def fleet_storage(db: str, tag: str = "arkor-driver") -> optuna.storages.RDBStorage:
    """The storage every driver opens: heartbeats on, at most 4 connections per driver."""
    with warnings.catch_warnings():  # Optuna calls heartbeats experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _storage(db, tag)


def _storage(db: str, tag: str) -> optuna.storages.RDBStorage:
    return optuna.storages.RDBStorage(
        db,
        heartbeat_interval=1,
        grace_period=4,  # a live driver may stall (a loaded machine) up to 3 s
        engine_kwargs={
            "pool_size": 2,
            "max_overflow": 2,
            "pool_pre_ping": True,
            "connect_args": {"application_name": tag},
        },
    )


def load_fleet_study(db: str, tag: str = "arkor-driver", **kwargs: Any) -> optuna.Study:
    """The study ``fleet`` (created once, loaded by every driver)."""
    with warnings.catch_warnings():  # and TPE's constant liar too
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(constant_liar=True, n_startup_trials=4)
    return optuna.create_study(
        study_name="fleet",
        storage=fleet_storage(db, tag),
        direction="minimize",
        load_if_exists=True,
        sampler=sampler,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=4),
        **kwargs,
    )
