"""The JSON routes of the local backend: jobs and inference.

Routes (all need ``Authorization: Bearer <token>``)::

    POST /v1/jobs                       validate, queue, train → {"job"}
    GET  /v1/jobs?limit=&cursor=        → {"jobs": [...], "nextCursor"?}, newest first
    GET  /v1/jobs/{id}                  → {"job", "events"} (the latest events, capped)
    POST /v1/jobs/{id}/cancel           → {"job"} once stopped; 409 when already over
    POST /v1/inference/chat             OpenAI-shaped answer, JSON or SSE

Rule 1: a job config is validated by the client's own model
([`arkor_rx.jobs.JobConfig`][arkor_rx.jobs.JobConfig]), then by the server's
[`ServerLimits`][arkor_rx.server.ServerLimits], then its dataset is read and
checked, and the run's size is checked against the limits: all before the
job exists. A 400 names the field.

Rule 2: the ``orgSlug``/``projectSlug`` query parameters are recorded on a
new job (``orgId``/``projectId``) but not enforced, and ``GET /v1/jobs``
lists every job: the local backend has one user.

Rule 3: ``GET /v1/jobs/{id}`` carries at most
[`MAX_JOB_EVENTS`][arkor_rx.server.routes.MAX_JOB_EVENTS] events,
the latest ones (so the terminal event is always there once the job ended);
when older ones are left out, ``eventsOmitted`` says how many. The whole log
is on the stream, which replays it from any ``Last-Event-ID``.

Rule 4: bounds. A job name is at most
[`MAX_NAME_CHARS`][arkor_rx.server.routes.MAX_NAME_CHARS] characters (400
naming ``name``). ``GET /v1/jobs`` answers a page of at most ``limit`` jobs
(default [`JOBS_PAGE`][arkor_rx.server.routes.JOBS_PAGE], at most
[`MAX_JOBS_PAGE`][arkor_rx.server.routes.MAX_JOBS_PAGE]); when older jobs
remain, ``nextCursor`` is the opaque ``cursor`` of the next page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from arkor_rx.errors import ConfigError
from arkor_rx.jobs import JobConfig
from arkor_rx.protocol import ORG_PARAM, PROJECT_PARAM
from arkor_rx.server.http_errors import ApiError, read_json_object
from arkor_rx.server.inference import (
    ChatRequest,
    base_model_answer,
    completion_body,
    parse_chat_request,
    stream_chunks,
    truncate,
)
from arkor_rx.server.model import Adapter, DamagedArtifactError, load_adapter
from arkor_rx.server.plan import TrainingPlan
from arkor_rx.server.runner import CANCELLED_ERROR, JobRun
from arkor_rx.server.state import STATE_KEY, ServerState
from arkor_rx.server.store import JobRecord
from arkor_rx.server.streaming import sse_response
from arkor_rx.server.training import split
from arkor_rx.sse import encode

__all__ = [
    "JOBS_PAGE",
    "MAX_JOBS_PAGE",
    "MAX_JOB_EVENTS",
    "MAX_NAME_CHARS",
    "answer_chat",
    "cancel_job",
    "chat",
    "create_job",
    "get_job",
    "list_jobs",
]

MAX_JOB_EVENTS: Final = 1000
"""The most events ``GET /v1/jobs/{id}`` carries (the latest ones)."""
MAX_NAME_CHARS: Final = 256
"""The longest job name ``POST /v1/jobs`` accepts, in characters."""
JOBS_PAGE: Final = 500
"""The jobs in one page of ``GET /v1/jobs`` when the request gives no ``limit``."""
MAX_JOBS_PAGE: Final = 1000
"""The largest ``limit`` of ``GET /v1/jobs``."""
_CANCEL_WAIT: Final = 30.0
_ADAPTER_CACHE: Final = 16


def _validate_config(raw: object, state: ServerState) -> tuple[JobConfig, TrainingPlan]:
    if not isinstance(raw, dict):
        raise ConfigError("config: must be a JSON object")
    config = JobConfig.build(**raw)
    state.config.limits.check(config)
    return config, TrainingPlan.from_config(config)


def _stored_config(config: JobConfig) -> dict[str, Any]:
    wire = config.to_wire()
    source = wire.get("datasetSource")
    if isinstance(source, dict) and "token" in source:
        source = dict(source)
        source.pop("token")  # a dataset token is never stored or echoed
        wire["datasetSource"] = source
    return wire


def _json_text(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="application/json")


async def create_job(request: web.Request) -> web.Response:
    """``POST /v1/jobs``: validate the config, the dataset and the run's size, then queue it."""
    state = request.app[STATE_KEY]
    body = await read_json_object(request)
    name = body.get("name", "")
    if not isinstance(name, str):
        raise ConfigError("name: must be a string")
    if len(name) > MAX_NAME_CHARS:
        raise ConfigError(f"name: at most {MAX_NAME_CHARS} characters, got {len(name)}")
    config, plan = _validate_config(body.get("config"), state)
    data = await asyncio.to_thread(state.read_dataset, config.dataset_source)  # 400 naming the line
    state.config.limits.check_run(plan, len(split(len(data), plan.seed)[0]), len(set(data.labels)))
    job_id = f"job_{secrets.token_hex(8)}"
    record = JobRecord(
        id=job_id,
        name=name,
        config=_stored_config(config),
        org_id=request.query.get(ORG_PARAM) or "local",
        project_id=request.query.get(PROJECT_PARAM) or "default",
    )
    state.store.create(record)
    state.submit(
        JobRun(
            store=state.store,
            job_id=job_id,
            config=config,
            plan=plan,
            checkpoint_dir=state.checkpoint_dir(job_id),
            notify=lambda: state.notify_threadsafe(job_id),
            step_delay=state.config.step_delay,
            faults=state.config.faults,
            read_dataset=state.read_dataset,
        )
    )
    return web.json_response({"job": record.to_wire()})


async def list_jobs(request: web.Request) -> web.Response:
    """``GET /v1/jobs?limit=&cursor=``: a page of the jobs, newest first (queued ones
    included); ``nextCursor`` when older ones remain."""
    state = request.app[STATE_KEY]
    raw_limit = request.query.get("limit")
    limit = JOBS_PAGE
    if raw_limit is not None:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_JOBS_PAGE:
            raise ConfigError(f"limit: must be an integer from 1 to {MAX_JOBS_PAGE}")
        limit = int(raw_limit)
    cursor = request.query.get("cursor")
    try:
        page, next_cursor = state.store.page(limit, after=cursor)
    except KeyError:
        raise ConfigError("cursor: not a cursor of this server's job list") from None
    answer: dict[str, Any] = {"jobs": [job.to_wire() for job in page]}
    if next_cursor is not None:
        answer["nextCursor"] = next_cursor
    return web.json_response(answer)


async def get_job(request: web.Request) -> web.Response:
    """``GET /v1/jobs/{id}``: the job and its latest events (at most
    [`MAX_JOB_EVENTS`][arkor_rx.server.routes.MAX_JOB_EVENTS])."""
    state = request.app[STATE_KEY]
    job = state.job(request.match_info["job_id"])
    count = state.store.event_count(job.id)
    omitted = max(0, count - MAX_JOB_EVENTS)
    events = state.store.events_after(job.id, omitted, MAX_JOB_EVENTS)
    # The stored events are JSON already: splice them in rather than parse and re-dump.
    extra = f',"eventsOmitted":{omitted}' if omitted else ""
    job_text = json.dumps(job.to_wire())
    return _json_text(f'{{"job":{job_text},"events":[{",".join(e.data for e in events)}]{extra}}}')


async def cancel_job(request: web.Request) -> web.Response:
    """``POST /v1/jobs/{id}/cancel``: stop within one step; 409 when already over."""
    state = request.app[STATE_KEY]
    job = state.job(request.match_info["job_id"])
    if job.is_terminal:
        raise ApiError(409, f"job {job.id} is already {job.status}", status=job.status)
    entry = state.active.get(job.id)
    if entry is not None:
        run, future = entry
        if not run.cancel_queued():
            run.request_stop(CANCELLED_ERROR)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(future), _CANCEL_WAIT)
    return web.json_response({"job": state.job(job.id).to_wire()})


async def chat(request: web.Request) -> web.StreamResponse:
    """``POST /v1/inference/chat``: answer with a checkpoint or the final adapter."""
    body = await read_json_object(request)
    chat_request = parse_chat_request(body)
    return await answer_chat(request, chat_request, str(body.get("baseModel") or "base"))


async def answer_chat(
    request: web.Request, chat_request: ChatRequest, base_model: str
) -> web.StreamResponse:
    """Answer a validated chat request with its adapter, or with the base model when it has none.

    Shared by ``POST /v1/inference/chat`` and the deployments' data plane.

    Raises:
        ApiError: 404 for an unknown job or a missing adapter, 500 for a damaged one.
    """
    state = request.app[STATE_KEY]
    if chat_request.job_id is None:
        # No adapter: the (untrained) base model answers, in the same shapes.
        answer, finish = truncate(base_model_answer(chat_request.choices), chat_request.max_tokens)
        return await _answer(request, chat_request, answer, finish, base_model)
    job = state.job(chat_request.job_id)
    if chat_request.step is None:
        path = state.checkpoint_dir(job.id) / "final.npz"
        missing = f"job {job.id} has no final adapter (status {job.status})"
    else:
        path = state.checkpoint_dir(job.id) / f"step-{chat_request.step}.npz"
        missing = f"job {job.id} has no checkpoint at step {chat_request.step}"
    adapter = await _adapter(state, path, job.id)
    if adapter is None:
        raise ApiError(404, missing)
    label = await asyncio.to_thread(adapter.predict, chat_request.text, chat_request.choices)
    answer, finish = truncate(label, chat_request.max_tokens)
    model = f"{job.id}" + ("" if chat_request.step is None else f"@step-{chat_request.step}")
    return await _answer(request, chat_request, answer, finish, model)


async def _answer(
    request: web.Request, chat_request: ChatRequest, answer: str, finish: str, model: str
) -> web.StreamResponse:
    """Send ``answer`` as one JSON body or as SSE deltas ending in ``[DONE]``."""
    if not chat_request.stream:
        return web.json_response(completion_body(answer, finish, model, chat_request.text))
    response = await sse_response(request)
    try:
        for chunk in stream_chunks(answer, finish, model):
            await response.write(encode(chunk))
        await response.write(encode("[DONE]"))
    except ConnectionResetError:
        pass
    return response


async def _adapter(state: ServerState, path: Path, job_id: str) -> Adapter | None:
    """The adapter in ``path`` (cached by modification time), or None when there is none.

    Raises:
        ApiError: 500 naming the artifact when the file is damaged.
    """

    def load() -> tuple[float, Adapter] | None:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        cached = state.adapters.get((str(path), mtime))
        if cached is not None:
            return mtime, cached
        return mtime, load_adapter(path)

    try:
        loaded = await asyncio.to_thread(load)
    except DamagedArtifactError as exc:
        raise ApiError(
            500,
            f"job {job_id}: checkpoint artifact {exc}; train again or use another checkpoint",
            artifact=exc.artifact,
        ) from None
    except OSError:
        return None  # vanished between the stat and the read
    if loaded is None:
        return None
    mtime, adapter = loaded
    if len(state.adapters) >= _ADAPTER_CACHE:
        state.adapters.clear()
    state.adapters[(str(path), mtime)] = adapter
    return adapter
