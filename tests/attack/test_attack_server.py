"""Attack: the local server's bounds (a job's name, the size of ``GET /v1/jobs``),
and the client following the pages."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import arkor_rx as ax
from arkor_rx.errors import CloudApiError
from arkor_rx.server.routes import JOBS_PAGE, MAX_JOBS_PAGE, MAX_NAME_CHARS
from arkor_rx.server.state import STATE_KEY
from arkor_rx.server.store import JobRecord
from tests.attack.hostile import TOKEN as HOSTILE_TOKEN
from tests.attack.hostile import Answer, HostileServer, job
from tests.server.server_helpers import TOKEN, auth, config, post_error, running


@pytest.mark.parametrize("length", [MAX_NAME_CHARS + 1, 1_000_000])
async def test_a_name_past_the_limit_is_400_naming_name(length: int) -> None:
    async with running() as (_, session):
        status, message = await post_error(
            session, "/v1/jobs", {"name": "n" * length, "config": config()}
        )
    assert status == 400
    assert message == f"name: at most {MAX_NAME_CHARS} characters, got {length}"


async def test_a_name_at_the_limit_passes_the_name_check() -> None:
    assert MAX_NAME_CHARS == 256
    async with running() as (_, session):
        status, message = await post_error(
            session, "/v1/jobs", {"name": "n" * MAX_NAME_CHARS, "config": config(model="gpt-17")}
        )
    assert status == 400
    assert "model" in message  # the config is judged next: the name was fine


def _fill(server: object, count: int, name: str = "run") -> list[str]:
    """Store ``count`` finished jobs (no training); their ids, oldest first."""
    store = server.app[STATE_KEY].store  # type: ignore[attr-defined]
    ids = [f"job_{n:05d}" for n in range(count)]
    for job_id in ids:
        store.create(JobRecord(id=job_id, name=name, config={}, status="completed"))
    return ids


async def test_the_list_is_paged_newest_first_and_the_pages_join_up() -> None:
    async with running() as (server, session):
        ids = _fill(server, 2 * JOBS_PAGE + 201)
        pages: list[list[str]] = []
        cursor: str | None = None
        for _ in range(10):  # bounded: three pages are expected
            params = {"cursor": cursor} if cursor else {}
            async with session.get("/v1/jobs", headers=auth(), params=params) as resp:
                assert resp.status == 200
                body = await resp.json()
            pages.append([j["id"] for j in body["jobs"]])
            cursor = body.get("nextCursor")
            if cursor is None:
                break
    assert [len(p) for p in pages] == [JOBS_PAGE, JOBS_PAGE, 201]
    assert [i for p in pages for i in p] == ids[::-1]


async def test_a_full_page_of_longest_names_stays_small() -> None:
    async with running() as (server, session):
        _fill(server, MAX_JOBS_PAGE + 1, name="n" * MAX_NAME_CHARS)
        async with session.get("/v1/jobs", headers=auth(), params={"limit": "1000"}) as resp:
            body = await resp.read()
    page = json.loads(body)
    assert len(page["jobs"]) == MAX_JOBS_PAGE
    assert page["nextCursor"] == page["jobs"][-1]["id"]
    assert len(body) < 1_000_000  # 1,000 jobs; an unbounded name made one job 1 MB


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": str(MAX_JOBS_PAGE + 1)}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"cursor": "job_nobody"}, "cursor"),
    ],
)
async def test_bad_paging_parameters_are_400_naming_them(
    params: dict[str, str], field: str
) -> None:
    async with (
        running() as (_, session),
        session.get("/v1/jobs", headers=auth(), params=params) as resp,
    ):
        status, body = resp.status, await resp.json()
    assert status == 400
    assert body["error"].startswith(f"{field}: ")


async def test_list_jobs_follows_the_local_servers_pages() -> None:
    async with running() as (server, _):
        ids = _fill(server, JOBS_PAGE + 3)
        async with ax.ArkorClient(server.url, TOKEN, "o", "p") as client:
            jobs = await client.list_jobs()
    assert [j.id for j in jobs] == ids[::-1]


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


async def test_list_jobs_works_with_a_server_that_does_not_page(hostile: HostileServer) -> None:
    hostile.routes["/v1/jobs"] = Answer.of({"jobs": [job("a"), job("b")]})
    async with ax.ArkorClient(hostile.url, HOSTILE_TOKEN, "o1", "p1") as client:
        assert [j.id for j in await client.list_jobs()] == ["a", "b"]
    assert len(hostile.requests) == 1
    assert "cursor" not in hostile.requests[0][1]


@pytest.mark.parametrize("cursor", ["again", 7, ""])
async def test_a_cursor_that_never_ends_or_is_not_a_string_is_an_error(
    hostile: HostileServer, cursor: object
) -> None:
    hostile.routes["/v1/jobs"] = Answer.of({"jobs": [job("a")], "nextCursor": cursor})
    async with ax.ArkorClient(hostile.url, HOSTILE_TOKEN, "o1", "p1") as client:
        with pytest.raises(CloudApiError, match="a bad nextCursor"):
            await client.list_jobs()
    assert len(hostile.requests) <= 2  # the same cursor twice: stopped, not looping
    if hostile.requests[1:]:
        assert hostile.requests[1][1]["cursor"] == ["again"]
