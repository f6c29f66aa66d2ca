"""Small pieces the operators share: validation, clocks, the metric point type.

Rule 1: nothing here subscribes to anything; these are plain functions and
types that the one-operator-per-file modules build on.

Rule 2: every validation failure is a [`ConfigError`][arkor_rx.errors.ConfigError]
naming the argument, raised when the operator or rule is *built*, never later
inside a stream.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, NamedTuple, Protocol, TypeAlias, TypeVar

from reactivex import Observable, abc
from reactivex.scheduler import TimeoutScheduler

from arkor_rx._mode import Mode
from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingLog

__all__ = [
    "Clock",
    "HasStep",
    "MetricPoint",
    "Mode",
    "check_clock",
    "check_finite",
    "check_fraction",
    "check_int",
    "check_mode",
    "check_monitor",
    "check_positive",
    "event_seconds",
    "resolve_scheduler",
    "scheduler_seconds",
    "stateful",
]

Clock: TypeAlias = Literal["event", "scheduler"]
"""Where rate operators read time: the events' own timestamps, or the scheduler's clock."""


class MetricPoint(NamedTuple):
    """One value of one metric: the step it was logged at and the value."""

    step: int
    """The optimizer step."""
    value: float
    """The metric value (may be ``nan``/``inf`` unless the stream filters them)."""


class HasStep(Protocol):
    """Anything with an integer ``step``: a [`MetricPoint`][arkor_rx.operators.MetricPoint], a
    ``TrainingLog`` ..."""

    @property
    def step(self) -> int: ...


StepT = TypeVar("StepT", bound=HasStep)


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int ``>= minimum``, else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def _check_real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return number


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float ``> 0`` (or ``>= 0``), else ConfigError."""
    number = _check_real(name, value)
    if number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {bound}, got {value!r}")
    return number


def check_finite(name: str, value: object) -> float:
    """``value`` as a finite float, else ConfigError."""
    return _check_real(name, value)


def check_fraction(name: str, value: object, *, low_open: bool, high_open: bool) -> float:
    """``value`` as a float inside (or on the edges of) ``[0, 1]``, else ConfigError."""
    number = _check_real(name, value)
    low_ok = number > 0 if low_open else number >= 0
    high_ok = number < 1 if high_open else number <= 1
    if not (low_ok and high_ok):
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be in {interval}, got {value!r}")
    return number


_Choice = TypeVar("_Choice", bound=str)


def _one_of(name: str, value: object, choices: tuple[_Choice, _Choice]) -> _Choice:
    for choice in choices:
        if value == choice:
            return choice
    raise ConfigError(f"{name} must be {choices[0]!r} or {choices[1]!r}, got {value!r}")


def check_mode(value: object) -> Mode:
    """``"min"`` or ``"max"``, else ConfigError."""
    modes: tuple[Mode, Mode] = ("min", "max")
    return _one_of("mode", value, modes)


def check_clock(value: object) -> Clock:
    """``"event"`` or ``"scheduler"``, else ConfigError."""
    clocks: tuple[Clock, Clock] = ("event", "scheduler")
    return _one_of("clock", value, clocks)


_PROBE = TrainingLog(step=0)


def check_monitor(value: object) -> str:
    """A metric name a ``TrainingLog`` knows (snake_case or camelCase), else ConfigError."""
    if not isinstance(value, str):
        raise ConfigError(f"monitor must be a metric name, got {value!r}")
    try:
        _PROBE.metric(value)
    except KeyError as exc:
        raise ConfigError(f"monitor: {exc.args[0]}") from None
    return value


def resolve_scheduler(
    given: abc.SchedulerBase | None, at_subscribe: abc.SchedulerBase | None
) -> abc.SchedulerBase:
    """The scheduler a time-based operator uses.

    The one given to the operator wins, then the one passed to ``subscribe``,
    then reactivex's default for timers (the thread-based ``TimeoutScheduler``).
    """
    return given or at_subscribe or TimeoutScheduler.singleton()


def scheduler_seconds(scheduler: abc.SchedulerBase) -> float:
    """The scheduler's clock in seconds (virtual seconds on a ``TestScheduler``)."""
    return scheduler.now.timestamp()


def event_seconds(event: object) -> float | None:
    """The event's ``timestamp`` in seconds since the epoch, or None when absent or unparsable.

    A timestamp without a zone is read as UTC.
    """
    raw = getattr(event, "timestamp", None)
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


_In = TypeVar("_In")
_Out = TypeVar("_Out")


def stateful(
    make: Callable[[], Callable[[_In], _Out | None]],
) -> Callable[[Observable[_In]], Observable[_Out]]:
    """An operator that runs a fresh step function per subscription.

    ``make()`` is called once per subscriber and returns ``step(item)``; each
    result that is not None is emitted. A ``step`` (or ``make``) that raises
    sends the exception to ``on_error`` and stops the stream, the way
    ``reactivex.operators.filter`` treats a raising predicate.
    """

    def operator(source: Observable[_In]) -> Observable[_Out]:
        def subscribe(
            observer: abc.ObserverBase[_Out], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            step = make()

            def on_next(item: _In) -> None:
                try:
                    result = step(item)
                except Exception as exc:
                    observer.on_error(exc)
                    return
                if result is not None:
                    observer.on_next(result)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
