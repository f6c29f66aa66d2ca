"""The data plane with the real ``openai`` package, against a real LocalServer and a trained job.

The failures are the ones the official docs describe: a disabled or deleted
deployment answers 404 (``openai.NotFoundError``), a wrong or revoked key 401
(``openai.AuthenticationError``); switching ``fixed_api_key`` to ``none``
opens the URL at once and back enforces the existing keys again.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

import arkor_rx as ax
from arkor_rx.errors import CloudApiError
from arkor_rx.server import LocalServer, ServerConfig
from arkor_rx.server.inference import BASE_MODEL_ANSWER
from tests.deployments.conftest import QUESTION, Trained

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]

OPEN = "not-required"
"""What a caller passes as api_key to an open deployment (the SDK wants a non-empty one)."""


def openai_client(url: str, key: str = OPEN, **headers: str) -> AsyncOpenAI:
    # No retries: every failure must surface at once, as the docs say it does.
    return AsyncOpenAI(base_url=url, api_key=key, max_retries=0, default_headers=headers or None)


async def ask(url: str, key: str = OPEN, **headers: str) -> str:
    async with openai_client(url, key, **headers) as client:
        completion = await client.chat.completions.create(model="ignored", messages=MESSAGES)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    return completion.choices[0].message.content or ""


async def ask_streamed(url: str, key: str = OPEN) -> str:
    parts: list[str] = []
    finishes: list[Any] = []
    async with openai_client(url, key) as client:
        stream = await client.chat.completions.create(
            model="ignored",
            messages=MESSAGES,
            stream=True,
        )
        async for chunk in stream:
            assert chunk.object == "chat.completion.chunk"
            parts.append(chunk.choices[0].delta.content or "")
            finishes.append(chunk.choices[0].finish_reason)
    assert finishes[-1] == "stop"
    assert all(f is None for f in finishes[:-1])
    return "".join(parts)


async def test_final_adapter_with_a_key_answers_like_the_adapter(trained: Trained) -> None:
    dep = await trained.client.create_deployment(
        slug="support-bot", target=ax.final_target(trained.job_id), auth_mode="fixed_api_key"
    )
    key = await trained.client.create_deployment_key(dep.id, label="ci")
    assert dep.url == f"{trained.server.url}/deployments/support-bot/v1"
    expected = await trained.expected()
    assert expected  # a label the adapter learned
    assert await ask(dep.url, key.plaintext) == expected
    assert await ask_streamed(dep.url, key.plaintext) == expected
    # x-api-key works too, whatever the bearer says.
    assert await ask(dep.url, "wrong", **{"x-api-key": key.plaintext}) == expected
    [listed] = await trained.client.list_deployment_keys(dep.id)
    assert listed.last_used_at is not None
    assert key.plaintext.startswith(listed.prefix)


async def test_a_checkpoint_in_the_open_mode_answers_like_that_checkpoint(
    trained: Trained,
) -> None:
    dep = await trained.client.create_deployment(
        "ckpt-10", ax.checkpoint_target(trained.job_id, 10), auth_mode="none"
    )
    expected = await trained.expected(step=10)
    assert await ask(dep.url) == expected
    assert await ask_streamed(dep.url) == expected


async def test_a_base_model_target_answers_as_the_base_model(trained: Trained) -> None:
    dep = await trained.client.create_deployment("base", ax.base_model_target("m/base"), "none")
    assert await ask(dep.url) == BASE_MODEL_ANSWER


async def test_max_tokens_cuts_the_answer_with_finish_reason_length(trained: Trained) -> None:
    dep = await trained.client.create_deployment("base", ax.base_model_target("m/base"), "none")
    async with openai_client(dep.url) as client:
        completion = await client.chat.completions.create(
            model="x",
            messages=MESSAGES,
            max_tokens=2,
        )
    assert completion.choices[0].message.content == " ".join(BASE_MODEL_ANSWER.split()[:2])
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None  # in words, all three fields as OpenAI sends them
    prompt_words = len(QUESTION.split())
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (prompt_words, 2)
    assert completion.usage.total_tokens == prompt_words + 2


async def test_wrong_missing_and_revoked_keys_are_authentication_errors(
    trained: Trained,
) -> None:
    dep = await trained.client.create_deployment("support-bot", ax.final_target(trained.job_id))
    key = await trained.client.create_deployment_key(dep.id, "ci")
    other = await trained.client.create_deployment_key(dep.id, "other")
    with pytest.raises(openai.AuthenticationError) as wrong:
        await ask(dep.url, "ark_local_wrong")
    assert wrong.value.status_code == 401
    assert "ark_local_wrong" not in str(wrong.value)
    with pytest.raises(openai.AuthenticationError):
        await ask(dep.url)  # the placeholder key of an open deployment
    await trained.client.revoke_deployment_key(dep.id, key.id)
    with pytest.raises(openai.AuthenticationError, match="invalid or revoked"):
        await ask(dep.url, key.plaintext)
    assert await ask(dep.url, other.plaintext)  # the other key still works
    keys = {k.id: k.enabled for k in await trained.client.list_deployment_keys(dep.id)}
    assert keys == {key.id: False, other.id: True}


async def test_disabled_and_deleted_deployments_are_not_found(trained: Trained) -> None:
    dep = await trained.client.create_deployment("support-bot", ax.final_target(trained.job_id))
    key = await trained.client.create_deployment_key(dep.id, "ci")
    await trained.client.update_deployment(dep.id, enabled=False)
    with pytest.raises(openai.NotFoundError):
        await ask(dep.url, key.plaintext)
    await trained.client.update_deployment(dep.id, enabled=True)
    assert await ask(dep.url, key.plaintext)
    await trained.client.delete_deployment(dep.id)
    with pytest.raises(openai.NotFoundError) as deleted:
        await ask(dep.url, key.plaintext)
    assert deleted.value.status_code == 404
    with pytest.raises(CloudApiError) as gone:
        await trained.client.list_deployment_keys(dep.id)  # its keys went with it
    assert gone.value.status == 404
    # The slug is free again, and the old key does not open the new deployment.
    again = await trained.client.create_deployment("support-bot", ax.final_target(trained.job_id))
    with pytest.raises(openai.AuthenticationError):
        await ask(again.url, key.plaintext)


async def test_switching_auth_modes_opens_at_once_and_back_enforces_the_old_keys(
    trained: Trained,
) -> None:
    dep = await trained.client.create_deployment("support-bot", ax.final_target(trained.job_id))
    key = await trained.client.create_deployment_key(dep.id, "ci")
    with pytest.raises(openai.AuthenticationError):
        await ask(dep.url)
    opened = await trained.client.update_deployment(dep.id, auth_mode="none")
    assert opened.auth_mode == "none"
    assert await ask(dep.url) == await trained.expected()
    await trained.client.update_deployment(dep.id, auth_mode="fixed_api_key")
    with pytest.raises(openai.AuthenticationError):
        await ask(dep.url)
    assert await ask(dep.url, key.plaintext) == await trained.expected()


async def test_retargeting_keeps_the_url_and_the_keys(trained: Trained) -> None:
    dep = await trained.client.create_deployment("support-bot", ax.final_target(trained.job_id))
    key = await trained.client.create_deployment_key(dep.id, "ci")
    moved = await trained.client.update_deployment(
        dep.id, target=ax.checkpoint_target(trained.job_id, 10)
    )
    assert moved.url == dep.url
    assert moved.target == ax.checkpoint_target(trained.job_id, 10)
    assert await ask(dep.url, key.plaintext) == await trained.expected(step=10)


async def test_a_missing_checkpoint_is_not_found_in_openai_shape(trained: Trained) -> None:
    dep = await trained.client.create_deployment(
        "ckpt-7", ax.checkpoint_target(trained.job_id, 7), "none"
    )
    with pytest.raises(openai.NotFoundError) as info:
        await ask(dep.url)
    assert info.value.code == "model_not_found"
    assert "no checkpoint at step 7" in info.value.message


async def test_a_bad_body_is_a_bad_request_in_openai_shape(trained: Trained) -> None:
    dep = await trained.client.create_deployment("base", ax.base_model_target("m"), "none")
    async with openai_client(dep.url) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(model="x", messages=[])
    assert info.value.type == "invalid_request_error"
    assert "messages" in info.value.message


async def test_control_plane_errors_are_the_documented_statuses(trained: Trained) -> None:
    target = ax.final_target(trained.job_id)
    await trained.client.create_deployment("support-bot", target)
    cases: list[tuple[int, Any]] = [
        (409, trained.client.create_deployment("support-bot", target)),
        (400, trained.client.create_deployment("www", target)),
        (404, trained.client.create_deployment("other", ax.final_target("job_missing"))),
        (404, trained.client.get_deployment("dep_missing")),
        (404, trained.client.revoke_deployment_key("dep_missing", "key_missing")),
    ]
    for status, call in cases:
        with pytest.raises(CloudApiError) as info:
            await call
        assert info.value.status == status, info.value
    with pytest.raises(CloudApiError, match="taken"):
        await trained.client.create_deployment("support-bot", target)


async def test_the_server_token_is_not_a_deployment_key_and_not_needed(
    trained: Trained,
) -> None:
    dep = await trained.client.create_deployment("support-bot", ax.final_target(trained.job_id))
    with pytest.raises(openai.AuthenticationError):
        await ask(dep.url, trained.server.token)


async def test_deployments_and_keys_survive_a_restart_with_only_hashes_stored(
    trained: Trained,
) -> None:
    dep = await trained.client.create_deployment("support-bot", ax.final_target(trained.job_id))
    key = await trained.client.create_deployment_key(dep.id, "ci")
    expected = await trained.expected()
    config = trained.server.config
    await trained.server.stop()
    assert config.data_dir is not None
    with sqlite3.connect(config.data_dir / "deployments.sqlite3") as db:
        dump = "\n".join(db.iterdump())
    assert key.plaintext not in dump
    assert "support-bot" in dump
    server = LocalServer(ServerConfig(token="server-token", data_dir=config.data_dir))
    async with server, ax.ArkorClient(server.url, server.token, "local", "demo") as client:
        [again] = await client.list_deployments()
        assert (again.id, again.slug, again.target) == (dep.id, dep.slug, dep.target)
        assert await ask(again.url, key.plaintext) == expected
