"""Sweeps: many runs of one config, followed as one stream, pruned across runs.

Rule 1: a sweep is many Trainers and one merged Observable. Each run is a
[`Trainer`][arkor_rx.trainer.Trainer] built by
[`create_trainer`][arkor_rx.trainer.create_trainer] from the shared config and the run's
own knobs; [`Sweep.events`][arkor_rx.sweep.Sweep.events] merges their ``events()`` with
``reactivex.merge``, each event wrapped as [`RunEvent`][arkor_rx.runs.RunEvent].

Rule 2: every config is checked before anything is sent. A bad grid (an
unknown knob, an empty list, a value the job config refuses) is a
[`ConfigError`][arkor_rx.errors.ConfigError] from [`create_sweep`][arkor_rx.sweep.create_sweep].

Rule 3: the pruner decides and the Trainer acts. [`Sweep.wait`][arkor_rx.sweep.Sweep.wait] feeds
every run's events into one merged stream that the pruner watches; each
[`PruneDecision`][arkor_rx.runs.PruneDecision] goes to a stop rule of the run it
names, so that run's Trainer cancels its job once, as for any early-stopping
rule, and the decision becomes its result's ``.stop``.

Rule 4: runs are independent. A run that fails or raises is recorded and the
others go on. Cancelling the task that runs ``wait()`` stops following every
run and cancels none on the backend; [`Sweep.cancel`][arkor_rx.sweep.Sweep.cancel] cancels every
unfinished run, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from arkor_rx._sweep_core import Sweep
from arkor_rx._sweep_parts import (
    FixedSource,
    Mode,
    Pruner,
    check_knobs,
    explicit_runs,
    grid_runs,
    knob_names,
)
from arkor_rx._trainer_options import check_reconnect
from arkor_rx.callbacks import TrainerCallbacks
from arkor_rx.client import ArkorClient
from arkor_rx.errors import ConfigError
from arkor_rx.operators._common import check_int, check_mode, check_monitor
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.stopping import StopRule, flatten_rules

__all__ = ["Pruner", "Sweep", "create_sweep", "knob_names"]


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
        name: the sweep's name; run ``i`` is submitted as ``"<name>-<i> (<knobs>)"``.
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
        sinks: sinks every run writes to (passed to ``create_trainer(sinks=)``).
        client: the client of every run; by default ``ArkorClient.from_env()``,
            which the sweep then closes in ``aclose()``.
        reconnect: every run's stream [`ReconnectPolicy`][arkor_rx.retry.ReconnectPolicy].
        study: an ``optuna.Study`` that drives the sweep (see
            [`arkor_rx.optuna_bridge`][arkor_rx.optuna_bridge]); needs ``space``, ``n_runs`` and
            ``monitor``.
        space: ``trial -> dict of knobs`` using ``trial.suggest_*``.
        n_runs: the number of trials the study should hold in total.
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
    chosen = [k for k, v in (("grid", grid), ("runs", runs), ("study", study)) if v is not None]
    if len(chosen) != 1:
        raise ConfigError(
            "give exactly one of grid=, runs= or study= "
            + (f"(got {' and '.join(chosen)})" if chosen else "(got none)")
        )
    if study is None and (space is not None or n_runs is not None):
        raise ConfigError("space= and n_runs= go with study=")
    if pruner is not None and not callable(pruner):
        raise ConfigError(f"pruner must be callable (e.g. aop.median_pruner(...)), got {pruner!r}")
    if monitor is None:
        monitor = getattr(pruner, "monitor", None)
    if mode is None:
        mode = getattr(pruner, "mode", None)
    if monitor is not None:
        check_monitor(monitor)
    check_reconnect(reconnect)
    rules = list(flatten_rules(early_stopping, where="early_stopping"))
    bridge: Any = None
    if study is not None:
        from arkor_rx import optuna_bridge

        mode = optuna_bridge.study_mode(study, monitor, mode)
        bridge = optuna_bridge.StudySource(study, space, n_runs, monitor, max_concurrent)
    owns = client is None
    sweep = Sweep(
        name=name.strip(),
        shared=shared,
        client=ArkorClient.from_env() if client is None else client,
        owns_client=owns,
        max_concurrent=max_concurrent,
        pruner=pruner,
        monitor=monitor,
        mode=check_mode("min" if mode is None else mode),
        early_stopping=rules,
        callbacks=callbacks,
        sinks=sinks,
        reconnect=reconnect,
    )
    if bridge is not None:
        bridge.probe(sweep, allowed)
        sweep._use(bridge)
    else:
        knobs = (
            grid_runs(grid, shared, allowed) if grid is not None else explicit_runs(runs, allowed)
        )
        slots = [sweep.make_slot(i, k) for i, k in enumerate(knobs)]
        sweep._use(FixedSource(slots, max_concurrent))
    return sweep
