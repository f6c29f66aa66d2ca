"""A real ``arkor-rx serve`` subprocess for the attack matrix, and plain HTTP helpers.

One subprocess serves a whole test session (see ``conftest.py``); every case
opens its own connection (``http.client`` or a raw socket), so no case can
leave state on a pooled connection for the next.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN = "attack-matrix-token-7f3a9c"
MODEL = "arkor/tiny"
DEMO = {"type": "huggingface", "name": "arkorlab/triage-demo"}
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
GOOD_RECORD = {
    "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "greeting"}]
}


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> str:
        value = self.json()["error"]
        assert isinstance(value, str)
        return value


@dataclass(frozen=True)
class AttackServer:
    host: str
    port: int
    root: Path
    outside: Path
    data_dir: Path

    def call(
        self,
        method: str,
        path: str,
        body: bytes | Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        token: str | None = TOKEN,
    ) -> Answer:
        """One request on a fresh connection."""
        sent = dict(headers or {})
        if token is not None:
            sent.setdefault("Authorization", f"Bearer {token}")
        payload: bytes | None
        if body is None or isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=payload, headers=sent)
            resp = conn.getresponse()
            return Answer(resp.status, resp.getheader("Content-Type") or "", resp.read())
        finally:
            conn.close()

    def raw(self, data: bytes, *, wait: float = 10.0) -> bytes:
        """Send raw bytes on a fresh socket; the bytes received until the server closes."""
        with socket.create_connection((self.host, self.port), timeout=wait) as sock:
            sock.sendall(data)
            return _read_until_close(sock)

    def job(self, config: Mapping[str, Any], name: str = "attack") -> Answer:
        return self.call(
            "POST", "/v1/jobs?orgSlug=o&projectSlug=p", {"name": name, "config": config}
        )

    def finished_job(self, **knobs: Any) -> str:
        """Create a job on the built-in data and read its stream to the end; its id."""
        answer = self.job({"model": MODEL, "datasetSource": DEMO, "maxSteps": 4, **knobs})
        assert answer.status == 200, answer.body
        job_id: str = answer.json()["job"]["id"]
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(
                "GET",
                f"/v1/jobs/{job_id}/events/stream",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            resp = conn.getresponse()
            while line := resp.readline():
                if line.startswith(b"event: end"):
                    break
        finally:
            conn.close()
        return job_id


def _read_until_close(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    return b"".join(chunks)


def parse_raw(data: bytes) -> Answer:
    """Status, content type and body of the first HTTP answer in ``data``."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    content_type = ""
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-type":
            content_type = value.strip().decode()
        if name.strip().lower() == b"content-length":
            length = int(value)
    return Answer(status, content_type, body if length is None else body[:length])


def _layout(base: Path) -> tuple[Path, Path, Path]:
    root, outside, data_dir = base / "root", base / "outside", base / "data"
    for folder in (root, outside, data_dir, root / "folder"):
        folder.mkdir(parents=True)
    good = json.dumps(GOOD_RECORD) + "\n"
    (root / "good.jsonl").write_text(good * 12)
    (outside / "secret.jsonl").write_text(good * 12)
    os.mkfifo(root / "fifo.jsonl")
    (root / "to-outside.jsonl").symlink_to(outside / "secret.jsonl")
    (root / "to-passwd.jsonl").symlink_to("/etc/passwd")
    with (root / "sparse-huge.jsonl").open("wb") as fh:
        fh.truncate((64 << 20) + 1)  # over the 64 MiB cap, without writing it
    (root / "not-utf8.jsonl").write_bytes(b"\xff\xfe\x00garbage\n")
    (root / "empty.jsonl").write_text("")
    (root / "too-many.jsonl").write_text(good * 10_001)
    (root / "many-labels.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "q"},
                        {"role": "assistant", "content": f"r{i}"},
                    ]
                }
            )
            + "\n"
            for i in range(1001)
        )
    )
    return root, outside, data_dir


@contextmanager
def attack_server(base: Path) -> Iterator[AttackServer]:
    """Start ``python -m arkor_rx serve`` on a free port; stop it at the end."""
    root, outside, data_dir = _layout(base)
    cmd = [
        sys.executable,
        "-m",
        "arkor_rx",
        "serve",
        "--port",
        "0",
        "--token",
        TOKEN,
        "--data-dir",
        str(data_dir),
        "--dataset-root",
        str(root),
        "--max-concurrent-jobs",
        "2",
        "--header-timeout",
        str(HEADER_TIMEOUT),
        "--body-timeout",
        str(BODY_TIMEOUT),
    ]
    log = (base / "stderr.log").open("w")
    proc = subprocess.Popen(cmd, cwd=base, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://"), (line, (base / "stderr.log").read_text())
        host, port = line.split("http://", 1)[1].strip().rsplit(":", 1)
        yield AttackServer(host, int(port), root, outside, data_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()
