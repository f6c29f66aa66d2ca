"""The token never shows through an error, however the server spelt it; good data is never touched.

Tokens: a distinctive one with a slash, a quote and a backslash (each has a
short JSON escape), a non-BMP character (a surrogate pair in ``\\u`` form),
and the short, common word ``local``. Places: the error's str, repr, args,
``message``, ``body``, traceback and cause chain, and the DEBUG log of the
stream path; for plain requests and for the stream open.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from arkor_rx._redaction import MASK, Redactor
from arkor_rx.client import ArkorClient, api_error
from arkor_rx.errors import CloudApiError, ReconnectExhaustedError, UpgradeRequiredError
from arkor_rx.protocol import error_message
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.sse import encode as sse_encode
from arkor_rx.stream import EventStream
from tests.client.client_helpers import BASE, JOB, MockedApi
from tests.client.client_helpers import Serve as ServeApp
from tests.client.faults import (
    FaultBackend,
    Raw,
    assert_no_secret,
    drain,
    echo_body,
    error_texts,
    json_spellings,
)
from tests.core.core_fakes import JOB_ID, ORG, PROJECT, Serve, SleepSpy, completed, failed

ODD = 'tok/SE"CR\\ET-8f3a'
"""A token with every character that has a short JSON escape (and is allowed in a header)."""
WIDE = "tok-\U0001f600-SECRET"
"""A token with a character beyond U+FFFF: JSON spells it as a surrogate pair."""
WORD = "local"
"""A token that is a short, common word: it also appears in good data."""

SPELLINGS = [(name, text) for name, text in json_spellings(ODD).items()]
WIDE_SPELLINGS = [(name, text) for name, text in json_spellings(WIDE).items()]


def route(path: str) -> re.Pattern[str]:
    return re.compile(re.escape(BASE + path) + r"(\?.*)?$")


@pytest.fixture
async def fault_backend() -> AsyncIterator[FaultBackend]:
    backend = FaultBackend()
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


# --- the redactor itself ---------------------------------------------------------------


@pytest.mark.parametrize(("form", "text"), SPELLINGS + WIDE_SPELLINGS)
def test_every_json_spelling_of_the_token_is_masked_in_raw_text(form: str, text: str) -> None:
    token = WIDE if (form, text) in WIDE_SPELLINGS else ODD
    redactor = Redactor(token)
    assert redactor.text(f"before {text} after") == f"before {MASK} after"


def test_a_decoded_value_is_masked_in_keys_values_and_nested_containers() -> None:
    redactor = Redactor(WORD)
    value = {"error": "org local", "local": [1, "x local y", {"k": "local"}], "n": None}
    assert redactor.value(value) == {
        "error": "org ***",
        "***": [1, "x *** y", {"k": "***"}],
        "n": None,
    }


def test_the_redactor_never_shows_its_secret() -> None:
    redactor = Redactor(ODD)
    assert ODD not in repr(redactor)
    assert not hasattr(redactor, "__dict__")
    with pytest.raises(ValueError, match="non-empty"):
        Redactor("")


def test_the_message_is_redacted_before_it_is_cut() -> None:
    # A cut at 1000 characters must not leave half of the token showing.
    body = json.dumps({"error": "x" * 990 + ODD + "y" * 50}).encode()
    message, _ = error_message(500, body, redact=Redactor(ODD).text)
    assert message.startswith("x" * 990 + MASK)
    assert_no_secret(ODD, message)
    assert ODD[:8] not in message


# --- api_error and the client's plain requests ----------------------------------------


@pytest.mark.parametrize(("form", "spelling"), SPELLINGS)
@pytest.mark.parametrize("status", [401, 426, 500])
def test_api_error_masks_every_spelling_in_message_body_and_args(
    form: str, spelling: str, status: int
) -> None:
    body = echo_body(spelling)
    assert json.loads(body)["error"] == f"bad token {ODD}"  # it really spells the token
    err = api_error(status, {"Retry-After": "1"}, body, redactor=Redactor(ODD))
    assert type(err) is (UpgradeRequiredError if status == 426 else CloudApiError)
    assert err.message.startswith(f"bad token {MASK}")
    assert err.body == {
        "error": f"bad token {MASK}",
        "detail": {"echo": [f"Bearer {MASK}"]},
        MASK: 1,
    }
    assert_no_secret(ODD, *error_texts(err))


@pytest.mark.parametrize(("form", "spelling"), WIDE_SPELLINGS)
def test_a_surrogate_pair_spelling_is_masked(form: str, spelling: str) -> None:
    err = api_error(403, {}, echo_body(spelling), redactor=Redactor(WIDE))
    assert err.message == f"bad token {MASK}"
    assert_no_secret(WIDE, *error_texts(err))


@pytest.mark.parametrize(
    "body",
    [
        b'Authorization: Bearer tok\\/SE\\"CR\\\\ET-8f3a',  # escapes in a body that is not JSON
        b'{"error": "bad \\u0074ok\\/SE\\"CR\\\\ET-8f3a", "cut": "',  # JSON cut short
        b'{"error": "escaped escapes \\\\u0074ok/SE\\"CR\\\\ET-8f3a"}',  # a \\u left in the value
    ],
)
def test_escapes_in_text_that_did_not_decode_are_masked_too(body: bytes) -> None:
    err = api_error(502, {}, body, redactor=Redactor(ODD))
    assert MASK in err.message
    assert_no_secret(ODD, *error_texts(err))


@pytest.mark.parametrize("token", [ODD, WORD, "x9"])
async def test_plain_requests_mask_every_spelling_everywhere(
    caplog: pytest.LogCaptureFixture, token: str
) -> None:
    caplog.set_level(logging.DEBUG)
    spellings = list(json_spellings(token).values())
    errors: list[BaseException] = []
    with MockedApi() as mocked:
        for i, spelling in enumerate(spellings):
            status = (401, 404, 500, 426)[i % 4]
            mocked.get(route(f"/v1/jobs/j{i}"), status=status, body=echo_body(spelling))
        async with ArkorClient(BASE, token, ORG, PROJECT) as client:
            for i in range(len(spellings)):
                with pytest.raises(CloudApiError) as info:
                    await client.get_job(f"j{i}")
                errors.append(info.value)
    for err in errors:
        assert isinstance(err, CloudApiError)
        assert err.message.startswith(f"bad token {MASK}")
        assert_no_secret(token, *error_texts(err))
    assert caplog.records
    assert_no_secret(token, caplog.text)


async def test_a_job_that_fails_validation_is_reported_without_the_token() -> None:
    bad_job = {**JOB, "name": [f"weird {ODD}"]}  # not a string: the reason quotes it
    with MockedApi() as mocked:
        mocked.get(route("/v1/jobs/j1"), status=200, payload={"job": bad_job})
        async with ArkorClient(BASE, ODD, ORG, PROJECT) as client:
            with pytest.raises(CloudApiError) as info:
                await client.get_job("j1")
    assert "unexpected answer to get job" in info.value.message
    assert_no_secret(ODD, *error_texts(info.value))


# --- good data is never rewritten ------------------------------------------------------


async def test_a_successful_payload_that_contains_the_token_word_is_left_alone() -> None:
    # The issue: with the token "local", a job's org_id came back as '***'.
    job = {**JOB, "orgId": WORD, "name": f"{WORD}-run", "config": {"model": WORD}}
    with MockedApi() as mocked:
        mocked.get(route("/v1/jobs/j1"), status=200, payload={"job": job, "events": []})
        mocked.post(
            route("/v1/inference/chat"),
            status=200,
            payload={"choices": [{"message": {"role": "assistant", "content": f"{WORD} answer"}}]},
        )
        async with ArkorClient(BASE, WORD, ORG, PROJECT) as client:
            got = await client.get_job("j1")
            answer = await client.infer([{"role": "user", "content": "hi"}])
    assert (got.org_id, got.name, got.config["model"]) == (WORD, "local-run", WORD)
    assert await answer.text() == "local answer"


async def test_stream_events_that_contain_the_token_word_are_left_alone(
    fault_backend: FaultBackend,
) -> None:
    fault_backend.add(Serve([failed("1", error=f"{WORD} disk full")]))
    async with ArkorClient(fault_backend.url, WORD, ORG, PROJECT) as client:
        stream = EventStream(client, JOB_ID, ReconnectPolicy.immediate(max_attempts=0))
        async with contextlib.aclosing(stream):
            events = [event async for event in stream]
    assert [getattr(e, "error", None) for e in events] == ["local disk full"]


# --- the stream path: errors and the DEBUG log ----------------------------------------


@pytest.mark.parametrize("token", [ODD, WORD, "x9"])
async def test_stream_errors_and_logs_never_show_the_token(
    fault_backend: FaultBackend, caplog: pytest.LogCaptureFixture, token: str
) -> None:
    caplog.set_level(logging.DEBUG)
    spellings = list(json_spellings(token).values())
    # Transient answers echoing the token, each spelling once, then a permanent one.
    fault_backend.plan.extend(Raw(503, echo_body(s)) for s in spellings)
    fault_backend.plan.append(Raw(401, echo_body(spellings[2])))
    spy = SleepSpy()
    async with ArkorClient(fault_backend.url, token, ORG, PROJECT) as client:
        stream = EventStream(client, JOB_ID, ReconnectPolicy(jitter=0), sleep=spy)
        with pytest.raises(CloudApiError) as info:
            await drain(stream)
    assert info.value.status == 401
    assert info.value.message == f"bad token {MASK}"
    assert len(fault_backend.connections) == len(spellings) + 1
    assert "failed" in caplog.text  # the stream logged each failure ...
    assert_no_secret(token, caplog.text, *error_texts(info.value))  # ... without the token


async def test_exhausted_reconnects_carry_no_token(fault_backend: FaultBackend) -> None:
    fault_backend.plan.extend(
        Raw(500, echo_body(s)) for s in list(json_spellings(ODD).values())[:3]
    )
    async with ArkorClient(fault_backend.url, ODD, ORG, PROJECT) as client:
        stream = EventStream(client, JOB_ID, ReconnectPolicy.immediate(max_attempts=2))
        with pytest.raises(ReconnectExhaustedError) as info:
            await drain(stream)
    assert isinstance(info.value.__cause__, CloudApiError)
    assert f"last error: bad token {MASK}" in str(info.value)
    assert_no_secret(ODD, *error_texts(info.value))


async def test_a_completed_stream_after_echoes_delivers_everything(
    fault_backend: FaultBackend,
) -> None:
    fault_backend.plan.append(Raw(503, echo_body(WORD)))
    fault_backend.add(Serve([completed("1")]))
    async with ArkorClient(fault_backend.url, WORD, ORG, PROJECT) as client:
        stream = EventStream(client, JOB_ID, ReconnectPolicy.immediate())
        async with contextlib.aclosing(stream):
            events = [event.type async for event in stream]
    assert events == ["training.completed"]


# --- an error frame inside a 200 inference stream ---------------------------------------


@pytest.mark.parametrize(("name", "spelling"), SPELLINGS + WIDE_SPELLINGS)
async def test_an_error_frame_in_an_inference_stream_is_redacted(
    serve: ServeApp, name: str, spelling: str
) -> None:
    token = WIDE if (name, spelling) in WIDE_SPELLINGS else ODD
    frame = (
        f'{{"error": {{"message": "bad token {spelling}", "echo": ["Bearer {spelling}"]}}, '
        f'"{spelling}": 1}}'
    )

    async def chat(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(
            sse_encode(json.dumps({"choices": [{"index": 0, "delta": {"content": "a"}}]}))
        )
        await resp.write(sse_encode(frame) + sse_encode("[DONE]"))
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/inference/chat", chat)
    server = await serve(app)
    async with ArkorClient(str(server.make_url("")), token, ORG, PROJECT) as client:
        response = await client.infer([{"role": "user", "content": "hi"}], stream=True)
        with pytest.raises(CloudApiError) as caught:
            async with response:
                [delta async for delta in response]
    error = caught.value
    assert error.status == 200
    assert error.message == f"bad token {MASK}"
    assert_no_secret(token, *error_texts(error))
