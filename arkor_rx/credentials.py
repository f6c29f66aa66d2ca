"""Find the base URL, token and scope the way the official Arkor CLI stores them.

A user who ran the official CLI (``arkor login`` and a project set-up) needs
no further set-up: [`resolve_settings`][arkor_rx.credentials.resolve_settings] reads the same files.

Where each value comes from, first match wins:

======================  ==========================================================
value                   sources, in order
======================  ==========================================================
base URL                ``ARKOR_CLOUD_API_URL``; credentials' ``arkorCloudApiUrl``;
                        [`DEFAULT_BASE_URL`][arkor_rx.protocol.DEFAULT_BASE_URL] (but not for a
                        token from ``ARKOR_TOKEN``: see below)
token                   ``ARKOR_TOKEN`` (arkor_rx extension); credentials' ``token``
                        (``mode: "anon"``) or ``accessToken`` (``mode: "oauth"``)
organisation slug       ``ARKOR_ORG_SLUG`` (extension); ``.arkor/state.json``'s
                        ``orgSlug``; credentials' ``orgSlug`` (anonymous mode)
project slug            ``ARKOR_PROJECT_SLUG`` (extension); ``.arkor/state.json``'s
                        ``projectSlug``
======================  ==========================================================

The credentials live in ``~/.arkor/credentials.json``, the project scope in
``.arkor/state.json`` under the current folder. An empty environment variable
counts as unset.

A token set in ``ARKOR_TOKEN`` with no URL from ``ARKOR_CLOUD_API_URL`` or the
credentials file is an error naming ``ARKOR_CLOUD_API_URL``: such a token was
most likely printed by a local ``arkor-rx serve``, and sending it to the
production API would only end in a puzzling 401.

Rule 1: no I/O beyond reading those two files; no network.

Rule 2: a missing or malformed file is a [`ConfigError`][arkor_rx.errors.ConfigError]
that names the file and what is wrong with it, never its content: the
credentials file holds the token.

Rule 3: the token is a ``pydantic.SecretStr`` from the moment it is read.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import SecretStr

from arkor_rx.errors import ConfigError
from arkor_rx.protocol import (
    CREDENTIALS_FILE,
    DEFAULT_BASE_URL,
    ENV_API_URL,
    ENV_ORG_SLUG,
    ENV_PROJECT_SLUG,
    ENV_TOKEN,
    STATE_FILE,
)

__all__ = [
    "Credentials",
    "ProjectState",
    "Settings",
    "credentials_path",
    "load_credentials",
    "load_state",
    "resolve_settings",
    "state_path",
]

logger = logging.getLogger(__name__)

_File = TypeVar("_File")


@dataclass(frozen=True)
class Credentials:
    """What ``~/.arkor/credentials.json`` holds that arkor_rx uses."""

    mode: Literal["anon", "oauth"]
    """``anon`` (an anonymous token) or ``oauth`` (a logged-in user's access token)."""
    token: SecretStr
    """The bearer token (``token`` or ``accessToken`` in the file). Masked in reprs."""
    api_url: str | None = None
    """The file's ``arkorCloudApiUrl``, when present."""
    org_slug: str | None = None
    """The file's ``orgSlug`` (anonymous mode), when present."""


@dataclass(frozen=True)
class ProjectState:
    """What ``.arkor/state.json`` holds: the project scope."""

    org_slug: str | None
    project_slug: str | None
    project_id: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything [`ArkorClient`][arkor_rx.client.ArkorClient] needs, resolved."""

    base_url: str
    token: SecretStr
    org_slug: str
    project_slug: str


def credentials_path(home: Path | None = None) -> Path:
    """``<home>/.arkor/credentials.json`` (home defaults to the user's home folder)."""
    return (home if home is not None else Path.home()).joinpath(*CREDENTIALS_FILE)


def state_path(cwd: Path | None = None) -> Path:
    """``<cwd>/.arkor/state.json`` (cwd defaults to the current folder)."""
    return (cwd if cwd is not None else Path.cwd()).joinpath(*STATE_FILE)


def _read_object(path: Path, what: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path} cannot be read: {type(exc).__name__}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg and the position only: never the document, which may hold the token.
        raise ConfigError(
            f"{what} {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a JSON object, not {type(data).__name__}")
    return data


def _optional_str(data: Mapping[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key!r} must be a string, not {type(value).__name__}")
    return value.strip() or None


def load_credentials(path: Path) -> Credentials:
    """Read a credentials file in either shape of the official CLI.

    Shapes, told apart by ``mode`` (guessed from the keys when it is absent):
    ``{"mode": "anon", "token", "anonymousId", "arkorCloudApiUrl", "orgSlug"}``
    and ``{"mode": "oauth", "accessToken", "refreshToken", "expiresAt", ...}``.
    Other keys are ignored. An expired OAuth token is not refreshed here: the
    server answers 401 and the official CLI's ``arkor login`` renews it.

    Logs a warning when the file is readable by the group or by others.

    Raises:
        ConfigError: the file is missing, unreadable, not a JSON object, has an
            unknown ``mode`` or lacks its token. The message names the file and
            the field, never the token.
    """
    data = _read_object(path, "credentials file")
    _warn_if_shared(path)
    mode = data.get("mode")
    if mode is None:
        mode = "oauth" if "accessToken" in data else "anon"
    if mode not in ("anon", "oauth"):
        raise ConfigError(f"{path}: unknown 'mode' {mode!r}; expected 'anon' or 'oauth'")
    key = "token" if mode == "anon" else "accessToken"
    token = data.get(key)
    if not isinstance(token, str) or not token.strip():
        raise ConfigError(
            f"{path}: {mode} credentials need a non-empty string {key!r}; "
            "log in again with the official Arkor CLI or set ARKOR_TOKEN"
        )
    return Credentials(
        mode="anon" if mode == "anon" else "oauth",
        token=SecretStr(token.strip()),
        api_url=_optional_str(data, "arkorCloudApiUrl", path),
        org_slug=_optional_str(data, "orgSlug", path),
    )


def load_state(path: Path) -> ProjectState:
    """Read a project's ``.arkor/state.json`` (``{"orgSlug", "projectSlug", "projectId"}``).

    Raises:
        ConfigError: the file is missing, unreadable, not a JSON object, or a
            field is not a string.
    """
    data = _read_object(path, "project state file")
    return ProjectState(
        org_slug=_optional_str(data, "orgSlug", path),
        project_slug=_optional_str(data, "projectSlug", path),
        project_id=_optional_str(data, "projectId", path),
    )


def _warn_if_shared(path: Path) -> None:
    if os.name != "posix":
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning(
            "%s is accessible by other users (mode %o); run: chmod 600 %s",
            path,
            stat.S_IMODE(mode),
            path,
        )


def resolve_settings(
    *,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve base URL, token and scope from the environment and the CLI's files.

    See the module docstring for the order of the sources. A file that is
    not needed (every value it could give is set in the environment) is not
    read, so it may be absent; a file that is read must be well-formed.

    Args:
        env: the environment (default ``os.environ``).
        home: the home folder holding ``.arkor/credentials.json`` (default ``Path.home()``).
        cwd: the project folder holding ``.arkor/state.json`` (default ``Path.cwd()``).

    Returns:
        The resolved [`Settings`][arkor_rx.credentials.Settings].

    Raises:
        ConfigError: a needed file is missing or malformed, no source gives
            a token, an organisation or a project, or ``ARKOR_TOKEN`` is set
            with no URL.
    """
    environ: Mapping[str, str] = os.environ if env is None else env

    def from_env(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    env_url, env_token = from_env(ENV_API_URL), from_env(ENV_TOKEN)
    env_org, env_project = from_env(ENV_ORG_SLUG), from_env(ENV_PROJECT_SLUG)

    cred_file = credentials_path(home)
    creds = _read_if_wanted(
        cred_file,
        load_credentials,
        must=env_token is None,
        may=env_url is None or env_org is None,
        missing=f"no Arkor credentials: {cred_file} does not exist; log in with the "
        f"official Arkor CLI or set {ENV_TOKEN}",
    )
    state_file = state_path(cwd)
    state = _read_if_wanted(
        state_file,
        load_state,
        must=env_project is None,
        may=env_org is None,
        missing=f"no Arkor project: {state_file} does not exist; run the official Arkor CLI "
        f"in your project folder, or set {ENV_PROJECT_SLUG} (and {ENV_ORG_SLUG})",
    )

    if env_token is not None:
        token = SecretStr(env_token)
    else:
        assert creds is not None  # loaded above, or ConfigError was raised
        token = creds.token

    org, project = _slugs(env_org, env_project, state, creds, files=(state_file, cred_file))
    base_url = _base_url(env_url, env_token, creds)
    return Settings(base_url=base_url, token=token, org_slug=org, project_slug=project)


def _slugs(
    env_org: str | None,
    env_project: str | None,
    state: ProjectState | None,
    creds: Credentials | None,
    *,
    files: tuple[Path, Path],
) -> tuple[str, str]:
    """The organisation and project slugs, from the environment, else the files read."""
    state_file, cred_file = files
    org = env_org or (state.org_slug if state else None) or (creds.org_slug if creds else None)
    if org is None:
        raise ConfigError(
            f"no organisation slug: neither {state_file} nor {cred_file} has 'orgSlug'; "
            f"set {ENV_ORG_SLUG}"
        )
    project = env_project or (state.project_slug if state else None)
    if project is None:
        raise ConfigError(
            f"no project slug: {state_file} has no 'projectSlug'; set {ENV_PROJECT_SLUG}"
        )
    return org, project


def _read_if_wanted(
    path: Path, load: Callable[[Path], _File], *, must: bool, may: bool, missing: str
) -> _File | None:
    """Read a file when it ``must`` give a value, or when it ``may`` give one and exists.

    Raises:
        ConfigError: ``missing``, for a file that must be read and does not exist.
    """
    if not (must or (may and path.exists())):
        return None
    if not path.exists():
        raise ConfigError(missing)
    return load(path)


def _base_url(env_url: str | None, env_token: str | None, creds: Credentials | None) -> str:
    """``ARKOR_API_URL``, else the credentials' URL, else the cloud unless the token is from
    the environment (a token belongs to one server)."""
    base_url = env_url or (creds.api_url if creds else None)
    if base_url is not None:
        return base_url
    if env_token is not None:
        raise ConfigError(
            f"{ENV_TOKEN} is set but no API URL is: set {ENV_API_URL} to the server "
            f"the token belongs to (the URL `arkor-rx serve` prints, or "
            f"{DEFAULT_BASE_URL} for the Arkor cloud)"
        )
    return DEFAULT_BASE_URL
