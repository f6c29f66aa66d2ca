"""Follow a job someone else started: [`attach`][arkor_rx.attach.attach] gives a full Trainer of an
existing job.

Rule 1: nothing is sent by [`attach`][arkor_rx.attach.attach]. The first ``wait()``, ``events()``
or ``cancel()`` fetches the job once (``GET /v1/jobs/{id}``), so an unknown id
is a [`CloudApiError`][arkor_rx.errors.CloudApiError] with status 404 from that call,
before any stream is opened (the stream would treat a 404 as transient and
retry).

Rule 2: the attached Trainer is the same Trainer: callbacks, early-stopping
rules (whose first decision cancels the job once), sinks, ``wait()``,
``events()`` and ``cancel()`` behave as for a job it submitted. Attaching to a
finished job replays its stored events through the callbacks and returns its
result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from arkor_rx._trainer_options import trainer_options
from arkor_rx.callbacks import TrainerCallbacks
from arkor_rx.client import ArkorClient
from arkor_rx.errors import ConfigError
from arkor_rx.jobs import JobConfig, TrainingJob
from arkor_rx.protocol import job_path
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.sinks._base import Sink
from arkor_rx.stopping import StopRule
from arkor_rx.trainer import Trainer

__all__ = ["attach"]


class _AttachedTrainer(Trainer):
    """A Trainer of an existing job: [`start`][arkor_rx.trainer.Trainer.start] fetches it (``GET``)
    instead of submitting one.

    ``options`` are the constructor's (callbacks, reconnect, early_stopping
    ...). Nothing is sent here; the first ``start()`` fetches the job, once, so
    an unknown id is a ``CloudApiError(404)`` from ``start()``/``wait()``; the
    name and config then come from the job.
    """

    def __init__(self, job_id: str, *, client: ArkorClient, **options: Any) -> None:
        super().__init__(name="", config=None, client=client, **options)  # type: ignore[arg-type]
        self._attached_id = job_id
        self._job_source = self._fetch

    @classmethod
    def _of_job(cls, job_id: str, *, client: ArkorClient, **options: Any) -> _AttachedTrainer:
        """The Trainer following ``job_id`` (what [`attach`][arkor_rx.attach.attach] builds,
        unchecked)."""
        return cls(job_id, client=client, **options)

    async def _fetch(self) -> TrainingJob:
        job = await self._client.get_job(self._attached_id)
        self._name = job.name
        with contextlib.suppress(ValidationError):  # a config from another server
            self._config = JobConfig.model_validate(job.config)
        return job

    async def cancel(self) -> None:
        """Cancel the job on the backend, once (fetching it first if needed).

        Raises:
            CloudApiError: an unknown job (404), or another non-2xx answer.
            TransportError: the request could not be sent.
        """
        await self.start()
        await super().cancel()


def attach(
    job_id: str,
    *,
    client: ArkorClient | None = None,
    callbacks: TrainerCallbacks | Mapping[str, Any] | None = None,
    early_stopping: StopRule | Sequence[StopRule] | None = None,
    sinks: Sequence[Sink] | None = None,
    reconnect: ReconnectPolicy | None = None,
) -> Trainer:
    """A Trainer following the existing job ``job_id``; nothing is sent until it is used.

    Examples:
        >>> async def follow(client: ArkorClient, job_id: str) -> None:  # doctest: +SKIP
        ...     trainer = attach(job_id, client=client,
        ...                      callbacks={"on_log": lambda ctx: print(ctx.step, ctx.loss)},
        ...                      early_stopping=[aop.non_finite("loss")])
        ...     result = await trainer.wait()
        ...     print(result.status, result.stop)

    Args:
        job_id: the id of a job of the client's project (``client.list_jobs()``).
        client: the client to use; by default ``ArkorClient.from_env()``, which
            the trainer then closes in ``aclose()``.
        callbacks: a [`TrainerCallbacks`][arkor_rx.callbacks.TrainerCallbacks] or a dict of them.
        early_stopping: one stop rule or several; the first decision cancels the job.
        sinks: sinks the events are written to, as with ``create_trainer(sinks=)``.
        reconnect: the stream's [`ReconnectPolicy`][arkor_rx.retry.ReconnectPolicy].

    Returns:
        A [`Trainer`][arkor_rx.trainer.Trainer]; ``await trainer.wait()`` follows
        the job (or replays a finished one) and returns its result.

    Raises:
        ConfigError: an empty or malformed id, bad callbacks, rules, sinks or
            reconnect policy, or no client configuration in the environment.
    """
    if not isinstance(job_id, str) or not job_id.strip():
        raise ConfigError(f"job_id must be a non-empty string, got {job_id!r}")
    job_id = job_id.strip()
    job_path(job_id)  # refuses "." and ".." (ConfigError), sends nothing
    options = trainer_options(
        client=client,
        callbacks=callbacks,
        reconnect=reconnect,
        early_stopping=early_stopping,
        sinks=sinks,
    )
    return _AttachedTrainer._of_job(job_id, **options)
