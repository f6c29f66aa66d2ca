"""arkor_rx.protocol: routes, status rules, Retry-After and error messages, per PROTOCOL.md."""

from __future__ import annotations

import doctest
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

import arkor_rx.protocol as protocol
from arkor_rx.errors import ConfigError
from arkor_rx.protocol import (
    CLIENT_NAME,
    DEFAULT_BASE_URL,
    INFERENCE_PATH,
    PERMANENT_STATUSES,
    USER_AGENT,
    __version__,
    cancel_path,
    error_message,
    events_path,
    is_transient_status,
    job_path,
    jobs_path,
    parse_retry_after,
    scope_params,
)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(protocol)
    assert result.failed == 0
    assert result.attempted > 5


def test_client_identity_is_name_slash_version() -> None:
    assert CLIENT_NAME == "arkor_rx"
    assert f"arkor_rx/{__version__}" == USER_AGENT
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", __version__)
    assert DEFAULT_BASE_URL.startswith("https://")


def test_routes_match_the_protocol_table() -> None:
    assert jobs_path() == "/v1/jobs"
    assert job_path("j1") == "/v1/jobs/j1"
    assert cancel_path("j1") == "/v1/jobs/j1/cancel"
    assert events_path("j1") == "/v1/jobs/j1/events/stream"
    assert INFERENCE_PATH == "/v1/inference/chat"
    assert scope_params("o", "p") == {"orgSlug": "o", "projectSlug": "p"}


def test_job_id_cannot_escape_its_route() -> None:
    assert job_path("../admin") == "/v1/jobs/..%2Fadmin"
    assert job_path("a?b#c") == "/v1/jobs/a%3Fb%23c"


@pytest.mark.parametrize("bad", ["", ".", ".."])
def test_job_id_that_is_empty_or_a_dot_segment_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="job id"):
        job_path(bad)


@pytest.mark.parametrize("status", [404, 408, 429, 500, 502, 503, 504, 599])
def test_transient_statuses(status: int) -> None:
    assert is_transient_status(status)


@pytest.mark.parametrize("status", [200, 204, 301, 400, 401, 403, 409, 410, 422, 426])
def test_non_transient_statuses(status: int) -> None:
    assert not is_transient_status(status)


def test_permanent_statuses_are_the_four_of_the_protocol() -> None:
    assert frozenset({401, 403, 410, 426}) == PERMANENT_STATUSES
    assert not any(is_transient_status(s) for s in PERMANENT_STATUSES)


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("120", 120.0),
        ("  7 ", 7.0),
        ("1.5", 1.5),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Thu, 01 Jan 2026 12:01:00 GMT", 60.0),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),  # past: clamped
        (None, None),
        ("", None),
        ("-5", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("Thu, 99 Foo 2026", None),
    ],
)
def test_parse_retry_after_both_rfc9110_forms(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_naive_now_is_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=naive) == 30.0


def test_parse_retry_after_date_defaults_to_the_current_time() -> None:
    later = datetime.now(UTC) + timedelta(seconds=120)
    seconds = parse_retry_after(format_datetime(later, usegmt=True))
    assert seconds is not None
    assert 100 < seconds <= 121


@pytest.mark.parametrize(
    ("status", "body", "message", "decoded"),
    [
        (
            409,
            b'{"error": "job already finished"}',
            "job already finished",
            {"error": "job already finished"},
        ),
        (
            400,
            b'{"error": {"message": "bad config"}}',
            "bad config",
            {"error": {"message": "bad config"}},
        ),
        (500, b'{"detail": "x"}', '{"detail": "x"}', {"detail": "x"}),  # no error field: the text
        (400, b'{"error": ""}', '{"error": ""}', {"error": ""}),
        (502, b"Bad Gateway\n", "Bad Gateway", None),
        (500, b"", "cloud-api 500", None),
        (503, b"   \n", "cloud-api 503", None),
        (400, b"[1, 2]", "[1, 2]", [1, 2]),
        (500, b"\xff\xfe oops", "\ufffd\ufffd oops", None),
    ],
)
def test_error_message_from_error_field_else_text_else_status(
    status: int, body: bytes, message: str, decoded: object
) -> None:
    assert error_message(status, body) == (message, decoded)


def test_error_message_cuts_a_huge_body() -> None:
    message, _ = error_message(500, b"<html>" + b"x" * 100_000)
    assert len(message) <= 1001
    assert message.startswith("<html>")
