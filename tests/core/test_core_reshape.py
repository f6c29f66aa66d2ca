"""The seams of the core reshape: the latch, loop_of, the infer request, attach, old paths."""

from __future__ import annotations

import asyncio
import doctest
import inspect
import threading
from typing import Any

import pytest
import reactivex
from pydantic import ValidationError
from reactivex.scheduler.eventloop import AsyncIOScheduler

import arkor_rx
import arkor_rx._latch as latch_module
import arkor_rx.callbacks as callbacks_module
import arkor_rx.dispatch as dispatch_module
from arkor_rx import operators as aop
from arkor_rx._latch import FirstOutcome
from arkor_rx._loop import loop_of
from arkor_rx.attach import _AttachedTrainer
from arkor_rx.callbacks import CHECKPOINT_MAX_TOKENS, CheckpointContext
from arkor_rx.client import ArkorClient
from arkor_rx.errors import CloudApiError, ConfigError
from arkor_rx.inference import CheckpointAdapter, InferenceRequest
from arkor_rx.retry import ReconnectPolicy
from tests.core.core_fakes import FakeBackend, Serve, completed, log, started

# --- the latch ---------------------------------------------------------------------


def test_latch_docstring_runs() -> None:
    assert doctest.testmod(latch_module).failed == 0


@pytest.mark.parametrize("first", ["value", "error", "end"])
def test_latch_first_outcome_wins_and_later_ones_are_refused(first: str) -> None:
    latch: FirstOutcome[int] = FirstOutcome()
    boom = ValueError("boom")
    won = {"value": lambda: latch.set_value(1), "error": lambda: latch.set_error(boom)}
    assert won.get(first, latch.end)() is True
    assert (latch.set_value(2), latch.set_error(ValueError()), latch.end()) == (False,) * 3
    assert latch.done
    assert latch.value == (1 if first == "value" else None)
    assert latch.error is (boom if first == "error" else None)


def test_latch_has_one_winner_across_threads() -> None:
    latch: FirstOutcome[int] = FirstOutcome()
    barrier = threading.Barrier(8)
    wins: list[int] = []

    def race(n: int) -> None:
        barrier.wait()
        if latch.set_value(n):
            wins.append(n)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert latch.value == wins[0]


# --- loop_of ------------------------------------------------------------------------


async def test_loop_of_gives_the_scheduler_loop_else_the_running_one() -> None:
    running = asyncio.get_running_loop()
    other = asyncio.new_event_loop()
    try:
        assert loop_of(AsyncIOScheduler(other)) is other
        assert loop_of(None) is running
        assert loop_of(reactivex.scheduler.ImmediateScheduler()) is running
    finally:
        other.close()


def test_loop_of_without_a_loop_is_none() -> None:
    assert loop_of(None) is None


# --- one inference request ----------------------------------------------------------


def _keywords(fn: object, *skip: str) -> set[str]:
    params = inspect.signature(fn).parameters  # type: ignore[arg-type]
    return {name for name in params if name not in ("self", *skip)}


def test_the_infer_signatures_are_the_request_model_fields() -> None:
    fields = set(InferenceRequest.model_fields)
    assert _keywords(ArkorClient.infer, "request_timeout") == fields
    # The checkpoint context binds the adapter; a base model makes no sense there.
    assert _keywords(CheckpointContext.infer) == fields - {"adapter", "base_model"}


def test_the_checkpoint_default_max_tokens_is_the_documented_one() -> None:
    assert CHECKPOINT_MAX_TOKENS == 80
    default = inspect.signature(CheckpointContext.infer).parameters["max_tokens"].default
    assert default == CHECKPOINT_MAX_TOKENS
    assert InferenceRequest.model_fields["max_tokens"].default is None  # client.infer: unset


def test_request_body_is_camel_case_with_only_the_fields_set() -> None:
    request = InferenceRequest.build(
        ({"role": "user", "content": "hi"},),
        adapter=CheckpointAdapter(job_id="j1", step=3),
        top_p=0.5,
        tool_choice={"type": "auto"},
    )
    assert request.to_wire() == {
        "messages": [{"role": "user", "content": "hi"}],
        "adapter": {"kind": "checkpoint", "jobId": "j1", "step": 3},
        "stream": False,
        "topP": 0.5,
        "toolChoice": {"type": "auto"},
    }
    with pytest.raises(ValidationError, match="frozen"):
        request.stream = True  # type: ignore[misc]


@pytest.mark.parametrize(
    "options", [{"max_tokens": "many"}, {"temperature": "hot"}, {"tools": "all"}, {"nope": 1}]
)
def test_a_bad_infer_argument_is_a_config_error_naming_it(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="inference request"):
        InferenceRequest.build([{"role": "user", "content": "hi"}], **options)


async def test_client_infer_refuses_a_bad_argument_before_sending(
    backend: FakeBackend, client: ArkorClient
) -> None:
    with pytest.raises(ConfigError, match=r"maxTokens|max_tokens"):
        await client.infer([{"role": "user", "content": "x"}], max_tokens="x")  # type: ignore[arg-type]
    assert backend.inference_bodies == []


def test_one_checkpoint_adapter_type_under_every_old_name() -> None:
    assert arkor_rx.CheckpointAdapter is CheckpointAdapter
    assert dispatch_module.CheckpointAdapter is CheckpointAdapter
    assert callbacks_module.CheckpointAdapter is CheckpointAdapter
    assert arkor_rx.checkpoint_adapter("j1", 2) == CheckpointAdapter(job_id="j1", step=2).to_wire()


# --- old import paths ---------------------------------------------------------------

OLD_DISPATCH_NAMES = [
    "CheckpointAdapter",
    "CheckpointContext",
    "CompletedContext",
    "Dispatcher",
    "FailedContext",
    "InferClient",
    "LogContext",
    "StartedContext",
    "TrainerCallbacks",
    "bench_dispatch",
    "concat_map_async",
    "drain",
]
"""The ``__all__`` of ``arkor_rx.dispatch`` before the split."""


@pytest.mark.parametrize("name", OLD_DISPATCH_NAMES)
def test_every_name_of_the_old_dispatch_module_is_still_there(name: str) -> None:
    assert hasattr(dispatch_module, name)
    assert name in dispatch_module.__all__
    if hasattr(callbacks_module, name):
        assert getattr(dispatch_module, name) is getattr(callbacks_module, name)


async def test_aop_concat_map_async_is_the_operator_module_one() -> None:
    from arkor_rx.operators._concat_map_async import concat_map_async

    assert dispatch_module.concat_map_async is concat_map_async

    async def double(x: int) -> int:
        return 2 * x

    done, out = asyncio.Event(), list[int]()
    reactivex.of(1, 2).pipe(aop.concat_map_async(double)).subscribe(
        out.append, on_completed=done.set
    )
    await done.wait()
    assert out == [2, 4]


# --- a Trainer of an existing job (the path under attach) ---------------------------


async def test_a_trainer_of_an_existing_job_sends_nothing_until_wait(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.add(Serve([started("0"), log("1", 1), completed("9")]))
    trainer = _AttachedTrainer._of_job("j1", client=client, reconnect=ReconnectPolicy.immediate())
    await asyncio.sleep(0)
    assert (backend.get_requests, backend.created, backend.connections) == (0, [], [])
    steps: list[int] = []
    trainer = _AttachedTrainer._of_job(
        "j1",
        client=client,
        callbacks={"on_log": lambda ctx: steps.append(ctx.step)},
        reconnect=ReconnectPolicy.immediate(),
    )
    result = await trainer.wait()
    assert backend.created == []  # followed, never submitted
    assert steps == [1]
    assert result.status == "completed"
    assert trainer.job_id == "j1"
    assert trainer.name == "n"


async def test_a_trainer_of_an_unknown_job_fails_wait_with_404(
    backend: FakeBackend, client: ArkorClient
) -> None:
    backend.get_status = 404
    trainer = _AttachedTrainer._of_job("nope", client=client)
    with pytest.raises(CloudApiError) as info:
        await trainer.wait()
    assert info.value.status == 404
    assert backend.connections == []
    assert backend.created == []
