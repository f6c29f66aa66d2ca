"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` binaries, a tmp cluster.

`PostgresServer.start` runs ``initdb`` into a fresh directory and ``pg_ctl
start`` listening on no TCP address at all (``listen_addresses=''``): only
on its unix socket, in that same private directory (mode 0700), so there is
no port to race other processes for, and trust authentication reaches no
one who cannot read the directory;
`PostgresServer.stop` stops it (``-m fast``) and removes the directory. As
root, initdb refuses to run, so every server command then runs as the
``postgres`` system user (Debian's package creates it) through ``runuser``,
and the directory is handed to that user first.

`find_bin` says why no server can be had (no binaries, no user to run them
as) so the tests skip with that one line.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresServer", "find_bin"]

USER = "arkor"
"""The database superuser the cluster is created with (no password; trust on loopback)."""


def find_bin() -> tuple[Path | None, str]:
    """The newest ``/usr/lib/postgresql/<version>/bin``, or None and why not."""
    roots = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    roots = [r for r in roots if (r / "initdb").exists() and (r / "pg_ctl").exists()]
    if not roots:
        return (
            None,
            "no PostgreSQL server binaries (apt-get install postgresql; .ci/run installs it)",
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return None, "running as root and there is no 'postgres' user to run initdb as"
        if shutil.which("runuser") is None:
            return None, "running as root and there is no runuser to run initdb as 'postgres'"
    return roots[-1], ""


PORT = 5432
"""Only names the socket file (``.s.PGSQL.5432``) in the cluster's own directory: no TCP."""


@dataclass
class PostgresServer:
    """One running cluster; `url` is SQLAlchemy's ``postgresql+psycopg://`` URL of its database."""

    bin: Path
    root: Path
    port: int = PORT

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy's URL of ``database`` (``postgresql+psycopg://``, through the socket)."""
        return f"postgresql+psycopg://{USER}@/{database}?host={self.root}&port={self.port}"

    def dsn(self, database: str = "postgres") -> str:
        """The libpq connection string of ``database`` (for psycopg itself)."""
        return f"host={self.root} port={self.port} user={USER} dbname={database}"

    def new_database(self, name: str) -> str:
        """Create the empty database ``name`` (a plain identifier); its SQLAlchemy URL."""
        import psycopg

        if not name.isidentifier():
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    @classmethod
    def start(cls, bin_dir: Path) -> PostgresServer:
        """initdb + pg_ctl start; raises ``RuntimeError`` with the server's log on failure."""
        # As root, under /tmp: the postgres user must reach it (a TMPDIR in /root would not do).
        root = Path(tempfile.mkdtemp(prefix="arkor-pg-", dir="/tmp" if os.geteuid() == 0 else None))
        server = cls(bin_dir, root)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(root, entry.pw_uid, entry.pw_gid)
        root.chmod(0o700)
        server._run(
            "initdb", "-D", str(root / "data"), "-U", USER, "--auth=trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        options = (
            f"-c listen_addresses='' -p {server.port} -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100"
        )
        try:
            server._run(
                "pg_ctl", "-D", str(root / "data"), "-l", str(root / "log"), "-o", options,
                "-w", "-t", "60", "start",
            )  # fmt: skip
        except RuntimeError as exc:
            log = root / "log"
            text = log.read_text(errors="replace") if log.exists() else ""
            server.remove()
            raise RuntimeError(f"{exc}\n{text}") from None
        return server

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()}")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
