"""Deployments: a trained adapter (or a base model) behind an OpenAI-compatible URL.

The models of the official SDK's ``/v1/endpoints`` surface
(``packages/arkor/src/core/deployments.ts``), as
[`ArkorClient`][arkor_rx.client.ArkorClient] returns them.

Rule 1: answers are read loosely, as the official SDK's ``looseObject``
schemas do: unknown fields are ignored, so a server that adds fields breaks
nothing. A key listing never carries a plaintext, even if a server sent one.

Rule 2: a key's plaintext exists only on
[`DeploymentKeyCreated`][arkor_rx.deployments.DeploymentKeyCreated], the answer to
creating it: it is left out of the repr and ``str`` and never logged.

Rule 3: what the server would refuse with a 400 and the client can see is
refused before sending, with a [`ConfigError`][arkor_rx.errors.ConfigError]: a slug
outside 2–50 characters of ``[a-z0-9-]`` (no hyphen at either end), a label
outside 1–80 characters, a malformed target, a retention days count without
the ``days`` mode.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from arkor_rx._printable import quoted
from arkor_rx.errors import ConfigError

__all__ = [
    "AdapterTarget",
    "AuthMode",
    "BaseModelTarget",
    "CheckpointAdapterRef",
    "Deployment",
    "DeploymentKey",
    "DeploymentKeyCreated",
    "DeploymentTarget",
    "FinalAdapterRef",
    "base_model_target",
    "check_deployment_slug",
    "check_key_label",
    "checkpoint_target",
    "cloud_deployment_url",
    "final_target",
    "parse_target",
]

AuthMode: TypeAlias = Literal["none", "fixed_api_key"]
"""``fixed_api_key``: calls carry a deployment key; ``none``: the URL is open."""

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
"""The official slug rule (2–50 characters as well)."""


class _Wire(BaseModel):
    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="ignore"
    )


class FinalAdapterRef(_Wire):
    """A job's final adapter: ``{"kind": "final", "jobId"}``."""

    kind: Literal["final"] = "final"
    job_id: str


class CheckpointAdapterRef(_Wire):
    """One checkpoint of a job: ``{"kind": "checkpoint", "jobId", "step"}``."""

    kind: Literal["checkpoint"] = "checkpoint"
    job_id: str
    step: Annotated[int, Field(ge=0)]


class AdapterTarget(_Wire):
    """A deployment serving a trained adapter."""

    kind: Literal["adapter"] = "adapter"
    adapter: Annotated[FinalAdapterRef | CheckpointAdapterRef, Field(discriminator="kind")]


class BaseModelTarget(_Wire):
    """A deployment serving a base model without an adapter."""

    kind: Literal["base_model"] = "base_model"
    base_model: str


DeploymentTarget: TypeAlias = Annotated[
    AdapterTarget | BaseModelTarget, Field(discriminator="kind")
]
"""What a deployment serves; re-targetable with ``update_deployment(target=...)``."""

_TARGET: TypeAdapter[AdapterTarget | BaseModelTarget] = TypeAdapter(DeploymentTarget)


def final_target(job_id: str) -> AdapterTarget:
    """The target of a job's final adapter.

    Examples:
        >>> final_target("j1").model_dump(by_alias=True)
        {'kind': 'adapter', 'adapter': {'kind': 'final', 'jobId': 'j1'}}
    """
    return AdapterTarget(adapter=FinalAdapterRef(job_id=job_id))


def checkpoint_target(job_id: str, step: int) -> AdapterTarget:
    """The target of one checkpoint of a job.

    Examples:
        >>> checkpoint_target("j1", 40).adapter
        CheckpointAdapterRef(kind='checkpoint', job_id='j1', step=40)
    """
    return AdapterTarget(adapter=CheckpointAdapterRef(job_id=job_id, step=step))


def base_model_target(base_model: str) -> BaseModelTarget:
    """The target of a base model served without an adapter."""
    return BaseModelTarget(base_model=base_model)


def parse_target(value: Mapping[str, Any] | AdapterTarget | BaseModelTarget) -> dict[str, Any]:
    """A target as the camelCase JSON the server takes.

    Args:
        value: a target model, or its camelCase (or snake_case) mapping.

    Raises:
        ConfigError: not one of the three target shapes; the message names the field.
    """
    if isinstance(value, AdapterTarget | BaseModelTarget):
        return value.model_dump(by_alias=True)
    if not isinstance(value, Mapping):
        raise ConfigError(f"target must be a mapping or a target model, not {type(value).__name__}")
    try:
        target = _TARGET.validate_python(dict(value))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{_where(first['loc'])}: {first['msg']}") from None
    return target.model_dump(by_alias=True)


def _where(loc: tuple[int | str, ...]) -> str:
    """``target.adapter.jobId`` from pydantic's location, without the union tags it inserts."""
    parts = list(loc)
    if parts and parts[0] in ("adapter", "base_model"):
        del parts[0]
    if len(parts) > 1 and parts[0] == "adapter" and parts[1] in ("final", "checkpoint"):
        del parts[1]
    return ".".join(["target", *map(str, parts)])


def check_deployment_slug(slug: object) -> str:
    """The slug, if the official rule accepts it.

    Examples:
        >>> check_deployment_slug("support-bot")
        'support-bot'

    Raises:
        ConfigError: not 2–50 characters of lowercase letters, digits and
            hyphens, starting and ending with a letter or digit.
    """
    if not isinstance(slug, str) or not 2 <= len(slug) <= 50 or not SLUG_PATTERN.match(slug):
        raise ConfigError(
            f"slug {quoted(slug)}: must be 2-50 characters of lowercase letters, digits and "
            'hyphens, starting and ending with a letter or digit (e.g. "support-bot")'
        )
    return slug


def check_key_label(label: object) -> str:
    """The label without surrounding blanks, if it is 1–80 characters.

    Raises:
        ConfigError: not a string of 1–80 characters once trimmed.
    """
    if not isinstance(label, str) or not 1 <= len(label.strip()) <= 80:
        raise ConfigError(f"label {quoted(label)}: must be 1-80 characters")
    return label.strip()


def cloud_deployment_url(slug: str) -> str:
    """The cloud's base URL for a slug, as an OpenAI SDK takes it.

    Examples:
        >>> cloud_deployment_url("support-bot")
        'https://support-bot.arkor.app/v1'
    """
    return f"https://{slug}.arkor.app/v1"


class Deployment(_Wire):
    """A deployment as the server describes it."""

    id: str
    slug: str
    """The subdomain label; fixed for the deployment's life."""
    target: DeploymentTarget
    auth_mode: AuthMode
    enabled: bool
    """A disabled deployment answers 404 and keeps its slug."""
    url: str = ""
    """The base URL an OpenAI SDK takes (``.../v1``): the server's ``url`` when it
    sends one (the local backend does), else ``https://<slug>.arkor.app/v1``."""
    org_id: str = ""
    project_id: str = ""
    url_format: str = "openai_compat"
    custom_domain: str | None = None
    run_retention_mode: str | None = None
    """``unlimited``, ``disabled``, ``days`` or a newer mode; None: the server default."""
    run_retention_days: int | None = None
    created_at: str = ""
    updated_at: str = ""

    @model_validator(mode="before")
    @classmethod
    def _default_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("url") and isinstance(data.get("slug"), str):
            return {**data, "url": cloud_deployment_url(data["slug"])}
        return data


class DeploymentKey(_Wire):
    """A deployment key as listed: its label and display prefix, never its plaintext."""

    id: str
    label: str
    prefix: str
    """The first characters of the plaintext, for display."""
    enabled: bool
    """False once revoked."""
    created_at: str = ""
    last_used_at: str | None = None
    """Updated best-effort by the server; approximate."""


class DeploymentKeyCreated(_Wire):
    """A key just issued: the only time its plaintext is returned.

    ``plaintext`` is a plain ``str`` (pass it to an OpenAI client as
    ``api_key``), left out of the repr and ``str``; store it at once.
    """

    id: str
    label: str
    prefix: str
    plaintext: str = Field(repr=False)
    created_at: str = ""
