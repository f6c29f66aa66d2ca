"""client.list_jobs(): GET /v1/jobs as PROTOCOL.md writes it (aioresponses), against the fake,
and against the local backend."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

import arkor_rx as ax
from arkor_rx.errors import CloudApiError
from arkor_rx.server import FaultConfig, ServerConfig
from tests.client.client_helpers import BASE, JOB, ORG, PROJECT, TOKEN, MockedApi, make_client
from tests.e2e.e2e_helpers import DEMO, LONG_RUN, MODEL, local_backend
from tests.sweep.sweep_fakes import FakeJobs, losses

ROUTE = re.compile(re.escape(BASE + "/v1/jobs") + r"(\?.*)?$")


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with MockedApi() as m:
        yield m


async def test_list_jobs_sends_the_scoped_get_and_parses_every_job(mocked: aioresponses) -> None:
    newer = {**JOB, "id": "j2", "status": "running", "futureField": 1}
    mocked.get(ROUTE, payload={"jobs": [newer, JOB]})
    async with make_client() as client:
        jobs = await client.list_jobs()
    assert [(j.id, j.status, j.name) for j in jobs] == [
        ("j2", "running", "support-bot-v1"),
        ("j1", "queued", "support-bot-v1"),
    ]
    assert all(isinstance(j, ax.TrainingJob) for j in jobs)
    url = URL(BASE + "/v1/jobs").with_query({"orgSlug": ORG, "projectSlug": PROJECT})
    (call,) = mocked.requests[("GET", url)]
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {TOKEN}"


async def test_an_empty_list_is_an_empty_list(mocked: aioresponses) -> None:
    mocked.get(ROUTE, payload={"jobs": []})
    async with make_client() as client:
        assert await client.list_jobs() == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"items": []}, "no 'jobs' list"),
        ({"jobs": {"id": "j1"}}, "no 'jobs' list"),
        ({"jobs": [JOB, 3]}, "jobs[1] is not an object"),
        ({"jobs": [{"name": "no id"}]}, "list jobs (jobs[0])"),
        ([JOB], "not a JSON object"),
    ],
)
async def test_a_malformed_answer_is_a_clear_error(
    mocked: aioresponses, payload: Any, message: str
) -> None:
    mocked.get(ROUTE, payload=payload)
    async with make_client() as client:
        with pytest.raises(CloudApiError) as info:
            await client.list_jobs()
    assert message in str(info.value)


async def test_an_error_status_is_a_cloud_api_error_without_the_token(mocked: aioresponses) -> None:
    mocked.get(ROUTE, status=403, payload={"error": f"no access for Bearer {TOKEN}"})
    async with make_client() as client:
        with pytest.raises(CloudApiError) as info:
            await client.list_jobs()
    assert info.value.status == 403
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value)


async def test_list_jobs_against_a_backend_lists_newest_first(
    jobs: FakeJobs, client: ax.ArkorClient
) -> None:
    jobs.plan = lambda name, config: losses([1.0])
    from tests.sweep.test_sweep_grid import sweep

    result = await sweep(client, runs=[{}, {}, {}], max_concurrent=1).wait()
    listed = await client.list_jobs()
    assert [j.id for j in listed] == [r.run.job_id for r in reversed(result.runs)]
    assert [j.status for j in listed] == ["completed"] * 3
    assert jobs.list_requests == 1


async def test_list_jobs_on_the_local_backend_lists_newest_first_queued_ones_included() -> None:
    # One worker, and every job held before step LONG_RUN: the first job keeps the
    # worker, so the two after it are still queued when they are listed.
    config = ServerConfig(max_concurrent_jobs=1, faults=FaultConfig(hold_at_step=LONG_RUN))
    async with local_backend(config) as backend:
        wire = {"model": MODEL, "datasetSource": DEMO, "maxSteps": LONG_RUN}
        created = [await backend.client.create_job(f"listed-{i}", wire) for i in range(3)]
        listed = await backend.client.list_jobs()
        for job in created:
            await backend.client.cancel_job(job.id)
    assert [j.id for j in listed] == [j.id for j in reversed(created)]
    assert [j.name for j in listed] == ["listed-2", "listed-1", "listed-0"]
    assert [j.status for j in listed[:2]] == ["queued", "queued"]
    assert listed[2].status in {"queued", "running"}  # the worker may not have begun it yet
