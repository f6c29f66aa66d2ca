"""The sinks a command's flags ask for: checked before a job is submitted, judged after.

Rule 1: what can be known before a run is checked before anything starts: a
file's folder exists and can be written, a file is not a folder, a
TensorBoard (or MLflow file store) folder is not a file and can be created,
a Prometheus port is free. A failure raises
[`ConfigError`][arkor_rx.errors.ConfigError] naming the flag, the value and
what is wrong; ``main`` prints it as one line and exits 1, before a server
starts or a job is submitted. The checks only look: they create nothing
(the port is bound and released at once).

Rule 2: a sink never writes over what the command reads: a file target
(``--record``, ``--csv``, an MLflow SQLite database) that is an input file (the
same path, a hard link or a symlink: ``os.path.samefile``), or a folder target
(``--tensorboard``, an MLflow file store) that holds one, is refused the same
way, before the input is opened.

Rule 3: a sink that failed during the run (its ``stats.errors``) is named
after the summary, with its last error, and the command exits 1 even when
the run itself succeeded: what the user asked to be written was not.

Rule 4: a library's own chatter is not the command's output: MLflow's INFO
lines (creating its database tables ...) are hidden unless the user set
``MLFLOW_LOGGING_LEVEL``; its warnings and errors still show.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from arkor_rx.cli._common import EXIT_ERROR, EXIT_OK, PROG
from arkor_rx.errors import ConfigError

__all__ = [
    "check_sink_targets",
    "file_problem",
    "folder_problem",
    "prepare_sinks",
    "report_sink_failures",
]


def prepare_sinks(args: argparse.Namespace, reading: Sequence[str] = ()) -> None:
    """Before ``build_sinks(args)``: check the targets (`check_sink_targets`), quiet MLflow.

    Args:
        args: the parsed command line, with the sink flags.
        reading: the files the command reads (a replay's recording): no sink may write them.

    Raises:
        ConfigError: a target that cannot be written, or that would overwrite an input.
    """
    check_sink_targets(args, reading)
    if getattr(args, "mlflow", None) and "MLFLOW_LOGGING_LEVEL" not in os.environ:
        _quiet_mlflow()


def _quiet_mlflow() -> None:
    """MLflow's logger at WARNING: its import sets it to INFO, and the MLflow sink's
    construction already logs (creating the database tables)."""
    try:
        importlib.import_module("mlflow")
    except ImportError:  # build_sinks names the extra to install
        return
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def check_sink_targets(args: argparse.Namespace, reading: Sequence[str] = ()) -> None:
    """Check every sink flag given in ``args``; raise on the first that cannot work.

    Args:
        args: the parsed command line, with the sink flags.
        reading: the files the command reads: a file target that is one of them,
            or a folder target that holds one, is refused (Rule 2).

    Raises:
        ConfigError: ``--record FILE: the folder /x does not exist``,
            ``--csv R: is R, the file being read (it would be overwritten)`` and the like.
    """
    checks: tuple[tuple[str, Callable[[Any], str | None], Callable[[Any], _Target]], ...] = (
        ("record", file_problem, _file),
        ("csv", file_problem, _file),
        ("tensorboard", folder_problem, _folder),
        ("mlflow", _mlflow_problem, _mlflow_target),
        ("prometheus", _port_problem, lambda port: None),
    )
    for flag, check, target in checks:
        value = getattr(args, flag, None)
        if value is None:
            continue
        problem = check(value) or _overwrite_problem(target(value), reading)
        if problem is not None:
            raise ConfigError(f"--{flag} {value}: {problem}")


_Target = tuple[str, bool] | None
"""Where a sink writes on this machine: a path and whether it is a folder (None: not a path)."""


def _file(path: str) -> _Target:
    return path, False


def _folder(path: str) -> _Target:
    return path, True


def _overwrite_problem(target: _Target, reading: Sequence[str]) -> str | None:
    """Why writing ``target`` would overwrite a file being read (None: it would not)."""
    if target is None:
        return None
    path, is_folder = target
    for name in reading:
        source = Path(name).expanduser()
        if not is_folder and _same_file(source, path):
            return f"is {name}, the file being read (it would be overwritten)"
        if is_folder and any(_same_file(folder, path) for folder in _folders_of(source)):
            return f"holds {name}, the file being read (give the sink another folder)"
    return None


def _folders_of(source: Path) -> Sequence[Path]:
    """The folders that hold ``source`` (where its links lead), innermost first."""
    try:
        return source.resolve().parents
    except (OSError, RuntimeError):  # a symlink loop: reading it fails, in its own words
        return ()


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(Path(a).expanduser(), Path(b).expanduser())
    except OSError:  # either is missing: not the same file
        return False


def file_problem(path: str) -> str | None:
    """Why a file cannot be written at ``path`` (None: it can, as far as can be told)."""
    if path == "-":
        return "writing to stdout is not supported here: give a file name"
    target = Path(path).expanduser()
    if target.is_dir():
        return "is a folder, not a file"
    folder = target.parent
    if not folder.exists():
        return f"the folder {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if target.exists():
        return None if os.access(target, os.W_OK) else "cannot be written (permission denied)"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} cannot be written (permission denied)"
    return None


def folder_problem(path: str) -> str | None:
    """Why files cannot be written in the folder ``path``, made if missing (None: they can)."""
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        return "is a file, not a folder"
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot be created: {existing} is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "cannot be written" if existing == target else f"cannot be created in {existing}"
        return f"{what} (permission denied)"
    return None


def _mlflow_target(uri: str) -> _Target:
    """Where a local MLflow store lives: a SQLite file or a folder (None: a server, or memory)."""
    parts = urlsplit(uri)
    if parts.scheme == "sqlite":
        database = uri.split(":///", 1)[1] if ":///" in uri else ""
        return None if database in ("", ":memory:") else (database, False)
    if parts.scheme == "file":
        from urllib.request import url2pathname

        return url2pathname(parts.path), True
    if parts.scheme == "" or len(parts.scheme) == 1:  # a plain path (or a Windows drive)
        return uri, True
    return None


def _mlflow_problem(uri: str) -> str | None:
    """A local MLflow store that cannot be written (a server URI is not checked here)."""
    target = _mlflow_target(uri)
    if target is None:
        return None
    path, is_folder = target
    return folder_problem(path) if is_folder else file_problem(path)


def _port_problem(port: int) -> str | None:
    """Why the Prometheus endpoint cannot listen on 127.0.0.1:``port`` (0: any, always free)."""
    if port == 0:
        return None
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as http.server binds it (allow_reuse_address): a closed connection's TIME_WAIT is no clash
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} is already in use on 127.0.0.1"
            return f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc})"
    return None


def sink_failures(sinks: Iterable[object]) -> list[str]:
    """One line per sink that failed during the run: its name, how often, its last error."""
    lines = []
    for sink in sinks:
        name = getattr(sink, "name", None) or type(sink).__name__
        stats = getattr(sink, "stats", None)
        errors = getattr(stats, "errors", 0)
        if errors:
            last = getattr(stats, "last_error", None) or "unknown error"
            times = "once" if errors == 1 else f"{errors} times"
            lines.append(f"sink {name} failed {times}; last error: {last}")
    return lines


def report_sink_failures(console: Any, sinks: Iterable[object], status: int) -> int:
    """Print the sinks that failed after the summary; return ``status``, 1 if one failed
    and the run itself succeeded."""
    failures = sink_failures(sinks)
    for line in failures:
        console.print(f"{PROG}: {line}", markup=False, highlight=False, soft_wrap=True)
    if failures and status == EXIT_OK:
        return EXIT_ERROR
    return status
