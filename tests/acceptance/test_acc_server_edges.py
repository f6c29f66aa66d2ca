"""More black-box edges of the local backend: config typing, inference options, blobs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from arkor_rx.server import LocalServer, ServerConfig

MODEL = "unsloth/gemma-4-E4B-it"
DATASET = {"type": "huggingface", "name": "arkorlab/triage-demo"}
MESSAGES = [{"role": "user", "content": "I was charged twice this month"}]


class Api:
    def __init__(self, server: LocalServer, session: aiohttp.ClientSession) -> None:
        self.url = server.url.rstrip("/")
        self.session = session
        self.headers = {"Authorization": f"Bearer {server.token}"}

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        async with self.session.post(self.url + path, json=body, headers=self.headers) as r:
            return r.status, await r.json(content_type=None)

    async def job(self, **config: Any) -> tuple[int, Any]:
        cfg: dict[str, Any] = {"model": MODEL, "datasetSource": DATASET, "maxSteps": 2}
        cfg.update(config)
        return await self.post("/v1/jobs", {"name": "edge", "config": cfg})

    async def finished_job(self, **config: Any) -> str:
        status, body = await self.job(**config)
        assert status == 200, body
        job_id: str = body["job"]["id"]
        async with self.session.get(
            f"{self.url}/v1/jobs/{job_id}/events/stream", headers=self.headers
        ) as r:
            async for line in r.content:
                if line.startswith(b"event: end"):
                    break
        return job_id


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with (
        LocalServer(ServerConfig(step_delay=0.0, dataset_roots=(tmp_path,))) as server,
        aiohttp.ClientSession() as session,
    ):
        yield Api(server, session)


@pytest.mark.parametrize(
    ("field", "value"), [("maxSteps", "10"), ("learningRate", "0.1"), ("batchSize", "4")]
)
async def test_numeric_string_config_is_refused(api: Api, field: str, value: str) -> None:
    status, body = await api.job(**{field: value})
    assert status == 400
    assert field in body["error"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("maxSteps", True),
        ("maxSteps", 2.5),
        ("maxSteps", 0),
        ("learningRate", 0),
        ("loraR", 0),
        ("model", 5),
    ],
)
async def test_wrong_typed_or_out_of_range_config_400(api: Api, field: str, value: Any) -> None:
    status, body = await api.job(**{field: value})
    assert status == 400
    assert field in body["error"]


async def test_unknown_config_field_refused_naming_it(api: Api) -> None:
    status, body = await api.job(fooBar=1)
    assert status == 400
    assert "fooBar" in body["error"]


@pytest.mark.parametrize("field", ["lrSchedulerType", "optim"])
async def test_unknown_enum_values_400(api: Api, field: str) -> None:
    status, body = await api.job(**{field: "no-such-thing"})
    assert status == 400
    assert field in body["error"]


@pytest.mark.parametrize("model", ["unsloth/gemma-4-E4B-it", "arkor/triage-tiny", "arkor/tiny"])
async def test_documented_models_accepted(api: Api, model: str) -> None:
    status, body = await api.job(model=model)
    assert status == 200
    assert body["job"]["config"]["model"] == model


async def test_config_echo_has_only_fields_sent(api: Api) -> None:
    status, body = await api.job(learningRate=0.001)
    assert status == 200
    assert set(body["job"]["config"]) == {"model", "datasetSource", "maxSteps", "learningRate"}


async def test_blob_not_chat_shaped_line_number(api: Api, tmp_path: Path) -> None:
    good = json.dumps(
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    )
    path = tmp_path / "d.jsonl"
    path.write_text(f"{good}\n{good}\n{good}\n{json.dumps({'foo': 1})}\n")
    status, body = await api.job(datasetSource={"type": "blob", "url": path.as_uri()})
    assert status == 400
    assert "line 4" in body["error"]


async def test_blob_missing_file_400(api: Api, tmp_path: Path) -> None:
    status, body = await api.job(
        datasetSource={"type": "blob", "url": (tmp_path / "nope.jsonl").as_uri()}
    )
    assert status == 400
    assert "datasetSource" in body["error"]


async def test_get_job_may_carry_events(api: Api) -> None:
    job_id = await api.finished_job()
    async with api.session.get(f"{api.url}/v1/jobs/{job_id}", headers=api.headers) as r:
        body = await r.json()
    assert body["job"]["status"] == "completed"
    if "events" in body:
        assert next(e["type"] for e in body["events"]) == "training.started"
        assert body["events"][-1]["type"] == "training.completed"


async def test_inference_max_tokens_and_choice(api: Api) -> None:
    job_id = await api.finished_job()
    adapter = {"kind": "final", "jobId": job_id}
    status, body = await api.post(
        "/v1/inference/chat",
        {
            "messages": MESSAGES,
            "adapter": adapter,
            "stream": False,
            "structuredOutputs": {"choice": ["yes", "no"]},
        },
    )
    assert status == 200
    assert body["choices"][0]["message"]["content"] in {"yes", "no"}
    status, body = await api.post(
        "/v1/inference/chat",
        {"messages": MESSAGES, "adapter": adapter, "stream": False, "maxTokens": 1},
    )
    assert status == 200
    assert len(body["choices"][0]["message"]["content"].split()) <= 1


async def test_inference_bad_adapter_kind_400(api: Api) -> None:
    status, body = await api.post(
        "/v1/inference/chat",
        {"messages": MESSAGES, "adapter": {"kind": "weird", "jobId": "x"}, "stream": False},
    )
    assert status == 400
    assert "adapter" in body["error"]


async def test_inference_without_adapter_base_model(api: Api) -> None:
    status, body = await api.post(
        "/v1/inference/chat", {"messages": MESSAGES, "baseModel": MODEL, "stream": False}
    )
    assert status == 200, body
    assert body["choices"][0]["message"]["role"] == "assistant"


async def test_unknown_route_404_json_and_wrong_method(api: Api) -> None:
    async with api.session.get(f"{api.url}/v1/nothing", headers=api.headers) as r:
        assert r.status == 404
        assert isinstance((await r.json(content_type=None))["error"], str)
    async with api.session.put(f"{api.url}/v1/jobs", headers=api.headers) as r:
        assert r.status in (404, 405)
        assert isinstance((await r.json(content_type=None))["error"], str)


async def test_data_dir_survives_restart(tmp_path: Path) -> None:
    config = ServerConfig(step_delay=0.0, data_dir=tmp_path, token="acc-token")
    async with LocalServer(config) as server, aiohttp.ClientSession() as session:
        job_id = await Api(server, session).finished_job()
    async with LocalServer(config) as server, aiohttp.ClientSession() as session:
        api = Api(server, session)
        async with session.get(f"{api.url}/v1/jobs/{job_id}", headers=api.headers) as r:
            assert r.status == 200
            assert (await r.json())["job"]["status"] == "completed"
        async with session.get(
            f"{api.url}/v1/jobs/{job_id}/events/stream", headers=api.headers
        ) as r:
            text = await r.text()
        assert "event: training.completed" in text
        assert text.index("event: end") > text.index("event: training.completed")
