"""Black-box acceptance tests of the reconnect rules of PROTOCOL.md, through ``Trainer.wait``."""

from __future__ import annotations

import pytest

import arkor_rx as ax

from ._acc_fake import PING, FakeBackend, completed, ev, frames, log, policy, status, trainer


async def test_clean_close_after_data_is_not_a_failure(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [
        frames(log("1", 1)),
        frames(log("2", 2)),
        frames(log("3", 3)),
        frames(log("4", 4)),
        frames(completed("5")),
    ]
    steps: list[int] = []
    result = await trainer(client, steps, reconnect=policy(max_attempts=1)).wait()
    assert result.status == "completed"
    assert steps == [1, 2, 3, 4]
    assert len(backend.stream_opens) == 5


async def test_only_pings_is_a_failure(backend: FakeBackend, client: ax.ArkorClient) -> None:
    backend.opens = [frames(PING, PING, b"data: garbage\n\n")]
    with pytest.raises(ax.ReconnectExhaustedError) as info:
        await trainer(client, [], reconnect=policy(max_attempts=2)).wait()
    assert info.value.__cause__ is not None
    assert 2 <= len(backend.stream_opens) <= 4


async def test_failure_counter_resets_on_data(backend: FakeBackend, client: ax.ArkorClient) -> None:
    backend.opens = [
        status(503),
        frames(log("1", 1)),
        status(503),
        frames(log("2", 2)),
        status(503),
        frames(log("3", 3)),
        status(503),
        frames(completed("4")),
    ]
    steps: list[int] = []
    result = await trainer(client, steps, reconnect=policy(max_attempts=1)).wait()
    assert result.status == "completed"
    assert steps == [1, 2, 3]


@pytest.mark.parametrize("code", [401, 403, 410, 426])
async def test_permanent_status_fails_at_once(
    backend: FakeBackend, client: ax.ArkorClient, code: int
) -> None:
    backend.opens = [status(code, {"error": f"nope {code}"}), frames(completed("1"))]
    with pytest.raises(ax.CloudApiError) as info:
        await trainer(client, []).wait()
    assert info.value.status == code
    if code == 426:
        assert isinstance(info.value, ax.UpgradeRequiredError)
    assert len(backend.stream_opens) == 1


@pytest.mark.parametrize("code", [404, 408, 429, 500, 502, 503, 504])
async def test_transient_status_is_retried(
    backend: FakeBackend, client: ax.ArkorClient, code: int
) -> None:
    backend.opens = [status(code, {"error": "later"}), frames(log("1", 1), completed("2"))]
    steps: list[int] = []
    result = await trainer(client, steps).wait()
    assert result.status == "completed"
    assert steps == [1]
    assert len(backend.stream_opens) == 2


async def test_max_attempts_exceeded_has_cause(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [status(503, {"error": "down"})]
    with pytest.raises(ax.ReconnectExhaustedError) as info:
        await trainer(client, [], reconnect=policy(max_attempts=3)).wait()
    cause = info.value.__cause__
    assert isinstance(cause, ax.CloudApiError)
    assert cause.status == 503
    assert 3 <= len(backend.stream_opens) <= 4


async def test_end_frame_means_no_reconnect(backend: FakeBackend, client: ax.ArkorClient) -> None:
    backend.opens = [frames(log("1", 1), b"event: end\ndata: {}\n\n"), frames(log("2", 2))]
    steps: list[int] = []
    await trainer(client, steps).wait()
    assert steps == [1]
    assert len(backend.stream_opens) == 1


async def test_resume_sends_last_event_id(backend: FakeBackend, client: ax.ArkorClient) -> None:
    backend.opens = [
        frames(log("a-1", 1), log("b-2", 2)),
        frames(log("c-3", 3)),
        frames(completed("d-4")),
    ]
    steps: list[int] = []
    await trainer(client, steps).wait()
    opens = backend.stream_opens
    assert "Last-Event-ID" not in opens[0].headers
    assert opens[1].headers["Last-Event-ID"] == "b-2"
    assert opens[2].headers["Last-Event-ID"] == "c-3"
    for req in opens:
        assert req.headers.get("Accept") == "text/event-stream"
    assert steps == [1, 2, 3]


async def test_id_only_frame_moves_resume_point(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    # WHATWG: an id: line sets the last event ID buffer even when nothing is dispatched.
    backend.opens = [frames(log("1", 1), b"id: 5\n\n"), frames(completed("6"))]
    await trainer(client, []).wait()
    assert backend.stream_opens[1].headers["Last-Event-ID"] == "5"


async def test_replayed_events_are_not_delivered_twice(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    # The server ignores Last-Event-ID and replays from the start each time.
    backend.opens = [
        frames(log("1", 1), log("2", 2)),
        frames(log("1", 1), log("2", 2), log("3", 3)),
        frames(log("1", 1), log("2", 2), log("3", 3), log("4", 4), completed("5")),
    ]
    steps: list[int] = []
    result = await trainer(client, steps).wait()
    assert steps == [1, 2, 3, 4]
    assert result.status == "completed"


async def test_garbage_data_is_skipped_stream_goes_on(
    backend: FakeBackend, client: ax.ArkorClient
) -> None:
    backend.opens = [
        frames(
            log("1", 1),
            b"id: 2\ndata: {not json\n\n",
            ev("training.paused", "3", why="x"),
            PING,
            log("4", 4),
            completed("5"),
        )
    ]
    steps: list[int] = []
    result = await trainer(client, steps).wait()
    assert steps == [1, 4]
    assert result.status == "completed"
    assert len(backend.stream_opens) == 1


async def test_empty_id_resets_resume_point(backend: FakeBackend, client: ax.ArkorClient) -> None:
    # WHATWG: "id" with an empty value resets the last event ID buffer; with an empty
    # last event ID string the reconnect carries no Last-Event-ID header.
    no_id_log = b"id\n" + log("x", 2).split(b"\n", 1)[1]
    backend.opens = [frames(log("1", 1), no_id_log), frames(completed("6"))]
    steps: list[int] = []
    await trainer(client, steps).wait()
    assert steps == [1, 2]
    assert backend.stream_opens[1].headers.get("Last-Event-ID", "") == ""
