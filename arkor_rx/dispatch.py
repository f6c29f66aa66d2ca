"""Old home of the callbacks, their contexts and ``concat_map_async``; kept for old imports.

The callbacks, contexts, dispatcher and drain live in [`arkor_rx.callbacks`][arkor_rx.callbacks];
``concat_map_async`` is an operator (``arkor_rx.operators.concat_map_async``);
the checkpoint adapter is
[`CheckpointAdapter`][arkor_rx.inference.CheckpointAdapter].
Every name this module had is still importable from here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from arkor_rx.callbacks import (
    CallbackResult,
    CheckpointAdapter,
    CheckpointContext,
    CompletedContext,
    Dispatcher,
    DispatchFn,
    FailedContext,
    InferClient,
    LogContext,
    StartedContext,
    TrainerCallbacks,
    drain,
)
from arkor_rx.events import TrainingEvent
from arkor_rx.jobs import TrainingJob
from arkor_rx.operators._concat_map_async import concat_map_async

__all__ = [
    "CallbackResult",
    "CheckpointAdapter",
    "CheckpointContext",
    "CompletedContext",
    "DispatchFn",
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


async def _iterate(items: Sequence[TrainingEvent]) -> AsyncIterator[TrainingEvent]:
    for item in items:
        yield item


async def bench_dispatch(
    events: Sequence[TrainingEvent], callback: Callable[[Any], CallbackResult]
) -> int:
    """Run ``callback`` as ``on_log`` over ``events`` through ``drain``; kept for old imports.

    The benchmarks measure dispatch with ``bench.arkor.dispatch`` (fed from the
    same queue as the bare-loop reference); this is the same loop over a list.
    """
    dispatcher = Dispatcher(TrainerCallbacks(on_log=callback), TrainingJob(id="bench"))
    return await drain(_iterate(events), dispatcher.dispatch)
