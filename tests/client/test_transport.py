"""AiohttpTransport over loopback: incremental reads, redirects, timeouts, error translation."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest
from aiohttp import web

from arkor_rx.errors import CloudApiError, TransportError
from arkor_rx.protocol import USER_AGENT
from arkor_rx.transport import AiohttpTransport, StreamResponse, Transport
from tests.client.client_helpers import ORG, PROJECT, TOKEN, Serve, make_client

FRAME_1 = b'id: 1\nevent: training.log\ndata: {"type":"training.log","jobId":"j1","step":1}\n\n'
FRAME_2 = b'id: 2\nevent: training.log\ndata: {"type":"training.log","jobId":"j1","step":2}\n\n'


def test_aiohttp_transport_satisfies_the_transport_protocol() -> None:
    assert isinstance(AiohttpTransport(), Transport)


def test_streams_have_no_total_timeout_and_no_read_timeout() -> None:
    # aiohttp's default ClientTimeout(total=300) would cut every run longer
    # than five minutes; the stream's idle watchdog lives in the reactive core.
    transport = AiohttpTransport(request_timeout=12.0, connect_timeout=3.0)
    assert transport.stream_timeout_config.total is None
    assert transport.stream_timeout_config.sock_read is None
    assert transport.stream_timeout_config.sock_connect == 3.0
    assert transport.request_timeout_config.total == 12.0


@pytest.mark.parametrize(
    "kwargs",
    [{"request_timeout": 0}, {"connect_timeout": -1}, {"max_redirects": -1}],
)
def test_transport_validates_its_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        AiohttpTransport(**kwargs)  # type: ignore[arg-type]


async def test_event_stream_delivers_bytes_as_they_arrive(serve: Serve) -> None:
    first_read = asyncio.Event()
    seen: dict[str, str | None] = {}

    async def stream(request: web.Request) -> web.StreamResponse:
        seen.update(
            auth=request.headers.get("Authorization"),
            client=request.headers.get("X-Arkor-Client"),
            accept=request.headers.get("Accept"),
            last=request.headers.get("Last-Event-ID"),
            org=request.query.get("orgSlug"),
            project=request.query.get("projectSlug"),
        )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(FRAME_1)
        # The second frame is only written once the client has read the first:
        # a client that buffered the whole body would hang here (the test timeout
        # below is only a safety net).
        await first_read.wait()
        await resp.write(FRAME_2[:10])
        await resp.write(FRAME_2[10:])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/v1/jobs/j1/events/stream", stream)
    server = await serve(app)
    async with make_client(str(server.make_url(""))) as client:
        response = await client.open_event_stream("j1", last_event_id="0")
        try:
            assert response.status == 200
            assert response.headers["content-type"] == "text/event-stream"
            async with asyncio.timeout(5):
                assert await response.read_chunk() == FRAME_1
                first_read.set()
                rest = b""
                while chunk := await response.read_chunk():
                    rest += chunk
            assert rest == FRAME_2
            assert await response.read_chunk() == b""  # EOF stays EOF
        finally:
            await response.aclose()
    assert seen == {
        "auth": f"Bearer {TOKEN}",
        "client": USER_AGENT,
        "accept": "text/event-stream",
        "last": "0",
        "org": ORG,
        "project": PROJECT,
    }


async def test_a_stream_outlives_the_plain_request_timeout(serve: Serve) -> None:
    # The plain-request timeout is 0.2 s; the stream stays open longer than
    # that and is not cut. (The 5-minute aiohttp default is checked by config
    # in test_streams_have_no_total_timeout_and_no_read_timeout.)
    release = asyncio.Event()

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(FRAME_1)
        await release.wait()
        await resp.write(FRAME_2)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/v1/jobs/j1/events/stream", stream)
    server = await serve(app)
    async with make_client(str(server.make_url("")), request_timeout=0.2) as client:
        response = await client.open_event_stream("j1")
        try:
            assert await response.read_chunk() == FRAME_1
            started = time.monotonic()
            await asyncio.sleep(0.4)  # the passage of time is what is tested here
            release.set()
            assert await response.read_chunk() == FRAME_2
            assert time.monotonic() - started >= 0.4
        finally:
            await response.aclose()


async def test_a_plain_request_is_bounded_by_request_timeout(serve: Serve) -> None:
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/v1/jobs/j1", hang)
    server = await serve(app)
    async with make_client(str(server.make_url("")), request_timeout=0.2) as client:
        with pytest.raises(TransportError, match="timed out"):
            await client.get_job("j1")


async def test_a_stream_without_headers_in_time_is_a_transport_error(serve: Serve) -> None:
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    app = web.Application()
    app.router.add_get("/v1/jobs/j1/events/stream", hang)
    server = await serve(app)
    async with make_client(str(server.make_url("")), request_timeout=0.2) as client:
        with pytest.raises(TransportError, match=r"no answer within 0\.2 s"):
            await client.open_event_stream("j1")


async def test_a_connection_dropped_mid_stream_is_a_transport_error(serve: Serve) -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()  # chunked: a cut is detectable
        await resp.prepare(request)
        await resp.write(FRAME_1)
        await resp.write(FRAME_2[:5])
        assert request.transport is not None
        request.transport.close()
        return resp

    app = web.Application()
    app.router.add_get("/v1/jobs/j1/events/stream", stream)
    server = await serve(app)
    async with make_client(str(server.make_url(""))) as client:
        response = await client.open_event_stream("j1")
        try:
            received = b""

            async def read_all() -> None:
                nonlocal received
                async with asyncio.timeout(5):
                    while chunk := await response.read_chunk():
                        received += chunk

            with pytest.raises(TransportError) as info:
                await read_all()
            assert isinstance(info.value.__cause__, aiohttp.ClientError)
            assert received.startswith(FRAME_1)
        finally:
            await response.aclose()
        assert await response.read_chunk() == b""  # closed: EOF, no error


async def test_connection_refused_is_a_transport_error_without_the_token() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    async with make_client(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(TransportError) as info:
            await client.open_event_stream("j1")
    assert f"127.0.0.1:{port}" in str(info.value)
    assert TOKEN not in str(info.value)
    assert TOKEN not in str(info.value.__cause__)
    assert isinstance(info.value.__cause__, aiohttp.ClientError | OSError)


async def test_a_failed_stream_open_reads_the_error_body_and_closes(serve: Serve) -> None:
    async def gone(request: web.Request) -> web.Response:
        return web.json_response({"error": "job expired"}, status=410)

    app = web.Application()
    app.router.add_get("/v1/jobs/j1/events/stream", gone)
    server = await serve(app)
    async with make_client(str(server.make_url(""))) as client:
        with pytest.raises(CloudApiError) as info:
            await client.open_event_stream("j1")
    assert info.value.status == 410
    assert info.value.message == "job expired"
    assert info.value.is_permanent


# --- redirects -------------------------------------------------------------------------


def _recorder(seen: list[dict[str, str | None]]) -> web.Application:
    async def target(request: web.Request) -> web.Response:
        seen.append(
            {
                "host": request.host,
                "method": request.method,
                "auth": request.headers.get("Authorization"),
                "client": request.headers.get("X-Arkor-Client"),
            }
        )
        return web.json_response({"job": {"id": "j1"}})

    app = web.Application()
    app.router.add_route("*", "/target", target)
    return app


async def test_redirect_to_another_port_drops_authorization(serve: Serve) -> None:
    seen: list[dict[str, str | None]] = []
    other = await serve(_recorder(seen))

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(str(other.make_url("/target")))

    app = web.Application()
    app.router.add_get("/v1/jobs/j1", redirect)
    origin = await serve(app)
    async with make_client(str(origin.make_url(""))) as client:
        job = await client.get_job("j1")
    assert job.id == "j1"
    assert len(seen) == 1
    assert seen[0]["auth"] is None
    assert seen[0]["client"] == USER_AGENT


async def test_redirect_to_another_host_drops_authorization(serve: Serve) -> None:
    # 127.0.0.1 and localhost are different origins even on the same port.
    seen: list[dict[str, str | None]] = []
    app = _recorder(seen)

    async def redirect(request: web.Request) -> web.Response:
        port = request.url.port
        raise web.HTTPFound(f"http://localhost:{port}/target")

    app.router.add_get("/v1/jobs/j1/events/stream", redirect)
    server = await serve(app)
    async with make_client(str(server.make_url(""))) as client:
        response = await client.open_event_stream("j1")
        await response.aclose()
    assert len(seen) == 1
    assert seen[0]["host"].startswith("localhost:")  # type: ignore[union-attr]
    assert seen[0]["auth"] is None


async def test_same_origin_redirect_keeps_authorization(serve: Serve) -> None:
    seen: list[dict[str, str | None]] = []
    app = _recorder(seen)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect("/target")  # relative: same origin

    app.router.add_get("/v1/jobs/j1/events/stream", redirect)
    server = await serve(app)
    async with make_client(str(server.make_url(""))) as client:
        response = await client.open_event_stream("j1")
        await response.aclose()
    assert seen[0]["auth"] == f"Bearer {TOKEN}"


async def test_authorization_stays_dropped_after_coming_back_to_the_origin(
    serve: Serve,
) -> None:
    seen: list[dict[str, str | None]] = []
    app = _recorder(seen)

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://localhost:{request.url.port}/back")

    async def back(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{request.url.port}/target")

    app.router.add_get("/v1/jobs/j1", away)
    app.router.add_get("/back", back)
    server = await serve(app)
    async with make_client(str(server.make_url(""))) as client:
        await client.get_job("j1")
    assert seen[0]["host"].startswith("127.0.0.1:")  # type: ignore[union-attr]
    assert seen[0]["auth"] is None


@pytest.mark.parametrize(("status", "method"), [(303, "GET"), (302, "GET"), (307, "POST")])
async def test_redirect_method_rules(serve: Serve, status: int, method: str) -> None:
    seen: list[dict[str, str | None]] = []
    app = _recorder(seen)

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": "/target"})

    app.router.add_post("/v1/jobs", redirect)
    server = await serve(app)
    async with make_client(str(server.make_url(""))) as client:
        await client.create_job("bot", {"model": "m"})
    assert seen[0]["method"] == method


async def test_too_many_redirects_is_a_transport_error(serve: Serve) -> None:
    hops = 0

    async def loop(request: web.Request) -> web.Response:
        nonlocal hops
        hops += 1
        raise web.HTTPFound("/v1/jobs/j1")

    app = web.Application()
    app.router.add_get("/v1/jobs/j1", loop)
    server = await serve(app)
    async with make_client(str(server.make_url(""))) as client:
        with pytest.raises(TransportError, match="more than 5 redirects"):
            await client.get_job("j1")
    assert hops == 6  # the first request and five redirects


async def test_redirect_to_a_non_http_scheme_is_refused(serve: Serve) -> None:
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("file:///etc/passwd")

    app = web.Application()
    app.router.add_get("/v1/jobs/j1", redirect)
    server = await serve(app)
    async with make_client(str(server.make_url(""))) as client:
        with pytest.raises(TransportError, match="non-HTTP"):
            await client.get_job("j1")


async def test_a_3xx_without_location_is_returned_as_an_answer(serve: Serve) -> None:
    async def odd(request: web.Request) -> web.Response:
        return web.Response(status=304)

    app = web.Application()
    app.router.add_get("/v1/jobs/j1", odd)
    server = await serve(app)
    async with make_client(str(server.make_url(""))) as client:
        with pytest.raises(CloudApiError) as info:
            await client.get_job("j1")
    assert info.value.status == 304


# --- lifetime ---------------------------------------------------------------------------


async def test_transport_session_is_lazy_and_closed_once(serve: Serve) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application()
    app.router.add_get("/", ok)
    server = await serve(app)
    transport = AiohttpTransport()
    assert transport._session is None
    async with transport:
        status, headers, body = await transport.request("GET", str(server.make_url("/")))
        assert (status, body) == (200, b"hi")
        assert headers["content-type"].startswith("text/plain")
        stream = await transport.open_stream("GET", str(server.make_url("/")))
        assert isinstance(stream, StreamResponse)
        assert await stream.read_chunk() == b"hi"
        await stream.aclose()
    assert transport.closed
    await transport.aclose()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await transport.request("GET", str(server.make_url("/")))
