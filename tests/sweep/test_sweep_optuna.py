"""An Optuna study drives a sweep: configs asked, values reported, its pruner, outcomes told."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

import arkor_rx as ax
from arkor_rx import optuna_bridge
from arkor_rx.errors import ConfigError
from tests.sweep.sweep_fakes import HOLD, FakeJobs, Script, losses
from tests.sweep.test_sweep_grid import sweep

optuna.logging.set_verbosity(optuna.logging.WARNING)


def study(**kwargs: Any) -> optuna.Study:
    kwargs.setdefault("sampler", optuna.samplers.RandomSampler(seed=1))
    kwargs.setdefault("pruner", optuna.pruners.NopPruner())
    return optuna.create_study(**kwargs)


def space(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "seed": trial.number,
        "learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True),
    }


LOSSES = {0: [2.0, 1.0, 0.7], 1: [2.0, 3.0, 2.5], 2: [2.0, 0.9, 0.4], 3: [1.5, 1.2, 1.1]}


def by_seed(name: str, config: dict[str, Any]) -> Script:
    return losses(LOSSES[config["seed"]])


async def test_trials_give_the_configs_and_get_every_value_and_the_outcome(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = by_seed
    s = study()
    result = await sweep(
        client, study=s, space=space, n_runs=3, monitor="loss", max_concurrent=2
    ).wait()
    trials = s.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for trial in trials:
        job = jobs.jobs[trial.user_attrs[optuna_bridge.JOB_ID_ATTR]]
        assert job.config["seed"] == trial.number
        assert job.config["learningRate"] == trial.params["learning_rate"]
        assert trial.intermediate_values == dict(enumerate(LOSSES[trial.number], start=1))
        assert trial.value == LOSSES[trial.number][-1]
    assert len(jobs.jobs) == 3
    assert sorted(r.trial_number for r in result.runs) == [0, 1, 2]  # type: ignore[type-var]
    assert result.best is not None
    assert result.best.trial_number == s.best_trial.number == 2
    assert result.mode == "min"
    assert result.monitor == "loss"


async def test_the_studys_pruner_stops_a_run_once_and_the_trial_is_pruned(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    # One run at a time: trial 0 completes, then trial 1 reports 3.0 at step 2, worse
    # than the median (1.0) of the completed trials at step 2, and is pruned there.
    jobs.plan = lambda n, c: (
        Script([*losses(LOSSES[1]).items[:3], HOLD]) if c["seed"] == 1 else by_seed(n, c)
    )
    s = study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    result = await sweep(
        client, study=s, space=space, n_runs=3, monitor="loss", max_concurrent=1
    ).wait()
    assert [t.state for t in s.get_trials()] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.COMPLETE,
    ]
    pruned = result.runs[1]
    assert pruned.outcome == "pruned"
    assert pruned.stop is not None
    assert pruned.stop.rule == "prune.optuna"
    assert pruned.stop.reason == "the study's MedianPruner pruned trial 1: loss 3 at step 2"
    assert jobs.cancels() == {pruned.run.job_id: 1}
    assert s.get_trials()[1].intermediate_values == {1: 2.0, 2: 3.0}


async def test_failed_refused_and_valueless_runs_are_told_fail(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = lambda n, c: {
        0: losses([1.0], end="failed"),
        1: losses([1.0]),
        2: Script([{"type": "training.completed"}]),
    }[c["seed"]]
    jobs.fail_create = lambda n, c: 400 if c["seed"] == 1 else None
    s = study()
    result = await sweep(
        client, study=s, space=space, n_runs=3, monitor="loss", max_concurrent=1
    ).wait()
    assert [t.state for t in s.get_trials()] == [TrialState.FAIL] * 3
    assert [r.outcome for r in result.runs] == ["failed", "error", "completed"]
    assert result.best is None


async def test_n_runs_counts_the_trials_the_study_holds(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = by_seed
    s = study()
    s.enqueue_trial({"learning_rate": 0.01})
    s.tell(s.ask(), 1.0)  # a trial made elsewhere, earlier
    result = await sweep(client, study=s, space=space, n_runs=3, monitor="loss").wait()
    assert len(s.get_trials()) == 3
    assert len(result.runs) == 2
    assert len(jobs.jobs) == 2
    again = await sweep(client, study=s, space=space, n_runs=3, monitor="loss").wait()
    assert again.runs == ()
    assert len(jobs.jobs) == 2


async def test_a_trial_asked_beyond_n_runs_is_told_fail_and_never_run(
    jobs: FakeJobs, client: ax.ArkorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes may both see n_runs - 1 trials and both ask: the later number is surplus."""
    s = study()
    s.ask()
    s.ask()  # two trials of another process, still running
    monkeypatch.setattr(
        s, "get_trials", lambda deepcopy=True, states=None: []
    )  # it looked too early
    result = await sweep(client, study=s, space=space, n_runs=2, monitor="loss").wait()
    assert result.runs == ()
    assert jobs.create_requests == 0
    monkeypatch.undo()
    assert len(s.trials) == 3  # one surplus trial, however many workers looked
    surplus = s.trials[2]
    assert surplus.state == TrialState.FAIL
    assert surplus.user_attrs[optuna_bridge.SURPLUS_ATTR]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"space": lambda t: {"lr": t.suggest_float("lr", 0.1, 0.2)}},
            "space(trial): unknown knob 'lr'",
        ),
        (
            {"space": lambda t: {"learning_rate": -t.suggest_float("x", 0.1, 0.2)}},
            "run 0 (learning_rate=-",
        ),
        ({"space": lambda t: 3}, "space(trial) must return a dict"),
        ({"space": lambda t: 1 / 0}, "space(trial) raised ZeroDivisionError"),
        ({"space": None}, "study= needs space="),
        ({"n_runs": 0}, "study= needs n_runs="),
        ({"monitor": None}, "study= needs monitor="),
        ({"mode": "max"}, "mode='max' contradicts the study's direction (minimize)"),
        ({"grid": {"seed": [1]}}, "exactly one of grid=, runs= or study= (got grid and study)"),
        ({"study": "not a study"}, "study must be an optuna.Study"),
    ],
)
async def test_a_bad_study_sweep_is_a_config_error_before_anything(
    jobs: FakeJobs, client: ax.ArkorClient, kwargs: dict[str, Any], message: str
) -> None:
    s = study()
    args: dict[str, Any] = {"study": s, "space": space, "n_runs": 2, "monitor": "loss", **kwargs}
    with pytest.raises(ConfigError) as info:
        sweep(client, **args)
    assert message in str(info.value)
    assert jobs.create_requests == 0
    assert s.trials == []


async def test_a_multi_objective_study_is_refused(client: ax.ArkorClient) -> None:
    s = optuna.create_study(directions=["minimize", "maximize"])
    with pytest.raises(ConfigError, match="single-objective"):
        sweep(client, study=s, space=space, n_runs=2, monitor="loss")


async def test_a_maximizing_study_makes_a_max_sweep(jobs: FakeJobs, client: ax.ArkorClient) -> None:
    jobs.plan = by_seed
    s = study(direction="maximize")
    result = await sweep(client, study=s, space=space, n_runs=2, monitor="loss").wait()
    assert result.mode == "max"
    assert result.best is not None
    assert result.best.trial_number == 1


def test_a_missing_optuna_is_a_one_line_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ModuleNotFoundError) as info:
        optuna_bridge.import_optuna()
    assert str(info.value) == "optuna is not installed; pip install 'arkor_rx[optuna]'"


def test_importing_arkor_rx_and_its_sweeps_does_not_import_optuna() -> None:
    code = "import sys, arkor_rx, arkor_rx.sweep; print('optuna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
