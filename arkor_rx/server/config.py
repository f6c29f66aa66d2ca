"""The local backend's settings: [`ServerConfig`][arkor_rx.server.ServerConfig]."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from arkor_rx.errors import ConfigError
from arkor_rx.server.faults import FaultConfig
from arkor_rx.server.limits import DEFAULT_LIMITS, ServerLimits

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_MAX_BODY_SIZE",
    "ServerConfig",
    "default_concurrency",
    "generate_token",
]

DEFAULT_MAX_BODY_SIZE = 1 << 20
"""Request bodies above 1 MiB are refused with 413."""

DEFAULT_HEADER_TIMEOUT = 20.0
"""Seconds a connection may take to send a complete request line and headers,
counted from when it opens or its previous response ended (an idle keep-alive
connection is closed after the same time)."""

DEFAULT_BODY_TIMEOUT = 30.0
"""Seconds a client may take to send a request body once its headers arrived (408 after)."""


def default_concurrency() -> int:
    """The default ``max_concurrent_jobs``: the number of CPUs (at least 1)."""
    return os.cpu_count() or 1


def generate_token() -> str:
    """A fresh random bearer token (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Settings of the local backend. Frozen; compare by value; the token is masked in the repr.

    Examples:
        >>> config = ServerConfig(token="s3cret", step_delay=0.05)
        >>> "s3cret" in repr(config), config.host
        (False, '127.0.0.1')

    Raises:
        ConfigError (a ValueError): a negative delay or interval, a bad port, an empty token.
    """

    host: str = "127.0.0.1"
    """Address to bind. Loopback by default: the server trains on local files."""
    port: int = 0
    """TCP port; 0 picks a free one (see `LocalServer.url`)."""
    data_dir: Path | None = None
    """Where jobs, event logs (SQLite) and checkpoints live. None: in memory, with
    checkpoints in a temporary directory removed when the server stops."""
    token: str | None = field(default=None, repr=False)
    """The bearer token every request must carry. None: generate one at start."""
    step_delay: float = 0.0
    """Seconds to wait after each training step, so a demo is watchable. 0: full speed."""
    ping_interval: float = 5.0
    """Seconds of silence after which a stream sends an ``event: ping`` frame."""
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    """Largest accepted request body in bytes; bigger ones get 413."""
    max_concurrent_jobs: int = field(default_factory=default_concurrency)
    """Jobs training at the same time (default: the number of CPUs); more wait as
    ``queued`` and start in submission order."""
    dataset_roots: tuple[Path, ...] | None = None
    """Folders a ``file://`` dataset must lie under. None: the folder the server is
    started in, plus [`data_dir`][arkor_rx.server.ServerConfig.data_dir]."""
    limits: ServerLimits = DEFAULT_LIMITS
    """Upper bounds on a job's config, checked at submission (400 naming the field)."""
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    """Seconds a connection may take to send a complete request line and headers
    (default 20), counted from when it opens or its previous response ended; a
    client still sending them then is cut, and an idle keep-alive connection is
    closed after the same time."""
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    """Seconds to receive a request's body; slower gets 408."""
    blas_threads: int | None = 1
    """Threads numpy's BLAS may use while the server runs (process-wide, restored at
    stop). The local model's matrices are far too small to gain from more, and with
    more each training step waits on thread hand-offs: on a loaded 2-core machine a
    step took 50 times longer. None leaves BLAS as it is."""
    faults: FaultConfig = field(default_factory=FaultConfig)
    """Fault injection on the event stream (all off by default)."""
    access_log: bool = False
    """Log one line per request to the ``aiohttp.access`` logger (never the token)."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0-65535, got {self.port}")
        if self.token is not None and not self.token.strip():
            raise ConfigError("token must not be empty")
        if not self.step_delay >= 0:
            raise ConfigError(f"step_delay must be at least 0, got {self.step_delay}")
        if not self.ping_interval > 0:
            raise ConfigError(f"ping_interval must be positive, got {self.ping_interval}")
        if self.max_body_size < 1024:
            raise ConfigError(f"max_body_size must be at least 1024, got {self.max_body_size}")
        if self.max_concurrent_jobs < 1:
            raise ConfigError(
                f"max_concurrent_jobs must be at least 1, got {self.max_concurrent_jobs}"
            )
        if not self.header_timeout > 0:
            raise ConfigError(f"header_timeout must be positive, got {self.header_timeout}")
        if self.blas_threads is not None and self.blas_threads < 1:
            raise ConfigError(f"blas_threads must be at least 1, got {self.blas_threads}")
        if not self.body_timeout > 0:
            raise ConfigError(f"body_timeout must be positive, got {self.body_timeout}")
        if self.data_dir is not None and not isinstance(self.data_dir, Path):
            object.__setattr__(self, "data_dir", Path(self.data_dir))
        if self.dataset_roots is not None:
            roots: Sequence[str | Path] = self.dataset_roots
            object.__setattr__(self, "dataset_roots", tuple(Path(r) for r in roots))

    def resolved_dataset_roots(self) -> tuple[Path, ...]:
        """The dataset roots in force, made absolute (the defaults filled in, from the cwd)."""
        if self.dataset_roots is not None:
            return tuple(r.expanduser().resolve() for r in self.dataset_roots)
        roots = [Path.cwd().resolve()]
        if self.data_dir is not None:
            roots.append(self.data_dir.expanduser().resolve())
        return tuple(roots)

    def __repr__(self) -> str:
        token = "None" if self.token is None else "'***'"
        return (
            f"ServerConfig(host={self.host!r}, port={self.port}, data_dir={self.data_dir!r}, "
            f"token={token}, step_delay={self.step_delay}, ping_interval={self.ping_interval}, "
            f"max_body_size={self.max_body_size}, max_concurrent_jobs={self.max_concurrent_jobs}, "
            f"dataset_roots={self.dataset_roots!r}, limits={self.limits!r}, "
            f"header_timeout={self.header_timeout}, body_timeout={self.body_timeout}, "
            f"blas_threads={self.blas_threads}, "
            f"faults={self.faults!r}, access_log={self.access_log})"
        )

    def with_token(self) -> ServerConfig:
        """This config with a generated token when it has none (else itself)."""
        return self if self.token is not None else replace(self, token=generate_token())
