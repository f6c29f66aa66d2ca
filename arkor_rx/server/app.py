"""The aiohttp.web application of the local backend: every route of the protocol.

Routes (all need ``Authorization: Bearer <token>``)::

    POST /v1/jobs                       create a job, start training → {"job"}
    GET  /v1/jobs/{id}                  → {"job", "events"}
    POST /v1/jobs/{id}/cancel           → {"job"} once stopped; 409 when already over
    GET  /v1/jobs/{id}/events/stream    SSE; replays after Last-Event-ID, then live
    POST /v1/inference/chat             OpenAI-shaped answer, JSON or SSE

Rule 1: every error is JSON ``{"error": "<message>"}`` with a non-2xx status:
401 bad or missing token, 400 bad input (the message names the field), 404
unknown job, route or checkpoint, 409 cancel of a finished job, 413 body over
``max_body_size``, 500 a bug (logged, never with the token).

Rule 2: the ``orgSlug``/``projectSlug`` query parameters are recorded on a
new job (``orgId``/``projectId``) but not enforced: the local backend has one
user.

Rule 3: a stream frame is ``id: <n>``, ``event: <type>``, one ``data:`` line
of the event's JSON. After the terminal event comes ``event: end`` and the
response ends. Silence longer than ``ping_interval`` gets ``event: ping``.
A client that goes away ends its handler quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from arkor_rx.errors import ConfigError
from arkor_rx.events import KEEPALIVE_EVENT, TERMINAL_STREAM_EVENT
from arkor_rx.jobs import JobConfig
from arkor_rx.protocol import LAST_EVENT_ID_HEADER, ORG_PARAM, PROJECT_PARAM
from arkor_rx.server.config import ServerConfig
from arkor_rx.server.datasets import load_dataset
from arkor_rx.server.faults import garbage_frame
from arkor_rx.server.inference import (
    ChatRequest,
    base_model_answer,
    completion_body,
    parse_chat_request,
    stream_chunks,
    truncate,
)
from arkor_rx.server.runner import CANCELLED_ERROR, SERVER_STOPPED_ERROR, JobRun
from arkor_rx.server.store import JobRecord, JobStore
from arkor_rx.server.training import Adapter, TrainingPlan, load_adapter
from arkor_rx.sse import encode

__all__ = ["STATE_KEY", "ServerState", "create_app"]

_log = logging.getLogger("arkor_rx.server")

_TERMINAL_EVENTS: Final = frozenset({"training.completed", "training.failed"})
_NUMERIC_KNOBS: Final = (
    "maxSteps",
    "numTrainEpochs",
    "learningRate",
    "batchSize",
    "weightDecay",
    "warmupSteps",
    "loggingSteps",
    "saveSteps",
    "evalSteps",
    "loraR",
    "loraAlpha",
    "maxLength",
    "seed",
)
_CANCEL_WAIT: Final = 30.0


class _Notifier:
    """Wakes the stream handlers following a job. Loop thread only."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def waiter(self, job_id: str) -> asyncio.Event:
        event = self._events.get(job_id)
        if event is None:
            event = self._events[job_id] = asyncio.Event()
        return event

    def notify(self, job_id: str) -> None:
        event = self._events.pop(job_id, None)
        if event is not None:
            event.set()

    def notify_all(self) -> None:
        events, self._events = self._events, {}
        for event in events.values():
            event.set()


@dataclass(eq=False)
class ServerState:
    """Everything the handlers share. Available as ``app[STATE_KEY]`` once started.

    Attributes:
        config: the server's config (its token is always set).
        store: jobs and event logs.
        jobs_dir: the parent of every ``<job id>/checkpoints`` directory.
        recovered_jobs: ids of the jobs a previous server left running, failed at start.
    """

    config: ServerConfig
    store: JobStore
    jobs_dir: Path
    executor: ThreadPoolExecutor
    loop: asyncio.AbstractEventLoop
    notifier: _Notifier = field(default_factory=_Notifier)
    active: dict[str, tuple[JobRun, asyncio.Future[None]]] = field(default_factory=dict)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    stream_opens: int = 0
    adapters: dict[tuple[str, float], Adapter] = field(default_factory=dict)
    recovered_jobs: tuple[str, ...] = ()

    def notify_threadsafe(self, job_id: str) -> None:
        """Wake the followers of ``job_id``; callable from any thread."""
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody listens
            self.loop.call_soon_threadsafe(self.notifier.notify, job_id)

    def checkpoint_dir(self, job_id: str) -> Path:
        """Where a job's checkpoints (``step-N.npz``) and ``final.npz`` live."""
        return self.jobs_dir / job_id / "checkpoints"


STATE_KEY: Final = web.AppKey("arkor_rx.server.state", ServerState)
"""The :class:`ServerState` of a running app."""
_CONFIG_KEY: Final = web.AppKey("arkor_rx.server.config", ServerConfig)


def _error(code: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=code)


# --- middlewares ---------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 413:
            limit = request.app[_CONFIG_KEY].max_body_size
            message = f"request body too large: the limit is {limit} bytes"
        elif exc.status == 404:
            message = f"no route {request.method} {request.path}"
        elif exc.status == 405:
            message = f"method {request.method} not allowed on {request.path}"
        response = _error(exc.status, message)
        for name in ("Allow", "WWW-Authenticate"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except ConfigError as exc:
        return _error(400, str(exc))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        _log.exception("unexpected error on %s %s", request.method, request.path)
        return _error(500, "internal server error")


def _auth_middleware(token: str) -> Any:
    expected = token.encode("utf-8")

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8"), expected
        )
        if not ok:
            response = _error(401, "missing or invalid bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="arkor-rx"'
            return response
        return await handler(request)

    return auth


# --- helpers ------------------------------------------------------------------------


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()  # raises 413 past client_max_size
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ConfigError("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ConfigError("request body must be a JSON object")
    return body


def _job_or_404(state: ServerState, job_id: str) -> JobRecord | web.Response:
    job = state.store.get(job_id)
    if job is None:
        return _error(404, f"unknown job {job_id!r}")
    return job


def _validate_config(raw: object) -> JobConfig:
    if not isinstance(raw, dict):
        raise ConfigError("config: must be a JSON object")
    for name in _NUMERIC_KNOBS:
        if isinstance(raw.get(name), bool):
            raise ConfigError(f"invalid job config: {name}: expected a number, got a boolean")
    return JobConfig.build(**raw)


def _stored_config(config: JobConfig) -> dict[str, Any]:
    wire = config.to_wire()
    source = wire.get("datasetSource")
    if isinstance(source, dict) and "token" in source:
        source = dict(source)
        source.pop("token")  # a dataset token is never stored or echoed
        wire["datasetSource"] = source
    return wire


# --- routes -------------------------------------------------------------------------


async def create_job(request: web.Request) -> web.Response:
    """``POST /v1/jobs``: validate the config and the dataset, then start training."""
    state = request.app[STATE_KEY]
    body = await _json_object(request)
    name = body.get("name", "")
    if not isinstance(name, str):
        raise ConfigError("name: must be a string")
    config = _validate_config(body.get("config"))
    plan = TrainingPlan.from_config(config)
    await asyncio.to_thread(load_dataset, config.dataset_source)  # 400 naming the line
    job_id = f"job_{secrets.token_hex(8)}"
    record = JobRecord(
        id=job_id,
        name=name,
        config=_stored_config(config),
        org_id=request.query.get(ORG_PARAM) or "local",
        project_id=request.query.get(PROJECT_PARAM) or "default",
    )
    state.store.create(record)
    run = JobRun(
        store=state.store,
        job_id=job_id,
        config=config,
        plan=plan,
        checkpoint_dir=state.checkpoint_dir(job_id),
        notify=lambda: state.notify_threadsafe(job_id),
        step_delay=state.config.step_delay,
        fail_at_step=state.config.faults.fail_at_step,
    )
    future = state.loop.run_in_executor(state.executor, run.run)
    state.active[job_id] = (run, future)
    future.add_done_callback(lambda _: state.active.pop(job_id, None))
    return web.json_response({"job": record.to_wire()})


async def get_job(request: web.Request) -> web.Response:
    """``GET /v1/jobs/{id}``: the job and its events so far."""
    state = request.app[STATE_KEY]
    job = _job_or_404(state, request.match_info["job_id"])
    if isinstance(job, web.Response):
        return job
    events = [json.loads(e.data) for e in state.store.events_after(job.id, 0)]
    return web.json_response({"job": job.to_wire(), "events": events})


async def cancel_job(request: web.Request) -> web.Response:
    """``POST /v1/jobs/{id}/cancel``: stop within one step; 409 when already over."""
    state = request.app[STATE_KEY]
    job = _job_or_404(state, request.match_info["job_id"])
    if isinstance(job, web.Response):
        return job
    if job.is_terminal:
        return _error(409, f"job {job.id} is already {job.status}", status=job.status)
    entry = state.active.get(job.id)
    if entry is not None:
        run, future = entry
        if not run.cancel_queued():
            run.request_stop(CANCELLED_ERROR)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(future), _CANCEL_WAIT)
    current = state.store.get(job.id)
    assert current is not None
    return web.json_response({"job": current.to_wire()})


def _last_event_id(request: web.Request) -> int:
    raw = request.headers.get(LAST_EVENT_ID_HEADER, "").strip()
    try:
        return max(0, int(raw))
    except ValueError:
        return 0  # absent or not one of our ids: replay from the start


async def stream_events(request: web.Request) -> web.StreamResponse:
    """``GET /v1/jobs/{id}/events/stream``: replay after Last-Event-ID, then follow."""
    state = request.app[STATE_KEY]
    faults = state.config.faults
    state.stream_opens += 1
    if state.stream_opens <= faults.fail_first_opens:
        return _error(
            faults.fail_status,
            f"injected failure {state.stream_opens} of {faults.fail_first_opens}",
        )
    job = _job_or_404(state, request.match_info["job_id"])
    if isinstance(job, web.Response):
        return job
    after = _last_event_id(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    sent = 0
    try:
        while not state.closing.is_set():
            waiter = state.notifier.waiter(job.id)  # before reading: no lost wake-up
            for event in state.store.events_after(job.id, after):
                if faults.garbage_every and sent % faults.garbage_every == 0:
                    await response.write(garbage_frame(sent // faults.garbage_every))
                if faults.frame_delay:
                    await asyncio.sleep(faults.frame_delay)
                await response.write(encode(event.data, event=event.type, id=str(event.id)))
                after = event.id
                sent += 1
                if event.type in _TERMINAL_EVENTS:
                    await response.write(encode("{}", event=TERMINAL_STREAM_EVENT))
                    return response
                if faults.drop_after_events is not None and sent >= faults.drop_after_events:
                    return response  # injected drop: the client resumes after `after`
            current = state.store.get(job.id)
            if (
                current is not None
                and current.is_terminal
                and not state.store.events_after(job.id, after)
            ):
                await response.write(encode("{}", event=TERMINAL_STREAM_EVENT))
                return response
            try:
                await asyncio.wait_for(waiter.wait(), state.config.ping_interval)
            except TimeoutError:
                await response.write(encode("{}", event=KEEPALIVE_EVENT))
    except ConnectionResetError:
        pass  # the client went away: nothing to tell anyone
    return response


async def chat(request: web.Request) -> web.StreamResponse:
    """``POST /v1/inference/chat``: answer with a checkpoint or the final adapter."""
    state = request.app[STATE_KEY]
    body = await _json_object(request)
    chat_request = parse_chat_request(body)
    if chat_request.job_id is None:
        # No adapter: the (untrained) base model answers, in the same shapes.
        answer, finish = truncate(base_model_answer(chat_request.choices), chat_request.max_tokens)
        base = body.get("baseModel") if isinstance(body, dict) else None
        return await _answer(request, chat_request, answer, finish, str(base or "base"))
    job = _job_or_404(state, chat_request.job_id)
    if isinstance(job, web.Response):
        return job
    if chat_request.step is None:
        path = state.checkpoint_dir(job.id) / "final.npz"
        missing = f"job {job.id} has no final adapter (status {job.status})"
    else:
        path = state.checkpoint_dir(job.id) / f"step-{chat_request.step}.npz"
        missing = f"job {job.id} has no checkpoint at step {chat_request.step}"
    adapter = await _adapter(state, path)
    if adapter is None:
        return _error(404, missing)
    label = await asyncio.to_thread(adapter.predict, chat_request.text, chat_request.choices)
    answer, finish = truncate(label, chat_request.max_tokens)
    model = f"{job.id}" + ("" if chat_request.step is None else f"@step-{chat_request.step}")
    return await _answer(request, chat_request, answer, finish, model)


async def _answer(
    request: web.Request, chat_request: ChatRequest, answer: str, finish: str, model: str
) -> web.StreamResponse:
    """Send ``answer`` as one JSON body or as SSE deltas ending in ``[DONE]``."""
    if not chat_request.stream:
        return web.json_response(completion_body(answer, finish, model))
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    try:
        for chunk in stream_chunks(answer, finish, model):
            await response.write(encode(chunk))
        await response.write(encode("[DONE]"))
    except ConnectionResetError:
        pass
    return response


async def _adapter(state: ServerState, path: Path) -> Adapter | None:
    def load() -> tuple[float, Adapter] | None:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        cached = state.adapters.get((str(path), mtime))
        if cached is not None:
            return mtime, cached
        return mtime, load_adapter(path)

    loaded = await asyncio.to_thread(load)
    if loaded is None:
        return None
    mtime, adapter = loaded
    if len(state.adapters) >= 32:
        state.adapters.clear()
    state.adapters[(str(path), mtime)] = adapter
    return adapter


# --- the application ---------------------------------------------------------------------


def create_app(config: ServerConfig) -> web.Application:
    """Build the local backend as an ``aiohttp.web.Application``.

    The app owns its resources through a cleanup context: at startup it opens
    the store (SQLite under ``config.data_dir``, else memory plus a temporary
    checkpoint directory), fails the jobs a previous server left running, and
    starts a thread pool for training. At shutdown it ends every open stream,
    stops every running job (``training.failed``, status ``failed``), waits
    for the threads and closes the store.

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
        middlewares=[_errors_middleware, _auth_middleware(config.token)],
    )
    app[_CONFIG_KEY] = config
    app.router.add_post("/v1/jobs", create_job)
    app.router.add_get("/v1/jobs/{job_id}", get_job)
    app.router.add_post("/v1/jobs/{job_id}/cancel", cancel_job)
    app.router.add_get("/v1/jobs/{job_id}/events/stream", stream_events)
    app.router.add_post("/v1/inference/chat", chat)
    app.cleanup_ctx.append(_lifecycle)
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
    state = ServerState(
        config=config,
        store=store,
        jobs_dir=jobs_dir,
        executor=executor,
        loop=asyncio.get_running_loop(),
        recovered_jobs=tuple(recovered),
    )
    app[STATE_KEY] = state
    try:
        yield
    finally:
        _stop_everything(state)
        pending = [future for _, future in list(state.active.values())]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.to_thread(executor.shutdown, wait=True)
        store.close()
        if temp_dir is not None:
            await asyncio.to_thread(shutil.rmtree, temp_dir, ignore_errors=True)


def _stop_everything(state: ServerState) -> None:
    state.closing.set()
    state.notifier.notify_all()
    for run, _ in list(state.active.values()):
        run.request_stop(SERVER_STOPPED_ERROR)


async def _on_shutdown(app: web.Application) -> None:
    # Runs before aiohttp waits for open handlers: wake every stream so that
    # it ends now instead of holding the shutdown until its timeout.
    state = app.get(STATE_KEY)
    if state is not None:
        _stop_everything(state)
