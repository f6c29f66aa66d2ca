"""ArkorClient's deployment methods over aioresponses: PROTOCOL.md's routes, shapes and errors."""

from __future__ import annotations

import doctest
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aioresponses import aioresponses

import arkor_rx as ax
import arkor_rx.deployments as deployments_module
from arkor_rx.errors import CloudApiError, ConfigError, UpgradeRequiredError
from arkor_rx.transport import Response
from tests.client.client_helpers import (
    TOKEN,
    MockedApi,
    make_client,
    only_call,
    route,
)
from tests.fake_transport import RecordingTransport

TARGET = {"kind": "adapter", "adapter": {"kind": "final", "jobId": "j1"}}
DEPLOYMENT: dict[str, Any] = {
    "id": "d1",
    "slug": "support-bot",
    "orgId": "o1",
    "projectId": "p1",
    "target": TARGET,
    "authMode": "fixed_api_key",
    "urlFormat": "openai_compat",
    "enabled": True,
    "customDomain": None,
    "createdAt": "2026-01-01T00:00:00Z",
    "updatedAt": "2026-01-01T00:00:00Z",
}
"""A Deployment as PROTOCOL.md shows it (the cloud sends no ``url``)."""
KEY: dict[str, Any] = {
    "id": "k1",
    "label": "ci",
    "prefix": "ark_live_abcd",
    "enabled": True,
    "createdAt": "2026-01-01T00:00:00Z",
    "lastUsedAt": None,
}
PLAINTEXT = "ark_live_abcd-PLAINTEXT-5e1f0c"


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with MockedApi() as m:
        yield m


def test_docstring_examples_run() -> None:
    assert doctest.testmod(deployments_module).failed == 0


# --- requests -------------------------------------------------------------------------


async def test_create_posts_slug_target_and_auth_mode_with_token_and_scope(
    mocked: aioresponses,
) -> None:
    mocked.post(route("/v1/endpoints"), status=201, payload={"deployment": DEPLOYMENT})
    async with make_client() as client:
        dep = await client.create_deployment(
            slug="support-bot", target=TARGET, auth_mode="fixed_api_key"
        )
    call = only_call(mocked, "POST", "/v1/endpoints")
    assert call.kwargs["json"] == {
        "slug": "support-bot",
        "target": TARGET,
        "authMode": "fixed_api_key",
    }
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert dep.id == "d1"
    assert dep.auth_mode == "fixed_api_key"
    assert dep.target == ax.final_target("j1")


async def test_target_models_and_retention_are_sent_camel_case(mocked: aioresponses) -> None:
    mocked.post(route("/v1/endpoints"), status=201, payload={"deployment": DEPLOYMENT})
    async with make_client() as client:
        await client.create_deployment(
            "support-bot",
            ax.checkpoint_target("j1", 40),
            "none",
            run_retention_mode="days",
            run_retention_days=3,
        )
    body = only_call(mocked, "POST", "/v1/endpoints").kwargs["json"]
    assert body == {
        "slug": "support-bot",
        "target": {"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": "j1", "step": 40}},
        "authMode": "none",
        "runRetentionMode": "days",
        "runRetentionDays": 3,
    }


async def test_base_model_target_is_sent_as_the_protocol_names_it(mocked: aioresponses) -> None:
    mocked.post(route("/v1/endpoints"), status=201, payload={"deployment": DEPLOYMENT})
    async with make_client() as client:
        await client.create_deployment("base-demo", ax.base_model_target("m/base"), "none")
    body = only_call(mocked, "POST", "/v1/endpoints").kwargs["json"]
    assert body["target"] == {"kind": "base_model", "baseModel": "m/base"}


async def test_every_route_and_method(mocked: aioresponses) -> None:
    mocked.get(route("/v1/endpoints"), payload={"deployments": [DEPLOYMENT]})
    mocked.get(route("/v1/endpoints/d1"), payload={"deployment": DEPLOYMENT})
    mocked.patch(
        route("/v1/endpoints/d1"), payload={"deployment": {**DEPLOYMENT, "enabled": False}}
    )
    mocked.delete(route("/v1/endpoints/d1"), status=204)
    mocked.get(route("/v1/endpoints/d1/keys"), payload={"keys": [KEY]})
    mocked.delete(route("/v1/endpoints/d1/keys/k1"), status=204)
    async with make_client() as client:
        assert [d.slug for d in await client.list_deployments()] == ["support-bot"]
        assert (await client.get_deployment("d1")).enabled is True
        assert (await client.update_deployment("d1", enabled=False)).enabled is False
        keys = await client.list_deployment_keys("d1")
        await client.revoke_deployment_key("d1", "k1")
        await client.delete_deployment("d1")
    assert keys == [
        ax.DeploymentKey(
            id="k1",
            label="ci",
            prefix="ark_live_abcd",
            enabled=True,
            created_at="2026-01-01T00:00:00Z",
        )
    ]
    assert only_call(mocked, "PATCH", "/v1/endpoints/d1").kwargs["json"] == {"enabled": False}
    only_call(mocked, "DELETE", "/v1/endpoints/d1")
    only_call(mocked, "DELETE", "/v1/endpoints/d1/keys/k1")


async def test_update_sends_only_the_fields_given(mocked: aioresponses) -> None:
    mocked.patch(route("/v1/endpoints/d1"), payload={"deployment": DEPLOYMENT})
    async with make_client() as client:
        await client.update_deployment("d1", target=ax.checkpoint_target("j2", 8), auth_mode="none")
    assert only_call(mocked, "PATCH", "/v1/endpoints/d1").kwargs["json"] == {
        "target": {"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": "j2", "step": 8}},
        "authMode": "none",
    }


async def test_ids_are_percent_encoded_in_the_path(mocked: aioresponses) -> None:
    mocked.delete(route("/v1/endpoints/d%2F1/keys/k%201"), status=204)
    async with make_client() as client:
        await client.revoke_deployment_key("d/1", "k 1")
    assert len(mocked.requests) == 1


# --- answers --------------------------------------------------------------------------


def test_url_is_the_cloud_url_when_the_server_sends_none() -> None:
    dep = ax.Deployment.model_validate(DEPLOYMENT)
    assert dep.url == "https://support-bot.arkor.app/v1"


def test_url_is_the_servers_when_it_sends_one() -> None:
    local = "http://127.0.0.1:8765/deployments/support-bot/v1"
    assert ax.Deployment.model_validate({**DEPLOYMENT, "url": local}).url == local


def test_unknown_fields_are_tolerated_and_newer_retention_modes_kept() -> None:
    dep = ax.Deployment.model_validate(
        {**DEPLOYMENT, "newField": {"x": 1}, "runRetentionMode": "hours", "runRetentionDays": 2}
    )
    assert dep.run_retention_mode == "hours"
    assert not hasattr(dep, "newField")
    key = ax.DeploymentKey.model_validate({**KEY, "rotatedFrom": "k0"})
    assert key.id == "k1"


def test_models_are_frozen() -> None:
    dep = ax.Deployment.model_validate(DEPLOYMENT)
    with pytest.raises(ValueError, match="frozen"):
        dep.enabled = False  # type: ignore[misc]


async def test_a_key_listing_never_carries_a_plaintext(mocked: aioresponses) -> None:
    # The official SDK strips a plaintext a regressed server would leak in a listing.
    mocked.get(route("/v1/endpoints/d1/keys"), payload={"keys": [{**KEY, "plaintext": PLAINTEXT}]})
    async with make_client() as client:
        [key] = await client.list_deployment_keys("d1")
    assert PLAINTEXT not in repr(key)
    assert PLAINTEXT not in json.dumps(key.model_dump())


async def test_created_key_has_the_plaintext_but_not_in_repr_str_or_logs(
    mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    created = {
        "id": "k1",
        "label": "ci",
        "prefix": "ark_live_abcd",
        "plaintext": PLAINTEXT,
        "createdAt": "2026-01-01T00:00:00Z",
    }
    mocked.post(route("/v1/endpoints/d1/keys"), status=201, payload={"key": created})
    caplog.set_level(logging.DEBUG)
    async with make_client() as client:
        key = await client.create_deployment_key("d1", label="ci")
    assert key.plaintext == PLAINTEXT
    assert only_call(mocked, "POST", "/v1/endpoints/d1/keys").kwargs["json"] == {"label": "ci"}
    for text in (repr(key), str(key), f"{key}", caplog.text):
        assert PLAINTEXT not in text
    assert "k1" in repr(key)


async def test_a_malformed_key_answer_names_fields_not_the_plaintext() -> None:
    body = json.dumps({"key": {"id": "k1", "plaintext": PLAINTEXT}}).encode()
    transport = RecordingTransport(answer=Response(201, {}, body))
    async with make_client(transport=transport) as client:
        with pytest.raises(CloudApiError) as info:
            await client.create_deployment_key("d1", "ci")
    text = f"{info.value!r} {info.value} {info.value.__context__!r} {info.value.__cause__!r}"
    assert PLAINTEXT not in text
    assert "label" in str(info.value)


@pytest.mark.parametrize(
    ("answer", "what"),
    [({}, "'deployment'"), ({"deployment": {"id": "d1"}}, "slug"), ([1], "not a JSON object")],
)
async def test_malformed_answers_are_cloud_api_errors(answer: object, what: str) -> None:
    transport = RecordingTransport(answer=Response(200, {}, json.dumps(answer).encode()))
    async with make_client(transport=transport) as client:
        with pytest.raises(CloudApiError, match=what):
            await client.get_deployment("d1")


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "slug 'www' is reserved"),
        (403, "not a member of this project"),
        (404, "deployment not found"),
        (409, "slug already taken"),
    ],
)
async def test_server_errors_are_cloud_api_errors_with_its_message(
    mocked: aioresponses, status: int, message: str
) -> None:
    mocked.post(route("/v1/endpoints"), status=status, payload={"error": message})
    async with make_client() as client:
        with pytest.raises(CloudApiError) as info:
            await client.create_deployment("support-bot", TARGET)
    assert type(info.value) is CloudApiError
    assert (info.value.status, info.value.message) == (status, message)


async def test_426_is_upgrade_required(mocked: aioresponses) -> None:
    mocked.get(route("/v1/endpoints"), status=426, payload={"error": "sdk too old"})
    async with make_client() as client:
        with pytest.raises(UpgradeRequiredError) as info:
            await client.list_deployments()
    assert info.value.status == 426
    assert "sdk too old" in info.value.message


async def test_an_error_echoing_the_token_is_redacted(mocked: aioresponses) -> None:
    mocked.get(route("/v1/endpoints/d1"), status=403, payload={"error": f"bad token {TOKEN}"})
    async with make_client() as client:
        with pytest.raises(CloudApiError) as info:
            await client.get_deployment("d1")
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value.body)


# --- checked before sending -----------------------------------------------------------


@pytest.mark.parametrize(
    "slug", ["a", "x" * 51, "Support", "-bot", "bot-", "bot_1", "bot.1", "", "bo t", 7]
)
async def test_a_bad_slug_is_refused_before_sending(slug: Any) -> None:
    transport = RecordingTransport(answer=Response(201, {}, b"{}"))
    async with make_client(transport=transport) as client:
        with pytest.raises(ConfigError, match="slug"):
            await client.create_deployment(slug, TARGET)
    assert transport.sent == []


@pytest.mark.parametrize("slug", ["ab", "x" * 50, "support-bot", "a1", "1-2-3"])
def test_good_slugs_pass(slug: str) -> None:
    assert deployments_module.check_deployment_slug(slug) == slug


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            {"target": {"kind": "adapter", "adapter": {"kind": "final"}}},
            "target.adapter.jobId: Field required",
        ),
        ({"target": {"kind": "weights"}}, "target"),
        ({"target": "j1"}, "target must be a mapping"),
        ({"auth_mode": "key"}, "auth_mode"),
        ({"run_retention_mode": "days"}, "run_retention_days"),
        ({"run_retention_mode": "unlimited", "run_retention_days": 3}, "only valid"),
        ({"run_retention_days": 3}, "run_retention_mode"),
    ],
)
async def test_bad_create_arguments_are_refused_before_sending(
    call: dict[str, Any], match: str
) -> None:
    transport = RecordingTransport(answer=Response(201, {}, b"{}"))
    arguments: dict[str, Any] = {"slug": "support-bot", "target": TARGET, **call}
    async with make_client(transport=transport) as client:
        with pytest.raises(ConfigError, match=match):
            await client.create_deployment(**arguments)
    assert transport.sent == []


@pytest.mark.parametrize("label", ["", "   ", "x" * 81, None])
async def test_a_bad_key_label_is_refused_before_sending(label: Any) -> None:
    transport = RecordingTransport(answer=Response(201, {}, b"{}"))
    async with make_client(transport=transport) as client:
        with pytest.raises(ConfigError, match="label"):
            await client.create_deployment_key("d1", label)
    assert transport.sent == []


async def test_an_empty_update_and_an_empty_id_are_refused_before_sending() -> None:
    transport = RecordingTransport(answer=Response(200, {}, b"{}"))
    async with make_client(transport=transport) as client:
        with pytest.raises(ConfigError, match="at least one"):
            await client.update_deployment("d1")
        with pytest.raises(ConfigError, match="deployment id"):
            await client.get_deployment("")
        with pytest.raises(ConfigError, match="enabled"):
            await client.update_deployment("d1", enabled="no")  # type: ignore[arg-type]
    assert transport.sent == []
