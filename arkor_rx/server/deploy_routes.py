"""The deployments of the local backend: the control plane and an OpenAI-compatible data plane.

Control plane (``Authorization: Bearer <server token>``, as PROTOCOL.md)::

    GET    /v1/endpoints                     → {"deployments": [...]}
    POST   /v1/endpoints                     → 201 {"deployment"}; 409 slug taken
    GET    /v1/endpoints/{id}                → {"deployment"}
    PATCH  /v1/endpoints/{id}                → {"deployment"} (the slug cannot change)
    DELETE /v1/endpoints/{id}                → 204, its keys deleted too
    GET    /v1/endpoints/{id}/keys           → {"keys": [...]} (no plaintext)
    POST   /v1/endpoints/{id}/keys           → 201 {"key": {..., "plaintext"}} (the only time)
    DELETE /v1/endpoints/{id}/keys/{keyId}   → 204, the key disabled

Data plane (no server token; the deployment's own auth)::

    POST /deployments/{slug}/v1/chat/completions   OpenAI Chat Completions, JSON or SSE

Rule 1: a ``Deployment`` answer carries ``url``, the data plane's base URL
(``<origin>/deployments/<slug>/v1``), which an OpenAI SDK takes as ``base_url``.

Rule 2: the data plane answers errors in OpenAI's shape,
``{"error": {"message", "type", "param", "code"}}``: 404 for an unknown,
deleted or disabled deployment (and for a target whose adapter does not exist
yet), 401 for a missing, wrong or revoked key when the auth mode is
``fixed_api_key`` (read from ``Authorization: Bearer`` or ``x-api-key``),
400 for a bad body. The auth mode is read at each request, so switching it
takes effect at once. The request's ``model`` is ignored: the deployment pins
its target.

Rule 3: as for jobs, the scope query is recorded on a new deployment but not
enforced: the local backend has one user.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any, Final

from aiohttp import web

from arkor_rx.deployments import check_deployment_slug, check_key_label, parse_target
from arkor_rx.errors import ConfigError
from arkor_rx.protocol import ORG_PARAM, PROJECT_PARAM
from arkor_rx.server.config import ServerConfig
from arkor_rx.server.deployments import (
    RESERVED_SLUGS,
    DeploymentRecord,
    DeploymentStore,
)
from arkor_rx.server.http_errors import ApiError, read_json_object, shown
from arkor_rx.server.inference import parse_chat_request
from arkor_rx.server.routes import answer_chat
from arkor_rx.server.state import STATE_KEY

__all__ = ["DATA_PLANE_ROUTE", "DEPLOYMENTS_KEY", "OPEN_ROUTES", "register"]

DEPLOYMENTS_KEY: Final = web.AppKey("arkor_rx.server.deployments", DeploymentStore)
"""The app's [`DeploymentStore`][arkor_rx.server.deployments.DeploymentStore], once started."""

DATA_PLANE_ROUTE: Final = "deployment-chat-completions"
"""The name of the data plane's route."""

OPEN_ROUTES: Final = frozenset({DATA_PLANE_ROUTE})
"""The routes the server's bearer token does not guard (they check deployment keys)."""

_AUTH_MODES: Final = ("none", "fixed_api_key")
_RETENTION_MODES: Final = ("unlimited", "disabled", "days")
_ENDPOINT: Final = "/v1/endpoints/{deployment_id}"


def register(app: web.Application, config: ServerConfig) -> None:
    """Add the deployment routes and their store to ``app`` (after the job store's context)."""
    router = app.router
    router.add_get("/v1/endpoints", list_deployments)
    router.add_post("/v1/endpoints", create_deployment)
    router.add_get(_ENDPOINT, get_deployment)
    router.add_patch(_ENDPOINT, update_deployment)
    router.add_delete(_ENDPOINT, delete_deployment)
    router.add_get(_ENDPOINT + "/keys", list_keys)
    router.add_post(_ENDPOINT + "/keys", create_key)
    router.add_delete(_ENDPOINT + "/keys/{key_id}", revoke_key)
    router.add_post(
        "/deployments/{slug}/v1/chat/completions", chat_completions, name=DATA_PLANE_ROUTE
    )

    async def store_context(app: web.Application) -> AsyncIterator[None]:
        path = None if config.data_dir is None else config.data_dir / "deployments.sqlite3"
        store = await asyncio.to_thread(DeploymentStore, path)
        app[DEPLOYMENTS_KEY] = store
        try:
            yield
        finally:
            store.close()

    app.cleanup_ctx.append(store_context)


# --- control plane ------------------------------------------------------------------


def _url(request: web.Request, slug: str) -> str:
    return f"{request.url.origin()}/deployments/{slug}/v1"


def _answer(request: web.Request, record: DeploymentRecord, status: int = 200) -> web.Response:
    return web.json_response(
        {"deployment": record.to_wire(_url(request, record.slug))}, status=status
    )


def _deployment(request: web.Request) -> DeploymentRecord:
    deployment_id = request.match_info["deployment_id"]
    record = request.app[DEPLOYMENTS_KEY].get(deployment_id)
    if record is None:
        raise ApiError(404, f"unknown deployment {shown(deployment_id)}")
    return record


def _target(request: web.Request, raw: object) -> dict[str, Any]:
    """The validated target; a job it names must exist (404 otherwise)."""
    if not isinstance(raw, dict):
        raise ConfigError("target: must be an object")
    target = parse_target(raw)
    if target["kind"] == "adapter":
        request.app[STATE_KEY].job(target["adapter"]["jobId"])
    return target


def _auth_mode(raw: object) -> str:
    if raw not in _AUTH_MODES:
        raise ConfigError(f"authMode: must be 'none' or 'fixed_api_key' (got {shown(raw)})")
    return str(raw)


def _retention(body: dict[str, Any], current: tuple[str, int | None]) -> tuple[str, int | None]:
    """The retention a body sets (``current`` when it sets none), coupled as the SDK's types are:
    ``runRetentionDays`` goes with ``runRetentionMode: "days"`` in the same body, and only there."""
    if "runRetentionMode" not in body and "runRetentionDays" not in body:
        return current
    mode, days = body.get("runRetentionMode"), body.get("runRetentionDays")
    if "runRetentionDays" in body and mode != "days":
        raise ConfigError('runRetentionDays: only valid when runRetentionMode is "days"')
    if mode not in _RETENTION_MODES:
        raise ConfigError(f"runRetentionMode: must be one of {', '.join(_RETENTION_MODES)}")
    if mode != "days":
        return mode, None
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigError('runRetentionDays: runRetentionMode "days" needs a positive integer')
    return mode, days


async def list_deployments(request: web.Request) -> web.Response:
    """``GET /v1/endpoints``: every deployment, oldest first."""
    records = request.app[DEPLOYMENTS_KEY].deployments()
    return web.json_response({"deployments": [r.to_wire(_url(request, r.slug)) for r in records]})


async def create_deployment(request: web.Request) -> web.Response:
    """``POST /v1/endpoints``: 201; 400 for a bad or reserved slug, 409 for a taken one."""
    store = request.app[DEPLOYMENTS_KEY]
    body = await read_json_object(request)
    slug = check_deployment_slug(body.get("slug"))
    if slug in RESERVED_SLUGS:
        raise ApiError(400, f"slug {shown(slug)} is reserved; pick another")
    auth_mode = _auth_mode(body.get("authMode"))
    target = _target(request, body.get("target"))
    mode, days = _retention(body, ("days", 7))
    if store.by_slug(slug) is not None:
        raise ApiError(409, f"slug {shown(slug)} is already taken; pick another")
    record = store.create(
        DeploymentRecord(
            id=f"dep_{secrets.token_hex(8)}",
            slug=slug,
            target=target,
            auth_mode=auth_mode,
            org_id=request.query.get(ORG_PARAM) or "local",
            project_id=request.query.get(PROJECT_PARAM) or "default",
            run_retention_mode=mode,
            run_retention_days=days,
        )
    )
    return _answer(request, record, status=201)


async def get_deployment(request: web.Request) -> web.Response:
    """``GET /v1/endpoints/{id}``; 404 for an unknown id."""
    return _answer(request, _deployment(request))


async def update_deployment(request: web.Request) -> web.Response:
    """``PATCH /v1/endpoints/{id}``: change the fields given; the slug cannot change."""
    record = _deployment(request)
    body = await read_json_object(request)
    if "slug" in body and body["slug"] != record.slug:
        raise ConfigError("slug: cannot change; create a new deployment for a new slug")
    changes: dict[str, Any] = {}
    if "target" in body:
        changes["target"] = _target(request, body["target"])
    if "authMode" in body:
        changes["auth_mode"] = _auth_mode(body["authMode"])
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise ConfigError("enabled: must be true or false")
        changes["enabled"] = body["enabled"]
    current = (record.run_retention_mode, record.run_retention_days)
    mode, days = _retention(body, current)
    if (mode, days) != current:
        changes.update(run_retention_mode=mode, run_retention_days=days)
    updated = request.app[DEPLOYMENTS_KEY].update(record.id, **changes)
    return _answer(request, updated)


async def delete_deployment(request: web.Request) -> web.Response:
    """``DELETE /v1/endpoints/{id}``: 204; its keys go too and its URL answers 404."""
    record = _deployment(request)
    request.app[DEPLOYMENTS_KEY].delete(record.id)
    return web.Response(status=204)


async def list_keys(request: web.Request) -> web.Response:
    """``GET /v1/endpoints/{id}/keys``: labels and prefixes, never a plaintext."""
    record = _deployment(request)
    keys = request.app[DEPLOYMENTS_KEY].keys(record.id)
    return web.json_response({"keys": [k.to_wire() for k in keys]})


async def create_key(request: web.Request) -> web.Response:
    """``POST /v1/endpoints/{id}/keys``: 201 with the plaintext, this once."""
    record = _deployment(request)
    body = await read_json_object(request)
    label = check_key_label(body.get("label"))
    key, plaintext = request.app[DEPLOYMENTS_KEY].create_key(record.id, label)
    wire = key.to_wire()
    del wire["enabled"], wire["lastUsedAt"]
    return web.json_response({"key": {**wire, "plaintext": plaintext}}, status=201)


async def revoke_key(request: web.Request) -> web.Response:
    """``DELETE /v1/endpoints/{id}/keys/{keyId}``: 204; the key is refused from now on."""
    record = _deployment(request)
    key_id = request.match_info["key_id"]
    if request.app[DEPLOYMENTS_KEY].revoke_key(record.id, key_id) is None:
        raise ApiError(404, f"unknown key {shown(key_id)} of deployment {record.id}")
    return web.Response(status=204)


# --- data plane ---------------------------------------------------------------------


def _openai_error(status: int, message: str, kind: str, code: str | None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    response = web.json_response(body, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="arkor-rx deployment"'
    return response


def _presented_keys(request: web.Request) -> list[str]:
    """The keys a request carries: its bearer token and its ``x-api-key``, either may be right."""
    keys = []
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        keys.append(value.strip())
    if request.headers.get("x-api-key", "").strip():
        keys.append(request.headers["x-api-key"].strip())
    return keys


def _chat_body(body: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI request as the local inference's body, bound to the deployment's target."""
    stream = body.get("stream")
    chat: dict[str, Any] = {"messages": body.get("messages"), "stream": stream or False}
    if stream is not None and not isinstance(stream, bool):
        raise ConfigError(f"stream: must be true or false (got {shown(stream)})")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        chat["maxTokens"] = max_tokens
    if target["kind"] == "adapter":
        chat["adapter"] = target["adapter"]
    return chat


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """``POST /deployments/{slug}/v1/chat/completions``: OpenAI's format, the deployment's model."""
    slug = request.match_info["slug"]
    record = request.app[DEPLOYMENTS_KEY].by_slug(slug)
    if record is None or not record.enabled:
        # Unknown, deleted and disabled read the same, as on the cloud's edge.
        return _openai_error(
            404, f"no enabled deployment {shown(slug)}", "invalid_request_error", "not_found"
        )
    if record.auth_mode == "fixed_api_key":
        presented = _presented_keys(request)
        store = request.app[DEPLOYMENTS_KEY]
        if not presented:
            return _openai_error(
                401,
                "missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key'",
                "invalid_request_error",
                "invalid_api_key",
            )
        if all(store.check_key(record.id, key) is None for key in presented):
            # The key is never echoed.
            return _openai_error(
                401, "invalid or revoked API key", "invalid_request_error", "invalid_api_key"
            )
    try:
        body = await read_json_object(request)
        chat_request = parse_chat_request(_chat_body(body, record.target))
        base_model = str(record.target.get("baseModel") or "base")
        return await answer_chat(request, chat_request, base_model)
    except ConfigError as exc:
        return _openai_error(400, str(exc), "invalid_request_error", None)
    except ApiError as exc:
        kind = "invalid_request_error" if exc.status < 500 else "server_error"
        code = "model_not_found" if exc.status == 404 else None
        return _openai_error(exc.status, exc.message, kind, code)
    except web.HTTPException as exc:  # 413: the body is over the server's limit
        if exc.status < 400:
            raise
        return _openai_error(exc.status, exc.reason, "invalid_request_error", None)
