"""Drivers sharing one Optuna study: a study-wide lock, the running cap, heartbeats.

Used by [`arkor_rx.optuna_bridge`][arkor_rx.optuna_bridge]; ``optuna`` is imported by it.

Rule 1: a driver takes a trial only while it holds the study's lock: asking
a new one (after counting the study's ``RUNNING`` trials against
``max_running`` and its trials against ``n_runs``) or adopting a dead
driver's trial. On PostgreSQL the lock is a session advisory lock keyed by
the study, held on one pooled connection for the few statements of the
claim (which Optuna runs on a second one: the pool must allow two), so
drivers on any number of machines take turns; on another storage it is a
lock of this process only (the cap then holds per process, and the
study-wide count is best effort).

Rule 1a: taking the lock never waits. It is tried
(``pg_try_advisory_lock``, a non-blocking ``threading.Lock.acquire``) and,
when another driver holds it, the caller sleeps on its event loop and tries
again; so a driver frozen while it holds the lock (SIGSTOP, a suspended
laptop) delays the other drivers' claims, never their streams, reports or
tells. PostgreSQL frees the lock when that driver's connection ends.

Rule 2: a trial is alive while its driver beats for it. With an
``RDBStorage(heartbeat_interval=...)``, each driver records a heartbeat for
every trial it follows, every ``heartbeat_interval`` seconds, from the moment
it asked or adopted it. A ``RUNNING`` trial whose last heartbeat is older
than the storage's ``grace_period`` (default twice the interval) is stale:
its driver is gone, and the next driver that claims (Rule 1) adopts it.
Without heartbeats nothing is ever stale.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from arkor_rx.errors import ConfigError

__all__ = ["Heartbeats", "StudyFleet", "driver_id"]


logger = logging.getLogger("arkor_rx.optuna_bridge")


def driver_id() -> str:
    """A name for this driver, unique across machines: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


_LOCAL_LOCKS: dict[tuple[int, int], threading.Lock] = {}


def _check_pool(engine: Any) -> None:
    """A claim holds the lock on one connection while Optuna's statements take another:
    a pool that cannot lend two would wait for itself until SQLAlchemy's pool timeout."""
    size = getattr(engine.pool, "size", None)
    overflow = getattr(engine.pool, "_max_overflow", None)
    if not callable(size) or not isinstance(overflow, int) or overflow < 0:
        return  # not a QueuePool (NullPool opens one per use), or an unbounded overflow
    most = int(size()) + overflow
    if most < 2:
        raise ConfigError(
            f"the study's storage pools at most {most} database connection; a sweep shared "
            "through PostgreSQL needs 2 (engine_kwargs pool_size + max_overflow >= 2)"
        )


class StudyFleet:
    """One driver's view of a study that other drivers may share."""

    def __init__(self, study: Any, optuna: Any) -> None:
        self._study = study
        self._optuna = optuna
        self._storage: Any = study._storage  # Optuna keeps no public handle on it
        self._study_id: int = study._study_id
        backend = getattr(self._storage, "_backend", self._storage)  # under _CachedStorage
        engine = getattr(backend, "engine", None)
        self._engine = (
            engine if engine is not None and engine.dialect.name == "postgresql" else None
        )
        if self._engine is not None:
            _check_pool(self._engine)
        key = hashlib.blake2b(f"arkor_rx:{self._study_id}".encode(), digest_size=8).digest()
        self._key = int.from_bytes(key, "big", signed=True)
        heartbeat = isinstance(self._storage, optuna.storages._heartbeat.BaseHeartbeat)
        interval = self._storage.get_heartbeat_interval() if heartbeat else None
        self.heartbeat_interval: float | None = None if interval is None else float(interval)
        """Seconds between heartbeats (None: the storage has none, Rule 2)."""

    @property
    def shared_lock(self) -> bool:
        """Whether the lock is study-wide (PostgreSQL), not only this process's."""
        return self._engine is not None

    @contextlib.contextmanager
    def try_claim(self) -> Iterator[bool]:
        """Try to take the study's lock, without waiting (Rule 1a); yields whether it is held,
        and frees it on leaving."""
        if self._engine is None:
            lock = _LOCAL_LOCKS.setdefault((id(self._storage), self._study_id), threading.Lock())
            held = lock.acquire(blocking=False)
            try:
                yield held
            finally:
                if held:
                    lock.release()
            return
        import sqlalchemy

        with self._engine.connect() as connection:
            held = bool(
                connection.execute(
                    sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}
                ).scalar()
            )
            connection.commit()
            try:
                yield held
            finally:
                if held:
                    connection.execute(
                        sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key}
                    )
                    connection.commit()

    def running(self) -> list[Any]:
        """The study's ``RUNNING`` trials, as the storage has them now."""
        state = self._optuna.trial.TrialState
        return list(self._study.get_trials(deepcopy=False, states=(state.RUNNING,)))

    def stale(self) -> list[Any]:
        """The ``RUNNING`` trials whose driver stopped beating (Rule 2), oldest first."""
        if self.heartbeat_interval is None:
            return []
        ids = set(self._storage._get_stale_trial_ids(self._study_id))
        return [t for t in self.running() if t._trial_id in ids]

    def beat(self, trial_id: int) -> None:
        """Record that this driver follows ``trial_id`` (no-op without heartbeats)."""
        if self.heartbeat_interval is not None:
            self._storage.record_heartbeat(trial_id)


class Heartbeats:
    """Beats for the trials this driver follows, every interval, on a thread of its own.

    A thread, not a task: a driver whose event loop is busy (a long synchronous
    callback, a slow sampler) must not look dead. The thread runs while there
    is a trial to beat for, and ends when there is none.
    """

    def __init__(self, fleet: StudyFleet) -> None:
        self._fleet = fleet
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, trial_id: int) -> None:
        """Beat for ``trial_id`` from now on (no-op without heartbeats)."""
        if self._fleet.heartbeat_interval is None:
            return
        with self._lock:
            self._ids.add(trial_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="arkor_rx-heartbeats", daemon=True
                )
                self._thread.start()

    def discard(self, trial_id: int) -> None:
        """Stop beating for ``trial_id``."""
        with self._lock:
            self._ids.discard(trial_id)

    def _run(self) -> None:
        interval = self._fleet.heartbeat_interval
        assert interval is not None
        stop = threading.Event()
        while not stop.wait(interval):
            with self._lock:
                ids = sorted(self._ids)
                if not ids:
                    self._thread = None
                    return
            for trial_id in ids:
                try:
                    self._fleet.beat(trial_id)
                except Exception as exc:  # a storage hiccup: the next beat may pass
                    logger.warning("heartbeat of trial id %d failed: %s", trial_id, exc)
