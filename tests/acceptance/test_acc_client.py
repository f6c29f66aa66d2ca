"""Black-box acceptance tests of ``ax.ArkorClient`` headers and errors (PROTOCOL.md)."""

from __future__ import annotations

import re

import pytest

import arkor_rx as ax

from ._acc_fake import TOKEN, FakeBackend, status

CONFIG = {"model": "m", "datasetSource": {"type": "huggingface", "name": "d"}}


async def test_headers_and_scope_query(backend: FakeBackend, client: ax.ArkorClient) -> None:
    job = await client.create_job("n", CONFIG)
    assert job.id == "j1"
    await client.get_job("j1")
    await client.cancel_job("j1")
    assert len(backend.requests) == 3
    for req in backend.requests:
        assert req.headers["Authorization"] == f"Bearer {TOKEN}"
        assert re.fullmatch(r"[^/\s]+/\S+", req.headers["X-Arkor-Client"])
        assert req.query == {"orgSlug": "my org&x", "projectSlug": "demo/1"}
    assert backend.requests[0].body == {"name": "n", "config": CONFIG}


async def test_job_tolerates_unknown_fields(client: ax.ArkorClient) -> None:
    job = await client.get_job("j1")
    assert job.status == "completed"
    assert job.config["datasetSource"] == {"type": "huggingface", "name": "d"}


async def test_cloud_api_error_message_from_error_field(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.create_answer = status(400, {"error": "bad model", "code": "x"})
    with pytest.raises(ax.CloudApiError) as info:
        await client.create_job("n", CONFIG)
    assert info.value.status == 400
    assert info.value.message == "bad model"
    assert isinstance(info.value, ax.ArkorError)


async def test_cloud_api_error_empty_body_fallback(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.create_answer = status(502)
    with pytest.raises(ax.CloudApiError) as info:
        await client.create_job("n", CONFIG)
    assert info.value.status == 502
    assert info.value.message == "cloud-api 502"


async def test_cloud_api_error_text_body(backend: FakeBackend, client: ax.ArkorClient) -> None:
    backend.create_answer = status(500, "upstream exploded")
    with pytest.raises(ax.CloudApiError) as info:
        await client.create_job("n", CONFIG)
    assert info.value.status == 500
    assert info.value.message == "upstream exploded"


async def test_cloud_api_error_json_without_error_field(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.create_answer = status(503, {"detail": "busy"})
    with pytest.raises(ax.CloudApiError) as info:
        await client.create_job("n", CONFIG)
    assert info.value.status == 503
    assert info.value.message  # some non-empty message, never a crash


async def test_426_is_upgrade_required(backend: FakeBackend, client: ax.ArkorClient) -> None:
    backend.create_answer = status(426, {"error": "upgrade"})
    with pytest.raises(ax.UpgradeRequiredError) as info:
        await client.create_job("n", CONFIG)
    assert isinstance(info.value, ax.CloudApiError)
    assert info.value.status == 426


async def test_token_never_in_repr_or_str(client: ax.ArkorClient) -> None:
    assert TOKEN not in repr(client)
    assert TOKEN not in str(client)
    trainer = ax.create_trainer(
        name="n", model="m", dataset={"type": "huggingface", "name": "d"}, client=client
    )
    assert TOKEN not in repr(trainer)
    assert TOKEN not in str(trainer)


async def test_token_never_in_error_even_if_server_echoes_it(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.create_answer = status(401, {"error": f"invalid token {TOKEN}"})
    with pytest.raises(ax.CloudApiError) as info:
        await client.create_job("n", CONFIG)
    err = info.value
    assert TOKEN not in str(err)
    assert TOKEN not in repr(err)
    assert TOKEN not in err.message
