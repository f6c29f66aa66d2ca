"""ax.attach(): a full Trainer on a job someone else started (scripted backend and LocalServer)."""

from __future__ import annotations

import asyncio

import pytest

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.errors import CloudApiError, ConfigError
from arkor_rx.events import TrainingCompleted
from tests.e2e.e2e_helpers import DIVERGING, LONG_RUN, local_backend
from tests.sweep.sweep_fakes import HOLD, FakeJobs, Script, log, losses

CONFIG = {"model": "m", "datasetSource": {"type": "huggingface", "name": "a/b"}}


async def start_elsewhere(jobs: FakeJobs) -> str:
    """A job submitted by another client, as another process would."""
    async with jobs.client() as other:
        return (await other.create_job("theirs", CONFIG)).id


async def test_attach_sends_nothing_until_used(jobs: FakeJobs, client: ax.ArkorClient) -> None:
    job_id = await start_elsewhere(jobs)
    trainer = ax.attach(job_id, client=client)
    assert trainer.job_id is None
    assert (jobs.get_requests, jobs.stream_requests, jobs.create_requests) == (0, 0, 1)


async def test_attach_follows_a_running_job_with_callbacks_and_returns_its_result(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    gate = asyncio.Event()
    jobs.plan = lambda n, c: Script(
        [log(1, loss=1.0), gate, log(2, loss=0.5), *losses([]).items[1:]]
    )
    job_id = await start_elsewhere(jobs)
    steps: list[int] = []

    def on_log(ctx: ax.LogContext) -> None:
        steps.append(ctx.step)
        gate.set()  # the job goes on only once the attached trainer saw step 1

    trainer = ax.attach(job_id, client=client, callbacks={"on_log": on_log})
    result = await trainer.wait()
    assert steps == [1, 2]
    assert result.status == "completed"
    assert isinstance(result.terminal_event, TrainingCompleted)
    assert result.artifacts == [{"path": "final"}]
    assert trainer.name == "theirs"
    assert trainer.job_id == job_id
    assert jobs.create_requests == 1  # attach never submits


async def test_early_stopping_on_an_attached_job_cancels_it_once(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = lambda n, c: Script([log(1, loss=1.0), log(2, loss=float("nan")), HOLD])
    job_id = await start_elsewhere(jobs)
    result = await ax.attach(job_id, client=client, early_stopping=[aop.non_finite("loss")]).wait()
    assert result.stop is not None
    assert result.stop.rule == "non_finite"
    assert result.status == "cancelled"
    assert jobs.cancels() == {job_id: 1}


async def test_attaching_to_a_finished_job_replays_it_and_returns_its_result(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = lambda n, c: losses([1.0, 0.8, 0.6])
    job_id = await start_elsewhere(jobs)
    await jobs.until(lambda: jobs.jobs[job_id].terminal)
    seen: list[float | None] = []
    result = await ax.attach(
        job_id, client=client, callbacks={"on_log": lambda ctx: seen.append(ctx.loss)}
    ).wait()
    assert seen == [1.0, 0.8, 0.6]
    assert result.status == "completed"
    assert result.stop is None


async def test_an_unknown_id_is_a_404_from_wait_before_any_stream(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    trainer = ax.attach("nope", client=client)
    with pytest.raises(CloudApiError) as info:
        await trainer.wait()
    assert info.value.status == 404
    assert jobs.stream_requests == 0


async def test_events_and_cancel_of_an_attached_job(jobs: FakeJobs, client: ax.ArkorClient) -> None:
    jobs.plan = lambda n, c: Script([log(1, loss=1.0), HOLD])
    job_id = await start_elsewhere(jobs)
    trainer = ax.attach(job_id, client=client)
    await trainer.cancel()  # fetches the job, then cancels it
    await trainer.cancel()  # once
    assert jobs.cancels() == {job_id: 1}
    done: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
    types: list[str] = []
    trainer.events().subscribe(
        lambda e: types.append(e.type), done.set_exception, lambda: done.set_result(types)
    )
    assert await done == ["training.log", "training.failed"]


@pytest.mark.parametrize("job_id", ["", "  ", "..", 3])
def test_a_bad_id_is_a_config_error(job_id: object) -> None:
    client = ax.ArkorClient("http://127.0.0.1:1", "t", "o", "p")
    with pytest.raises(ConfigError):
        ax.attach(job_id, client=client)  # type: ignore[arg-type]


def test_bad_rules_and_policy_are_config_errors() -> None:
    client = ax.ArkorClient("http://127.0.0.1:1", "t", "o", "p")
    with pytest.raises(ConfigError, match="early_stopping"):
        ax.attach("j1", client=client, early_stopping=[3])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="reconnect"):
        ax.attach("j1", client=client, reconnect=3)  # type: ignore[arg-type]


def test_attach_checks_sinks_and_flattens_rules_as_create_trainer_does() -> None:
    # attach had its own rule check (no nested lists) and took any object as a sink,
    # which then failed inside wait() instead of at the call.
    client = ax.ArkorClient("http://127.0.0.1:1", "t", "o", "p")
    with pytest.raises(ConfigError, match="sinks"):
        ax.attach("j1", client=client, sinks=[object()])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="sinks"):
        ax.attach("j1", client=client, sinks=sinks.CSV("x.csv"))  # type: ignore[arg-type]
    rule_a, rule_b = aop.non_finite("loss"), aop.patience("eval_loss", 3)
    nested = [rule_a, [rule_b]]  # a list of rules may hold lists of rules, as for create_trainer
    trainer = ax.attach("j1", client=client, early_stopping=nested)  # type: ignore[arg-type]
    assert trainer._rules == (rule_a, rule_b)


async def test_attach_on_the_local_backend_stops_a_diverging_job_once() -> None:
    """A job started by one client, attached by another: its rule cancels it, once, on the wire."""
    async with local_backend() as backend:
        theirs = backend.trainer(name="theirs", max_steps=LONG_RUN, logging_steps=1, **DIVERGING)
        job_id = await theirs.start()
        trainer = ax.attach(
            job_id,
            client=backend.client,
            early_stopping=[aop.divergence("loss", threshold=10.0)],
            reconnect=ax.ReconnectPolicy.immediate(max_attempts=5),
        )
        result = await trainer.wait()
        assert result.stop is not None
        assert result.stop.rule == "divergence"
        assert result.status == "cancelled"
        assert [s.status for s in backend.transport.cancels()] == [200]
        again = await ax.attach(job_id, client=backend.client).wait()  # finished: replayed
        assert again.status == "cancelled"
