"""``aop.deploy_best``: the choice (a pure fold) and the one change it makes on a real backend."""

from __future__ import annotations

import io
import math
from typing import Any

import openai
import pytest
import reactivex
from reactivex import operators as ops
from rich.console import Console

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx.dashboard import LiveDashboard, RunDeployed, RunUndeployed, ViewAction
from arkor_rx.errors import ConfigError
from arkor_rx.events import CheckpointSaved, TrainingCompleted, TrainingFailed, TrainingLog
from arkor_rx.operators._deploy_best import Candidate, Leaderboard
from arkor_rx.runs import Run, RunEvent
from arkor_rx.transport import AiohttpTransport
from tests.deployments.conftest import DEMO, MODEL, Trained
from tests.deployments.test_openai_client import ask
from tests.fake_transport import RecordingTransport


def run_events(
    job: str, evals: dict[int, float], ckpts: list[int], *, ok: bool = True
) -> list[Any]:
    events: list[Any] = []
    for step in sorted(set(evals) | set(ckpts)):
        if step in evals:
            events.append(TrainingLog(job_id=job, step=step, eval_loss=evals[step]))
        if step in ckpts:
            events.append(CheckpointSaved(job_id=job, step=step))
    events.append(TrainingCompleted(job_id=job) if ok else TrainingFailed(job_id=job, error="boom"))
    return events


def best(events: list[Any], mode: str = "min") -> Candidate | None:
    board = Leaderboard("eval_loss", mode)  # type: ignore[arg-type]
    for event in events:
        board.add(event)
    return board.best()


# --- the choice ---------------------------------------------------------------------


def test_the_lowest_value_reported_at_a_checkpoint_step_wins() -> None:
    # Step 15's 0.1 has no checkpoint; step 20's checkpoint has no value at 20.
    events = run_events("j", {10: 0.5, 15: 0.1, 20: 0.3}, [10, 20])
    events += [TrainingLog(job_id="j", step=25, eval_loss=0.01)]
    assert best(events) == Candidate("j", 20, 0.3)
    assert best(run_events("j", {10: 0.5, 15: 0.1}, [10, 20])) == Candidate("j", 10, 0.5)


def test_mode_max_ties_and_nan() -> None:
    assert best(run_events("j", {10: 0.5, 20: 0.9}, [10, 20]), "max") == Candidate("j", 20, 0.9)
    tie = run_events("a", {10: 0.5}, [10]) + run_events("b", {5: 0.5}, [5])
    assert best(tie) == Candidate("a", 10, 0.5)  # the run seen first
    assert best(run_events("j", {10: math.nan, 20: 0.9}, [10, 20])) == Candidate("j", 20, 0.9)
    assert best(run_events("j", {10: math.nan}, [10])) is None


def test_only_completed_runs_count_and_sweep_events_use_the_runs_job_id() -> None:
    failed = run_events("a", {10: 0.1}, [10], ok=False)
    good = run_events("b", {10: 0.4}, [10])
    assert best(failed + good) == Candidate("b", 10, 0.4)
    unfinished = run_events("c", {10: 0.01}, [10])[:-1]
    assert best(good + unfinished) == Candidate("b", 10, 0.4)
    run = Run(0, "job-from-run")
    wrapped = [RunEvent(run, e.model_copy(update={"job_id": ""})) for e in good]
    assert best(wrapped) == Candidate("job-from-run", 10, 0.4)
    assert best([object(), "x", *good]) == Candidate("b", 10, 0.4)  # other items ignored


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"slug": "Bad"}, "slug"),
        ({"monitor": "nope"}, "monitor"),
        ({"mode": "best"}, "mode"),
        ({"auth_mode": "key"}, "auth_mode"),
        ({"view": object()}, "view must be a live view"),
    ],
)
def test_bad_arguments_fail_when_the_operator_is_built(kwargs: dict[str, Any], match: str) -> None:
    client = ax.ArkorClient("http://127.0.0.1:1", "t", "o", "p")
    arguments: dict[str, Any] = {"slug": "bot", **kwargs}
    with pytest.raises(ConfigError, match=match):
        aop.deploy_best(client, **arguments)


# --- on a real backend --------------------------------------------------------------


async def train_evaluated(client: ax.ArkorClient, **knobs: Any) -> list[Any]:
    """A 20-step job evaluated and saved every 5 steps; its whole event log."""
    trainer = ax.create_trainer(
        name="best-test",
        model=MODEL,
        dataset=DEMO,
        max_steps=20,
        save_steps=5,
        eval_steps=5,
        client=client,
        **knobs,
    )
    await trainer.start()
    assert (await trainer.wait()).job.status == "completed"
    assert trainer.job_id is not None
    events: list[Any] = await ax.attach(trainer.job_id, client=client).events().pipe(ops.to_list())
    return events


def by_hand(events: list[Any]) -> tuple[str, int]:
    """The expected winner, computed plainly from the log: lowest eval_loss at a saved step."""
    saved = {(e.job_id, e.step) for e in events if isinstance(e, CheckpointSaved)}
    scored = [
        (e.eval_loss, e.job_id, e.step)
        for e in events
        if isinstance(e, TrainingLog) and e.eval_loss is not None and (e.job_id, e.step) in saved
    ]
    _, job_id, step = min(scored)
    return job_id, step


def changes(transport: RecordingTransport) -> list[str]:
    return [f"{s.method} {s.path}" for s in transport.sent if s.method in ("POST", "PATCH")]


async def test_one_run_creates_the_slug_on_its_best_checkpoint_once(trained: Trained) -> None:
    events = await train_evaluated(trained.client)
    job_id, step = by_hand(events)
    transport = RecordingTransport(AiohttpTransport())
    server = trained.server
    async with ax.ArkorClient(server.url, server.token, "l", "d", transport=transport) as client:
        deployment = await reactivex.from_iterable(events).pipe(
            aop.deploy_best(client, "best-bot", auth_mode="none")
        )
        assert changes(transport) == ["POST /v1/endpoints"]
        again = await reactivex.from_iterable(events).pipe(aop.deploy_best(client, "best-bot"))
        assert changes(transport) == ["POST /v1/endpoints"]  # already there: nothing changed
    assert deployment.target == ax.checkpoint_target(job_id, step)
    assert again == deployment
    assert await ask(deployment.url) == await trained.expected_for(job_id, step)


async def test_an_existing_slug_is_retargeted_and_its_keys_keep_working(trained: Trained) -> None:
    first = await trained.client.create_deployment("best-bot", ax.final_target(trained.job_id))
    key = await trained.client.create_deployment_key(first.id, "ci")
    events = await train_evaluated(trained.client, learning_rate=0.05)
    job_id, step = by_hand(events)
    moved = await reactivex.from_iterable(events).pipe(aop.deploy_best(trained.client, "best-bot"))
    assert (moved.id, moved.url, moved.auth_mode) == (first.id, first.url, "fixed_api_key")
    assert moved.target == ax.checkpoint_target(job_id, step)
    assert await ask(moved.url, key.plaintext) == await trained.expected_for(job_id, step)


async def test_a_sweep_deploys_its_best_checkpoint_across_runs(trained: Trained) -> None:
    sweep = ax.create_sweep(
        name="best-sweep",
        model=MODEL,
        dataset=DEMO,
        max_steps=20,
        save_steps=5,
        eval_steps=5,
        grid={"learning_rate": [0.001, 0.05]},
        max_concurrent=2,
        client=trained.client,
    )
    seen: list[Any] = []

    def keep(item: RunEvent) -> None:
        seen.append(item.event)

    deployment = await sweep.events().pipe(
        ops.do_action(keep),
        aop.deploy_best(trained.client, "sweep-best", auth_mode="none"),
    )
    assert len({e.job_id for e in seen}) == 2
    job_id, step = by_hand(seen)
    assert deployment.target == ax.checkpoint_target(job_id, step)
    assert [d.slug for d in await trained.client.list_deployments()] == ["sweep-best"]


async def test_a_keyed_deployment_it_creates_has_no_key_until_one_is_issued(
    trained: Trained,
) -> None:
    # The trained job saved checkpoints at 10 and 20; step 10 reports the better value.
    events = run_events(trained.job_id, {10: 0.3, 20: 0.5}, [10, 20])
    deployment = await reactivex.from_iterable(events).pipe(
        aop.deploy_best(trained.client, "keyed-bot")  # auth_mode="fixed_api_key", the default
    )
    assert deployment.auth_mode == "fixed_api_key"
    assert await trained.client.list_deployment_keys(deployment.id) == []
    with pytest.raises(openai.AuthenticationError):  # no key opens it yet
        await ask(deployment.url, "ark_local_guess")
    key = await trained.client.create_deployment_key(deployment.id, "production")
    assert await ask(deployment.url, key.plaintext) == await trained.expected(step=10)


async def test_no_candidate_deploys_nothing(trained: Trained) -> None:
    failed = run_events(trained.job_id, {10: 0.1}, [10], ok=False)
    out = await reactivex.from_iterable(failed).pipe(
        aop.deploy_best(trained.client, "best-bot"), ops.to_list()
    )
    assert out == []
    assert await trained.client.list_deployments() == []


class Shown:
    """A live terminal view that also keeps what ``deploy_best`` told it."""

    def __init__(self) -> None:
        self.out = io.StringIO()
        self.view = LiveDashboard(Console(file=self.out, width=200, color_system=None))
        self.told: list[ViewAction] = []

    def dispatch(self, action: RunDeployed | RunUndeployed) -> object:
        self.told.append(action)
        return self.view.dispatch(action)


async def test_deploy_best_shows_the_deployment_on_the_winning_run(trained: Trained) -> None:
    first = await trained.client.create_deployment("best-bot", ax.final_target(trained.job_id))
    shown = Shown()
    events = await train_evaluated(trained.client, sinks=[shown.view])
    job_id, step = by_hand(events)
    moved = await reactivex.from_iterable(events).pipe(
        aop.deploy_best(trained.client, "best-bot", view=shown)
    )
    deployed = RunDeployed(job_id, "best-bot", moved.url, step=step)
    assert shown.told == [RunUndeployed(trained.job_id, "best-bot"), deployed]
    assert shown.view.state.job_id == job_id
    assert shown.view.state.deployments == (deployed,)
    line = f"deployed best-bot: checkpoint step {step} at {first.url}"
    assert line in shown.out.getvalue()
    again = await reactivex.from_iterable(events).pipe(
        aop.deploy_best(trained.client, "best-bot", view=shown)
    )
    assert again == moved
    assert shown.told[-1] == deployed  # unchanged: shown again, still one line
    assert shown.view.state.deployments == (deployed,)
