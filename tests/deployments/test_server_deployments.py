"""The local backend's deployment routes on the wire (plain aiohttp): shapes, auth, validation."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from arkor_rx.server import LocalServer, ServerConfig
from arkor_rx.server.deployments import RESERVED_SLUGS, DeploymentStore, hash_key

TOKEN = "server-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE_TARGET = {"kind": "base_model", "baseModel": "m/base"}
CHAT = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with (
        LocalServer(ServerConfig(token=TOKEN, max_body_size=4096)) as server,
        aiohttp.ClientSession(server.url) as http,
    ):
        yield http


async def call(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    sent = {**AUTH, **headers} if path.startswith("/v1/") else headers
    async with http.request(method, path, json=body, headers=sent) as response:
        text = await response.text()
        return response.status, (await response.json()) if text else None


async def deploy(http: aiohttp.ClientSession, slug: str = "bot", mode: str = "none") -> Any:
    status, body = await call(
        http, "POST", "/v1/endpoints", {"slug": slug, "target": BASE_TARGET, "authMode": mode}
    )
    assert status == 201, body
    return body["deployment"]


async def test_a_deployment_has_every_field_of_the_protocol_and_a_url(
    session: aiohttp.ClientSession,
) -> None:
    dep = await deploy(session)
    assert set(dep) >= {
        "id", "slug", "orgId", "projectId", "target", "authMode", "urlFormat", "enabled",
        "customDomain", "runRetentionMode", "runRetentionDays", "createdAt", "updatedAt", "url",
    }  # fmt: skip
    assert (dep["urlFormat"], dep["customDomain"], dep["enabled"]) == ("openai_compat", None, True)
    assert (dep["runRetentionMode"], dep["runRetentionDays"]) == ("days", 7)  # the cloud defaults
    assert dep["url"].startswith("http://127.0.0.1:")
    assert dep["url"].endswith("/deployments/bot/v1")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"slug": "www", "target": BASE_TARGET, "authMode": "none"}, "reserved"),
        ({"slug": "-x", "target": BASE_TARGET, "authMode": "none"}, "slug"),
        ({"slug": "ok", "target": {"kind": "adapter"}, "authMode": "none"}, "target.adapter"),
        ({"slug": "ok", "target": BASE_TARGET, "authMode": "key"}, "authMode"),
        ({"slug": "ok", "target": BASE_TARGET, "authMode": "none", "runRetentionDays": 3}, "only"),
        (
            {"slug": "ok", "target": BASE_TARGET, "authMode": "none", "runRetentionMode": "days",
             "runRetentionDays": 0},
            "positive",
        ),
    ],
)  # fmt: skip
async def test_bad_bodies_are_400_naming_the_field(
    session: aiohttp.ClientSession, body: dict[str, Any], message: str
) -> None:
    status, answer = await call(session, "POST", "/v1/endpoints", body)
    assert status == 400
    assert message in answer["error"]


LONG = "z" * 3000
"""Client input far longer than any message should be (under the fixture's body limit)."""


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/endpoints", {"slug": LONG, "target": BASE_TARGET, "authMode": "none"}, "slug"),
        ("/v1/endpoints", {"slug": "ok", "target": BASE_TARGET, "authMode": LONG}, "authMode"),
        ("/v1/endpoints/{id}/keys", {"label": LONG}, "label"),
        ("/deployments/bot/v1/chat/completions", {**CHAT, "stream": LONG}, "stream"),
    ],
)
async def test_an_error_echoes_client_input_shortened(
    session: aiohttp.ClientSession, path: str, body: dict[str, Any], field: str
) -> None:
    dep = await deploy(session)
    status, answer = await call(session, "POST", path.replace("{id}", dep["id"]), body)
    assert status == 400
    message = answer["error"]["message"] if "deployments/" in path else answer["error"]
    assert field in message
    assert "zzzz" in message  # the value is quoted ...
    assert len(message) < 300  # ... shortened


def test_the_reserved_labels_include_the_documented_ones() -> None:
    assert {"www", "api", "admin"} <= RESERVED_SLUGS


async def test_patch_cannot_change_the_slug_and_validates(session: aiohttp.ClientSession) -> None:
    dep = await deploy(session)
    path = f"/v1/endpoints/{dep['id']}"
    assert (await call(session, "PATCH", path, {"slug": "other"}))[0] == 400
    assert (await call(session, "PATCH", path, {"enabled": "no"}))[0] == 400
    status, answer = await call(session, "PATCH", path, {"runRetentionMode": "unlimited"})
    assert status == 200
    assert answer["deployment"]["runRetentionMode"] == "unlimited"
    assert "runRetentionDays" not in answer["deployment"]
    assert (await call(session, "PATCH", "/v1/endpoints/nope", {"enabled": False}))[0] == 404


async def test_keys_are_listed_without_plaintext_or_hash(session: aiohttp.ClientSession) -> None:
    dep = await deploy(session, mode="fixed_api_key")
    status, created = await call(
        session, "POST", f"/v1/endpoints/{dep['id']}/keys", {"label": "ci"}
    )
    assert status == 201
    plaintext = created["key"]["plaintext"]
    assert plaintext.startswith(created["key"]["prefix"])
    _, listed = await call(session, "GET", f"/v1/endpoints/{dep['id']}/keys")
    text = repr(listed)
    assert plaintext not in text
    assert hash_key(plaintext) not in text
    assert set(listed["keys"][0]) == {"id", "label", "prefix", "enabled", "createdAt", "lastUsedAt"}
    bad_label = await call(session, "POST", f"/v1/endpoints/{dep['id']}/keys", {"label": ""})
    assert bad_label[0] == 400
    unknown = await call(session, "DELETE", f"/v1/endpoints/{dep['id']}/keys/key_nope")
    assert unknown[0] == 404


async def test_the_data_plane_takes_x_api_key_alone_and_answers_openai_errors(
    session: aiohttp.ClientSession,
) -> None:
    dep = await deploy(session, mode="fixed_api_key")
    _, created = await call(session, "POST", f"/v1/endpoints/{dep['id']}/keys", {"label": "ci"})
    path = "/deployments/bot/v1/chat/completions"
    status, body = await call(
        session, "POST", path, CHAT, **{"x-api-key": created["key"]["plaintext"]}
    )
    assert status == 200
    assert body["object"] == "chat.completion"
    status, body = await call(session, "POST", path, CHAT)
    assert status == 401
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == "invalid_api_key"
    status, body = await call(session, "POST", path, CHAT, Authorization=f"Bearer {TOKEN}")
    assert status == 401  # the server token is not a deployment key
    status, body = await call(session, "POST", "/deployments/nope/v1/chat/completions", CHAT)
    assert (status, body["error"]["type"]) == (404, "invalid_request_error")


async def test_a_body_over_the_limit_is_413_in_openai_shape(session: aiohttp.ClientSession) -> None:
    await deploy(session)
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 8192}]}
    status, body = await call(session, "POST", "/deployments/bot/v1/chat/completions", big)
    assert status == 413
    assert "message" in body["error"]


async def test_the_control_plane_needs_the_server_token_and_the_data_plane_route_opens_nothing_else(
    session: aiohttp.ClientSession,
) -> None:
    async with session.get("/v1/endpoints") as response:
        assert response.status == 401
    # Only the route the router matched as the data plane skips the token, whatever the spelling.
    for path in (
        "/deployments/..%2F..%2Fv1/jobs",
        "/deployments/bot/../../v1/jobs",
        "/deployments/%2e%2e/%2e%2e/v1/jobs",
    ):
        for method in ("GET", "POST"):
            async with session.request(method, path) as response:
                assert response.status == 401, (method, path)


def test_the_store_keeps_the_hash_and_a_deleted_deployments_keys_go() -> None:
    from arkor_rx.server.deployments import DeploymentRecord

    store = DeploymentStore()
    store.create(DeploymentRecord(id="d1", slug="bot", target=BASE_TARGET, auth_mode="none"))
    key, plaintext = store.create_key("d1", "ci")
    assert key.key_hash == hash_key(plaintext)
    assert plaintext not in repr(key)
    store.delete("d1")
    assert store.keys("d1") == []
    assert store.check_key("d1", plaintext) is None


def _stored_last_use(path: Path, key_id: str) -> str | None:
    """``last_used_at`` as the database file holds it, read by a connection of its own."""
    with closing(sqlite3.connect(path)) as db:
        (data,) = db.execute("SELECT data FROM deployment_keys WHERE id = ?", (key_id,)).fetchone()
    used: str | None = json.loads(data)["last_used_at"]
    return used


def test_a_keys_last_use_is_kept_in_memory_and_written_with_the_next_write(
    tmp_path: Path,
) -> None:
    from arkor_rx.server.deployments import DeploymentRecord

    path = tmp_path / "deployments.sqlite3"
    store = DeploymentStore(path)
    store.create(DeploymentRecord(id="d1", slug="bot", target=BASE_TARGET, auth_mode="none"))
    key, plaintext = store.create_key("d1", "ci")
    statements: list[str] = []
    assert store._db is not None
    store._db.set_trace_callback(statements.append)
    for _ in range(3):
        assert store.check_key("d1", plaintext) == key.id
    assert statements == []  # a data plane call does no disk I/O
    [listed] = store.keys("d1")
    assert listed.last_used_at is not None  # and still shows the last use
    assert _stored_last_use(path, key.id) is None
    store.update("d1", enabled=False)  # the next write takes it along
    assert _stored_last_use(path, key.id) == listed.last_used_at
    assert store.check_key("d1", plaintext) == key.id
    used = store.keys("d1")[0].last_used_at
    store.close()  # and so does closing
    assert _stored_last_use(path, key.id) == used
    reopened = DeploymentStore(path)
    assert reopened.keys("d1")[0].last_used_at == used
    reopened.close()
