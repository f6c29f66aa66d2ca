"""Typed RxPY operators for Arkor training event streams.

Use them with ``.pipe(...)`` on ``trainer.events()`` or on any Observable of
events (a recorded run via ``reactivex.from_iterable``, a test scheduler's
observable). They compose with the plain ``reactivex.operators``.

Five families:

- **selection**: [`logs`][arkor_rx.operators.logs], [`checkpoints`][arkor_rx.operators.checkpoints],
[`terminal`][arkor_rx.operators.terminal],
  [`metric`][arkor_rx.operators.metric] (one metric as
  [`MetricPoint`][arkor_rx.operators.MetricPoint] ``(step, value)``);
- **windows and smoothing** (on [`MetricPoint`][arkor_rx.operators.MetricPoint] streams):
  [`rolling_mean`][arkor_rx.operators.rolling_mean],
  [`rolling_min`][arkor_rx.operators.rolling_min], [`rolling_max`][arkor_rx.operators.rolling_max],
  [`window_by_steps`][arkor_rx.operators.window_by_steps],
  [`window_by_time`][arkor_rx.operators.window_by_time], [`ema`][arkor_rx.operators.ema],
  [`tensorboard_smooth`][arkor_rx.operators.tensorboard_smooth],
  [`time_weighted_ema`][arkor_rx.operators.time_weighted_ema];
- **rates** (on event streams): [`steps_per_second`][arkor_rx.operators.steps_per_second],
  [`samples_per_second`][arkor_rx.operators.samples_per_second], [`eta`][arkor_rx.operators.eta];
- **early stopping**: rule constructors ([`patience`][arkor_rx.operators.patience],
  [`divergence`][arkor_rx.operators.divergence], [`threshold`][arkor_rx.operators.threshold],
  [`non_finite`][arkor_rx.operators.non_finite], [`plateau`][arkor_rx.operators.plateau],
  [`step_budget`][arkor_rx.operators.step_budget], [`time_budget`][arkor_rx.operators.time_budget],
  [`cost_budget`][arkor_rx.operators.cost_budget],
  [`predicate`][arkor_rx.operators.predicate],
  [`checkpoint_eval`][arkor_rx.operators.checkpoint_eval]), combinators
  ([`any_of`][arkor_rx.operators.any_of],
  [`all_of`][arkor_rx.operators.all_of], and the one entry point
  [`early_stopping`][arkor_rx.operators.early_stopping]), and
  [`stop_when`][arkor_rx.operators.stop_when], the inline operator;
- **retry and repeat** (on any Observable): [`retry_with`][arkor_rx.operators.retry_with]
  and [`repeat_with`][arkor_rx.operators.repeat_with], the event stream's reconnect
  schedule for your own sources.

Operators only decide. A rule is a [`StopRule`][arkor_rx.operators.StopRule]: it turns the event
stream
into at most one [`StopDecision`][arkor_rx.operators.StopDecision] (a value, not an exception), then
completes. The Trainer acts on the first decision: it closes the stream and
cancels the job on the backend, once. Stopping only the local wait would
leave the GPU running, and billing.

Time-based operators take an optional ``scheduler``; by default they use the
scheduler passed to ``subscribe``, else reactivex's timeout scheduler, so a
``reactivex.testing.TestScheduler`` drives them in virtual time.

Bad arguments raise [`ConfigError`][arkor_rx.errors.ConfigError] (a ``ValueError``)
when an operator or rule is built, never later inside a stream. A user
function that raises inside a stream ends that stream with the error.

Every operator imports its implementation lazily, from one private module per
operator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from reactivex import Observable, abc

from arkor_rx.operators._common import Clock, HasStep, MetricPoint, Mode
from arkor_rx.operators._eta import Eta
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.stopping import StopDecision, StopRule

if TYPE_CHECKING:
    from arkor_rx.client import ArkorClient
    from arkor_rx.deployments import AuthMode, Deployment
    from arkor_rx.events import CheckpointSaved, TrainingCompleted, TrainingFailed, TrainingLog
    from arkor_rx.operators._all_of import AllOf
    from arkor_rx.operators._any_of import AnyOf
    from arkor_rx.operators._checkpoint_eval import CheckpointEval, Scorer
    from arkor_rx.operators._cost_budget import CostBudget
    from arkor_rx.operators._deploy_best import DeploymentViewer
    from arkor_rx.operators._divergence import Divergence
    from arkor_rx.operators._median_pruner import MedianPruner
    from arkor_rx.operators._non_finite import NonFinite
    from arkor_rx.operators._patience import Patience
    from arkor_rx.operators._percentile_pruner import PercentilePruner
    from arkor_rx.operators._plateau import Plateau
    from arkor_rx.operators._predicate import Predicate
    from arkor_rx.operators._retry_with import RetryOn
    from arkor_rx.operators._step_budget import StepBudget
    from arkor_rx.operators._successive_halving import SuccessiveHalving
    from arkor_rx.operators._threshold import Threshold
    from arkor_rx.operators._time_budget import TimeBudget
    from arkor_rx.sinks import Sink

__all__ = [
    "Clock",
    "Eta",
    "HasStep",
    "MetricPoint",
    "Mode",
    "StopDecision",
    "StopRule",
    "all_of",
    "any_of",
    "checkpoint_eval",
    "checkpoints",
    "concat_map_async",
    "cost_budget",
    "deploy_best",
    "divergence",
    "early_stopping",
    "ema",
    "eta",
    "logs",
    "median_pruner",
    "metric",
    "non_finite",
    "patience",
    "percentile_pruner",
    "plateau",
    "predicate",
    "repeat_with",
    "retry_with",
    "rolling_max",
    "rolling_mean",
    "rolling_min",
    "samples_per_second",
    "step_budget",
    "steps_per_second",
    "stop_when",
    "successive_halving",
    "tensorboard_smooth",
    "terminal",
    "threshold",
    "time_budget",
    "time_weighted_ema",
    "to_sink",
    "window_by_steps",
    "window_by_time",
]

_T = TypeVar("_T")
_R = TypeVar("_R")
_S = TypeVar("_S", bound=HasStep)

PointOperator = Callable[[Observable[MetricPoint]], Observable[MetricPoint]]
"""An operator from metric points to metric points (the windows and smoothers)."""


# --------------------------------------------------------------------------- selection


def logs() -> Callable[[Observable[object]], Observable[TrainingLog]]:
    """Keep only the ``training.log`` events.

    ::

        --S--L1--C--L2--F-|
        [     logs()      ]
        -----L1-----L2----|

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> from arkor_rx.events import CheckpointSaved, TrainingLog
        >>> run = [TrainingLog(step=1, loss=2.0), CheckpointSaved(step=1), TrainingLog(step=2)]
        >>> [e.step for e in reactivex.from_iterable(run).pipe(logs(), ops.to_list()).run()]
        [1, 2]

    Returns:
        An operator from any event stream to a stream of
        [`TrainingLog`][arkor_rx.events.TrainingLog].
    """
    from arkor_rx.operators._of_type import logs as impl

    return impl()


def checkpoints() -> Callable[[Observable[object]], Observable[CheckpointSaved]]:
    """Keep only the ``checkpoint.saved`` events.

    ::

        --L--C1--L--C2--|
        [ checkpoints() ]
        -----C1-----C2--|

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> from arkor_rx.events import CheckpointSaved, TrainingLog
        >>> run = [TrainingLog(step=50), CheckpointSaved(step=50), CheckpointSaved(step=100)]
        >>> [e.step for e in reactivex.from_iterable(run).pipe(checkpoints(), ops.to_list()).run()]
        [50, 100]

    Returns:
        An operator from any event stream to a stream of
        [`CheckpointSaved`][arkor_rx.events.CheckpointSaved].
    """
    from arkor_rx.operators._of_type import checkpoints as impl

    return impl()


def terminal() -> Callable[[Observable[object]], Observable[TrainingCompleted | TrainingFailed]]:
    """Keep only the events that end a run: ``training.completed`` and ``training.failed``.

    ::

        --S--L--L--F-|
        [ terminal() ]
        -----------F-|

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingFailed, TrainingLog
        >>> run = [TrainingLog(step=1), TrainingFailed(error="CUDA OOM", step=3)]
        >>> reactivex.from_iterable(run).pipe(terminal()).run().error
        'CUDA OOM'

    Returns:
        An operator from any event stream to a stream of terminal events.
    """
    from arkor_rx.operators._of_type import terminal as impl

    return impl()


def metric(
    name: str, *, finite_only: bool = False
) -> Callable[[Observable[object]], Observable[MetricPoint]]:
    """One metric of the ``training.log`` events, as [`MetricPoint`][arkor_rx.operators.MetricPoint]
    ``(step, value)``.

    Logs where the metric is null or absent are skipped, and so is every
    event that is not a log.

    ::

        --L(10, 2.0)--C--L(20, null)--L(30, nan)--|
        [              metric("loss")             ]
        --(10, 2.0)-------------------(30, nan)---|

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=10, loss=2.0), TrainingLog(step=20, eval_loss=1.9),
        ...        TrainingLog(step=30, loss=float("nan"))]
        >>> reactivex.from_iterable(run).pipe(metric("loss"), ops.to_list()).run()
        [MetricPoint(step=10, value=2.0), MetricPoint(step=30, value=nan)]
        >>> reactivex.from_iterable(run).pipe(metric("loss", finite_only=True), ops.to_list()).run()
        [MetricPoint(step=10, value=2.0)]

    Args:
        name: ``"loss"``, ``"eval_loss"``, ``"learning_rate"``, ``"epoch"`` or
            ``"samples_per_second"`` (camelCase works too).
        finite_only: also skip NaN and infinities.

    Returns:
        An operator from any event stream to a stream of
        [`MetricPoint`][arkor_rx.operators.MetricPoint].

    Raises:
        ConfigError: ``name`` is not a metric of ``TrainingLog``.
    """
    from arkor_rx.operators._metric import metric as impl

    return impl(name, finite_only=finite_only)


# --------------------------------------------------------------------------- windows


def rolling_mean(n: int) -> PointOperator:
    """The mean of the last ``n`` values, one output per input, at the input's step.

    The window is shorter at the start (the first output is the first value).
    A NaN in the window makes the output NaN until it leaves the window.

    ::

        --1--3--5--7--|
        [rolling_mean(2)]
        --1--2--4--6--|

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> points = [MetricPoint(1, 1.0), MetricPoint(2, 3.0), MetricPoint(3, 5.0)]
        >>> out = reactivex.from_iterable(points).pipe(rolling_mean(2), ops.to_list()).run()
        >>> [p.value for p in out]
        [1.0, 2.0, 4.0]

    Args:
        n: the window length in values, ``>= 1``.

    Returns:
        An operator on [`MetricPoint`][arkor_rx.operators.MetricPoint] streams.
    """
    from arkor_rx.operators._rolling import rolling_mean as impl

    return impl(n)


def rolling_min(n: int) -> PointOperator:
    """The smallest of the last ``n`` values (NaN while a NaN is in the window).

    ::

        --3--1--4--5--|
        [rolling_min(2)]
        --3--1--1--4--|

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> points = [MetricPoint(s, v) for s, v in enumerate([3.0, 1.0, 4.0, 5.0])]
        >>> out = reactivex.from_iterable(points).pipe(rolling_min(2), ops.to_list()).run()
        >>> [p.value for p in out]
        [3.0, 1.0, 1.0, 4.0]

    Args:
        n: the window length in values, ``>= 1``.

    Returns:
        An operator on [`MetricPoint`][arkor_rx.operators.MetricPoint] streams.
    """
    from arkor_rx.operators._rolling import rolling_min as impl

    return impl(n)


def rolling_max(n: int) -> PointOperator:
    """The largest of the last ``n`` values (NaN while a NaN is in the window).

    ::

        --3--1--4--1--|
        [rolling_max(2)]
        --3--3--4--4--|

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> points = [MetricPoint(s, v) for s, v in enumerate([3.0, 1.0, 4.0, 1.0])]
        >>> out = reactivex.from_iterable(points).pipe(rolling_max(2), ops.to_list()).run()
        >>> [p.value for p in out]
        [3.0, 3.0, 4.0, 4.0]

    Args:
        n: the window length in values, ``>= 1``.

    Returns:
        An operator on [`MetricPoint`][arkor_rx.operators.MetricPoint] streams.
    """
    from arkor_rx.operators._rolling import rolling_max as impl

    return impl(n)


def window_by_steps(n: int) -> Callable[[Observable[_S]], Observable[list[_S]]]:
    """Tumbling windows of ``n`` steps: items grouped by ``step // n``, each group a list.

    A group is emitted when the first item of another group arrives, the last
    one when the source completes; empty groups are never emitted. Works on
    anything with a ``step``: [`MetricPoint`][arkor_rx.operators.MetricPoint], ``TrainingLog``,
    ``CheckpointSaved``.

    ::

        --s0--s5--s10--s12--s30--|
        [    window_by_steps(10)   ]
        ----------[0,5]------[10,12]-[30]|

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> points = [MetricPoint(s, 0.0) for s in (0, 5, 10, 12, 30)]
        >>> out = reactivex.from_iterable(points).pipe(window_by_steps(10), ops.to_list()).run()
        >>> [[p.step for p in w] for w in out]
        [[0, 5], [10, 12], [30]]

    Args:
        n: the window width in steps, ``>= 1``.

    Returns:
        An operator from items with a ``step`` to lists of them.
    """
    from arkor_rx.operators._window_by_steps import window_by_steps as impl

    return impl(n)


def window_by_time(
    seconds: float, scheduler: abc.SchedulerBase | None = None
) -> Callable[[Observable[_T]], Observable[list[_T]]]:
    """Every ``seconds``, the list of items that arrived in that span.

    Empty spans give ``[]`` on purpose: a run of them is what a stalled job
    looks like. The last, partial span is emitted when the source completes.

    ::

        --a-b------c--------|
        [ window_by_time(5) ]
        ----[a,b]----[c]--[]|     (one list every 5 s)

    Examples:
        >>> import reactivex
        >>> from reactivex.testing import TestScheduler
        >>> s = TestScheduler()
        >>> windows = []
        >>> _ = reactivex.interval(2.0, scheduler=s).pipe(window_by_time(5.0)).subscribe(
        ...     windows.append, scheduler=s)
        >>> s.advance_to(10.5)
        >>> windows
        [[0, 1], [2, 3]]

    Args:
        seconds: the span of each window, ``> 0``.
        scheduler: the timer's scheduler (default: the subscribe-time
            scheduler, else reactivex's timeout scheduler).

    Returns:
        An operator from items to lists of items.
    """
    from arkor_rx.operators._window_by_time import window_by_time as impl

    return impl(seconds, scheduler)


# --------------------------------------------------------------------------- smoothing


def ema(alpha: float) -> PointOperator:
    """The exponential moving average ``s = alpha * y + (1 - alpha) * s``.

    It starts at the first finite value. Non-finite values are passed through
    as they are and leave the average alone.

    ::

        --4--0--0--|
        [ ema(0.5) ]
        --4--2--1--|

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> points = [MetricPoint(s, v) for s, v in enumerate([4.0, 0.0, 0.0])]
        >>> [p.value for p in reactivex.from_iterable(points).pipe(ema(0.5), ops.to_list()).run()]
        [4.0, 2.0, 1.0]

    Args:
        alpha: the weight of the newest value, in ``(0, 1]``.

    Returns:
        An operator on [`MetricPoint`][arkor_rx.operators.MetricPoint] streams.
    """
    from arkor_rx.operators._ema import ema as impl

    return impl(alpha)


def tensorboard_smooth(weight: float) -> PointOperator:
    """TensorBoard's scalar smoothing: a debiased EMA.

    For each finite ``y``: ``last = last * w + (1 - w) * y; n += 1;
    out = last / (1 - w ** n)``, from ``last = 0, n = 0``. The debiasing
    makes the first output the first value rather than a value dragged to 0.
    Non-finite values are passed through and do not advance ``n``.

    ::

        --1--3--nan--3--|
        [ tb_smooth(0.5) ]
        --1--2.33--nan--2.71--|

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> points = [MetricPoint(s, v) for s, v in enumerate([1.0, 3.0, float("nan"), 3.0])]
        >>> out = reactivex.from_iterable(points).pipe(tensorboard_smooth(0.5), ops.to_list()).run()
        >>> [round(p.value, 4) for p in out]
        [1.0, 2.3333, nan, 2.7143]

    Args:
        weight: the smoothing slider of TensorBoard, in ``[0, 1)``
            (0 is no smoothing).

    Returns:
        An operator on [`MetricPoint`][arkor_rx.operators.MetricPoint] streams.
    """
    from arkor_rx.operators._tensorboard_smooth import tensorboard_smooth as impl

    return impl(weight)


def time_weighted_ema(half_life_steps: float) -> PointOperator:
    """An EMA keyed on the step, for metrics logged at uneven intervals.

    Each value enters with weight 1, and every weight halves each
    ``half_life_steps`` steps: between two points the running sums decay by
    ``d = 0.5 ** (Δstep / half_life_steps)``; ``S = d * S + y``,
    ``W = d * W + 1``, ``out = S / W``. Two values at the same step count the
    same; a step that goes backwards counts as ``Δstep = 0``. Non-finite
    values are passed through and leave the sums alone.

    ::

        --(0, 4)--(10, 0)--(10, 0)--|
        [  time_weighted_ema(10)    ]
        --(0, 4)--(10, 1.33)--(10, 0.8)--|

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> points = [MetricPoint(0, 4.0), MetricPoint(10, 0.0)]
        >>> out = reactivex.from_iterable(points).pipe(time_weighted_ema(10), ops.to_list()).run()
        >>> [round(p.value, 4) for p in out]  # (0.5*4 + 0) / (0.5 + 1)
        [4.0, 1.3333]

    Args:
        half_life_steps: after this many steps a value weighs half, ``> 0``.

    Returns:
        An operator on [`MetricPoint`][arkor_rx.operators.MetricPoint] streams.
    """
    from arkor_rx.operators._time_weighted_ema import time_weighted_ema as impl

    return impl(half_life_steps)


# --------------------------------------------------------------------------- rates


def steps_per_second(
    scheduler: abc.SchedulerBase | None = None, *, clock: Clock = "event"
) -> Callable[[Observable[object]], Observable[MetricPoint]]:
    """Training speed, ``Δstep / Δseconds`` between consecutive ``TrainingLog`` events.

    With ``clock="event"`` (the default) time is each log's own ``timestamp``
    (server time: right for recorded runs, and unaffected by a reconnect
    that delivers missed events in a burst); logs without one are skipped.
    With ``clock="scheduler"`` it is the scheduler's ``now`` when the log
    arrives. The first log only sets the anchor; a log at the same step or the
    same instant emits nothing (the next rate spans the longer interval); a
    step going backwards resets the anchor.

    ::

        --L(0, t=0)--L(10, t=5)--L(30, t=9)--|
        [        steps_per_second()          ]
        -------------(10, 2.0)---(30, 5.0)---|

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=s, timestamp=f"2026-01-01T00:00:{t:02d}Z")
        ...        for s, t in [(0, 0), (10, 5), (30, 9)]]
        >>> reactivex.from_iterable(run).pipe(steps_per_second(), ops.to_list()).run()
        [MetricPoint(step=10, value=2.0), MetricPoint(step=30, value=5.0)]

    Args:
        scheduler: the scheduler whose clock ``clock="scheduler"`` reads
            (default: the subscribe-time scheduler, else the timeout scheduler).
        clock: ``"event"`` or ``"scheduler"``.

    Returns:
        An operator from events to [`MetricPoint`][arkor_rx.operators.MetricPoint]
        ``(step, steps/s)``.
    """
    from arkor_rx.operators._steps_per_second import steps_per_second as impl

    return impl(scheduler, clock=clock)


def samples_per_second() -> Callable[[Observable[object]], Observable[MetricPoint]]:
    """The training throughput the backend reports in each log (finite values only).

    ::

        --L(sps=41.2)--L(sps=null)--L(sps=40.8)--|
        [          samples_per_second()          ]
        --41.2-----------------------40.8--------|

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=1, samples_per_second=41.2), TrainingLog(step=2)]
        >>> reactivex.from_iterable(run).pipe(samples_per_second(), ops.to_list()).run()
        [MetricPoint(step=1, value=41.2)]

    Returns:
        An operator from events to [`MetricPoint`][arkor_rx.operators.MetricPoint]
        ``(step, samples/s)``.
    """
    from arkor_rx.operators._samples_per_second import samples_per_second as impl

    return impl()


def eta(
    max_steps: int, scheduler: abc.SchedulerBase | None = None, *, clock: Clock = "event"
) -> Callable[[Observable[object]], Observable[Eta]]:
    """Time left until ``max_steps``, from the average speed since the first log.

    One [`Eta`][arkor_rx.operators.Eta] per ``TrainingLog`` after the first (the anchor); time is
    read as in [`steps_per_second`][arkor_rx.operators.steps_per_second].

    ::

        --L(0, t=0)--L(50, t=10)--|
        [        eta(200)         ]
        -------------Eta(50, 200, 5.0, 30.0)--|

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=0, timestamp="2026-01-01T00:00:00Z"),
        ...        TrainingLog(step=50, timestamp="2026-01-01T00:00:10Z")]
        >>> reactivex.from_iterable(run).pipe(eta(200)).run()
        Eta(step=50, max_steps=200, steps_per_second=5.0, seconds_left=30.0)

    Args:
        max_steps: the step the run ends at, ``>= 1``.
        scheduler: as for [`steps_per_second`][arkor_rx.operators.steps_per_second].
        clock: as for [`steps_per_second`][arkor_rx.operators.steps_per_second].

    Returns:
        An operator from events to [`Eta`][arkor_rx.operators.Eta] values.
    """
    from arkor_rx.operators._eta import eta as impl

    return impl(max_steps, scheduler, clock=clock)


# --------------------------------------------------------------------------- stop rules


def patience(
    monitor: str = "eval_loss",
    patience: int = 3,
    *,
    min_delta: float = 0.0,
    mode: Mode = "min",
    baseline: float | None = None,
    warmup_steps: int = 0,
    interval: int = 1,
    smoothing: float | None = None,
) -> Patience:
    """Stop when ``monitor`` has not improved for ``patience`` checks in a row.

    A check improves when it beats the best value so far by more than
    ``min_delta``. NaN and infinities never improve. With a ``baseline`` the
    best starts there, so the run has to beat it.

    Every monitored rule shares ``warmup_steps`` (values logged before that
    step are ignored), ``interval`` (with ``k > 1``, check a value only when its
    step is ``k`` past the last checked one; ``1`` checks every value) and
    ``smoothing`` (a [`tensorboard_smooth`][arkor_rx.operators.tensorboard_smooth] weight applied
    before the check).

    ::

        --(1, 1.0)--(2, 0.9)--(3, 0.95)--(4, 0.91)--|
        [         patience("loss", 2)               ]
        -------------------------------------D|      D: best 0.9 at step 2

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=s, eval_loss=v) for s, v in
        ...        [(100, 1.0), (200, 0.9), (300, 0.95), (400, 0.91), (500, 0.5)]]
        >>> d = reactivex.from_iterable(run).pipe(patience("eval_loss", 2)).run()
        >>> (d.rule, d.step, d.best, d.best_step)
        ('patience', 400, 0.9, 200)

    Args:
        monitor: the metric to watch.
        patience: checks without improvement before stopping, ``>= 0``.
        min_delta: how much a value must beat the best by, ``>= 0``.
        mode: ``"min"`` (lower is better) or ``"max"``.
        baseline: a value the run must beat; None to start from the first value.
        warmup_steps: ignore values logged before this step.
        interval: check at most once every this many steps.
        smoothing: smooth the metric first (TensorBoard weight in ``[0, 1)``).

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule] (a frozen, comparable config object).
    """
    from arkor_rx.operators._patience import Patience

    return Patience(
        monitor=monitor,
        patience=patience,
        min_delta=min_delta,
        mode=mode,
        baseline=baseline,
        warmup_steps=warmup_steps,
        interval=interval,
        smoothing=smoothing,
    )


def divergence(
    monitor: str = "loss",
    *,
    threshold: float | None = None,
    factor: float | None = None,
    mode: Mode = "min",
    patience: int = 1,
    check_finite: bool = True,
    warmup_steps: int = 0,
    interval: int = 1,
    smoothing: float | None = None,
) -> Divergence:
    """Stop a run going bad: above a ceiling, far above its best, or NaN.

    A check diverges (for ``mode="min"``; mirrored for ``"max"``) when the
    value is above ``threshold``, or above ``best + (factor - 1) * |best|``
    (``factor`` times a positive best), or NaN/infinite (unless
    ``check_finite=False``). ``patience`` diverging checks in a row stop the
    run. The threshold and the factor do not need a NaN, which some trainers
    never let through (they log a running mean instead).

    ::

        --(1, 1.0)--(2, 0.5)--(3, 0.6)--(4, 1.2)--|
        [        divergence(factor=2)             ]
        --------------------------------------D|   D: 1.2 > 2 * 0.5

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=s, loss=v) for s, v in
        ...        [(1, 1.0), (2, 0.5), (3, 0.6), (4, 1.2)]]
        >>> d = reactivex.from_iterable(run).pipe(divergence(factor=2.0)).run()
        >>> (d.rule, d.step, d.value, d.best)
        ('divergence', 4, 1.2, 0.5)

    Args:
        monitor: the metric to watch.
        threshold: an absolute ceiling (floor for ``"max"``).
        factor: how many times worse than the best is too much, ``> 1``.
        mode: ``"min"`` or ``"max"``.
        patience: diverging checks in a row before stopping, ``>= 1``.
        check_finite: also diverge on NaN and infinities.
        warmup_steps: ignore values logged before this step (the first, noisy steps).
        interval: check at most once every this many steps.
        smoothing: smooth the metric first (TensorBoard weight in ``[0, 1)``).

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule].

    Raises:
        ConfigError: neither ``threshold`` nor ``factor`` given, or a bad value.
    """
    from arkor_rx.operators._divergence import Divergence

    return Divergence(
        monitor=monitor,
        threshold=threshold,
        factor=factor,
        mode=mode,
        patience=patience,
        check_finite=check_finite,
        warmup_steps=warmup_steps,
        interval=interval,
        smoothing=smoothing,
    )


def threshold(
    monitor: str,
    value: float,
    *,
    mode: Mode = "min",
    warmup_steps: int = 0,
    interval: int = 1,
    smoothing: float | None = None,
) -> Threshold:
    """Stop once the metric is good enough: ``<= value`` (``"min"``) or ``>= value`` (``"max"``).

    ::

        --(1, 0.9)--(2, 0.4)--|
        [threshold("loss", 0.5)]
        -----------D|

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=1, eval_loss=0.9), TrainingLog(step=2, eval_loss=0.4)]
        >>> reactivex.from_iterable(run).pipe(threshold("eval_loss", 0.5)).run().step
        2

    Args:
        monitor: the metric to watch.
        value: the target.
        mode: ``"min"`` or ``"max"``.
        warmup_steps: ignore values logged before this step.
        interval: check at most once every this many steps.
        smoothing: smooth the metric first (TensorBoard weight in ``[0, 1)``).

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule].
    """
    from arkor_rx.operators._threshold import Threshold

    return Threshold(
        monitor=monitor,
        value=value,
        mode=mode,
        warmup_steps=warmup_steps,
        interval=interval,
        smoothing=smoothing,
    )


def non_finite(monitor: str = "loss") -> NonFinite:
    """Stop at the first NaN or infinite value of ``monitor``, at any step.

    Not enough on its own: pair it with [`divergence`][arkor_rx.operators.divergence] or
    [`plateau`][arkor_rx.operators.plateau],
    since a trainer may replace a NaN loss before it reaches the stream.

    ::

        --(1, 0.9)--(2, nan)--|
        [   non_finite()      ]
        -----------D|

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=1, loss=0.9), TrainingLog(step=2, loss=float("inf"))]
        >>> reactivex.from_iterable(run).pipe(non_finite()).run().reason
        'loss is inf at step 2'

    Args:
        monitor: the metric to watch.

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule].
    """
    from arkor_rx.operators._non_finite import NonFinite

    return NonFinite(monitor=monitor)


def plateau(
    monitor: str = "loss",
    window: int = 10,
    rel_delta: float = 1e-3,
    *,
    warmup_steps: int = 0,
    interval: int = 1,
    smoothing: float | None = None,
) -> Plateau:
    """Stop when the metric stopped moving: its last ``window`` values lie in a narrow band.

    The test is ``max(w) - min(w) <= rel_delta * |mean(w)|`` over the last
    ``window`` checked values; a window with a NaN or an infinity is never a
    plateau. It has no direction, so it also catches a loss that a trainer
    pins to a running mean instead of reporting NaN.

    ::

        --1.0--0.5--0.500--0.501--0.500--|
        [  plateau("loss", 3, 0.01)      ]
        -------------------D|

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=s, loss=v) for s, v in
        ...        enumerate([1.0, 0.5, 0.5, 0.501, 0.5], start=1)]
        >>> reactivex.from_iterable(run).pipe(plateau("loss", 3, 0.01)).run().step
        4

    Args:
        monitor: the metric to watch.
        window: how many checked values the band must hold, ``>= 2``.
        rel_delta: the band's width relative to the mean, ``>= 0``.
        warmup_steps: ignore values logged before this step.
        interval: check at most once every this many steps.
        smoothing: smooth the metric first (TensorBoard weight in ``[0, 1)``).

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule].
    """
    from arkor_rx.operators._plateau import Plateau

    return Plateau(
        monitor=monitor,
        window=window,
        rel_delta=rel_delta,
        warmup_steps=warmup_steps,
        interval=interval,
        smoothing=smoothing,
    )


def step_budget(max_steps: int) -> StepBudget:
    """Stop at the first event whose ``step`` reaches ``max_steps``.

    ::

        --L(90)--C(100)--L(110)--|
        [   step_budget(100)     ]
        ---------D|

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import CheckpointSaved, TrainingLog
        >>> run = [TrainingLog(step=90), CheckpointSaved(step=100), TrainingLog(step=110)]
        >>> reactivex.from_iterable(run).pipe(step_budget(100)).run().rule
        'budget.steps'

    Args:
        max_steps: the step budget, ``>= 1``.

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule].
    """
    from arkor_rx.operators._step_budget import StepBudget

    return StepBudget(max_steps=max_steps)


def time_budget(seconds: float, scheduler: abc.SchedulerBase | None = None) -> TimeBudget:
    """Stop ``seconds`` after subscription, on a timer: no event is needed, a stall bills too.

    If the stream ends first, the rule ends with no decision.

    ::

        --L--L--------L--|          (subscribed at t=0)
        [ time_budget(60) ]
        ------------D|              (t=60)

    Examples:
        >>> import reactivex
        >>> from reactivex.testing import TestScheduler
        >>> s = TestScheduler()
        >>> out = []
        >>> _ = time_budget(60.0)(reactivex.never()).subscribe(out.append, scheduler=s)
        >>> s.advance_to(59.0); out
        []
        >>> s.advance_to(60.0); out[0].rule, out[0].value
        ('budget.time', 60.0)

    Args:
        seconds: the budget, ``> 0``.
        scheduler: the timer's scheduler (default: the subscribe-time
            scheduler, else reactivex's thread-based timeout scheduler; in
            asyncio code subscribe with an ``AsyncIOScheduler``).

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule].
    """
    from arkor_rx.operators._time_budget import TimeBudget

    return TimeBudget(seconds=seconds, scheduler=scheduler)


def cost_budget(
    price_per_hour: float, max_cost: float, scheduler: abc.SchedulerBase | None = None
) -> CostBudget:
    """Stop when ``hours since subscription * price_per_hour`` reaches ``max_cost``.

    arkor_rx knows no prices: give yours, in any currency. Like
    [`time_budget`][arkor_rx.operators.time_budget], it runs on a timer.

    ::

        --L--L--L--|        ($2.40/h, budget $0.20)
        [cost_budget(2.4, 0.2)]
        -------D|           (t = 300 s)

    Examples:
        >>> import reactivex
        >>> from reactivex.testing import TestScheduler
        >>> s = TestScheduler()
        >>> out = []
        >>> _ = cost_budget(2.4, 0.2)(reactivex.never()).subscribe(out.append, scheduler=s)
        >>> s.advance_to(300.0); out[0].rule, round(out[0].value, 6)
        ('budget.cost', 0.2)

    Args:
        price_per_hour: what an hour of the job costs, ``> 0``.
        max_cost: the budget, ``> 0``.
        scheduler: as for [`time_budget`][arkor_rx.operators.time_budget].

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule].
    """
    from arkor_rx.operators._cost_budget import CostBudget

    return CostBudget(price_per_hour=price_per_hour, max_cost=max_cost, scheduler=scheduler)


def predicate(fn: Callable[[Any], object], name: str = "predicate") -> Predicate:
    """Stop at the first event for which ``fn(event)`` is truthy.

    A non-empty string returned by ``fn`` becomes the decision's reason. A
    ``fn`` that raises ends the rule's stream with that error.

    ::

        --L(lr=2e-4)--L(lr=0)--|
        [ predicate(lr == 0)   ]
        -------------D|

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=1, learning_rate=2e-4), TrainingLog(step=2, learning_rate=0.0)]
        >>> rule = predicate(lambda e: e.learning_rate == 0.0 and "lr hit zero", name="lr_zero")
        >>> d = reactivex.from_iterable(run).pipe(rule).run()
        >>> (d.rule, d.reason, d.step)
        ('lr_zero', 'lr hit zero', 2)

    Args:
        fn: called with every event (of any type).
        name: the ``rule`` of the decision.

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule].
    """
    from arkor_rx.operators._predicate import Predicate

    return Predicate(fn=fn, name=name)


def checkpoint_eval(
    scorer: Scorer,
    patience: int = 3,
    *,
    mode: Mode = "max",
    min_delta: float = 0.0,
    baseline: float | None = None,
    warmup_steps: int = 0,
    name: str = "checkpoint_eval",
) -> CheckpointEval:
    """Score each checkpoint with an async ``scorer``; stop when the score stops improving.

    ``await scorer(event)`` runs for every ``CheckpointSaved`` (one at a time,
    in order, on the running asyncio loop, without blocking the stream) and
    must return a number; the scores feed the logic of [`patience`][arkor_rx.operators.patience]. A
    typical scorer calls ``infer`` on the checkpoint's adapter and grades the
    answers. A scorer that raises, or returns something that is not a number,
    ends the rule's stream with that error. When another rule stops the run
    first, a scorer still running is cancelled.

    ::

        --C(100)--C(200)--C(300)--|
        [ checkpoint_eval(scorer, 1) ]
        --0.5-----0.7-----0.6→D|     (scores; D: best 0.7 at 200)

    Examples:
        >>> import asyncio, reactivex
        >>> from arkor_rx.events import CheckpointSaved
        >>> scores = {100: 0.5, 200: 0.7, 300: 0.6}
        >>> async def scorer(ckpt):
        ...     return scores[ckpt.step]  # in real life: await infer(...) and grade it
        >>> async def main():
        ...     run = reactivex.from_iterable([CheckpointSaved(step=s) for s in scores])
        ...     return await run.pipe(checkpoint_eval(scorer, 1))
        >>> d = asyncio.run(main())
        >>> (d.step, d.best, d.best_step)
        (300, 0.7, 200)

    Args:
        scorer: ``async def scorer(event: CheckpointSaved) -> float``.
        patience: checkpoints without improvement before stopping, ``>= 0``.
        mode: ``"max"`` (higher score is better, the default) or ``"min"``.
        min_delta: how much a score must beat the best by.
        baseline: a score the run must beat.
        warmup_steps: ignore checkpoints saved before this step.
        name: the ``rule`` (and ``monitor``) of the decision.

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule].
    """
    from arkor_rx.operators._checkpoint_eval import CheckpointEval

    return CheckpointEval(
        scorer=scorer,
        patience=patience,
        mode=mode,
        min_delta=min_delta,
        baseline=baseline,
        warmup_steps=warmup_steps,
        name=name,
    )


# --------------------------------------------------------------------------- combining


def any_of(*rules: StopRule | Sequence[StopRule]) -> AnyOf:
    """The first decision of any rule; the other rules are then unsubscribed.

    The rules share one subscription to the source, so a cold source such as
    ``trainer.events()`` is opened once. Lists of rules are flattened.

    ::

        --L--L--L--L--|
        [ any_of(A, B) ]
        --------b|          (B fired first)

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=s, loss=1.0) for s in range(1, 10)]
        >>> rule = any_of(step_budget(5), non_finite())
        >>> reactivex.from_iterable(run).pipe(rule).run().rule
        'budget.steps'

    Args:
        rules: the rules (at least one).

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule].
    """
    from arkor_rx.operators._any_of import AnyOf
    from arkor_rx.stopping import flatten_rules

    return AnyOf(flatten_rules(rules))


def all_of(*rules: StopRule | Sequence[StopRule]) -> AllOf:
    """One decision once *every* rule has fired at least once.

    Rules fire at most once, so each latches when it fires: ``all_of(A, B)``
    stops at the first moment both have fired, whatever the order. The
    decision is the last one to fire, with ``rule`` set to
    ``"all_of(<rules in firing order>)"`` and the reasons joined by ``"; "``.

    ::

        --L--L--L--L--L--|
        [  all_of(A, B)  ]
        -----------ab|      (A fired earlier, B fires now)

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=s, loss=0.5) for s in range(1, 10)]
        >>> rule = all_of(threshold("loss", 0.6), step_budget(4))
        >>> d = reactivex.from_iterable(run).pipe(rule).run()
        >>> (d.rule, d.step)
        ('all_of(threshold, budget.steps)', 4)

    Args:
        rules: the rules (at least one).

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule].
    """
    from arkor_rx.operators._all_of import AllOf
    from arkor_rx.stopping import flatten_rules

    return AllOf(flatten_rules(rules))


def early_stopping(
    *rules: StopRule | Sequence[StopRule],
    combine: Literal["any", "all"] = "any",
) -> AnyOf | AllOf:
    """The one entry point: combine stop rules into a single
    [`StopRule`][arkor_rx.operators.StopRule].

    ``combine="any"`` is [`any_of`][arkor_rx.operators.any_of] (the first rule to fire stops the
    run); ``"all"`` is [`all_of`][arkor_rx.operators.all_of]. Pass the result to the Trainer's
    ``early_stopping=``, or pipe an event stream into it.

    ::

        --L--L--C--L--|
        [ early_stopping(patience(...), divergence(...)) ]
        -----------D|

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingLog
        >>> stop = early_stopping(
        ...     patience("loss", 2),
        ...     divergence("loss", threshold=10.0),
        ...     non_finite("loss"),
        ... )
        >>> run = [TrainingLog(step=s, loss=v) for s, v in enumerate([3.0, 2.0, 12.0], 1)]
        >>> reactivex.from_iterable(run).pipe(stop).run().rule
        'divergence'

    Args:
        rules: the rules (lists are flattened).
        combine: ``"any"`` or ``"all"``.

    Returns:
        A [`StopRule`][arkor_rx.operators.StopRule].

    Raises:
        ConfigError: no rules, a rule that is not callable, or a bad ``combine``.
    """
    from arkor_rx.operators._early_stopping import early_stopping as impl

    return impl(*rules, combine=combine)


def stop_when(
    *rules: StopRule | Sequence[StopRule],
    combine: Literal["any", "all"] = "any",
) -> Callable[[Observable[_T]], Observable[_T | StopDecision]]:
    """Inline early stopping: pass events through, end with the StopDecision when a rule fires.

    Every event is forwarded, then shown to the rules, so the event that made
    a rule fire comes just before the decision, and the stream completes
    right after it. Without a decision the output completes with the source
    (after any checkpoint scorer still running). Errors from the source or a
    rule are passed on. Use it for a recorded run, a notebook, or a custom
    loop; the Trainer takes the rules themselves via ``early_stopping=``.

    ::

        --L1--L2--L3--L4--|
        [ stop_when(R)    ]
        --L1--L2--L3D|      (R fired at L3)

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> from arkor_rx.events import TrainingLog
        >>> run = [TrainingLog(step=s, loss=1.0) for s in (1, 2, 3, 4)]
        >>> out = reactivex.from_iterable(run).pipe(stop_when(step_budget(3)), ops.to_list()).run()
        >>> [type(x).__name__ for x in out]
        ['TrainingLog', 'TrainingLog', 'TrainingLog', 'StopDecision']

    Args:
        rules: the rules (lists are flattened).
        combine: ``"any"`` or ``"all"``, as for
            [`early_stopping`][arkor_rx.operators.early_stopping].

    Returns:
        An operator from events to events followed by at most one decision.
    """
    from arkor_rx.operators._stop_when import stop_when as impl

    return impl(*rules, combine=combine)


# --------------------------------------------------------------------------- retry and repeat


def retry_with(
    policy: ReconnectPolicy = ReconnectPolicy(),  # noqa: B008 (frozen: one shared value is safe)
    *,
    retry_on: RetryOn | None = None,
    scheduler: abc.SchedulerBase | None = None,
    random: Callable[[], float] | None = None,
) -> Callable[[Observable[_T]], Observable[_T]]:
    """On an error ``retry_on`` accepts, resubscribe after the policy's backoff delay.

    The event stream's reconnect rules ([`arkor_rx.retry`][arkor_rx.retry]) for
    any Observable (RxJS ``retry({count, delay, resetOnSuccess})``). The
    ``n``-th error in a row waits ``policy.delay(n)``, the very schedule
    [`EventStream`][arkor_rx.stream.EventStream] uses: ``initial_delay``
    doubling up to ``max_delay``, spread by ±``jitter``. An error with a
    ``retry_after`` (a [`CloudApiError`][arkor_rx.errors.CloudApiError] from a
    ``Retry-After`` header) waits at least that long, unless the policy's
    ``honor_server_retry`` is False. Every item that passes resets the count:
    the next error starts again from ``initial_delay`` with the whole budget.
    An error ``retry_on`` rejects passes through at once; the
    ``max_attempts + 1``-th error in a row ends the stream with
    [`ReconnectExhaustedError`][arkor_rx.errors.ReconnectExhaustedError], whose
    ``__cause__`` is that error. Completion passes through. Disposing during
    a delay cancels it: the source is not subscribed again.

    Items delivered before an error are not taken back: a resubscription
    starts the source again, so a source that replays its history delivers
    it again. ``trainer.events()`` already reconnects inside the stream, with
    the trainer's policy and ``Last-Event-ID``, delivering no event twice;
    wrap it only for what that policy gives up on (e.g.
    ``retry_on=ReconnectExhaustedError``), knowing that the new subscription
    opens a new stream from the job's first event.

    ::

        1st subscription:  --a--X                           X: a transient error
        2nd, 1 s later:             --X                     1st error in a row: 1 s
        3rd, 2 s later:                     --b--X          2nd in a row: 2 s
        4th, 1 s later:                             --c--|  b reset the count: 1 s
        [       retry_with(ReconnectPolicy(initial_delay=1, jitter=0))       ]
        result:            --a----------------b-------c--|

    Examples:
        >>> import reactivex
        >>> from reactivex.testing import TestScheduler
        >>> from arkor_rx.errors import TransportError
        >>> from arkor_rx.retry import ReconnectPolicy
        >>> s, opened, out = TestScheduler(), [], []
        >>> def connect(scheduler):  # fails twice, then answers
        ...     opened.append(scheduler.now.timestamp())
        ...     if len(opened) < 3:
        ...         return reactivex.throw(TransportError("down"))
        ...     return reactivex.of("ok")
        >>> policy = ReconnectPolicy(initial_delay=1, jitter=0)
        >>> _ = reactivex.defer(connect).pipe(retry_with(policy)).subscribe(out.append, scheduler=s)
        >>> s.advance_to(10.0); opened, out  # waited 1 s, then 2 s
        ([0.0, 1.0, 3.0], ['ok'])
        >>> s, errors = TestScheduler(), []
        >>> _ = reactivex.throw(TransportError("down")).pipe(
        ...     retry_with(ReconnectPolicy(max_attempts=2, jitter=0))
        ... ).subscribe(on_error=errors.append, scheduler=s)
        >>> s.advance_to(10.0); [type(e).__name__ for e in (errors[0], errors[0].__cause__)]
        ['ReconnectExhaustedError', 'TransportError']

    Args:
        policy: the schedule and budget (``initial_delay``, ``max_delay``,
            ``jitter``, ``max_attempts``, ``honor_server_retry``; the stream-only
            fields ``idle_timeout`` and ``dedupe_window`` are not used).
        retry_on: which errors to retry: an exception type, a tuple of them,
            or a predicate of the error (one that raises ends the stream with
            its error). Default: transient transport and HTTP errors
            ([`is_transient`][arkor_rx.retry.is_transient], so never 401, 403,
            410, 426 or a [`ConfigError`][arkor_rx.errors.ConfigError]) and the
            built-in ``ConnectionError`` and ``TimeoutError``. Given types
            replace that rule: ``retry_on=CloudApiError`` retries a 403 too.
        scheduler: runs the delays (default: the subscribe-time scheduler,
            else reactivex's thread-based timeout scheduler; in asyncio code
            subscribe with an ``AsyncIOScheduler``).
        random: floats in ``[0, 1)`` placing each delay in its jitter band
            (default ``random.random``); fix it to make jittered delays
            repeatable, as ``EventStream(random=...)`` does.

    Returns:
        An operator that passes items and completion through and retries errors.

    Raises:
        ConfigError: ``policy`` is not a
            [`ReconnectPolicy`][arkor_rx.retry.ReconnectPolicy], or ``retry_on`` is
            neither exception types nor a callable.
    """
    from arkor_rx.operators._retry_with import retry_with as impl

    return impl(policy, retry_on=retry_on, scheduler=scheduler, random=random)


def repeat_with(
    policy: ReconnectPolicy, *, scheduler: abc.SchedulerBase | None = None
) -> Callable[[Observable[_T]], Observable[_T]]:
    """After each completion, resubscribe ``initial_delay`` seconds later: a poll.

    The delay is the policy's base delay, ``policy.delay(1)`` without jitter
    (what the event stream waits after a clean close), the same after every
    completion: a completion is not a failure, so nothing grows and there is
    no budget (``max_attempts`` and ``jitter`` are not used here). Errors pass
    through at once: put [`retry_with`][arkor_rx.operators.retry_with] before
    ``repeat_with`` to back off on them (each round then starts with a fresh
    budget). The output never completes by itself: dispose it (or use
    ``take``/``take_until``) to stop; disposing during a delay cancels it.

    ::

        source:  --a|               (each subscription: one item, then complete)
        [     repeat_with(ReconnectPolicy(initial_delay=5, max_delay=5))     ]
        result:  --a-----(5 s)-----a-----(5 s)-----a ...

    Examples:
        >>> import reactivex
        >>> from reactivex.testing import TestScheduler
        >>> from arkor_rx.retry import ReconnectPolicy
        >>> s, polled = TestScheduler(), []
        >>> poll = reactivex.defer(lambda sch: reactivex.of(sch.now.timestamp()))
        >>> every_5 = repeat_with(ReconnectPolicy(initial_delay=5, max_delay=5))
        >>> sub = poll.pipe(every_5).subscribe(polled.append, scheduler=s)
        >>> s.advance_to(12.0); polled
        [0.0, 5.0, 10.0]
        >>> sub.dispose(); s.advance_to(60.0); polled  # the pending poll was cancelled
        [0.0, 5.0, 10.0]

    Args:
        policy: gives the delay, ``initial_delay`` (a
            [`ReconnectPolicy.immediate`][arkor_rx.retry.ReconnectPolicy.immediate]
            polls in a tight loop).
        scheduler: runs the delays (default: the subscribe-time scheduler,
            else reactivex's thread-based timeout scheduler).

    Returns:
        An operator that passes items and errors through and repeats on completion.

    Raises:
        ConfigError: ``policy`` is not a [`ReconnectPolicy`][arkor_rx.retry.ReconnectPolicy].
    """
    from arkor_rx.operators._repeat_with import repeat_with as impl

    return impl(policy, scheduler=scheduler)


# --------------------------------------------------------------------------- async mapping


def concat_map_async(
    fn: Callable[[_T], Awaitable[_R]],
) -> Callable[[Observable[_T]], Observable[_R]]:
    """Map each item through an async function, one at a time, in order.

    The serialized ``concat_map`` of the Trainer's callbacks, for your own
    pipelines: ``fn(item)`` is called only once the previous result has been
    emitted, so no coroutine is created before its turn, and one task per
    subscription drains a buffer (no Task per item). An error from ``fn``
    ends the stream with that error.

    ::

        source:  --a--b--c------|
        fn:        [=a=][=b=][=c=]
        result:  -------A----B----C|

    Examples:
        >>> import asyncio, reactivex
        >>> async def double(x: int) -> int:
        ...     return 2 * x
        >>> async def main() -> list[int]:
        ...     return await reactivex.of(1, 2, 3).pipe(
        ...         concat_map_async(double), reactivex.operators.to_list())
        >>> asyncio.run(main())
        [2, 4, 6]

    Args:
        fn: an async (or sync) function of one item.

    Returns:
        An operator emitting ``fn``'s results in source order.
    """
    from arkor_rx.operators._concat_map_async import concat_map_async as impl

    return impl(fn)


def to_sink(
    sink: Sink, *more: Sink, name: str | None = None
) -> Callable[[Observable[_T]], Observable[_T]]:
    """Pass every item through and send the events to sinks, each from its own queue and task.

    Works on any Observable of events: a live ``trainer.events()``, a
    [`replay`][arkor_rx.replay.replay], a sweep's merged stream of
    [`RunEvent`][arkor_rx.runs.RunEvent] (unwrapped for the sinks and labelled
    by run). Each sink's ``open(job)`` happens at the first event of a job
    id; its ``close(outcome)`` at the job's terminal event (``completed``,
    ``failed``), at a ``StopDecision`` passing through (every open job,
    ``stopped``) or a ``PruneDecision`` (that run, ``stopped``); jobs still
    open when the source completes close as ``cancelled`` (it ended first),
    on a source error as ``error``, on dispose as ``cancelled``. The output
    completes (or fails) only once every sink has closed, so awaiting it
    means the sinks flushed; a ``fail_on_error=True`` sink that failed turns
    the completion into its error.

    The source cannot be made to wait: an ``overflow="block"`` sink (the
    default) keeps every item here, so every event is written (its queue
    grows past its bound, with one log line); the Trainer's ``sinks=`` waits
    for room instead. Subscribe on the asyncio loop (the sinks' tasks run there).

    ::

        --S--L1--L2--C|
        [ to_sink(K)  ]           K: open(job) at S, write([S, L1, L2, C]), close(completed)
        --S--L1--L2--C--|         (completes once K closed)

    Examples:
        >>> import asyncio, reactivex
        >>> from arkor_rx.events import TrainingCompleted, TrainingLog
        >>> class Count:
        ...     seen = 0
        ...     async def open(self, job): print("open", job.id)
        ...     async def write(self, events): self.seen += len(events)
        ...     async def close(self, outcome): print("close", outcome.kind, self.seen)
        >>> run = [TrainingLog(job_id="j1", step=1, loss=2.0), TrainingCompleted(job_id="j1")]
        >>> async def main():
        ...     return await reactivex.from_iterable(run).pipe(to_sink(Count()))
        >>> type(asyncio.run(main())).__name__
        open j1
        close completed 2
        'TrainingCompleted'

    Args:
        sink: a [`Sink`][arkor_rx.sinks.Sink] (its ``overflow``, ``fail_on_error``
            and ``buffer_size`` attributes apply).
        more: further sinks.
        name: the run name given to ``open`` for events that carry no run.

    Returns:
        An operator that passes its source through unchanged.
    """
    from arkor_rx.operators._to_sink import to_sink as impl

    return impl(sink, *more, name=name)


# --------------------------------------------------------------------------- cross-run pruning


def median_pruner(
    monitor: str = "eval_loss",
    *,
    mode: Mode = "min",
    n_startup_runs: int = 5,
    n_warmup_steps: int = 0,
    interval_steps: int = 1,
    n_min_runs: int = 1,
) -> MedianPruner:
    """Prune a sweep's run whose best value so far is worse than the completed runs' median.

    A rule over a sweep's merged stream of [`RunEvent`][arkor_rx.runs.RunEvent]
    values (``sweep.events()``, or ``create_sweep(..., pruner=...)``): every
    monitored value a run logs is compared with the values the *completed*
    runs logged at the same step, and a run whose best value so far is worse
    than their median is named in a [`PruneDecision`][arkor_rx.runs.PruneDecision]
    (rule ``"prune.median"``); the sweep cancels it. A run is pruned at most
    once. The decisions are those of Optuna's ``MedianPruner`` given the same
    values, checked by a differential test (see ``docs/pruners.md``):

    - no run is pruned until ``n_startup_runs`` runs completed, nor at steps
      before ``n_warmup_steps``;
    - checks happen at the first value a run reports in each window of
      ``interval_steps`` steps past the warm-up;
    - the comparison is made at the run's latest step, and only when at least
      ``n_min_runs`` completed runs reported that step;
    - a run whose every value is NaN is pruned; NaN values of completed runs
      are left out of the median; a None value (metric not logged) is no report.

    ::

        run 0:  --0.9--0.7--C                         (C: training.completed)
        run 1:  --0.8--0.6--C
        run 2:  ----------------1.2--1.1--
        [ median_pruner("eval_loss", n_startup_runs=2) ]
        result: ----------------P2---------           (P2: run 2 pruned at its first value)

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingCompleted, TrainingLog
        >>> from arkor_rx.runs import Run, RunEvent
        >>> a, b, c = Run(0, "job-a"), Run(1, "job-b"), Run(2, "job-c")
        >>> sweep = [
        ...     RunEvent(a, TrainingLog(step=40, eval_loss=0.9)), RunEvent(a, TrainingCompleted()),
        ...     RunEvent(b, TrainingLog(step=40, eval_loss=0.7)), RunEvent(b, TrainingCompleted()),
        ...     RunEvent(c, TrainingLog(step=40, eval_loss=1.2)),
        ... ]
        >>> d = reactivex.from_iterable(sweep).pipe(median_pruner(n_startup_runs=2)).run()
        >>> d.run.job_id, d.decision.rule
        ('job-c', 'prune.median')
        >>> d.decision.reason
        'eval_loss 1.2 at step 40 is worse than the median 0.8 of 2 completed runs at step 40'

    Args:
        monitor: the metric to compare (a ``TrainingLog`` metric name).
        mode: ``"min"`` (lower is better) or ``"max"``.
        n_startup_runs: completed runs needed before any run is pruned, ``>= 0``.
        n_warmup_steps: no run is pruned at a step below this, ``>= 0``.
        interval_steps: steps between checks, offset by the warm-up, ``>= 1``.
        n_min_runs: completed runs that must have reported the step, ``>= 1``.

    Returns:
        A pruner: a frozen, comparable config object that is a
        ``Callable[[Observable[RunEvent]], Observable[PruneDecision]]``.

    Raises:
        ConfigError: an unknown metric, a bad ``mode`` or a count out of range.
    """
    from arkor_rx.operators._median_pruner import MedianPruner

    return MedianPruner(
        monitor=monitor,
        mode=mode,
        n_startup_runs=n_startup_runs,
        n_warmup_steps=n_warmup_steps,
        interval_steps=interval_steps,
        n_min_runs=n_min_runs,
    )


def percentile_pruner(
    percentile: float,
    monitor: str = "eval_loss",
    *,
    mode: Mode = "min",
    n_startup_runs: int = 5,
    n_warmup_steps: int = 0,
    interval_steps: int = 1,
    n_min_runs: int = 1,
) -> PercentilePruner:
    """Prune a sweep's run whose best value is outside the completed runs' best ``percentile``.

    As [`median_pruner`][arkor_rx.operators.median_pruner] (same gates, same NaN rules, rule
    ``"prune.percentile"``), with the median replaced by the
    ``percentile``-th percentile of the completed runs' values at the run's
    latest step (NumPy's linear interpolation), or the ``100 - percentile``-th
    with ``mode="max"``: ``percentile=25`` keeps runs in the best quarter.
    The decisions are those of Optuna's ``PercentilePruner``.

    ::

        run 0..3: --(values)--C                       (four completed runs)
        run 4:    ---------------0.75--0.72--
        [ percentile_pruner(25.0, n_startup_runs=4) ]
        result:   ---------------P4---------          (P4: 0.75 is above the 25th percentile)

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingCompleted, TrainingLog
        >>> from arkor_rx.runs import Run, RunEvent
        >>> done = [Run(i, f"job-{i}") for i in range(4)]
        >>> sweep = [e for r, v in zip(done, [0.5, 0.6, 0.8, 0.9])
        ...          for e in (RunEvent(r, TrainingLog(step=10, eval_loss=v)),
        ...                    RunEvent(r, TrainingCompleted()))]
        >>> sweep.append(RunEvent(Run(4, "job-4"), TrainingLog(step=10, eval_loss=0.75)))
        >>> pruner = percentile_pruner(25.0, "eval_loss", n_startup_runs=4)
        >>> d = reactivex.from_iterable(sweep).pipe(pruner).run()
        >>> print(d.decision.reason)  # doctest: +NORMALIZE_WHITESPACE
        eval_loss 0.75 at step 10 is worse than the 25th percentile 0.575
        of 4 completed runs at step 10

    Args:
        percentile: the share of runs to keep, in ``[0, 100]``.
        monitor: the metric to compare (a ``TrainingLog`` metric name).
        mode: ``"min"`` (lower is better) or ``"max"``.
        n_startup_runs: completed runs needed before any run is pruned, ``>= 0``.
        n_warmup_steps: no run is pruned at a step below this, ``>= 0``.
        interval_steps: steps between checks, offset by the warm-up, ``>= 1``.
        n_min_runs: completed runs that must have reported the step, ``>= 1``.

    Returns:
        A pruner (a frozen, comparable config object).

    Raises:
        ConfigError: a percentile outside ``[0, 100]``, an unknown metric, a
            bad ``mode`` or a count out of range.
    """
    from arkor_rx.operators._percentile_pruner import PercentilePruner

    return PercentilePruner(
        percentile=percentile,
        monitor=monitor,
        mode=mode,
        n_startup_runs=n_startup_runs,
        n_warmup_steps=n_warmup_steps,
        interval_steps=interval_steps,
        n_min_runs=n_min_runs,
    )


def successive_halving(
    monitor: str = "eval_loss",
    *,
    mode: Mode = "min",
    min_resource: int | Literal["auto"],
    reduction_factor: int = 4,
    min_early_stopping_rate: int = 0,
) -> SuccessiveHalving:
    """Asynchronous successive halving over a sweep: each rung keeps its top ``1/reduction_factor``.

    Rung ``k`` sits at step ``min_resource * reduction_factor **
    (min_early_stopping_rate + k)``. When a run's latest step reaches a rung,
    its value there is recorded and compared with the values of every run
    that reached the rung before it (running, completed or pruned): it goes
    on when it is among the top ``n // reduction_factor`` of those ``n``
    runs (itself included; the best one while ``n < reduction_factor``),
    else it is named in a [`PruneDecision`][arkor_rx.runs.PruneDecision]
    (rule ``"prune.successive_halving"``). A NaN value at a rung is pruned.
    ``min_resource="auto"`` takes a hundredth of the longest completed run's
    last step (at least 1), fixed at the first check after a run completed;
    until then nothing is pruned. The decisions are those of Optuna's
    ``SuccessiveHalvingPruner``.

    ::

        min_resource=10, reduction_factor=2: rungs at steps 10, 20, 40 ...
        run 0:  --(10, 0.5)--(20, 0.4)--
        run 1:  -----(10, 0.7)----------
        [ successive_halving("eval_loss", min_resource=10, reduction_factor=2) ]
        result: -----P1-----------------        (P1: 0.7 is not the best of 2 at rung 0)

    Examples:
        >>> import reactivex
        >>> from arkor_rx.events import TrainingLog
        >>> from arkor_rx.runs import Run, RunEvent
        >>> a, b = Run(0, "job-a"), Run(1, "job-b")
        >>> sweep = [RunEvent(a, TrainingLog(step=10, eval_loss=0.5)),
        ...          RunEvent(b, TrainingLog(step=10, eval_loss=0.7))]
        >>> pruner = successive_halving("eval_loss", min_resource=10, reduction_factor=2)
        >>> d = reactivex.from_iterable(sweep).pipe(pruner).run()
        >>> d.run.job_id
        'job-b'
        >>> print(d.decision.reason)  # doctest: +NORMALIZE_WHITESPACE
        eval_loss 0.7 at step 10 is worse than 0.5, the cut-off for the best of 2 runs
        at rung 0 (step 10)

    Args:
        monitor: the metric to compare (a ``TrainingLog`` metric name).
        mode: ``"min"`` (lower is better) or ``"max"``.
        min_resource: the step of the first rung, ``>= 1``, or ``"auto"``.
        reduction_factor: the ``eta`` of successive halving, ``>= 2``.
        min_early_stopping_rate: rungs to skip at the start, ``>= 0``.

    Returns:
        A pruner (a frozen, comparable config object).

    Raises:
        ConfigError: an unknown metric, a bad ``mode``, or a number out of range.
    """
    from arkor_rx.operators._successive_halving import SuccessiveHalving

    return SuccessiveHalving(
        monitor=monitor,
        mode=mode,
        min_resource=min_resource,
        reduction_factor=reduction_factor,
        min_early_stopping_rate=min_early_stopping_rate,
    )


def deploy_best(
    client: ArkorClient,
    slug: str,
    *,
    monitor: str = "eval_loss",
    mode: Mode = "min",
    auth_mode: AuthMode = "fixed_api_key",
    view: DeploymentViewer | None = None,
) -> Callable[[Observable[object]], Observable[Deployment]]:
    """When the runs end, deploy the best checkpoint under ``slug``, or re-target it there: once.

    Pipe it onto one run's events (``trainer.events()``, ``ax.attach(...).events()``)
    or onto a sweep's merged stream (``sweep.events()``). It watches every
    run's checkpoints and the monitored metric; when the source completes it
    picks the winner and then makes one change: it re-targets the deployment
    that has ``slug`` (its URL and keys stay; callers keep working), or
    creates it with ``auth_mode`` when there is none. It emits that
    [`Deployment`][arkor_rx.deployments.Deployment] and completes.

    A deployment it *creates* with ``auth_mode="fixed_api_key"`` (the default)
    has no key yet, so every call is refused (401) until you issue one:
    ``await client.create_deployment_key(deployment.id, "production")``
    (its ``plaintext`` is returned that once), or
    ``arkor-rx keys SLUG --create LABEL``. The operator issues none itself:
    a key's plaintext has no safe place in a stream. Pass ``auth_mode="none"``
    for a URL open to anyone who has it.

    A checkpoint is a candidate when its run *completed* and the metric was
    reported at the checkpoint's own step (so the value is that model's, not
    an earlier one's): set ``eval_steps`` to a divisor of ``save_steps``. The best
    value wins (``mode="min"``: lowest); a tie goes to the run seen first, then
    to the earlier step; NaN never wins. With no candidate it completes
    without deploying; when the source errors it deploys nothing.

    ::

        source:  --log(10, .9)--ckpt(10)--log(20, .4)--ckpt(20)--completed--|
        [ deploy_best(client, "support-bot") ]
        result:  ---------------------------------------------------------D|
                 (D: support-bot re-targeted to checkpoint step 20, loss .4)

    Examples:
        >>> async def ship(client, trainer) -> None:  # doctest: +SKIP
        ...     deployment = await trainer.events().pipe(
        ...         deploy_best(client, "support-bot", monitor="eval_loss"))
        ...     print(deployment.url, deployment.target)

        Arguments are checked when the operator is built, before any run:

        >>> from arkor_rx import ArkorClient
        >>> client = ArkorClient("http://127.0.0.1:8765", "token", "local", "demo")
        >>> deploy_best(client, "Support Bot")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        arkor_rx.errors.ConfigError: slug 'Support Bot': must be 2-50 characters of ...

    Args:
        client: the client that deploys (the one the runs use, typically).
        slug: the deployment's slug: 2-50 characters of ``[a-z0-9-]``.
        monitor: the metric to compare (a ``TrainingLog`` metric name).
        mode: ``"min"`` (lower is better) or ``"max"``.
        auth_mode: the auth mode of a deployment it creates (with
            ``"fixed_api_key"``, issue a key before anyone can call it); an
            existing one's is left as it is, keys included.
        view: a live view ([`LiveDashboard`][arkor_rx.dashboard.LiveDashboard],
            [`LiveView`][arkor_rx.notebook.LiveView],
            [`WebDashboard`][arkor_rx.dashboard.WebDashboard]) to show the
            deployment on the winning run (one line: slug, checkpoint step, URL);
            the run the slug served before, if another, stops showing it.

    Returns:
        An operator emitting at most one ``Deployment``. A client error
        (``CloudApiError``, ``TransportError``) ends the stream with it.

    Raises:
        ConfigError: a bad slug, metric, mode, auth mode or view.
    """
    from arkor_rx.deployments import check_deployment_slug
    from arkor_rx.errors import ConfigError
    from arkor_rx.operators._common import check_mode, check_monitor
    from arkor_rx.operators._deploy_best import deploy_best as impl

    if auth_mode not in ("none", "fixed_api_key"):
        raise ConfigError(f"auth_mode must be 'none' or 'fixed_api_key', got {auth_mode!r}")
    if view is not None and not callable(getattr(view, "dispatch", None)):
        raise ConfigError(f"view must be a live view (with dispatch), got {type(view).__name__}")
    return impl(
        client,
        check_deployment_slug(slug),
        check_monitor(monitor),
        check_mode(mode),
        auth_mode,
        view,
    )
