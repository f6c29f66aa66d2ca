"""Jobs and their append-only event logs: in memory, or SQLite under a data dir.

Rule 1: an event log only grows. Each job's events get ids 1, 2, 3, ... in
the order they were appended; an appended event never changes.

Rule 2: the store is thread-safe (one lock): training threads append events
and update jobs while the event loop reads them. Every call is short.

Rule 3: with a data dir, everything is in ``<data_dir>/arkor-rx.sqlite3``
(standard-library ``sqlite3``, WAL mode) and survives a restart. Event logs
then live only in the database: readers page through them
([`JobStore.events_after`][arkor_rx.server.store.JobStore.events_after] with a ``limit``), so a long
run costs no
memory. In memory (no data dir), a log is bounded by what a job may emit
([`ServerLimits`][arkor_rx.server.ServerLimits]).
[`JobStore.recover_interrupted`][arkor_rx.server.store.JobStore.recover_interrupted] marks the jobs
that were queued or
running when the last server stopped as failed, with a ``training.failed``
event, so none is ever lost or left "running" forever.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from arkor_rx.events import TrainingFailed
from arkor_rx.jobs import TERMINAL_STATUSES

__all__ = ["INTERRUPTED_ERROR", "JobRecord", "JobStore", "StoredEvent", "utc_now"]

INTERRUPTED_ERROR: Final = (
    "interrupted: the server stopped while this job was running; start a new job to retry"
)
"""The error of a job found queued or running when the server starts again."""


def utc_now() -> str:
    """The current UTC time as ISO-8601 with a ``Z`` (millisecond precision)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job as stored. [`to_wire`][arkor_rx.server.store.JobRecord.to_wire] gives the protocol's
    ``TrainingJob`` JSON."""

    id: str
    name: str
    config: dict[str, Any]
    org_id: str = "local"
    project_id: str = "default"
    status: str = "queued"
    error: str | None = None
    created_at: str = field(default_factory=utc_now)
    started_at: str | None = None
    completed_at: str | None = None

    @property
    def is_terminal(self) -> bool:
        """True once completed, failed or cancelled."""
        return self.status in TERMINAL_STATUSES

    def to_wire(self) -> dict[str, Any]:
        """The camelCase ``TrainingJob`` object of the protocol."""
        return {
            "id": self.id,
            "orgId": self.org_id,
            "projectId": self.project_id,
            "name": self.name,
            "status": self.status,
            "config": self.config,
            "error": self.error,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "completedAt": self.completed_at,
        }


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One entry of a job's event log: its id, its type and its JSON text."""

    id: int
    type: str
    data: str


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, config TEXT NOT NULL,
    org_id TEXT NOT NULL, project_id TEXT NOT NULL, status TEXT NOT NULL,
    error TEXT, created_at TEXT NOT NULL, started_at TEXT, completed_at TEXT
);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
"""

_COLUMNS = (
    "id, name, config, org_id, project_id, status, error, created_at, started_at, completed_at"
)


class JobStore:
    """Jobs and event logs, kept in memory (``path=None``) or in a SQLite file.

    Examples:
        >>> store = JobStore()
        >>> job = store.create(JobRecord(id="job_1", name="demo", config={}))
        >>> store.append("job_1", "training.started", '{"type":"training.started"}')
        1
        >>> [e.id for e in store.events_after("job_1", 0)]
        [1]
        >>> store.close()
    """

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRecord] = {}
        self._events: dict[str, list[StoredEvent]] = {}  # in memory only
        self._counts: dict[str, int] = {}  # events per job
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._db = db
            for row in db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY rowid"):
                job = JobRecord(
                    id=row[0],
                    name=row[1],
                    config=json.loads(row[2]),
                    org_id=row[3],
                    project_id=row[4],
                    status=row[5],
                    error=row[6],
                    created_at=row[7],
                    started_at=row[8],
                    completed_at=row[9],
                )
                self._jobs[job.id] = job
                self._counts[job.id] = 0
            for job_id, count in db.execute("SELECT job_id, max(seq) FROM events GROUP BY job_id"):
                self._counts[job_id] = count

    @property
    def persistent(self) -> bool:
        """True when backed by a SQLite file."""
        return self._db is not None

    def close(self) -> None:
        """Close the database (a no-op in memory). Calling it twice is harmless."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def create(self, job: JobRecord) -> JobRecord:
        """Add a new job with an empty event log."""
        with self._lock:
            if job.id in self._jobs:
                raise KeyError(f"job {job.id} already exists")
            self._jobs[job.id] = job
            self._counts[job.id] = 0
            if self._db is None:
                self._events[job.id] = []
            self._write_job(job, insert=True)
        return job

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None when there is no such job."""
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[JobRecord]:
        """Every job, oldest first (in submission order)."""
        with self._lock:
            return list(self._jobs.values())

    def page(self, limit: int, *, after: str | None = None) -> tuple[list[JobRecord], str | None]:
        """Up to ``limit`` jobs, newest first, older than the job ``after`` (None: the newest).

        Returns:
            The jobs, and the cursor of the next page (the last job's id), or
            None when no older job remains.

        Raises:
            KeyError: ``after`` is not a job.
        """
        with self._lock:
            if after is not None and after not in self._jobs:
                raise KeyError(after)
            ordered = list(self._jobs)  # oldest first: ids are only ever appended
            end = len(ordered) if after is None else ordered.index(after)
            start = max(0, end - limit)
            page = [self._jobs[job_id] for job_id in reversed(ordered[start:end])]
        return page, (page[-1].id if start > 0 and page else None)

    def event_count(self, job_id: str) -> int:
        """How many events the job's log holds (its last event id); 0 for an unknown job."""
        with self._lock:
            return self._counts.get(job_id, 0)

    def update(self, job_id: str, **changes: Any) -> JobRecord:
        """Change fields of a job (``status``, ``error``, ``started_at`` ...)."""
        with self._lock:
            job = replace(self._jobs[job_id], **changes)
            self._jobs[job_id] = job
            self._write_job(job, insert=False)
            return job

    def append(self, job_id: str, kind: str, data: str) -> int:
        """Append an event of type ``kind`` with JSON text ``data``; return its id."""
        with self._lock:
            seq = self._counts[job_id] + 1
            if self._db is not None:
                self._db.execute(
                    "INSERT INTO events (job_id, seq, type, data) VALUES (?, ?, ?, ?)",
                    (job_id, seq, kind, data),
                )
            else:
                self._events[job_id].append(StoredEvent(seq, kind, data))
            self._counts[job_id] = seq
            return seq

    def finish(self, job_id: str, kind: str, data: str, **changes: Any) -> JobRecord:
        """Append a terminal event and update the job in one step (one lock hold).

        A reader never sees the terminal event while the job still looks active.
        """
        with self._lock:
            job = replace(self._jobs[job_id], **changes)
            seq = self._counts[job_id] + 1
            if self._db is not None:
                self._db.execute("BEGIN")
                try:
                    self._db.execute(
                        "INSERT INTO events (job_id, seq, type, data) VALUES (?, ?, ?, ?)",
                        (job_id, seq, kind, data),
                    )
                    self._write_job(job, insert=False)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            else:
                self._events[job_id].append(StoredEvent(seq, kind, data))
            self._counts[job_id] = seq
            self._jobs[job_id] = job
            return job

    def events_after(self, job_id: str, after: int, limit: int | None = None) -> list[StoredEvent]:
        """The events of a job whose id is greater than ``after``, in order; at most ``limit``."""
        start = max(after, 0)
        with self._lock:
            if self._db is None:
                log = self._events.get(job_id, [])
                return log[start : None if limit is None else start + limit]
            rows = self._db.execute(
                "SELECT seq, type, data FROM events WHERE job_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (job_id, start, -1 if limit is None else limit),
            )
            return [StoredEvent(seq, kind, data) for seq, kind, data in rows]

    def recover_interrupted(self) -> list[str]:
        """Fail every job left queued or running by a previous server; return their ids."""
        recovered = []
        for job in self.jobs():
            if job.is_terminal:
                continue
            now = utc_now()
            event = TrainingFailed(job_id=job.id, timestamp=now, error=INTERRUPTED_ERROR)
            self.finish(
                job.id,
                event.type,
                event.to_json(),
                status="failed",
                error=INTERRUPTED_ERROR,
                completed_at=now,
            )
            recovered.append(job.id)
        return recovered

    def _write_job(self, job: JobRecord, *, insert: bool) -> None:
        if self._db is None:
            return
        values = (
            job.name,
            json.dumps(job.config),
            job.org_id,
            job.project_id,
            job.status,
            job.error,
            job.created_at,
            job.started_at,
            job.completed_at,
        )
        if insert:
            self._db.execute(
                f"INSERT INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job.id, *values),
            )
        else:
            self._db.execute(
                "UPDATE jobs SET name=?, config=?, org_id=?, project_id=?, status=?, error=?, "
                "created_at=?, started_at=?, completed_at=? WHERE id=?",
                (*values, job.id),
            )
