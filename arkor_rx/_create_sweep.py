"""``create_sweep``: check every argument, then build a [`Sweep`][arkor_rx.sweep.Sweep].

Re-exported by [`arkor_rx.sweep`][arkor_rx.sweep] (and ``arkor_rx``), where it is documented.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from arkor_rx._mode import Mode
from arkor_rx._sweep_knobs import check_knobs, knob_names
from arkor_rx._sweep_sources import run_source
from arkor_rx._trainer_options import check_reconnect
from arkor_rx.callbacks import TrainerCallbacks
from arkor_rx.client import ArkorClient
from arkor_rx.errors import ConfigError
from arkor_rx.operators._common import check_int, check_mode, check_monitor
from arkor_rx.pruning import Pruner
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.stopping import StopRule, flatten_rules

if TYPE_CHECKING:
    from arkor_rx.sweep import Sweep

__all__ = ["create_sweep"]


def create_sweep(
    *,
    name: str,
    grid: Mapping[str, Sequence[Any]] | None = None,
    runs: Sequence[Mapping[str, Any]] | None = None,
    max_concurrent: int = 4,
    pruner: Pruner | None = None,
    monitor: str | None = None,
    mode: Mode | None = None,
    early_stopping: StopRule | Sequence[StopRule] | None = None,
    callbacks: TrainerCallbacks | Mapping[str, Any] | None = None,
    sinks: Sequence[Any] | None = None,
    client: ArkorClient | None = None,
    reconnect: ReconnectPolicy | None = None,
    study: Any = None,
    space: Callable[[Any], Mapping[str, Any]] | None = None,
    n_runs: int | None = None,
    max_running: int | None = None,
    **shared: Any,
) -> Sweep:
    """Build a [`Sweep`][arkor_rx.sweep.Sweep]: the shared config over a grid, a list of runs or an
    Optuna study.

    Nothing is sent until [`Sweep.wait`][arkor_rx.sweep.Sweep.wait] or
    [`Sweep.events`][arkor_rx.sweep.Sweep.events]; every
    run's config is validated here.

    Examples:
        >>> sweep = create_sweep(  # doctest: +SKIP
        ...     name="lr-sweep", model="arkor/triage-tiny",
        ...     dataset={"type": "huggingface", "name": "arkorlab/triage-demo"},
        ...     max_steps=60, eval_steps=10,
        ...     grid={"learning_rate": [0.02, 0.05, 0.2], "lora_r": [4, 8]},
        ...     max_concurrent=2, pruner=aop.median_pruner("eval_loss", n_startup_runs=2),
        ...     client=client)
        >>> result = await sweep.wait()  # doctest: +SKIP
        >>> print(result.table())  # doctest: +SKIP

    Args:
        name: the sweep's name; run ``i`` is submitted as ``"<name>-<i> (<knobs>)"``
            (``"<name>-t<trial number> (<knobs>) #<nonce>"`` in a study-driven sweep).
        grid: knob -> list of values; one run per combination (the cartesian
            product, the last knob varying fastest). A knob may not also be
            in the shared config.
        runs: an explicit list of dicts of knobs, one run each; a run's knob
            overrides the shared one.
        max_concurrent: the most runs followed (and so submitted) at a time.
        pruner: a cross-run rule (``aop.median_pruner(...)`` ...) over the
            merged stream; each run it names is stopped once.
        monitor: the metric the best run is chosen by (and reported to an
            Optuna study); default the pruner's ``monitor``.
        mode: ``"min"`` or ``"max"``; default the pruner's (or the study's
            direction), else ``"min"``.
        early_stopping: per-run stop rules, applied to every run on its own.
        callbacks: the callbacks of every run (a run's context has its job).
        sinks: sinks every run writes to (passed to ``create_trainer(sinks=)``); in
            place of an ``MLflow`` sink without a ``parent_run``, the runs write to its
            ``with_parent_run(name)``, so they nest under one parent run named after the
            sweep, and the sink given is left unchanged (reuse it for another sweep).
        client: the client of every run; by default ``ArkorClient.from_env()``,
            which the sweep then closes in ``aclose()``.
        reconnect: every run's stream [`ReconnectPolicy`][arkor_rx.retry.ReconnectPolicy].
        study: an ``optuna.Study`` that drives the sweep (see
            [`arkor_rx.optuna_bridge`][arkor_rx.optuna_bridge]); needs ``space``, ``n_runs`` and
            ``monitor``.
        space: ``trial -> dict of knobs`` using ``trial.suggest_*``.
        n_runs: the number of trials the study should hold in total.
        max_running: with ``study=``, the most trials ``RUNNING`` in the study at
            once, counted across every driver sharing it (see "Sweeps across machines").
        **shared: the shared config: ``model``, ``dataset`` and any other
            ``create_trainer`` keyword (``max_steps``, ``eval_steps`` ...).

    Raises:
        ConfigError: an unknown knob, an empty grid or list, a value the job
            config refuses (naming the run), conflicting arguments, or no
            client configuration in the environment.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"name must be a non-empty string, got {name!r}")
    allowed = knob_names()
    check_knobs("create_sweep", list(shared), allowed)
    max_concurrent = check_int("max_concurrent", max_concurrent, 1)
    monitor, mode = _pruner_defaults(pruner, monitor, mode)
    check_reconnect(reconnect)
    rules = list(flatten_rules(early_stopping, where="early_stopping"))
    source, chosen_mode = run_source(
        grid=grid,
        runs=runs,
        study=study,
        space=space,
        n_runs=n_runs,
        shared=shared,
        allowed=allowed,
        monitor=monitor,
        mode=mode,
        max_concurrent=max_concurrent,
        max_running=max_running,
    )
    owns = client is None
    options: dict[str, Any] = {"shared": shared, "callbacks": callbacks, "early_stopping": rules}
    options.update(sinks=sinks, reconnect=reconnect)
    from arkor_rx.sweep import Sweep  # sweep.py re-exports this module's create_sweep

    return Sweep(
        name=name.strip(),
        client=ArkorClient.from_env() if client is None else client,
        owns_client=owns,
        max_concurrent=max_concurrent,
        pruner=pruner,
        monitor=monitor,
        mode=check_mode("min" if chosen_mode is None else chosen_mode),
        run_options=options,
        source=source,
    )


def _pruner_defaults(
    pruner: Pruner | None, monitor: str | None, mode: Mode | None
) -> tuple[str | None, Mode | None]:
    """Check ``pruner``; ``monitor`` and ``mode``, each defaulting to the pruner's own."""
    if pruner is not None and not callable(pruner):
        raise ConfigError(f"pruner must be callable (e.g. aop.median_pruner(...)), got {pruner!r}")
    if monitor is None:
        monitor = getattr(pruner, "monitor", None)
    if mode is None:
        mode = getattr(pruner, "mode", None)
    if monitor is not None:
        check_monitor(monitor)
    return monitor, mode
