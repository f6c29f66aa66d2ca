"""ArkorClient over aioresponses: requests as PROTOCOL.md writes them, errors as it maps them."""

from __future__ import annotations

import doctest
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from aioresponses.core import RequestCall
from pydantic import SecretStr

import arkor_rx.client as client_module
from arkor_rx.client import ArkorClient
from arkor_rx.errors import (
    ArkorError,
    CloudApiError,
    ConfigError,
    TransportError,
    UpgradeRequiredError,
)
from arkor_rx.events import TrainingLog, UnknownEvent
from arkor_rx.jobs import JobConfig
from arkor_rx.protocol import USER_AGENT
from arkor_rx.transport import Response, StreamResponse
from tests.client.client_helpers import (
    BASE,
    JOB,
    ORG,
    PROJECT,
    TOKEN,
    MockedApi,
    make_client,
    only_call,
    route,
)
from tests.fake_transport import RecordingTransport


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with MockedApi() as m:
        yield m


def sent_headers(call: RequestCall) -> Mapping[str, str]:
    headers: Mapping[str, str] = call.kwargs["headers"]
    return headers


def test_docstring_examples_run() -> None:
    assert doctest.testmod(client_module).failed == 0


# --- requests -------------------------------------------------------------------


async def test_create_job_posts_name_and_config_with_auth_client_and_scope(
    mocked: aioresponses,
) -> None:
    mocked.post(route("/v1/jobs"), status=201, payload={"job": {**JOB, "newField": 1}})
    config = {"model": "m", "datasetSource": {"type": "huggingface", "name": "a/b"}}
    async with make_client() as client:
        job = await client.create_job("support-bot-v1", config)
    assert job.id == "j1"
    assert job.name == "support-bot-v1"
    assert job.status == "queued"
    call = only_call(mocked, "POST", "/v1/jobs")
    assert call.kwargs["json"] == {"name": "support-bot-v1", "config": config}
    headers = sent_headers(call)
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["X-Arkor-Client"] == USER_AGENT
    assert headers["X-Arkor-Client"].startswith("arkor_rx/")


async def test_scope_goes_in_url_encoded_query_parameters(mocked: aioresponses) -> None:
    mocked.get(route("/v1/jobs/j1"), payload={"job": JOB})
    async with make_client() as client:
        await client.get_job("j1")
    ((method, sent), *_) = mocked.requests
    assert method == "GET"
    assert sent.path == "/v1/jobs/j1"
    assert sent.query["orgSlug"] == ORG
    assert sent.query["projectSlug"] == PROJECT
    assert " " not in str(sent)
    assert set(sent.query) == {"orgSlug", "projectSlug"}  # the "&" in the slug was encoded


async def test_create_job_accepts_a_job_config_and_sends_its_wire_form(
    mocked: aioresponses,
) -> None:
    mocked.post(route("/v1/jobs"), payload={"job": JOB})
    config = JobConfig.build(
        model="m", dataset_source={"type": "huggingface", "name": "a/b"}, max_steps=5
    )
    async with make_client() as client:
        await client.create_job("bot", config)
    assert only_call(mocked, "POST", "/v1/jobs").kwargs["json"]["config"] == config.to_wire()


async def test_create_job_refuses_an_empty_name_before_sending(mocked: aioresponses) -> None:
    async with make_client() as client:
        with pytest.raises(ConfigError, match="name"):
            await client.create_job(" ", {"model": "m"})
    assert not mocked.requests


async def test_client_name_overrides_x_arkor_client(mocked: aioresponses) -> None:
    mocked.post(route("/v1/jobs/j1/cancel"), status=204)
    async with make_client(client_name="my-tool/2.0") as client:
        await client.cancel_job("j1")
    assert sent_headers(only_call(mocked, "POST", "/v1/jobs/j1/cancel"))["X-Arkor-Client"] == (
        "my-tool/2.0"
    )


async def test_base_url_path_prefix_is_kept_and_trailing_slash_dropped(
    mocked: aioresponses,
) -> None:
    mocked.get(re.compile(r"http://api\.test/prefix/v1/jobs/j1\?.*"), payload={"job": JOB})
    async with make_client(BASE + "/prefix/") as client:
        assert client.base_url == BASE + "/prefix"
        await client.get_job("j1")
    assert len(mocked.requests) == 1


async def test_get_job_tolerates_extra_fields_and_unknown_status(mocked: aioresponses) -> None:
    mocked.get(route("/v1/jobs/j1"), payload={"job": {**JOB, "status": "paused", "gpu": "A100"}})
    async with make_client() as client:
        job = await client.get_job("j1")
    assert job.status == "paused"
    assert not job.is_terminal


async def test_get_job_with_events_parses_tolerantly(mocked: aioresponses) -> None:
    events: list[Any] = [
        {"type": "training.log", "jobId": "j1", "timestamp": "t", "step": 1, "loss": 2.0},
        {"type": "brand.new", "jobId": "j1"},
        {"type": "training.log", "jobId": "j1"},  # no step: skipped
        "garbage",
        None,
    ]
    mocked.get(route("/v1/jobs/j1"), payload={"job": JOB, "events": events})
    async with make_client() as client:
        job, parsed = await client.get_job_with_events("j1")
    assert job.id == "j1"
    assert [type(e) for e in parsed] == [TrainingLog, UnknownEvent]
    assert isinstance(parsed[0], TrainingLog)
    assert parsed[0].loss == 2.0


async def test_get_job_without_events_gives_an_empty_list(mocked: aioresponses) -> None:
    mocked.get(route("/v1/jobs/j1"), payload={"job": JOB})
    async with make_client() as client:
        _, events = await client.get_job_with_events("j1")
    assert events == []


async def test_job_ids_are_percent_encoded_in_the_path(mocked: aioresponses) -> None:
    mocked.get(re.compile(r"http://api\.test/v1/jobs/a%2Fb\?.*"), payload={"job": JOB})
    async with make_client() as client:
        await client.get_job("a/b")
    ((_, sent),) = mocked.requests
    assert sent.raw_path == "/v1/jobs/a%2Fb"


async def test_cancel_job_posts_to_the_cancel_route(mocked: aioresponses) -> None:
    mocked.post(route("/v1/jobs/j1/cancel"), status=200, payload={"ok": True})
    async with make_client() as client:
        await client.cancel_job("j1")
    call = only_call(mocked, "POST", "/v1/jobs/j1/cancel")
    assert sent_headers(call)["Authorization"] == f"Bearer {TOKEN}"


async def test_cancel_of_a_terminal_job_is_a_cloud_api_error(mocked: aioresponses) -> None:
    mocked.post(route("/v1/jobs/j1/cancel"), status=409, payload={"error": "job already ended"})
    async with make_client() as client:
        with pytest.raises(CloudApiError) as info:
            await client.cancel_job("j1")
    assert info.value.status == 409
    assert info.value.message == "job already ended"


# --- error mapping ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, b'{"error": "invalid config: model"}', "invalid config: model"),
        (401, b'{"error": "unauthorized"}', "unauthorized"),
        (403, b'{"error": "forbidden"}', "forbidden"),
        (404, b'{"error": "job not found"}', "job not found"),
        (409, b'{"error": "conflict"}', "conflict"),
        (429, b'{"error": "rate limited"}', "rate limited"),
        (500, b'{"error": "boom", "code": 7}', "boom"),
        (500, b"", "cloud-api 500"),
        (502, b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        (503, b'{"unexpected": true}', '{"unexpected": true}'),
    ],
)
async def test_non_2xx_becomes_cloud_api_error_with_status_and_message(
    mocked: aioresponses, status: int, body: bytes, message: str
) -> None:
    mocked.get(route("/v1/jobs/j1"), status=status, body=body)
    async with make_client() as client:
        with pytest.raises(CloudApiError) as info:
            await client.get_job("j1")
    err = info.value
    assert type(err) is CloudApiError
    assert err.status == status
    assert err.message == message
    assert str(status) in str(err)
    assert err.retry_after is None
    assert err.is_permanent == (status not in (404, 429) and status < 500)


async def test_error_body_is_kept_when_it_is_a_json_object(mocked: aioresponses) -> None:
    mocked.get(route("/v1/jobs/j1"), status=500, payload={"error": "boom", "code": 7})
    async with make_client() as client:
        with pytest.raises(CloudApiError) as info:
            await client.get_job("j1")
    assert info.value.body == {"error": "boom", "code": 7}


async def test_426_is_upgrade_required_with_a_hint(mocked: aioresponses) -> None:
    mocked.post(route("/v1/jobs"), status=426, payload={"error": "client too old"})
    async with make_client() as client:
        with pytest.raises(UpgradeRequiredError) as info:
            await client.create_job("bot", {"model": "m"})
    assert info.value.status == 426
    assert "client too old" in info.value.message
    assert "upgrade" in info.value.message
    assert "pip install -U arkor_rx" in str(info.value)


async def test_retry_after_delta_seconds_is_parsed(mocked: aioresponses) -> None:
    mocked.get(route("/v1/jobs/j1"), status=429, body=b"", headers={"Retry-After": "7"})
    async with make_client() as client:
        with pytest.raises(CloudApiError) as info:
            await client.get_job("j1")
    assert info.value.retry_after == 7.0
    assert info.value.message == "cloud-api 429"


async def test_retry_after_http_date_is_parsed(mocked: aioresponses) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    mocked.get(route("/v1/jobs/j1"), status=503, body=b"down", headers={"retry-after": when})
    async with make_client() as client:
        with pytest.raises(CloudApiError) as info:
            await client.get_job("j1")
    assert info.value.retry_after is not None
    assert 40 < info.value.retry_after <= 61


async def test_a_2xx_that_is_not_json_is_a_cloud_api_error(mocked: aioresponses) -> None:
    mocked.get(route("/v1/jobs/j1"), status=200, body=b"<html>login</html>")
    async with make_client() as client:
        with pytest.raises(CloudApiError, match="not a JSON object") as info:
            await client.get_job("j1")
    assert info.value.status == 200


async def test_a_2xx_without_a_valid_job_is_a_cloud_api_error(mocked: aioresponses) -> None:
    mocked.get(route("/v1/jobs/j1"), status=200, payload={"job": {"name": "no id"}})
    async with make_client() as client:
        with pytest.raises(CloudApiError, match="id"):
            await client.get_job("j1")


async def test_connection_failure_is_a_transport_error(mocked: aioresponses) -> None:
    mocked.get(route("/v1/jobs/j1"), exception=aiohttp.ClientConnectionError("refused"))
    async with make_client() as client:
        with pytest.raises(
            TransportError, match=re.escape("GET http://api.test/v1/jobs/j1")
        ) as info:
            await client.get_job("j1")
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectionError)
    assert isinstance(info.value, ArkorError)


async def test_timeout_is_a_transport_error(mocked: aioresponses) -> None:
    mocked.get(route("/v1/jobs/j1"), exception=TimeoutError())
    async with make_client() as client:
        with pytest.raises(TransportError, match="timed out"):
            await client.get_job("j1")


# --- the event stream (status handling; the bytes are in test_transport.py) -----


async def test_open_event_stream_sends_sse_headers_and_last_event_id(
    mocked: aioresponses,
) -> None:
    path = "/v1/jobs/j1/events/stream"
    mocked.get(route(path), status=200, body=b"id: 1\ndata: {}\n\n")
    async with make_client() as client:
        stream = await client.open_event_stream("j1", last_event_id="41")
        try:
            assert stream.status == 200
            assert isinstance(stream, StreamResponse)
            assert await stream.read_chunk() == b"id: 1\ndata: {}\n\n"
            assert await stream.read_chunk() == b""
        finally:
            await stream.aclose()
            await stream.aclose()  # idempotent
    headers = sent_headers(only_call(mocked, "GET", path))
    assert headers["Accept"] == "text/event-stream"
    assert headers["Cache-Control"] == "no-cache"
    assert headers["Last-Event-ID"] == "41"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["X-Arkor-Client"] == USER_AGENT


@pytest.mark.parametrize("last_event_id", [None, ""])
async def test_no_last_event_id_header_without_an_id(
    mocked: aioresponses, last_event_id: str | None
) -> None:
    path = "/v1/jobs/j1/events/stream"
    mocked.get(route(path), status=200, body=b"")
    async with make_client() as client:
        stream = await client.open_event_stream("j1", last_event_id=last_event_id)
        await stream.aclose()
    assert "Last-Event-ID" not in sent_headers(only_call(mocked, "GET", path))


async def test_last_event_id_with_a_newline_is_refused(mocked: aioresponses) -> None:
    async with make_client() as client:
        with pytest.raises(ConfigError):
            await client.open_event_stream("j1", last_event_id="1\r\nX-Evil: 1")
    assert not mocked.requests


@pytest.mark.parametrize(
    ("status", "error_type", "transient"),
    [
        (401, CloudApiError, False),
        (403, CloudApiError, False),
        (404, CloudApiError, True),
        (410, CloudApiError, False),
        (426, UpgradeRequiredError, False),
        (429, CloudApiError, True),
        (503, CloudApiError, True),
    ],
)
async def test_open_event_stream_non_2xx_raises_with_status_and_retry_after(
    mocked: aioresponses, status: int, error_type: type[CloudApiError], transient: bool
) -> None:
    mocked.get(
        route("/v1/jobs/j1/events/stream"),
        status=status,
        payload={"error": f"nope {status}"},
        headers={"Retry-After": "2"},
    )
    async with make_client() as client:
        with pytest.raises(CloudApiError) as info:
            await client.open_event_stream("j1")
    assert type(info.value) is error_type
    assert info.value.status == status
    assert info.value.message.startswith(f"nope {status}")
    assert info.value.retry_after == 2.0
    assert info.value.is_permanent is not transient


async def test_open_event_stream_connect_failure_is_a_transport_error(
    mocked: aioresponses,
) -> None:
    mocked.get(route("/v1/jobs/j1/events/stream"), exception=aiohttp.ServerDisconnectedError())
    async with make_client() as client:
        with pytest.raises(TransportError):
            await client.open_event_stream("j1")


# --- inference (request shape; both answer modes are in test_inference.py) -------


async def test_infer_sends_camel_case_body_with_only_the_fields_set(mocked: aioresponses) -> None:
    answer = {"choices": [{"message": {"role": "assistant", "content": "Hi!"}}]}
    mocked.post(route("/v1/inference/chat"), payload=answer)
    messages = [{"role": "user", "content": "Hello"}]
    async with make_client() as client:
        response = await client.infer(
            messages,
            adapter={"kind": "checkpoint", "jobId": "j1", "step": 10},
            max_tokens=80,
            top_p=0.9,
            tool_choice="auto",
            response_format={"type": "json_object"},
        )
        assert await response.text() == "Hi!"
    call = only_call(mocked, "POST", "/v1/inference/chat")
    assert call.kwargs["json"] == {
        "messages": messages,
        "stream": False,
        "adapter": {"kind": "checkpoint", "jobId": "j1", "step": 10},
        "maxTokens": 80,
        "topP": 0.9,
        "toolChoice": "auto",
        "responseFormat": {"type": "json_object"},
    }
    assert sent_headers(call)["Authorization"] == f"Bearer {TOKEN}"


async def test_infer_always_sends_stream_explicitly(mocked: aioresponses) -> None:
    mocked.post(route("/v1/inference/chat"), payload={"choices": []})
    async with make_client() as client:
        await client.infer([{"role": "user", "content": "x"}], base_model="b", temperature=0.0)
    body = only_call(mocked, "POST", "/v1/inference/chat").kwargs["json"]
    assert body == {
        "messages": [{"role": "user", "content": "x"}],
        "stream": False,
        "baseModel": "b",
        "temperature": 0.0,
    }


async def test_infer_error_is_a_cloud_api_error(mocked: aioresponses) -> None:
    mocked.post(route("/v1/inference/chat"), status=404, payload={"error": "no such adapter"})
    async with make_client() as client:
        with pytest.raises(CloudApiError, match="no such adapter"):
            await client.infer([{"role": "user", "content": "x"}])


@pytest.mark.parametrize("messages", [[], "hello", [{"role": "user"}, "x"]])
async def test_infer_refuses_bad_messages_before_sending(
    mocked: aioresponses, messages: Any
) -> None:
    async with make_client() as client:
        with pytest.raises(ConfigError, match="message"):
            await client.infer(messages)
    assert not mocked.requests


# --- construction -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"token": ""}, "token"),
        ({"token": "   "}, "token"),
        ({"token": SecretStr("")}, "token"),
        ({"token": "a b"}, "token"),
        ({"token": "a\r\nX-Evil: 1"}, "token"),
        ({"org_slug": ""}, "org_slug"),
        ({"project_slug": " "}, "project_slug"),
        ({"base_url": ""}, "base_url"),
        ({"base_url": "api.arkor.ai"}, "base_url"),
        ({"base_url": "ftp://api.arkor.ai"}, "base_url"),
        ({"base_url": "http://"}, "base_url"),
        ({"base_url": "http://h:notaport"}, "base_url"),
        ({"base_url": "http://h/?x=1"}, "base_url"),
        ({"request_timeout": 0}, "request_timeout"),
        ({"request_timeout": float("nan")}, "request_timeout"),
        ({"client_name": "x\ny"}, "client_name"),
    ],
)
def test_constructor_validates_with_config_error(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {
        "base_url": BASE,
        "token": TOKEN,
        "org_slug": ORG,
        "project_slug": PROJECT,
        **kwargs,
    }
    with pytest.raises(ConfigError, match=field) as info:
        ArkorClient(**args)
    assert isinstance(info.value, ValueError)


def test_base_url_with_user_info_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="user info") as info:
        ArkorClient("https://me:hunter2@api.arkor.ai", TOKEN, ORG, PROJECT)
    assert "hunter2" not in str(info.value)


def test_constructor_defaults_to_production_and_exposes_its_config() -> None:
    client = ArkorClient(token=SecretStr(TOKEN), org_slug=ORG, project_slug=PROJECT)
    assert client.base_url == "https://api.arkor.ai"
    assert client.org_slug == ORG
    assert client.project_slug == PROJECT
    assert client.client_name == USER_AGENT
    assert client.request_timeout == 30.0


# --- lifetime ----------------------------------------------------------------------


async def test_a_fake_transport_plugs_in_and_is_closed_by_the_client() -> None:
    transport = RecordingTransport(answer=Response(200, {}, b'{"job": {"id": "j1"}}'))
    async with make_client(transport=transport, request_timeout=3.0) as client:
        assert client.transport is transport
        job = await client.get_job("j1")
    assert job.id == "j1"
    assert transport.closed == 1
    assert transport.calls == [
        {
            "method": "GET",
            "url": BASE + "/v1/jobs/j1",
            "params": {"orgSlug": ORG, "projectSlug": PROJECT},
            "timeout": 3.0,
        }
    ]


async def test_async_context_manager_closes_the_session(mocked: aioresponses) -> None:
    mocked.get(route("/v1/jobs/j1"), payload={"job": JOB})
    async with make_client() as client:
        await client.get_job("j1")
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_job("j1")
    await client.aclose()  # idempotent


def test_a_client_can_be_built_outside_a_running_loop() -> None:
    # The aiohttp session is created lazily, inside the loop that first uses it.
    client = make_client()
    assert "open" in repr(client.transport)


# --- secrets ---------------------------------------------------------------------------


def test_repr_masks_the_token() -> None:
    client = make_client()
    text = repr(client)
    assert TOKEN not in text
    assert "token='***'" in text
    assert ORG in text
    assert TOKEN not in repr(client.transport)


async def test_token_is_in_no_error_or_log_even_when_the_server_echoes_it(
    mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f'{{"error": "bad credentials: Bearer {TOKEN}", "header": "Bearer {TOKEN}"}}'
    mocked.get(route("/v1/jobs/j1"), status=401, body=echo)
    mocked.get(route("/v1/jobs/j2"), status=500, body=f"Authorization: Bearer {TOKEN}")
    mocked.get(route("/v1/jobs/j3"), exception=aiohttp.ClientConnectionError("refused"))
    mocked.get(route("/v1/jobs/j4/events/stream"), status=401, body=echo)
    errors: list[BaseException] = []
    async with make_client() as client:
        for job_id in ("j1", "j2", "j3"):
            with pytest.raises(ArkorError) as info:
                await client.get_job(job_id)
            errors.append(info.value)
        with pytest.raises(CloudApiError) as stream_info:
            await client.open_event_stream("j4")
        errors.append(stream_info.value)
    assert isinstance(errors[0], CloudApiError)
    assert errors[0].status == 401
    assert "bad credentials" in errors[0].message
    for err in errors:
        for text in (str(err), repr(err), repr(vars(err)), str(err.__cause__)):
            assert TOKEN not in text
    assert caplog.records  # requests were logged ...
    assert TOKEN not in caplog.text  # ... without the token
