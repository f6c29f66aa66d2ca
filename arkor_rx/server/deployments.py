"""Deployments and their keys on the local backend: in memory, or SQLite under a data dir.

Rule 1: a key is stored as the SHA-256 of its plaintext, never the plaintext,
which is returned once, by
[`DeploymentStore.create_key`][arkor_rx.server.deployments.DeploymentStore.create_key].
A fast hash is enough because a key is 32 random bytes (256 bits): no one
can find it from its hash, so the slow, salted hashes made for passwords
people choose would add cost and nothing else. A presented key is hashed
and compared with ``hmac.compare_digest``.

Rule 2: a slug is unique for as long as its deployment exists (disabled
included); deleting a deployment deletes its keys.

Rule 3: with a data dir everything is in ``<data_dir>/deployments.sqlite3``
and survives a restart. Only the event loop thread uses the store.

Rule 4: a key's ``last_used_at`` (best-effort, as the docs say) costs a data
plane call no disk I/O: it changes in memory and is written with the store's
next write, or when the store closes. A crash loses only those times.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final

from arkor_rx.server.store import utc_now

__all__ = [
    "KEY_PREFIX",
    "RESERVED_SLUGS",
    "DeploymentRecord",
    "DeploymentStore",
    "KeyRecord",
    "hash_key",
]

KEY_PREFIX: Final = "ark_local_"
"""How every plaintext key of the local backend starts."""

RESERVED_SLUGS: Final = frozenset(
    {"www", "api", "admin", "app", "auth", "login", "studio", "docs", "status", "mail", "cdn"}
)
"""Labels no deployment may take (400), as the cloud reserves ``www``, ``api``, ``admin`` ..."""

_PREFIX_CHARS: Final = len(KEY_PREFIX) + 4


def hash_key(plaintext: str) -> str:
    """The stored form of a key: the hex SHA-256 of its plaintext (see Rule 1)."""
    return hashlib.sha256(plaintext.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    """One deployment as stored; [`to_wire`][arkor_rx.server.deployments.DeploymentRecord.to_wire]
    gives the protocol's ``Deployment`` JSON."""

    id: str
    slug: str
    target: dict[str, Any]
    auth_mode: str
    org_id: str = "local"
    project_id: str = "default"
    enabled: bool = True
    run_retention_mode: str = "days"
    run_retention_days: int | None = 7
    created_at: str = ""
    updated_at: str = ""

    def to_wire(self, url: str) -> dict[str, Any]:
        """The camelCase ``Deployment`` object, with ``url`` the data plane's base URL."""
        wire: dict[str, Any] = {
            "id": self.id,
            "slug": self.slug,
            "orgId": self.org_id,
            "projectId": self.project_id,
            "target": self.target,
            "authMode": self.auth_mode,
            "urlFormat": "openai_compat",
            "enabled": self.enabled,
            "customDomain": None,
            "runRetentionMode": self.run_retention_mode,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "url": url,
        }
        if self.run_retention_days is not None:
            wire["runRetentionDays"] = self.run_retention_days
        return wire


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One key as stored: its hash, never its plaintext."""

    id: str
    deployment_id: str
    label: str
    prefix: str
    key_hash: str
    enabled: bool = True
    created_at: str = ""
    last_used_at: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The camelCase ``DeploymentKey`` object (no plaintext, no hash)."""
        return {
            "id": self.id,
            "label": self.label,
            "prefix": self.prefix,
            "enabled": self.enabled,
            "createdAt": self.created_at,
            "lastUsedAt": self.last_used_at,
        }


_SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (id TEXT PRIMARY KEY, slug TEXT UNIQUE, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deployment_keys (
    id TEXT PRIMARY KEY, deployment_id TEXT NOT NULL, data TEXT NOT NULL
);
"""


class DeploymentStore:
    """Deployments and keys, in memory (``path=None``) or in a SQLite file.

    Examples:
        >>> store = DeploymentStore()
        >>> dep = store.create(DeploymentRecord(id="d1", slug="bot", target={}, auth_mode="none"))
        >>> key, plaintext = store.create_key("d1", "ci")
        >>> store.check_key("d1", plaintext) == key.id, store.check_key("d1", "guess")
        (True, None)
        >>> store.close()
    """

    def __init__(self, path: Path | None = None) -> None:
        self._deployments: dict[str, DeploymentRecord] = {}
        self._keys: dict[str, KeyRecord] = {}
        self._used: set[str] = set()
        """The keys whose ``last_used_at`` is not written yet (Rule 4)."""
        self._db: sqlite3.Connection | None = None
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Opened in a worker thread at startup, then used by the event loop thread only.
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        self._db = db
        for (data,) in db.execute("SELECT data FROM deployments ORDER BY rowid"):
            record = DeploymentRecord(**json.loads(data))
            self._deployments[record.id] = record
        for (data,) in db.execute("SELECT data FROM deployment_keys ORDER BY rowid"):
            key = KeyRecord(**json.loads(data))
            self._keys[key.id] = key

    def close(self) -> None:
        """Write the keys' last use, close the database (a no-op in memory). Calling it
        twice is harmless."""
        if self._db is not None:
            self._write_used(self._db)
            self._db.close()
            self._db = None

    def deployments(self) -> list[DeploymentRecord]:
        """Every deployment, oldest first."""
        return list(self._deployments.values())

    def get(self, deployment_id: str) -> DeploymentRecord | None:
        """The deployment with this id, or None."""
        return self._deployments.get(deployment_id)

    def by_slug(self, slug: str) -> DeploymentRecord | None:
        """The deployment with this slug, or None."""
        return next((d for d in self._deployments.values() if d.slug == slug), None)

    def create(self, record: DeploymentRecord) -> DeploymentRecord:
        """Add a deployment. The caller has checked that its slug is free."""
        now = utc_now()
        record = replace(record, created_at=record.created_at or now, updated_at=now)
        self._deployments[record.id] = record
        self._write("deployments", record.id, asdict(record), slug=record.slug)
        return record

    def update(self, deployment_id: str, **changes: Any) -> DeploymentRecord:
        """Change fields of a deployment; ``updated_at`` becomes now."""
        record = replace(self._deployments[deployment_id], **changes, updated_at=utc_now())
        self._deployments[deployment_id] = record
        self._write("deployments", record.id, asdict(record), slug=record.slug)
        return record

    def delete(self, deployment_id: str) -> None:
        """Delete a deployment and every key of it."""
        self._deployments.pop(deployment_id, None)
        for key in self.keys(deployment_id):
            del self._keys[key.id]
            self._used.discard(key.id)
        if self._db is not None:
            self._write_used(self._db)
            self._db.execute(
                "DELETE FROM deployment_keys WHERE deployment_id = ?", (deployment_id,)
            )
            self._db.execute("DELETE FROM deployments WHERE id = ?", (deployment_id,))

    def keys(self, deployment_id: str) -> list[KeyRecord]:
        """A deployment's keys, revoked ones included, oldest first."""
        return [k for k in self._keys.values() if k.deployment_id == deployment_id]

    def create_key(self, deployment_id: str, label: str) -> tuple[KeyRecord, str]:
        """Issue a key; return its record and its plaintext (the only time it exists)."""
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        key = KeyRecord(
            id=f"key_{secrets.token_hex(8)}",
            deployment_id=deployment_id,
            label=label,
            prefix=plaintext[:_PREFIX_CHARS],
            key_hash=hash_key(plaintext),
            created_at=utc_now(),
        )
        self._keys[key.id] = key
        self._write("deployment_keys", key.id, asdict(key), deployment_id=deployment_id)
        return key, plaintext

    def revoke_key(self, deployment_id: str, key_id: str) -> KeyRecord | None:
        """Disable a key of this deployment; None when it has no such key."""
        key = self._keys.get(key_id)
        if key is None or key.deployment_id != deployment_id:
            return None
        return self._save_key(replace(key, enabled=False))

    def check_key(self, deployment_id: str, presented: str) -> str | None:
        """The id of the enabled key of this deployment that ``presented`` is, or None.

        Every key of the deployment is compared (in constant time), so the
        answer takes as long for a wrong key as for a right one. A match
        records ``last_used_at``, in memory until the next write (Rule 4).
        """
        digest = hash_key(presented)
        found: KeyRecord | None = None
        for key in self.keys(deployment_id):
            if hmac.compare_digest(key.key_hash, digest) and key.enabled:
                found = key
        if found is None:
            return None
        self._keys[found.id] = replace(found, last_used_at=utc_now())
        if self._db is not None:
            self._used.add(found.id)
        return found.id

    def _save_key(self, key: KeyRecord) -> KeyRecord:
        self._keys[key.id] = key
        self._write("deployment_keys", key.id, asdict(key), deployment_id=key.deployment_id)
        return key

    def _write_used(self, db: sqlite3.Connection) -> None:
        """Write the keys whose last use changed since the last write (Rule 4)."""
        used, self._used = self._used, set()
        for key in (self._keys[key_id] for key_id in used if key_id in self._keys):
            _upsert(db, "deployment_keys", key.id, asdict(key), deployment_id=key.deployment_id)

    def _write(self, table: str, row_id: str, data: dict[str, Any], **column: str) -> None:
        if self._db is not None:
            self._write_used(self._db)
            _upsert(self._db, table, row_id, data, **column)


def _upsert(
    db: sqlite3.Connection, table: str, row_id: str, data: dict[str, Any], **column: str
) -> None:
    """Insert or replace one row; ``column`` is the one indexed column besides the id."""
    (name, value), text = next(iter(column.items())), json.dumps(data)
    db.execute(
        f"INSERT INTO {table} (id, {name}, data) VALUES (?, ?, ?) "  # the names are constants
        f"ON CONFLICT(id) DO UPDATE SET {name} = excluded.{name}, data = excluded.data",
        (row_id, value, text),
    )
