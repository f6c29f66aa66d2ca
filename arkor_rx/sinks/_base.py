"""The sink contract: what a sink is given, and what the runner promises it.

Rule 1: a sink decides nothing. It writes what it is given: ``open(job)``
once per run, ``write(batch)`` with that run's items in stream order, and
``close(outcome)`` once per run with how it ended. A batch is what arrived
while the previous write was in flight: items in stream order, of one run or
of several (every item carries its ``job_id``). Buffering, batching,
overflow and error policy live once, in the runner, not in each sink.

Rule 2: one sink instance may serve many runs (a sweep, or several trainers).
Calls for different runs interleave; every item carries its ``job_id``, and
``open`` gives the job's name, so a sink keys its state by job id.

Rule 3: a sink sets its policy as plain attributes, read by the runner with
these defaults when absent: ``overflow`` (``"block"``, nothing is lost, or
``"drop"``), ``fail_on_error`` (False), ``buffer_size`` (1024 items) and
``close_deadline`` (30 seconds: how long one call may take before the
owner stops waiting for it).

Rule 4: a sink may also define ``async def reconnected(job_id, reconnects)``
(optional: a sink without it is never asked). It is called, in queue order
between the run's ``open`` and ``close``, each time the run's event stream
was opened again, with ``reconnects`` the run's count so far (it only grows);
the ``Outcome`` at ``close`` carries the final count. A counter adds the
difference from the last count it saw, so nothing is counted twice.

Rule 5: an error belongs to the runs it hurt. A ``write`` that failed for
some runs of its batch and wrote the others raises
[`RunErrors`][arkor_rx.sinks.RunErrors], each run's own error; any other
exception from ``write`` is charged to every run of the batch, since the
runner cannot tell which of them lost items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, runtime_checkable

from arkor_rx.errors import ArkorError
from arkor_rx.events import TrainingEvent
from arkor_rx.jobs import TrainingJob
from arkor_rx.samples import SamplesAnswered
from arkor_rx.stopping import StopDecision

__all__ = [
    "DEFAULT_BUFFER_SIZE",
    "Outcome",
    "OutcomeKind",
    "Overflow",
    "RunErrors",
    "Sink",
    "SinkItem",
    "SinkStats",
    "check_sinks",
    "sink_name",
    "sink_policy",
]

Overflow: TypeAlias = Literal["drop", "block"]
"""What the runner does when a sink's buffer is full: drop (and count) or wait."""

OutcomeKind: TypeAlias = Literal["completed", "failed", "stopped", "cancelled", "error"]
"""How a run ended, as a sink is told in ``close``."""

SinkItem: TypeAlias = TrainingEvent | SamplesAnswered
"""What a batch holds: the typed events, and the checkpoint samples' answers."""


DEFAULT_BUFFER_SIZE = 1024
"""Items a sink's buffer holds before its overflow policy applies."""


class RunErrors(ArkorError):
    """A ``write`` that failed for some runs of its batch and wrote the others (Rule 5).

    The runner charges each error to its own run: logged (the run's first as a
    warning), counted in ``sink.stats``, and with ``fail_on_error`` raised by
    that run's owner alone. A job that is not open (a typo, a run already
    closed) is logged and counted, never charged to a later run of that id.
    Raised by ``open`` or ``close``, it is charged to that call's run.

    Examples:
        >>> err = RunErrors({"j2": OSError("cannot make runs/b-j2")})
        >>> str(err)
        'writing failed for 1 run(s); job j2: cannot make runs/b-j2'
        >>> list(err.errors)
        ['j2']

    Args:
        errors: each failed run's job id and its error.

    Raises:
        ValueError: ``errors`` is empty (a write that failed for no run raises nothing).
    """

    def __init__(self, errors: Mapping[str, Exception]) -> None:
        if not errors:
            raise ValueError("RunErrors needs the error of at least one run")
        self.errors: dict[str, Exception] = dict(errors)
        """Each failed run's job id and its error."""
        job_id, first = next(iter(self.errors.items()))
        super().__init__(f"writing failed for {len(self.errors)} run(s); job {job_id}: {first}")

    def __reduce__(self) -> tuple[type[RunErrors], tuple[dict[str, Exception]]]:
        return RunErrors, (self.errors,)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended, handed to every sink's ``close``."""

    kind: OutcomeKind
    """``completed``, ``failed``, ``stopped`` (a stop rule or pruner), ``cancelled``
    (``trainer.cancel()``, or a cancel from elsewhere) or ``error`` (following the
    run failed here: a callback raised, reconnects ran out, ...)."""
    job_id: str | None = None
    """The job that ended (None when it was never submitted)."""
    job: TrainingJob | None = None
    """The job as last fetched, when known."""
    stop: StopDecision | None = None
    """The decision that stopped the run, for ``stopped``."""
    error: str | None = None
    """The failure message, for ``failed`` and ``error`` (never holds the token)."""
    reconnects: int = 0
    """How many times the run's event stream was reopened (0 when the owner does not
    follow a stream itself, as ``to_sink`` does not)."""


@dataclass(slots=True)
class SinkStats:
    """Counters the runner keeps for one sink (``sink.stats``). Drops are never silent."""

    written: int = 0
    """Items handed to ``write``."""
    batches: int = 0
    """Calls of ``write``."""
    dropped: int = 0
    """Items dropped because the buffer was full (overflow ``"drop"``)."""
    errors: int = 0
    """Calls of ``open``/``write``/``close`` that raised."""
    last_error: str | None = None
    """The message of the most recent error."""
    high_water: int = 0
    """The most items the buffer held when the sink's task took a batch (its peak)."""


@runtime_checkable
class Sink(Protocol):
    """What a user implements to send runs somewhere (PostHog, Datadog, a database...).

    A sink may also define ``async def reconnected(self, job_id, reconnects)``
    (optional) to hear of each reconnect of a run's event stream as it
    happens: it is called between the run's ``open`` and ``close``, in order
    with its batches, with the run's count so far, which only grows; the
    outcome at ``close`` carries the final count. Add the difference from the
    last count seen, and nothing is counted twice.

    Examples:
        >>> class Printer:
        ...     async def open(self, job): print("open", job.id)
        ...     async def write(self, events): print(len(events), "items")
        ...     async def close(self, outcome): print("closed", outcome.kind)
        >>> isinstance(Printer(), Sink)
        True
    """

    async def open(self, job: TrainingJob) -> None:
        """A run begins (called once per run, before its first ``write``)."""

    async def write(self, events: Sequence[SinkItem]) -> None:
        """A batch of items in stream order (of one or more runs: see ``item.job_id``).

        When it failed for some runs only, raise [`RunErrors`][arkor_rx.sinks.RunErrors]
        with each one's error, having written the others (Rule 5).
        """

    async def close(self, outcome: Outcome) -> None:
        """The run ended; flush. Called once per run, always, even after errors."""


def sink_name(sink: object) -> str:
    """The name used for a sink in log lines: its ``name`` attribute or its class name."""
    name = getattr(sink, "name", None)
    return name if isinstance(name, str) and name else type(sink).__name__


def check_sinks(sinks: object) -> tuple[Sink, ...]:
    """Validate ``create_trainer``'s ``sinks=``; the sinks as a tuple.

    Raises:
        ConfigError: not a list of sinks, a sink without ``open``/``write``/``close``
            or with a bad ``overflow``/``buffer_size``.
    """
    from arkor_rx.errors import ConfigError

    if sinks is None:
        return ()
    if isinstance(sinks, Sink) or not isinstance(sinks, list | tuple):
        raise ConfigError(f"sinks must be a list of sinks, got {sinks!r}")
    for sink in sinks:
        if not isinstance(sink, Sink):
            raise ConfigError(
                f"sinks: {sink!r} is not a sink (it needs async open, write and close)"
            )
        sink_policy(sink)
    return tuple(sinks)


def sink_policy(sink: object) -> tuple[Overflow, bool, int]:
    """A sink's ``overflow``, ``fail_on_error`` and ``buffer_size``, with their defaults.

    Raises:
        ConfigError: ``overflow`` is not ``"drop"``/``"block"``, or ``buffer_size``
            is not a positive int (the message names the sink and the value).
    """
    from arkor_rx.errors import ConfigError

    overflow: Overflow = getattr(sink, "overflow", "block")
    if overflow not in ("drop", "block"):
        raise ConfigError(
            f"sinks: {sink_name(sink)} has overflow {overflow!r}; "
            "overflow must be 'drop' or 'block'"
        )
    size = getattr(sink, "buffer_size", DEFAULT_BUFFER_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(
            f"sinks: {sink_name(sink)} has buffer_size {size!r}; buffer_size must be a positive int"
        )
    return overflow, bool(getattr(sink, "fail_on_error", False)), size
