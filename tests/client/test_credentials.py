"""ArkorClient.from_env: the official CLI's files (both shapes) and the env overrides."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest

from arkor_rx.client import ArkorClient
from arkor_rx.credentials import load_credentials, resolve_settings
from arkor_rx.errors import ConfigError
from arkor_rx.protocol import DEFAULT_BASE_URL
from tests.client.client_helpers import JOB, MockedApi

ANON_TOKEN = "anon-SECRET-0c8d7e"
OAUTH_TOKEN = "oauth-SECRET-55aa11"

ANON = {
    "mode": "anon",
    "token": ANON_TOKEN,
    "anonymousId": "anon-1",
    "arkorCloudApiUrl": "http://cloud.test",
    "orgSlug": "anon-org",
}
OAUTH = {
    "mode": "oauth",
    "accessToken": OAUTH_TOKEN,
    "refreshToken": "refresh-SECRET",
    "expiresAt": 1893456000000,
    "auth0Domain": "arkor.auth0.com",
    "audience": "https://api.arkor.ai",
    "clientId": "cid",
}
STATE = {"orgSlug": "acme", "projectSlug": "demo", "projectId": "p1"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    # conftest.py points HOME at tmp_path / "home" for every test.
    path = tmp_path / "home"
    assert Path.home() == path
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


def write_json(path: Path, data: Any, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    path.chmod(mode)
    return path


def write_credentials(home: Path, data: Any, mode: int = 0o600) -> Path:
    return write_json(home / ".arkor" / "credentials.json", data, mode)


def write_state(project: Path, data: Any) -> Path:
    return write_json(project / ".arkor" / "state.json", data)


async def authorization_sent(client: ArkorClient) -> str:
    """The Authorization header the client really sends (one GET through aioresponses)."""
    with MockedApi() as mocked:
        mocked.get(
            re.compile(re.escape(client.base_url) + r"/v1/jobs/j1\?.*"), payload={"job": JOB}
        )
        async with client:
            await client.get_job("j1")
        ((_, calls),) = mocked.requests.items()
        header: str = calls[0].kwargs["headers"]["Authorization"]
        return header


async def test_anonymous_credentials_and_project_state(home: Path, project: Path) -> None:
    write_credentials(home, ANON)
    write_state(project, STATE)
    client = ArkorClient.from_env()
    assert client.base_url == "http://cloud.test"
    assert client.org_slug == "acme"  # state.json wins over the anonymous orgSlug
    assert client.project_slug == "demo"
    assert await authorization_sent(client) == f"Bearer {ANON_TOKEN}"


async def test_oauth_credentials_use_the_access_token(home: Path, project: Path) -> None:
    write_credentials(home, OAUTH)
    write_state(project, STATE)
    client = ArkorClient.from_env()
    assert client.base_url == DEFAULT_BASE_URL  # no arkorCloudApiUrl in the file
    assert await authorization_sent(client) == f"Bearer {OAUTH_TOKEN}"
    assert OAUTH_TOKEN not in repr(client)


def test_anonymous_org_slug_is_used_when_state_has_none(home: Path, project: Path) -> None:
    write_credentials(home, ANON)
    write_state(project, {"projectSlug": "demo"})
    assert ArkorClient.from_env().org_slug == "anon-org"


def test_mode_is_guessed_from_the_keys_when_absent(home: Path) -> None:
    oauth = {k: v for k, v in OAUTH.items() if k != "mode"}
    path = write_credentials(home, oauth)
    creds = load_credentials(path)
    assert creds.mode == "oauth"
    assert creds.token.get_secret_value() == OAUTH_TOKEN
    assert OAUTH_TOKEN not in repr(creds)


def test_env_url_overrides_the_credentials_url(
    home: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_credentials(home, ANON)
    write_state(project, STATE)
    monkeypatch.setenv("ARKOR_CLOUD_API_URL", "http://127.0.0.1:8765/")
    assert ArkorClient.from_env().base_url == "http://127.0.0.1:8765"


async def test_env_overrides_need_no_files(home: Path, project: Path) -> None:
    env = {
        "ARKOR_TOKEN": "env-SECRET-token",
        "ARKOR_ORG_SLUG": "env-org",
        "ARKOR_PROJECT_SLUG": "env-project",
        "ARKOR_CLOUD_API_URL": "http://env.test",
    }
    client = ArkorClient.from_env(env=env)
    assert (client.base_url, client.org_slug, client.project_slug) == (
        "http://env.test",
        "env-org",
        "env-project",
    )
    assert await authorization_sent(client) == "Bearer env-SECRET-token"


async def test_env_overrides_win_over_the_files(home: Path, project: Path) -> None:
    write_credentials(home, ANON)
    write_state(project, STATE)
    env = {"ARKOR_TOKEN": "env-SECRET-token", "ARKOR_PROJECT_SLUG": "other"}
    client = ArkorClient.from_env(env=env)
    assert client.project_slug == "other"
    assert client.org_slug == "acme"  # still from state.json
    assert client.base_url == "http://cloud.test"  # still from the credentials
    assert await authorization_sent(client) == "Bearer env-SECRET-token"


def test_empty_env_values_count_as_unset(home: Path, project: Path) -> None:
    write_credentials(home, ANON)
    write_state(project, STATE)
    env = {"ARKOR_CLOUD_API_URL": "", "ARKOR_TOKEN": " ", "ARKOR_PROJECT_SLUG": ""}
    client = ArkorClient.from_env(env=env)
    assert client.base_url == "http://cloud.test"
    assert client.project_slug == "demo"


def test_explicit_home_and_cwd(tmp_path: Path) -> None:
    elsewhere, proj = tmp_path / "elsewhere", tmp_path / "proj"
    write_credentials(elsewhere, ANON)
    write_state(proj, STATE)
    client = ArkorClient.from_env(env={}, home=elsewhere, cwd=proj, request_timeout=5)
    assert client.project_slug == "demo"
    assert client.request_timeout == 5.0


# --- what goes wrong -----------------------------------------------------------------


def test_missing_credentials_name_the_file_and_the_fix(home: Path, project: Path) -> None:
    write_state(project, STATE)
    with pytest.raises(ConfigError) as info:
        ArkorClient.from_env()
    message = str(info.value)
    assert str(home / ".arkor" / "credentials.json") in message
    assert "does not exist" in message
    assert "ARKOR_TOKEN" in message


def test_missing_state_names_the_file_and_the_fix(home: Path, project: Path) -> None:
    write_credentials(home, ANON)
    with pytest.raises(ConfigError) as info:
        ArkorClient.from_env()
    assert str(project / ".arkor" / "state.json") in str(info.value)
    assert "ARKOR_PROJECT_SLUG" in str(info.value)


def test_state_without_project_slug_is_an_error(home: Path, project: Path) -> None:
    write_credentials(home, ANON)
    write_state(project, {"orgSlug": "acme"})
    with pytest.raises(ConfigError, match="projectSlug"):
        ArkorClient.from_env()


def test_no_org_anywhere_is_an_error(home: Path, project: Path) -> None:
    write_credentials(home, OAUTH)  # OAuth credentials carry no orgSlug
    write_state(project, {"projectSlug": "demo"})
    with pytest.raises(ConfigError, match="ARKOR_ORG_SLUG"):
        ArkorClient.from_env()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"mode": "anon", "token": "' + ANON_TOKEN + '",', "not valid JSON"),
        (f'["{ANON_TOKEN}"]', "must hold a JSON object"),
        ({"mode": "saml", "token": ANON_TOKEN}, "unknown 'mode'"),
        ({"mode": "anon", "accessToken": ANON_TOKEN}, "'token'"),
        ({"mode": "oauth", "token": ANON_TOKEN}, "'accessToken'"),
        ({"mode": "anon", "token": ""}, "'token'"),
        ({"mode": "anon", "token": ANON_TOKEN, "orgSlug": 5}, "'orgSlug' must be a string"),
    ],
)
def test_malformed_credentials_name_the_file_and_problem_but_not_the_token(
    home: Path, project: Path, content: Any, problem: str
) -> None:
    path = write_credentials(home, content)
    write_state(project, STATE)
    with pytest.raises(ConfigError) as info:
        ArkorClient.from_env()
    message = str(info.value)
    assert str(path) in message
    assert problem in message
    assert ANON_TOKEN not in message
    assert info.value.__cause__ is None  # the JSON error (which quotes the text) is not chained


def test_malformed_state_names_the_file(home: Path, project: Path) -> None:
    write_credentials(home, ANON)
    path = write_state(project, "{nope")
    with pytest.raises(ConfigError, match="not valid JSON") as info:
        ArkorClient.from_env()
    assert str(path) in str(info.value)


def test_unreadable_credentials_are_a_config_error(home: Path, project: Path) -> None:
    write_state(project, STATE)
    (home / ".arkor" / "credentials.json").mkdir(parents=True)  # a folder, not a file
    with pytest.raises(ConfigError, match="cannot be read"):
        ArkorClient.from_env()


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_credentials_readable_by_others_log_a_warning(
    home: Path, project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_credentials(home, ANON, mode=0o644)
    write_state(project, STATE)
    with caplog.at_level(logging.WARNING, logger="arkor_rx.credentials"):
        ArkorClient.from_env()
    assert "chmod 600" in caplog.text
    assert ANON_TOKEN not in caplog.text


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_private_credentials_log_nothing(
    home: Path, project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_credentials(home, ANON, mode=0o600)
    write_state(project, STATE)
    with caplog.at_level(logging.DEBUG):
        ArkorClient.from_env()
    assert not caplog.records


def test_resolve_settings_keeps_the_token_secret(home: Path, project: Path) -> None:
    write_credentials(home, ANON)
    write_state(project, STATE)
    settings = resolve_settings()
    assert settings.token.get_secret_value() == ANON_TOKEN
    assert ANON_TOKEN not in repr(settings)


# --- a token with no URL ------------------------------------------------------------------


@pytest.mark.parametrize("with_oauth_file", [False, True])
def test_an_env_token_without_any_url_names_arkor_cloud_api_url(
    home: Path, project: Path, with_oauth_file: bool
) -> None:
    # A token printed by `arkor-rx serve`, without its URL, must not go to production.
    if with_oauth_file:
        write_credentials(home, OAUTH)  # a file without arkorCloudApiUrl gives no URL either
    env = {"ARKOR_TOKEN": "local-SECRET-1", "ARKOR_ORG_SLUG": "o", "ARKOR_PROJECT_SLUG": "p"}
    with pytest.raises(ConfigError) as info:
        ArkorClient.from_env(env=env)
    message = str(info.value)
    assert "ARKOR_CLOUD_API_URL" in message
    assert "ARKOR_TOKEN" in message
    assert "arkor-rx serve" in message
    assert "local-SECRET-1" not in message


def test_an_env_token_with_the_url_in_the_credentials_file_is_fine(
    home: Path, project: Path
) -> None:
    write_credentials(home, ANON)
    env = {"ARKOR_TOKEN": "t", "ARKOR_ORG_SLUG": "o", "ARKOR_PROJECT_SLUG": "p"}
    assert resolve_settings(env=env).base_url == "http://cloud.test"
