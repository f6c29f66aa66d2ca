"""A stopped trial's job that is slow to end keeps its trial RUNNING, for as long as it takes.

The trial counts against ``max_running`` while it is ``RUNNING``, so the cap
holds only if no driver tells the trial before the backend says its job
ended. The fake backend answers the cancel but keeps the job running until
the test opens a gate; the driver looks at the job as often as the loop
lets it (the poll interval patched to 0), so "longer than any time limit"
is counted in looks, not seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

import arkor_rx as ax
from arkor_rx import _study_source
from arkor_rx import optuna_bridge as ob
from tests.sweep.sweep_fakes import FakeJobs, losses
from tests.sweep.test_sweep_grid import sweep

optuna.logging.set_verbosity(optuna.logging.WARNING)

LOOKS = 700
"""More looks at the job than the old wind-down allowed (600 polls, then it told the trial)."""


class Always(optuna.pruners.BasePruner):
    """Prunes every trial at its first report."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def space(trial: optuna.Trial) -> dict[str, Any]:
    return {"learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True)}


async def test_a_pruned_trial_stays_running_until_its_job_ended(
    jobs: FakeJobs, client: ax.ArkorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_study_source, "_WIND_DOWN_POLL", (0.0, 0.0))
    gate = jobs.cancel_gate = asyncio.Event()
    jobs.plan = lambda name, config: losses([2.0, 1.0], end="hold")
    study = optuna.create_study(pruner=Always())
    s = sweep(client, study=study, space=space, n_runs=1, monitor="loss", max_running=1)
    waiting = asyncio.get_running_loop().create_task(s.wait())
    waiting.add_done_callback(lambda _: jobs._changed())  # a wait() that gave up ends the wait
    await jobs.until(lambda: jobs.cancels() == {"j0": 1})
    looked = jobs.get_requests
    await jobs.until(lambda: jobs.get_requests >= looked + LOOKS or waiting.done())

    assert jobs.jobs["j0"].status == "running"
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]
    assert not waiting.done()
    gate.set()
    result = await waiting
    (trial,) = study.get_trials()
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs[ob.REASON_ATTR].startswith("prune.optuna")
    assert result.runs[0].outcome == "pruned"
    assert jobs.cancels() == {"j0": 1}


async def test_a_trial_pruned_after_its_job_completed_is_told_pruned(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    """The stream is behind the job: the study's pruner decides on step 1 once the job has
    completed all three steps. The trial is PRUNED at step 1 (its later values were never
    reported), not COMPLETE with the step-1 value as if it were the final one."""
    jobs.plan = lambda name, config: losses([2.0, 1.0, 0.5])

    async def on_log(ctx: Any) -> None:  # hold step 1 until the backend says the job ended
        if ctx.event.step == 1:
            await jobs.until(lambda: jobs.jobs["j0"].terminal)

    study = optuna.create_study(pruner=Always())
    s = sweep(
        client, study=study, space=space, n_runs=1, monitor="loss", callbacks={"on_log": on_log}
    )
    result = await s.wait()
    (trial,) = study.get_trials()
    assert jobs.jobs["j0"].status == "completed"
    assert trial.intermediate_values == {1: 2.0}
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs[ob.REASON_ATTR].endswith("(the job completed before its cancel)")
    assert result.runs[0].result is not None
    assert result.runs[0].result.stop is not None
