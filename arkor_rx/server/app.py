"""The aiohttp.web application of the local backend: every route of the protocol.

Routes (all but the data plane need ``Authorization: Bearer <token>``)::

    POST /v1/jobs                       create a job, queue it for training → {"job"}
    GET  /v1/jobs                       → {"jobs": [...]}, newest first
    GET  /v1/jobs/{id}                  → {"job", "events"}
    POST /v1/jobs/{id}/cancel           → {"job"} once stopped; 409 when already over
    GET  /v1/jobs/{id}/events/stream    SSE; replays after Last-Event-ID, then live
    POST /v1/inference/chat             OpenAI-shaped answer, JSON or SSE
    /v1/endpoints...                    deployments and keys (see `deploy_routes`)
    POST /deployments/{slug}/v1/chat/completions   a deployment's OpenAI-compatible data plane
                                        (its own auth, not the bearer token)

The handlers live in `routes` and
`streaming`; errors are shaped by
`http_errors` (and, for requests aiohttp's parser
refuses, by `connection`). This module wires them and
owns the app's resources.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

from aiohttp import web

from arkor_rx.server import deploy_routes, routes
from arkor_rx.server.config import ServerConfig
from arkor_rx.server.http_errors import (
    BODY_TIMEOUT_KEY,
    MAX_BODY_KEY,
    auth_middleware,
    errors_middleware,
)
from arkor_rx.server.model import limit_blas_threads
from arkor_rx.server.state import STATE_KEY, ServerState
from arkor_rx.server.store import JobStore
from arkor_rx.server.streaming import stream_events

__all__ = ["STATE_KEY", "ServerState", "create_app"]

_log = logging.getLogger("arkor_rx.server")
_CONFIG_KEY: Final = web.AppKey("arkor_rx.server.config", ServerConfig)


def create_app(config: ServerConfig) -> web.Application:
    """Build the local backend as an ``aiohttp.web.Application``.

    The app owns its resources through a cleanup context: at startup it opens
    the store (SQLite under ``config.data_dir``, else memory plus a temporary
    checkpoint directory), fails the jobs a previous server left running,
    fixes its dataset roots (relative to the current folder), limits BLAS to
    ``blas_threads`` and starts a thread pool of ``max_concurrent_jobs``
    workers for training. At shutdown
    it ends every open stream, stops every queued or running job
    (``training.failed``, status ``failed``), waits for the threads and closes
    the store.

    Serve it with ``arkor_rx.server.connection.JsonErrorRunner`` (as
    [`LocalServer`][arkor_rx.server.LocalServer] does) so that even requests aiohttp
    cannot parse are answered in JSON, and slow clients are cut.

    Example::

        from aiohttp.test_utils import TestServer
        async with TestServer(create_app(ServerConfig(token="t"))) as server:
            ...  # requests with "Authorization: Bearer t"

    Args:
        config: the settings. When ``config.token`` is None a token is
            generated; read it from ``app[STATE_KEY].config.token``.

    Returns:
        The application, ready for ``AppRunner`` or ``TestServer``.
    """
    config = config.with_token()
    assert config.token is not None
    app = web.Application(
        client_max_size=config.max_body_size,
        middlewares=[
            errors_middleware,
            auth_middleware(config.token, open_routes=deploy_routes.OPEN_ROUTES),
        ],
    )
    app[_CONFIG_KEY] = config
    app[MAX_BODY_KEY] = config.max_body_size
    app[BODY_TIMEOUT_KEY] = config.body_timeout
    app.router.add_post("/v1/jobs", routes.create_job)
    app.router.add_get("/v1/jobs", routes.list_jobs)
    app.router.add_get("/v1/jobs/{job_id}", routes.get_job)
    app.router.add_post("/v1/jobs/{job_id}/cancel", routes.cancel_job)
    app.router.add_get("/v1/jobs/{job_id}/events/stream", stream_events)
    app.router.add_post("/v1/inference/chat", routes.chat)
    app.cleanup_ctx.append(_lifecycle)
    deploy_routes.register(app, config)  # /v1/endpoints and the data plane, after _lifecycle
    app.on_shutdown.append(_on_shutdown)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    config = app[_CONFIG_KEY]
    temp_dir: str | None = None
    if config.data_dir is not None:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        store = await asyncio.to_thread(JobStore, config.data_dir / "arkor-rx.sqlite3")
        jobs_dir = config.data_dir / "jobs"
    else:
        store = JobStore()
        temp_dir = tempfile.mkdtemp(prefix="arkor-rx-")
        jobs_dir = Path(temp_dir) / "jobs"
    recovered = store.recover_interrupted()
    if recovered:  # INFO, not WARNING: the server prints nothing unless logging is set up
        _log.info("marked %d interrupted job(s) as failed", len(recovered))
    executor = ThreadPoolExecutor(
        max_workers=config.max_concurrent_jobs, thread_name_prefix="arkor-rx-train"
    )
    restore_blas = limit_blas_threads(config.blas_threads)
    state = ServerState(
        config=config,
        store=store,
        jobs_dir=jobs_dir,
        executor=executor,
        loop=asyncio.get_running_loop(),
        dataset_roots=config.resolved_dataset_roots(),
        recovered_jobs=tuple(recovered),
    )
    app[STATE_KEY] = state
    try:
        yield
    finally:
        state.stop_everything()
        pending = [future for _, future in list(state.active.values())]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.to_thread(executor.shutdown, wait=True)
        store.close()
        restore_blas()
        if temp_dir is not None:
            await asyncio.to_thread(shutil.rmtree, temp_dir, ignore_errors=True)


async def _on_shutdown(app: web.Application) -> None:
    # Runs before aiohttp waits for open handlers: wake every stream so that
    # it ends now instead of holding the shutdown until its timeout.
    state = app.get(STATE_KEY)
    if state is not None:
        state.stop_everything()
