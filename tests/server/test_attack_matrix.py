"""The standing bad-request matrix against a real ``arkor-rx serve`` subprocess.

Every route × auth, body shape, field bound, id, size and dataset path that an
attack tried: each answers a non-2xx JSON ``{"error": ...}`` in the protocol's
shape, with the status and the words a user needs, and never the token.
Framing, header and body timeouts (raw sockets) are in ``test_attack_framing.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.attack_server import DEMO, MODEL, TOKEN, Answer, AttackServer


def assert_json_error(answer: Answer, status: int, *words: str) -> None:
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.content_type.startswith("application/json"), answer.content_type
    message = answer.error
    for word in words:
        assert word in message, (word, message)
    assert TOKEN.encode() not in answer.body


def config(**knobs: Any) -> dict[str, Any]:
    return {"model": MODEL, "datasetSource": DEMO, "maxSteps": 4, **knobs}


# --- every route × auth ---------------------------------------------------------------

ROUTES = [
    ("POST", "/v1/jobs"),
    ("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/job_x"),
    ("POST", "/v1/jobs/job_x/cancel"),
    ("GET", "/v1/jobs/job_x/events/stream"),
    ("POST", "/v1/inference/chat"),
    ("GET", "/nowhere"),
    ("DELETE", "/v1/jobs/job_x"),
]
BAD_AUTH = {
    "missing": None,
    "wrong": "Bearer wrong-token",
    "basic": f"Basic {TOKEN}",
    "empty-bearer": "Bearer ",
    "token-prefix": f"Bearer {TOKEN[:-1]}",
    "token-suffix": f"Bearer {TOKEN}x",
    "no-scheme": TOKEN,
    "two-tokens": f"Bearer {TOKEN} {TOKEN}",
    "non-ascii": "Bearer t\u00e9st",
}


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@pytest.mark.parametrize("auth", list(BAD_AUTH.values()), ids=list(BAD_AUTH))
def test_every_route_refuses_bad_auth(
    attack: AttackServer, route: tuple[str, str], auth: str | None
) -> None:
    method, path = route
    headers = {} if auth is None else {"Authorization": auth}
    answer = attack.call(method, path, {}, headers, token=None)
    assert_json_error(answer, 401, "token")


@pytest.mark.parametrize(
    ("method", "path", "status", "words"),
    [
        ("GET", "/nowhere", 404, ("no route",)),
        ("DELETE", "/v1/jobs/job_x", 405, ("not allowed",)),
        ("PUT", "/v1/jobs", 405, ("not allowed",)),
        ("GET", "/v1/inference/chat", 405, ("not allowed",)),
        ("GET", "/v1/jobs/job_x/events/stream/more", 404, ("no route",)),
    ],
)
def test_unknown_routes_and_methods(
    attack: AttackServer, method: str, path: str, status: int, words: tuple[str, ...]
) -> None:
    assert_json_error(attack.call(method, path), status, *words)


# --- body shapes ----------------------------------------------------------------------

BODIES: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "empty": (b"", ("JSON",)),
    "not-json": (b"{nope", ("JSON",)),
    "array": (b"[1, 2]", ("object",)),
    "string": (b'"hello"', ("object",)),
    "number": (b"42", ("object",)),
    "null": (b"null", ("object",)),
    "deep-arrays": (b"[" * 100_000, ("nested too deeply",)),
    "deep-objects": (b'{"a":' * 60_000, ("nested too deeply",)),
    "not-utf8": (b'{"name": "\xff\xfe"}', ("JSON",)),
    "nan-literal": (b'{"config": NaN}', ()),
    "huge-int": (b'{"name": ' + b"9" * 5000 + b"}", ("JSON",)),
}


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/inference/chat"])
@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
def test_bad_bodies_are_400(
    attack: AttackServer, path: str, body: tuple[bytes, tuple[str, ...]]
) -> None:
    raw, words = body
    answer = attack.call("POST", path, raw, {"Content-Type": "application/json"})
    assert_json_error(answer, 400, *words)


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"name": 5, "config": config()}, ("name",)),
        ({"name": "x"}, ("config",)),
        ({"name": "x", "config": []}, ("config",)),
        ({"name": "x", "config": "maxSteps=4"}, ("config",)),
        ({"config": {"datasetSource": DEMO}}, ("model",)),
        ({"config": config(datasetSource=None)}, ("datasetSource",)),
        ({"config": config(datasetSource={"type": "s3"})}, ("datasetSource",)),
        ({"config": config(bogus=1)}, ("bogus",)),
        ({"config": config(model="gpt-17")}, ("model",)),
        ({"config": config(optim="lion")}, ("optim",)),
        ({"config": config(lrSchedulerType="exponential")}, ("lrSchedulerType",)),
        ({"config": config(datasetSource={"type": "huggingface", "name": "no/such"})}, ("name",)),
        ({"config": config(datasetSource={**DEMO, "split": "test"})}, ("split",)),
    ],
    ids=lambda v: "" if isinstance(v, tuple) else None,
)
def test_bad_job_bodies_name_the_field(
    attack: AttackServer, payload: dict[str, Any], words: tuple[str, ...]
) -> None:
    assert_json_error(attack.call("POST", "/v1/jobs", payload), 400, *words)


CHAT_OK = {"messages": [{"role": "user", "content": "hi"}]}


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("path", "payload", "words"),
    [
        ("/v1/jobs", {"config": config(datasetSource=_nested(900))}, ("datasetSource",)),
        ("/v1/jobs", {"config": config(model=_nested(900))}, ("model",)),
        ("/v1/inference/chat", {"messages": _nested(900)}, ("messages",)),
    ],
    ids=["config-datasetSource", "config-model", "chat-messages"],
)
def test_deep_but_parseable_values_are_400(
    attack: AttackServer, path: str, payload: dict[str, Any], words: tuple[str, ...]
) -> None:
    assert_json_error(attack.call("POST", path, payload), 400, *words)


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({}, ("messages",)),
        ({"messages": "hi"}, ("messages",)),
        ({"messages": []}, ("messages",)),
        ({"messages": [{"role": "system", "content": "x"}]}, ("user message",)),
        ({**CHAT_OK, "adapter": "final"}, ("adapter",)),
        ({**CHAT_OK, "adapter": {"kind": "lora", "jobId": "j"}}, ("adapter.kind",)),
        ({**CHAT_OK, "adapter": {"kind": "final"}}, ("adapter.jobId",)),
        ({**CHAT_OK, "adapter": {"kind": "checkpoint", "jobId": "j", "step": -1}}, ("step",)),
        ({**CHAT_OK, "adapter": {"kind": "checkpoint", "jobId": "j", "step": True}}, ("step",)),
        ({**CHAT_OK, "adapter": {"kind": "checkpoint", "jobId": "j", "step": "3"}}, ("step",)),
        ({**CHAT_OK, "maxTokens": 0}, ("maxTokens",)),
        ({**CHAT_OK, "maxTokens": 2.5}, ("maxTokens",)),
        ({**CHAT_OK, "stream": "yes"}, ("stream",)),
        ({**CHAT_OK, "structuredOutputs": {"choice": []}}, ("choice",)),
        ({**CHAT_OK, "structuredOutputs": {"choice": [1, 2]}}, ("choice",)),
        ({**CHAT_OK, "structuredOutputs": "x"}, ("structuredOutputs",)),
    ],
)
def test_bad_chat_bodies_name_the_field(
    attack: AttackServer, payload: dict[str, Any], words: tuple[str, ...]
) -> None:
    assert_json_error(attack.call("POST", "/v1/inference/chat", payload), 400, *words)


# --- field bounds ----------------------------------------------------------------------

OVER_LIMIT = [
    ("maxSteps", 10**30, "100000"),
    ("maxSteps", 100_001, "100000"),
    ("numTrainEpochs", 1e308, "1000"),
    ("learningRate", 11.0, "10"),
    ("batchSize", 4097, "4096"),
    ("weightDecay", 11.0, "10"),
    ("warmupSteps", 10**9, "100000"),
    ("loggingSteps", 10**9, "100000"),
    ("saveSteps", 10**9, "100000"),
    ("evalSteps", 10**9, "100000"),
    ("loraR", 200_000, "256"),
    ("loraR", 10**7, "256"),
    ("loraAlpha", 1e9, "1000000"),
    ("maxLength", 10**9, "1000000"),
    ("seed", 2**32, "4294967295"),
]


@pytest.mark.parametrize(
    ("field", "value", "limit"), OVER_LIMIT, ids=[f"{f}={v:g}" for f, v, _ in OVER_LIMIT]
)
def test_numbers_over_the_limits_are_400_naming_field_and_limit(
    attack: AttackServer, field: str, value: float, limit: str
) -> None:
    answer = attack.job(config(**{field: value}))
    assert_json_error(answer, 400, field, f"at most {limit}")


BAD_VALUES = [
    ("seed", -1),
    ("maxSteps", 0),
    ("maxSteps", -5),
    ("maxSteps", 2.5),
    ("maxSteps", True),
    ("maxSteps", "10"),
    ("learningRate", 0),
    ("learningRate", -1e-3),
    ("learningRate", "0.1"),
    ("learningRate", True),
    ("seed", True),
    ("seed", 1.5),
    ("numTrainEpochs", 0),
    ("batchSize", 0),
    ("batchSize", False),
    ("loraR", 0),
    ("loraAlpha", -1),
    ("weightDecay", -0.1),
    ("warmupSteps", -1),
    ("dryRun", "yes"),
    ("model", 5),
    ("model", ""),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES, ids=[f"{f}={v!r}" for f, v in BAD_VALUES])
def test_wrong_values_are_400_naming_the_field(
    attack: AttackServer, field: str, value: object
) -> None:
    assert_json_error(attack.job(config(**{field: value})), 400, field)


def test_infinity_is_refused(attack: AttackServer) -> None:
    raw = b'{"config": {"model": "arkor/tiny", "datasetSource": {"type": "huggingface", '
    raw += b'"name": "arkorlab/triage-demo"}, "learningRate": 1e999}}'
    answer = attack.call("POST", "/v1/jobs", raw, {"Content-Type": "application/json"})
    assert_json_error(answer, 400, "learningRate")


@pytest.mark.parametrize(
    ("knobs", "field", "limit"),
    [
        ({"maxSteps": None, "numTrainEpochs": 1000.0, "batchSize": 1}, "numTrainEpochs", "100000"),
        ({"maxSteps": 100_000, "loggingSteps": 1}, "loggingSteps", "20000"),
        ({"maxSteps": 50_000, "loggingSteps": 10, "evalSteps": 2}, "loggingSteps", "20000"),
        ({"maxSteps": 10_000, "saveSteps": 1}, "saveSteps", "at most 1000 checkpoints"),
        ({"maxSteps": 2000, "saveSteps": 10, "loraR": 256}, "saveSteps", "1073741824 bytes"),
    ],
    ids=["epochs-to-steps", "log-events", "eval-events", "checkpoints", "checkpoint-bytes"],
)
def test_what_a_run_would_produce_is_bounded_at_submission(
    attack: AttackServer, knobs: dict[str, Any], field: str, limit: str
) -> None:
    cfg = config(**knobs)
    if cfg["maxSteps"] is None:
        del cfg["maxSteps"]
    assert_json_error(attack.job(cfg), 400, field, limit)


def test_the_largest_accepted_values_are_accepted_and_cancel_at_once(
    attack: AttackServer,
) -> None:
    cfg = config(maxSteps=100_000, loraR=256, batchSize=64, seed=2**32 - 1, loggingSteps=100)
    answer = attack.job(cfg)
    assert answer.status == 200, answer.body
    job_id = answer.json()["job"]["id"]
    cancelled = attack.call("POST", f"/v1/jobs/{job_id}/cancel")
    assert cancelled.status == 200
    assert cancelled.json()["job"]["status"] == "cancelled"


# --- ids --------------------------------------------------------------------------------

IDS = {
    "unknown": "job_0000000000000000",
    "traversal": "..%2F..%2Fetc%2Fpasswd",
    "dots": "..",
    "long": "j" * 5000,
    "nul": "job%00x",
    "unicode": "%E2%98%83",
    "spaces": "job%20x",
}


@pytest.mark.parametrize("job_id", list(IDS.values()), ids=list(IDS))
@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/v1/jobs/{}"),
        ("POST", "/v1/jobs/{}/cancel"),
        ("GET", "/v1/jobs/{}/events/stream"),
    ],
    ids=["get", "cancel", "stream"],
)
def test_unknown_or_hostile_ids_are_404(
    attack: AttackServer, method: str, template: str, job_id: str
) -> None:
    answer = attack.call(method, template.format(job_id))
    assert answer.status == 404, answer.body[:200]
    assert answer.content_type.startswith("application/json")
    assert len(answer.body) < 400  # a 5000-character id is not echoed whole


@pytest.mark.parametrize("job_id", ["job_0000000000000000", "../../etc", "j" * 5000])
@pytest.mark.parametrize("kind", ["final", "checkpoint"])
def test_chat_with_unknown_adapter_job_is_404(attack: AttackServer, job_id: str, kind: str) -> None:
    adapter = {"kind": kind, "jobId": job_id, "step": 2}
    answer = attack.call("POST", "/v1/inference/chat", {**CHAT_OK, "adapter": adapter})
    assert_json_error(answer, 404, "unknown job")


def test_missing_checkpoint_is_404_and_damaged_one_is_500_naming_it(
    attack: AttackServer,
) -> None:
    job_id = attack.finished_job(saveSteps=2)
    missing = {"kind": "checkpoint", "jobId": job_id, "step": 3}
    answer = attack.call("POST", "/v1/inference/chat", {**CHAT_OK, "adapter": missing})
    assert_json_error(answer, 404, "no checkpoint at step 3")
    checkpoints = attack.data_dir / "jobs" / job_id / "checkpoints"
    (checkpoints / "step-2.npz").write_bytes(b"PK\x03\x04 this is not a zip any more")
    (checkpoints / "final.npz").write_bytes((checkpoints / "final.npz").read_bytes()[:100])
    for adapter, artifact in [
        ({"kind": "checkpoint", "jobId": job_id, "step": 2}, "step-2.npz"),
        ({"kind": "final", "jobId": job_id}, "final.npz"),
    ]:
        answer = attack.call("POST", "/v1/inference/chat", {**CHAT_OK, "adapter": adapter})
        assert_json_error(answer, 500, artifact, job_id, "damaged")
        assert answer.json()["artifact"] == artifact


def test_cancel_of_a_finished_job_is_409(attack: AttackServer) -> None:
    job_id = attack.finished_job()
    assert_json_error(attack.call("POST", f"/v1/jobs/{job_id}/cancel"), 409, "completed")


# --- sizes -------------------------------------------------------------------------------


def test_body_over_the_limit_is_413(attack: AttackServer) -> None:
    big = {"name": "x" * (1 << 20), "config": config()}
    for path in ("/v1/jobs", "/v1/inference/chat"):
        assert_json_error(attack.call("POST", path, big), 413, "1048576")


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/jobs/" + "a" * 9000, {}),
        ("/v1/jobs?orgSlug=" + "a" * 9000, {}),
        ("/v1/jobs", {"X-Big": "a" * 9000}),
        ("/v1/jobs", {f"X-H{i}": "v" for i in range(1000)}),
        ("/v1/jobs", {f"X-H{i}": "v" for i in range(129)}),
    ],
    ids=["url", "query", "header", "1000-headers", "129-headers"],
)
def test_oversized_request_heads_are_400_json(
    attack: AttackServer, path: str, headers: dict[str, str]
) -> None:
    answer = attack.call("GET", path, None, headers)
    assert_json_error(answer, 400, "malformed HTTP request")


# --- dataset paths -------------------------------------------------------------------------


def _blob(attack: AttackServer, url: str) -> Answer:
    return attack.job(config(datasetSource={"type": "blob", "url": url}))


OUTSIDE = {
    "etc-passwd": "file:///etc/passwd",
    "etc-shadow": "file:///etc/shadow",
    "dev-zero": "file:///dev/zero",
    "dev-urandom": "file:///dev/urandom",
    "proc": "file:///proc/self/environ",
    "missing-outside": "file:///nonexistent/dir/data.jsonl",
    "nul-byte": "file:///etc/passwd%00.jsonl",
}


@pytest.mark.parametrize("url", list(OUTSIDE.values()), ids=list(OUTSIDE))
def test_paths_outside_the_roots_get_one_error(attack: AttackServer, url: str) -> None:
    answer = _blob(attack, url)
    assert_json_error(answer, 400, "datasetSource.url", "dataset roots")
    assert answer.error == _outside_error(url)


def _outside_error(url: str) -> str:
    return (
        f"datasetSource.url: {url} is not a file under the local backend's dataset roots; it "
        "reads only files under the folders given with --dataset-root (by default the folder "
        "it was started in, and its data dir)"
    )


def test_outside_error_does_not_tell_whether_the_file_exists(attack: AttackServer) -> None:
    exists = (attack.outside / "secret.jsonl").as_uri()
    absent = (attack.outside / "absent.jsonl").as_uri()
    first, second = _blob(attack, exists), _blob(attack, absent)
    assert first.status == second.status == 400
    assert first.error.replace(exists, "URL") == second.error.replace(absent, "URL")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("to-outside.jsonl", ("dataset roots",)),
        ("to-passwd.jsonl", ("dataset roots",)),
        ("fifo.jsonl", ("not a regular file",)),
        ("folder", ("a directory",)),
        ("sparse-huge.jsonl", ("limit of 67108864 bytes",)),
        ("not-utf8.jsonl", ("not UTF-8",)),
        ("empty.jsonl", ("no records",)),
        ("too-many.jsonl", ("10001 records", "at most 10000")),
        ("many-labels.jsonl", ("1001 distinct assistant replies", "at most 1000")),
        ("absent.jsonl", ("no such file",)),
        ("folder/../../outside/secret.jsonl", ("dataset roots",)),
    ],
)
def test_bad_files_under_the_roots(attack: AttackServer, name: str, words: tuple[str, ...]) -> None:
    assert_json_error(_blob(attack, f"file://{attack.root}/{name}"), 400, *words)


def test_many_fifos_do_not_park_threads(attack: AttackServer) -> None:
    url = (attack.root / "fifo.jsonl").as_uri()
    for _ in range(20):  # the attack's hang came after ten
        assert_json_error(_blob(attack, url), 400, "not a regular file")
    assert _blob(attack, (attack.root / "good.jsonl").as_uri()).status == 200


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/d.jsonl",
        "s3://bucket/d.jsonl",
        "file://otherhost/etc/passwd",
        "d.jsonl",
    ],
)
def test_non_local_urls_are_refused(attack: AttackServer, url: str) -> None:
    assert_json_error(_blob(attack, url), 400, "file://")


def test_a_file_under_the_roots_trains(attack: AttackServer) -> None:
    assert _blob(attack, (attack.root / "good.jsonl").as_uri()).status == 200
