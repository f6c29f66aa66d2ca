"""A dead driver's trial is adopted: its job found (by id or by its recorded nonce) and followed.

The dead driver is played by hand on a PostgreSQL study with heartbeats: it
asks a trial, beats once, records what a driver records up to the moment it
died, and never beats again. A sweep started afterwards adopts the trial
once it is stale (waited for on the storage's own verdict, not a timer; the
test's timeout is the only limit).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

import arkor_rx as ax
from arkor_rx import optuna_bridge as ob
from arkor_rx._study_source import StudySource
from arkor_rx.errors import ConfigError
from tests.postgres.server import PostgresServer
from tests.sweep.sweep_fakes import FakeJobs, Script, losses
from tests.sweep.test_sweep_grid import DATASET, sweep

optuna.logging.set_verbosity(optuna.logging.WARNING)
LOSSES = [2.0, 1.0, 0.5]
NONCE = "0123456789abcdef"


def plan(name: str, config: dict[str, Any]) -> Script:
    return losses(LOSSES)


def space(trial: optuna.Trial) -> dict[str, Any]:
    return {"learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True)}


_databases = iter(range(1_000_000))


@pytest.fixture
def storage(postgres: PostgresServer) -> Iterator[optuna.storages.RDBStorage]:
    db = postgres.new_database(f"adoption_{next(_databases)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        value = optuna.storages.RDBStorage(db, heartbeat_interval=1, grace_period=1)
    yield value
    value.engine.dispose()


def stale_trial(study: optuna.Study, storage: Any) -> optuna.Trial:
    """Ask a trial and beat for it once."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used")
        trial = study.ask()
    storage.record_heartbeat(trial._trial_id)
    return trial


async def until_stale(study: optuna.Study, storage: Any, trial: optuna.Trial) -> None:
    """Wait for the storage's own verdict that ``trial`` is stale (no deadline of its own).

    A poll: the database has no event to wait on, and the verdict is its own, not a timer's.
    """
    while trial._trial_id not in storage._get_stale_trial_ids(study._study_id):  # noqa: ASYNC110
        await asyncio.sleep(0.1)


async def dead_driver(
    study: optuna.Study,
    storage: Any,
    client: ax.ArkorClient,
    *,
    submitted: int,
    nonce: str | None = NONCE,
) -> tuple[optuna.Trial, list[str], str]:
    """A driver that asked a trial, beat once, recorded its job's nonce and name (and
    submitted the job ``submitted`` times), then died before recording the id."""
    trial = stale_trial(study, storage)
    trial.set_user_attr(ob.DRIVER_ATTR, "elsewhere:1:dead")
    knobs = space(trial)
    base = f"s-t{trial.number} (learning_rate={knobs['learning_rate']})"
    name = base if nonce is None else f"{base} #{nonce}"
    if nonce is not None:
        trial.set_user_attr(ob.JOB_NONCE_ATTR, nonce)
    trial.set_user_attr(ob.JOB_NAME_ATTR, name)
    config = {"model": "m", "dataset": DATASET, **knobs}
    ids = [(await client.create_job(name, config)).id for _ in range(submitted)]
    await until_stale(study, storage, trial)
    return trial, ids, base


@pytest.mark.parametrize("submitted", [1, 0])
async def test_a_stale_trial_is_adopted_and_its_job_run_once(
    jobs: FakeJobs, client: ax.ArkorClient, storage: Any, submitted: int
) -> None:
    jobs.plan = plan
    study = optuna.create_study(storage=storage, pruner=optuna.pruners.NopPruner())
    trial, ids, base = await dead_driver(study, storage, client, submitted=submitted)
    job_id = ids[0] if ids else None
    # another study's job with the same sweep name and knobs, and one of an arkor_rx
    # without nonces: neither is this trial's job
    config = {"model": "m", "dataset": DATASET}
    others = [(await client.create_job(n, config)).id for n in (f"{base} #fedcba9876543210", base)]
    result = await sweep(client, study=study, space=space, n_runs=1, monitor="loss").wait()

    assert len(jobs.jobs) == 3  # found by its nonce, or submitted now: never twice
    (frozen,) = study.get_trials()
    assert frozen.number == trial.number
    assert frozen.state == TrialState.COMPLETE
    assert frozen.value == LOSSES[-1]
    assert frozen.intermediate_values == {1: 2.0, 2: 1.0, 3: 0.5}
    assert frozen.user_attrs[ob.ADOPTED_ATTR]
    recorded = frozen.user_attrs[ob.JOB_ID_ATTR]
    assert recorded not in others
    if job_id is not None:
        assert recorded == job_id
    assert jobs.jobs[recorded].name == frozen.user_attrs[ob.JOB_NAME_ATTR] == f"{base} #{NONCE}"
    assert {o: jobs.jobs[o].cancels for o in others} == dict.fromkeys(others, 0)
    assert result.runs[0].run.job_id == recorded
    assert result.runs[0].trial_number == trial.number


@pytest.mark.parametrize(("submitted", "nonce"), [(2, NONCE), (1, None)])
async def test_a_stale_trial_whose_job_is_ambiguous_is_failed_with_the_reason(
    jobs: FakeJobs, client: ax.ArkorClient, storage: Any, submitted: int, nonce: str | None
) -> None:
    """Two jobs carry the trial's nonce (its driver's POST went through twice), or the name
    was recorded without a nonce: no job is adopted, none is submitted, the trial FAILs."""
    jobs.plan = lambda name, config: losses(LOSSES, end="hold")
    study = optuna.create_study(storage=storage, pruner=optuna.pruners.NopPruner())
    _, ids, _ = await dead_driver(study, storage, client, submitted=submitted, nonce=nonce)
    result = await sweep(client, study=study, space=space, n_runs=1, monitor="loss").wait()

    (frozen,) = study.get_trials()
    assert frozen.state == TrialState.FAIL
    reason = frozen.user_attrs[ob.REASON_ATTR]
    if nonce is None:
        assert "without a nonce" in reason
    else:
        assert f"2 jobs carry its nonce {NONCE}: {ids[1]}, {ids[0]}" in reason
    assert ob.JOB_ID_ATTR not in frozen.user_attrs
    assert sorted(jobs.jobs) == sorted(ids)  # nothing submitted
    assert jobs.cancels() == {}  # and nothing cancelled: the jobs are the user's to sort out
    assert result.runs[0].outcome == "error"


def test_job_nonce_reads_the_last_marker_only() -> None:
    assert ob.job_nonce(f"s-t1 (tag=a #b) #{NONCE}") == NONCE
    assert ob.job_nonce("s-t1 (learning_rate=0.1)") is None
    assert ob.job_nonce("#abc") is None


async def test_a_stale_trial_no_driver_asked_for_is_left_alone(
    jobs: FakeJobs, client: ax.ArkorClient, storage: Any
) -> None:
    jobs.plan = plan
    study = optuna.create_study(storage=storage, pruner=optuna.pruners.NopPruner())
    foreign = stale_trial(study, storage)  # someone's own ask(): no arkor_rx.driver
    await until_stale(study, storage, foreign)
    result = await sweep(client, study=study, space=space, n_runs=2, monitor="loss").wait()
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {foreign.number: TrialState.RUNNING, foreign.number + 1: TrialState.COMPLETE}
    assert [r.trial_number for r in result.runs] == [foreign.number + 1]
    assert len(jobs.jobs) == 1


async def test_without_heartbeats_nothing_is_adopted(
    jobs: FakeJobs, client: ax.ArkorClient, postgres: PostgresServer
) -> None:
    jobs.plan = plan
    storage = optuna.storages.RDBStorage(postgres.new_database("no_heartbeats"))
    try:
        study = optuna.create_study(storage=storage)
        orphan = study.ask()  # a driver died holding it: without heartbeats, it stays RUNNING
        result = await sweep(client, study=study, space=space, n_runs=2, monitor="loss").wait()
        states = {t.number: t.state for t in study.get_trials()}
    finally:
        storage.engine.dispose()
    assert states == {orphan.number: TrialState.RUNNING, orphan.number + 1: TrialState.COMPLETE}
    assert [r.trial_number for r in result.runs] == [orphan.number + 1]
    assert len(jobs.jobs) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"runs": [{}], "max_running": 2}, "max_running= goes with study="),
        ({"study": "s", "max_running": 0}, "max_running must be a positive int"),
    ],
)
def test_max_running_is_checked(client: ax.ArkorClient, kwargs: Any, message: str) -> None:
    if kwargs.get("study") == "s":
        kwargs.update(study=optuna.create_study(), space=space, n_runs=2, monitor="loss")
    with pytest.raises(ConfigError, match=message):
        sweep(client, **kwargs)


async def test_a_driver_waiting_at_the_cap_stops_when_the_sweep_is_cancelled(
    jobs: FakeJobs, client: ax.ArkorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs.plan = plan
    study = optuna.create_study()
    held = study.ask()  # another driver's running trial: the cap of 1 is reached
    at_cap = asyncio.Event()
    claim = StudySource._claim

    def watched(self: StudySource) -> Any:
        outcome = claim(self)
        if outcome == "wait":  # a worker looked at the cap and is about to wait at it
            at_cap.set()
        return outcome

    monkeypatch.setattr(StudySource, "_claim", watched)
    s = sweep(client, study=study, space=space, n_runs=3, monitor="loss", max_running=1)
    waiting = asyncio.get_running_loop().create_task(s.wait())
    await at_cap.wait()
    await s.cancel()
    result = await waiting
    assert result.runs == ()
    assert [t.number for t in study.get_trials()] == [held.number]  # nothing asked
    assert jobs.jobs == {}
