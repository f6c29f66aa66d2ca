"""``arkor-rx deploy / deployments / undeploy / keys`` against a LocalServer and a trained job."""

from __future__ import annotations

import asyncio
import re

import openai
import pytest
from openai import AsyncOpenAI

from arkor_rx.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from tests.attack.hostile import Answer, HostileServer
from tests.deployments.conftest import QUESTION, Trained


@pytest.fixture
def cli_env(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Trained:
    """The CLI's environment points at the trained server."""
    monkeypatch.setenv("ARKOR_CLOUD_API_URL", trained.server.url)
    monkeypatch.setenv("ARKOR_TOKEN", trained.server.token)
    monkeypatch.setenv("ARKOR_ORG_SLUG", "local")
    monkeypatch.setenv("ARKOR_PROJECT_SLUG", "demo")
    return trained


async def cli(*argv: str) -> int:
    # main() runs its own event loop: give it a thread, the server keeps this one.
    return await asyncio.to_thread(main, list(argv))


async def answer(url: str, key: str) -> str:
    async with AsyncOpenAI(base_url=url, api_key=key, max_retries=0) as client:
        done = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": QUESTION}]
        )
    return done.choices[0].message.content or ""


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


async def test_deploy_prints_the_url_and_a_working_key_once(
    cli_env: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("deploy", cli_env.job_id, "--slug", "support-bot") == EXIT_OK
    out = capsys.readouterr().out
    url = re.search(r"base URL: (\S+)", out)
    key = re.search(r"API key:\s+(ark_local_\S+)", out)
    assert url, out
    assert key, out
    assert url[1] == f"{cli_env.server.url}/deployments/support-bot/v1"
    assert await answer(url[1], key[1]) == await cli_env.expected()
    # The listing shows the deployment and never the plaintext again.
    assert await cli("deployments") == EXIT_OK
    assert await cli("keys", "support-bot") == EXIT_OK
    listed = capsys.readouterr().out
    for shown in ("support-bot", "final adapter", "active", "ark_local_"):
        assert shown in listed
    assert key[1] not in listed


async def test_deploy_a_checkpoint_in_the_open_mode(
    cli_env: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("deploy", cli_env.job_id, "--slug", "ckpt", "--step", "10", "--auth", "none")
    assert await cli(*argv) == EXIT_OK
    out = capsys.readouterr().out
    assert "checkpoint step 10" in out
    assert "API key" not in out
    url = f"{cli_env.server.url}/deployments/ckpt/v1"
    assert await answer(url, "not-required") == await cli_env.expected(step=10)


async def test_keys_create_and_revoke(cli_env: Trained, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli("deploy", cli_env.job_id, "--slug", "support-bot") == EXIT_OK
    capsys.readouterr()
    assert await cli("keys", "support-bot", "--create", "staging") == EXIT_OK
    out = capsys.readouterr().out
    key_id = re.search(r"issued key (key_\w+)", out)
    plaintext = re.search(r"API key: (ark_local_\S+)", out)
    assert key_id, out
    assert plaintext, out
    url = f"{cli_env.server.url}/deployments/support-bot/v1"
    assert await answer(url, plaintext[1])
    assert await cli("keys", "support-bot", "--revoke", key_id[1]) == EXIT_OK
    with pytest.raises(openai.AuthenticationError):
        await answer(url, plaintext[1])
    assert await cli("keys", "support-bot") == EXIT_OK
    assert "revoked" in capsys.readouterr().out


async def test_undeploy_frees_the_url(cli_env: Trained, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("deploy", cli_env.job_id, "--slug", "support-bot", "--auth", "none")
    assert await cli(*argv) == EXIT_OK
    assert await cli("undeploy", "support-bot") == EXIT_OK
    assert "deleted deployment support-bot" in capsys.readouterr().out
    with pytest.raises(openai.NotFoundError):
        await answer(f"{cli_env.server.url}/deployments/support-bot/v1", "x")
    assert await cli("deployments") == EXIT_OK
    assert "no deployments" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (("undeploy", "nope"), EXIT_ERROR, "no deployment with slug 'nope'"),
        (("keys", "nope"), EXIT_ERROR, "no deployment with slug 'nope'"),
        (("deploy", "job_missing", "--slug", "bot"), EXIT_ERROR, "unknown job 'job_missing'"),
        (("deploy", "{job}", "--slug", "www"), EXIT_ERROR, "reserved"),
        (("deploy", "{job}", "--slug", "Bad_Slug"), EXIT_USAGE, "slug 'Bad_Slug'"),
        (("deploy", "{job}", "--slug", "bot", "--auth", "x"), EXIT_USAGE, "--auth"),
        (("deploy", "{job}", "--slug", "bot", "--step", "-1"), EXIT_ERROR, "--step"),
        (("keys", "bot", "--create", "a", "--revoke", "k"), EXIT_USAGE, "not allowed"),
        (("keys", "bot", "--create", ""), EXIT_USAGE, "label"),
    ],
)
async def test_user_mistakes_are_one_line(
    cli_env: Trained,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    status: int,
    message: str,
) -> None:
    filled = [a.replace("{job}", cli_env.job_id) for a in argv]
    assert await cli(*filled) == status
    line = one_line(capsys.readouterr().err)
    assert line.startswith("arkor-rx")
    assert message in line


async def test_a_taken_slug_is_one_line(
    cli_env: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("deploy", cli_env.job_id, "--slug", "bot", "--auth", "none") == EXIT_OK
    capsys.readouterr()
    assert await cli("deploy", cli_env.job_id, "--slug", "bot") == EXIT_ERROR
    assert "already taken" in one_line(capsys.readouterr().err)


def test_a_failed_key_step_says_the_deployment_was_created(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    created = {
        "id": "d1",
        "slug": "bot",
        "target": {"kind": "adapter", "adapter": {"kind": "final", "jobId": "j1"}},
        "authMode": "fixed_api_key",
        "enabled": True,
    }
    with HostileServer() as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        server.routes["/v1/endpoints"] = Answer.of({"deployment": created})
        server.routes["/v1/endpoints/d1/keys"] = Answer.of({"error": "keys are disabled"}, 403)
        assert main(["deploy", "j1", "--slug", "bot"]) == EXIT_ERROR
        asked = [path for path, _query in server.requests]
    assert asked == ["/v1/endpoints", "/v1/endpoints/d1/keys"]
    out, err = capsys.readouterr()
    assert out == ""
    assert one_line(err) == (
        "arkor-rx: error: deployment bot created, but issuing its key failed: "
        "keys are disabled (HTTP 403); issue one with `arkor-rx keys bot --create LABEL`"
    )
