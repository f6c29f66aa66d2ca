"""The HTTP client of the Arkor cloud API (and of the local backend, which speaks the same).

Rule 1: every request carries ``Authorization: Bearer <token>``,
``X-Arkor-Client`` (and ``User-Agent``) and the ``orgSlug``/``projectSlug``
query parameters. The routes, headers and status rules come from
[`arkor_rx.protocol`][arkor_rx.protocol]; the bytes go through a
[`Transport`][arkor_rx.transport.Transport] (aiohttp by default), so this module
never touches aiohttp.

Rule 2: a non-2xx answer is a [`CloudApiError`][arkor_rx.errors.CloudApiError] with
``.status``, the body's message and ``retry_after``; 426 is an
[`UpgradeRequiredError`][arkor_rx.errors.UpgradeRequiredError] with a hint to upgrade.
A failed connection is a [`TransportError`][arkor_rx.errors.TransportError].

Rule 3: the token is a ``SecretStr`` from the constructor on. It is revealed
only to build the ``Authorization`` header; it is masked in the repr, never
logged, and cut out of any error the server echoes it in: out of the decoded
message and body, in whatever JSON escapes the server spelt it (see
``arkor_rx._redaction``). Successful answers are never rewritten.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from arkor_rx._client_core import (
    ClientCore,
    api_error,
    check_base_url,
    check_header_value,
    check_slug,
    check_token,
)
from arkor_rx._deployments_client import DeploymentRoutes
from arkor_rx._inference_client import InferenceRoutes
from arkor_rx._redaction import Redactor, hide
from arkor_rx.credentials import resolve_settings
from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingEvent
from arkor_rx.jobs import JobConfig, TrainingJob
from arkor_rx.protocol import (
    CACHE_CONTROL_HEADER,
    DEFAULT_BASE_URL,
    EVENT_STREAM_CONTENT_TYPE,
    LAST_EVENT_ID_HEADER,
    USER_AGENT,
    cancel_path,
    events_path,
    job_path,
    jobs_path,
    scope_params,
)
from arkor_rx.transport import AiohttpTransport, StreamResponse, Transport

__all__ = ["ArkorClient", "api_error"]

logger = logging.getLogger(__name__)


class ArkorClient(InferenceRoutes, DeploymentRoutes, ClientCore):
    """An asyncio client of the Arkor cloud API: jobs, their event stream, inference, deployments.

    One client holds one HTTP session; close it with ``aclose()`` or use it
    as an async context manager.

    Examples:
        >>> async def main() -> None:  # doctest: +SKIP
        ...     async with ArkorClient("http://127.0.0.1:8765", token="t",
        ...                            org_slug="local", project_slug="demo") as client:
        ...         job = await client.create_job("demo", {"model": "m",
        ...             "datasetSource": {"type": "huggingface", "name": "arkorlab/triage-demo"}})
        ...         print((await client.get_job(job.id)).status)

    Args:
        base_url: the API root, e.g. ``https://api.arkor.ai`` (a path prefix is kept).
        token: the bearer token. Stored as a ``SecretStr``; never shown.
        org_slug: the organisation the requests are scoped to.
        project_slug: the project the requests are scoped to.
        client_name: the ``X-Arkor-Client`` value; default ``arkor_rx/<version>``.
        transport: what sends the requests; default an
            [`AiohttpTransport`][arkor_rx.transport.AiohttpTransport]. The client closes
            it in [`aclose`][arkor_rx.client.ArkorClient.aclose], whoever made it.
        request_timeout: seconds a plain request may take, and a stream may
            take to answer with its headers. A stream's body has no time limit.

    Raises:
        ConfigError: an empty token or slug, a bad URL or a bad timeout.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        token: str | SecretStr = "",
        org_slug: str = "",
        project_slug: str = "",
        *,
        client_name: str | None = None,
        transport: Transport | None = None,
        request_timeout: float = 30.0,
    ) -> None:
        self._base_url = check_base_url(base_url)
        self._token = check_token(token)
        self._redactor = Redactor(self._token.get_secret_value())
        hide(self._token.get_secret_value())  # never handed to a sink, whatever a server echoes
        self._org_slug = check_slug(org_slug, "org_slug")
        self._project_slug = check_slug(project_slug, "project_slug")
        name = USER_AGENT if client_name is None else check_slug(client_name, "client_name")
        self._client_name = check_header_value(name, "client_name")
        if (
            isinstance(request_timeout, bool)
            or not isinstance(request_timeout, int | float)
            or not math.isfinite(request_timeout)
            or request_timeout <= 0
        ):
            raise ConfigError(f"request_timeout must be a positive number, got {request_timeout!r}")
        self._request_timeout = float(request_timeout)
        self._transport: Transport = (
            transport
            if transport is not None
            else AiohttpTransport(request_timeout=request_timeout)
        )
        self._params = scope_params(self._org_slug, self._project_slug)

    @classmethod
    def from_env(
        cls,
        *,
        env: Mapping[str, str] | None = None,
        home: Path | None = None,
        cwd: Path | None = None,
        client_name: str | None = None,
        transport: Transport | None = None,
        request_timeout: float = 30.0,
    ) -> ArkorClient:
        """A client configured like the official Arkor CLI: no set-up after ``arkor login``.

        Reads ``ARKOR_CLOUD_API_URL``, ``~/.arkor/credentials.json`` (anonymous
        or OAuth shape) and ``.arkor/state.json`` in the current folder. The
        arkor_rx extensions ``ARKOR_TOKEN``, ``ARKOR_ORG_SLUG`` and
        ``ARKOR_PROJECT_SLUG`` override the files. The full order is in
        [`arkor_rx.credentials`][arkor_rx.credentials].

        Examples:
            >>> client = ArkorClient.from_env(env={  # doctest: +SKIP
            ...     "ARKOR_TOKEN": "t", "ARKOR_ORG_SLUG": "o", "ARKOR_PROJECT_SLUG": "p"})

        Args:
            env: the environment to read (default ``os.environ``).
            home: the home folder (default ``Path.home()``).
            cwd: the project folder (default ``Path.cwd()``).
            client_name: the ``X-Arkor-Client`` value, as for the constructor.
            transport: the HTTP transport, as for the constructor.
            request_timeout: seconds for one request, as for the constructor.

        Raises:
            ConfigError: a file is missing or malformed (the message names the
                file and the problem, never the token), or a value is missing.
        """
        settings = resolve_settings(env=env, home=home, cwd=cwd)
        return cls(
            settings.base_url,
            settings.token,
            settings.org_slug,
            settings.project_slug,
            client_name=client_name,
            transport=transport,
            request_timeout=request_timeout,
        )

    @property
    def base_url(self) -> str:
        """The API root, without a trailing slash."""
        return self._base_url

    @property
    def org_slug(self) -> str:
        """The organisation the requests are scoped to."""
        return self._org_slug

    @property
    def project_slug(self) -> str:
        """The project the requests are scoped to."""
        return self._project_slug

    @property
    def client_name(self) -> str:
        """The ``X-Arkor-Client`` value sent with every request."""
        return self._client_name

    @property
    def request_timeout(self) -> float:
        """Seconds a plain request may take."""
        return self._request_timeout

    @property
    def transport(self) -> Transport:
        """The transport the requests go through."""
        return self._transport

    def __repr__(self) -> str:
        return (
            f"ArkorClient(base_url={self._base_url!r}, org_slug={self._org_slug!r}, "
            f"project_slug={self._project_slug!r}, token='***')"
        )

    # --- jobs -----------------------------------------------------------------

    async def create_job(self, name: str, config: Mapping[str, Any] | JobConfig) -> TrainingJob:
        """Submit a training job (``POST /v1/jobs``).

        Args:
            name: the job's display name.
            config: the camelCase config sent as is (``{"model", "datasetSource",
                ...}``), or a [`JobConfig`][arkor_rx.jobs.JobConfig], sent as its
                ``to_wire()``.

        Returns:
            The job as the server created it.

        Raises:
            ConfigError: an empty name or a config that is not a mapping.
            CloudApiError: a non-2xx answer, or a 2xx without a job in it.
            TransportError: no answer could be had.
        """
        name = check_slug(name, "name")
        if isinstance(config, JobConfig):
            wire = config.to_wire()
        elif isinstance(config, Mapping):
            wire = dict(config)
        else:
            raise ConfigError(
                f"config must be a mapping or a JobConfig, not {type(config).__name__}"
            )
        status, body = await self._call(
            "POST", jobs_path(), json_body={"name": name, "config": wire}
        )
        return self._job(status, self._object(status, body, "create job"), "create job")

    async def get_job(self, job_id: str) -> TrainingJob:
        """The job's current state (``GET /v1/jobs/{id}``).

        Raises:
            ConfigError: an empty job id.
            CloudApiError: a non-2xx answer (404 for an unknown job).
            TransportError: no answer could be had.
        """
        job, _ = await self.get_job_with_events(job_id)
        return job

    async def get_job_with_events(self, job_id: str) -> tuple[TrainingJob, list[TrainingEvent]]:
        """The job and the past events the server includes with it, if any.

        The ``events`` list of the answer is parsed tolerantly: an entry that
        is not a valid event object is skipped; an unknown type becomes an
        [`UnknownEvent`][arkor_rx.events.UnknownEvent]. No ``events`` gives ``[]``.

        Raises:
            ConfigError, CloudApiError, TransportError: as
                [`get_job`][arkor_rx.client.ArkorClient.get_job].
        """
        status, body = await self._call("GET", job_path(job_id))
        data = self._object(status, body, "get job")
        return self._job(status, data, "get job"), self._events(data)

    async def list_jobs(self) -> list[TrainingJob]:
        """The jobs of the project, newest first (``GET /v1/jobs``).

        A server that pages its list (a ``nextCursor`` in the answer, as the
        local backend does) is followed page by page (``?cursor=``) to the end.

        Examples:
            >>> async def show(client: ArkorClient) -> None:  # doctest: +SKIP
            ...     for job in await client.list_jobs():
            ...         print(job.id, job.name, job.status)

        Returns:
            The jobs in the server's order (the protocol says newest first).

        Raises:
            CloudApiError: a non-2xx answer, or an answer without a ``jobs`` list
                (or with an entry that is not a job, or a ``nextCursor`` that is not
                a string or comes back again).
            TransportError: no answer could be had.
        """
        jobs: list[TrainingJob] = []
        cursors: set[str] = set()
        query: dict[str, str] | None = None
        while True:
            status, body = await self._call("GET", jobs_path(), query=query)
            data = self._object(status, body, "list jobs")
            jobs.extend(self._jobs(status, data))
            cursor = self._next_cursor(status, data, cursors)
            if cursor is None:
                return jobs
            query = {"cursor": cursor}

    async def cancel_job(self, job_id: str) -> None:
        """Ask the backend to cancel the job (``POST /v1/jobs/{id}/cancel``).

        Raises:
            ConfigError: an empty job id.
            CloudApiError: a non-2xx answer, e.g. 409 when the job already ended.
            TransportError: no answer could be had.
        """
        await self._call("POST", cancel_path(job_id))

    # --- the event stream -----------------------------------------------------

    async def open_event_stream(
        self, job_id: str, *, last_event_id: str | None = None
    ) -> StreamResponse:
        """Open the job's SSE stream (``GET /v1/jobs/{id}/events/stream``).

        Sends ``Accept: text/event-stream``, ``Cache-Control: no-cache`` and,
        when ``last_event_id`` is a non-empty string, ``Last-Event-ID`` so the
        server resumes after that event. The body is read with
        ``read_chunk()``; it has no time limit (the reactive core watches for
        silence). The caller closes it with ``aclose()``.

        Raises:
            ConfigError: an empty job id, or an id with CR, LF or NUL.
            CloudApiError: a non-2xx answer (the body is read for the message
                and the connection closed); ``retry_after`` from the header.
            UpgradeRequiredError: 426.
            TransportError: the connection could not be made.
        """
        headers = self._headers(accept=EVENT_STREAM_CONTENT_TYPE)
        headers[CACHE_CONTROL_HEADER] = "no-cache"
        if last_event_id:
            headers[LAST_EVENT_ID_HEADER] = check_header_value(last_event_id, "last_event_id")
        path = events_path(job_id)
        stream = await self._transport.open_stream(
            "GET", self._url(path), params=self._params, headers=headers
        )
        logger.debug("GET %s -> %d (stream)", path, stream.status)
        await self._check_stream(stream)
        return stream

    # --- inference ------------------------------------------------------------

    # --- lifetime -------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the transport and its connections. Idempotent."""
        await self._transport.aclose()

    async def __aenter__(self) -> ArkorClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
