"""``loop_of(scheduler)``: the asyncio loop an Observable subscribed with ``scheduler`` runs on.

Rule 1: the one place that reads a private attribute of reactivex.
``AsyncIOScheduler`` (and its subclass ``AsyncIOThreadSafeScheduler``) keeps
the loop it was built with in ``_loop`` and offers no public accessor, and
there is no public way to ask a scheduler synchronously which loop it runs
on (scheduling a probe answers only later, on that loop). Reading it here,
guarded, keeps the dependency on reactivex's internals in one line; if a
future reactivex renames it, the running loop is used instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

from reactivex import abc
from reactivex.scheduler.eventloop import AsyncIOScheduler

__all__ = ["loop_of", "loop_or_error"]


def loop_of(scheduler: abc.SchedulerBase | None) -> asyncio.AbstractEventLoop | None:
    """The loop of an ``AsyncIOScheduler``, else the running loop, else None."""
    if isinstance(scheduler, AsyncIOScheduler):
        loop = getattr(scheduler, "_loop", None)  # see Rule 1: no public accessor
        if isinstance(loop, asyncio.AbstractEventLoop):
            return loop
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def loop_or_error(
    scheduler: abc.SchedulerBase | None, observer: abc.ObserverBase[Any], message: str
) -> asyncio.AbstractEventLoop | None:
    """[`loop_of`][arkor_rx.stream.loop_of]; when there is none, ``RuntimeError(message)`` goes to
    ``observer``."""
    loop = loop_of(scheduler)
    if loop is None:
        observer.on_error(RuntimeError(message))
    return loop
