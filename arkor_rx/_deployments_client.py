"""The deployment routes of [`ArkorClient`][arkor_rx.client.ArkorClient] (``/v1/endpoints``).

Kept apart from ``arkor_rx.client`` so that each module holds one idea; the
client inherits these methods. Requests go through the same
``ClientCore._call`` as the job routes: the same headers, scope, errors
(a [`CloudApiError`][arkor_rx.errors.CloudApiError] with the server's message for 400,
403, 404, 409 and the rest; 426 an ``UpgradeRequiredError``) and redaction.

Rule: a validation failure of an answer names the fields, never their values,
so a key's plaintext cannot reach an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from arkor_rx._client_core import ClientCore
from arkor_rx._redaction import hide
from arkor_rx.deployments import (
    AdapterTarget,
    AuthMode,
    BaseModelTarget,
    Deployment,
    DeploymentKey,
    DeploymentKeyCreated,
    check_deployment_slug,
    check_key_label,
    parse_target,
)
from arkor_rx.errors import CloudApiError, ConfigError
from arkor_rx.protocol import (
    endpoint_key_path,
    endpoint_keys_path,
    endpoint_path,
    endpoints_path,
)

__all__ = ["DeploymentRoutes"]

Target = Mapping[str, Any] | AdapterTarget | BaseModelTarget
"""A deployment target: a model from ``arkor_rx.deployments`` or its camelCase mapping."""

_M = TypeVar("_M", bound=BaseModel)
_AUTH_MODES = ("none", "fixed_api_key")
_RETENTION_MODES = ("unlimited", "disabled", "days")


def _auth_mode(value: object) -> str:
    if value not in _AUTH_MODES:
        raise ConfigError(f"auth_mode must be 'none' or 'fixed_api_key', got {value!r}")
    return str(value)


def _retention(mode: str | None, days: int | None) -> dict[str, Any]:
    """The retention fields of a body; their coupling checked as the official SDK does."""
    if mode is None and days is None:
        return {}
    if mode not in _RETENTION_MODES:
        raise ConfigError(
            f"run_retention_mode must be 'unlimited', 'disabled' or 'days', got {mode!r}"
        )
    if mode != "days":
        if days is not None:
            raise ConfigError("run_retention_days is only valid with run_retention_mode='days'")
        return {"runRetentionMode": mode}
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigError(f"run_retention_mode 'days' needs run_retention_days >= 1, got {days!r}")
    return {"runRetentionMode": mode, "runRetentionDays": days}


class DeploymentRoutes(ClientCore):
    """The eight deployment methods; ``ArkorClient`` inherits them."""

    def _parse(self, status: int, raw: object, model: type[_M], what: str) -> _M:
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            # Field names and reasons only: the input may hold a key's plaintext.
            reason = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or model.__name__}: {e['msg']}"
                for e in exc.errors()[:3]
            )
        raise CloudApiError(status, f"unexpected answer to {what}: {reason}")

    def _item(self, status: int, body: bytes, field: str, model: type[_M], what: str) -> _M:
        data = self._object(status, body, what)
        if not isinstance(data.get(field), dict):
            raise CloudApiError(status, f"unexpected answer to {what}: no {field!r} object")
        return self._parse(status, data[field], model, what)

    def _items(self, status: int, body: bytes, field: str, model: type[_M], what: str) -> list[_M]:
        raw = self._object(status, body, what).get(field)
        if not isinstance(raw, list):
            raise CloudApiError(status, f"unexpected answer to {what}: no {field!r} list")
        return [
            self._parse(status, item, model, f"{what} ({field}[{i}])") for i, item in enumerate(raw)
        ]

    async def _deployment(
        self, method: str, path: str, what: str, body: dict[str, Any] | None = None
    ) -> Deployment:
        """The ``deployment`` object the server answers to a request."""
        status, raw = await self._call(method, path, json_body=body)
        return self._item(status, raw, "deployment", Deployment, what)

    async def list_deployments(self) -> list[Deployment]:
        """The project's deployments (``GET /v1/endpoints``).

        Raises:
            CloudApiError: a non-2xx answer (403 outside the org or project).
            TransportError: no answer could be had.
        """
        status, body = await self._call("GET", endpoints_path())
        return self._items(status, body, "deployments", Deployment, "list deployments")

    async def create_deployment(
        self,
        slug: str,
        target: Target,
        auth_mode: AuthMode = "fixed_api_key",
        *,
        run_retention_mode: str | None = None,
        run_retention_days: int | None = None,
    ) -> Deployment:
        """Publish a target under a slug (``POST /v1/endpoints``).

        Examples:
            >>> async def publish(client, job_id: str) -> str:  # doctest: +SKIP
            ...     dep = await client.create_deployment(
            ...         "support-bot", final_target(job_id), auth_mode="fixed_api_key")
            ...     return dep.url

        Args:
            slug: the URL's label: 2-50 characters, ``[a-z0-9-]``, no hyphen at
                either end. It cannot change later.
            target: ``final_target(job_id)``, ``checkpoint_target(job_id, step)``,
                ``base_model_target(name)`` or the camelCase mapping.
            auth_mode: ``"fixed_api_key"`` (calls need a key from
                [`create_deployment_key`][arkor_rx.client.ArkorClient.create_deployment_key])
                or ``"none"`` (open to anyone with the URL).
            run_retention_mode: ``"unlimited"``, ``"disabled"`` or ``"days"``;
                None: the server's default.
            run_retention_days: the days to keep runs, with ``"days"`` only.

        Returns:
            The deployment; its ``url`` is the base URL for an OpenAI client.

        Raises:
            ConfigError: a bad slug, target, auth mode or retention, before sending.
            CloudApiError: 409 when the slug is taken, 400 (e.g. a reserved slug
                such as ``www``), 404 (an unknown job), 403, 426 ...
            TransportError: no answer could be had.
        """
        body: dict[str, Any] = {
            "slug": check_deployment_slug(slug),
            "target": parse_target(target),
            "authMode": _auth_mode(auth_mode),
            **_retention(run_retention_mode, run_retention_days),
        }
        return await self._deployment("POST", endpoints_path(), "create deployment", body)

    async def get_deployment(self, deployment_id: str) -> Deployment:
        """One deployment (``GET /v1/endpoints/{id}``).

        Raises:
            ConfigError: an empty id.
            CloudApiError: 404 for an unknown deployment, or another non-2xx answer.
            TransportError: no answer could be had.
        """
        return await self._deployment("GET", endpoint_path(deployment_id), "get deployment")

    async def update_deployment(
        self,
        deployment_id: str,
        *,
        target: Target | None = None,
        auth_mode: AuthMode | None = None,
        enabled: bool | None = None,
        run_retention_mode: str | None = None,
        run_retention_days: int | None = None,
    ) -> Deployment:
        """Change a deployment in place (``PATCH /v1/endpoints/{id}``); the URL stays.

        Only the arguments given are sent. Re-targeting keeps the slug, the
        URL and the keys, so clients keep working. Switching ``auth_mode`` to
        ``"none"`` opens the URL at once; switching back enforces the existing
        keys again.

        Args:
            deployment_id: the deployment's id.
            target: a new target (as for ``create_deployment``).
            auth_mode: ``"none"`` or ``"fixed_api_key"``.
            enabled: False to take the URL offline (404) while keeping the slug.
            run_retention_mode: as for ``create_deployment``.
            run_retention_days: as for ``create_deployment``.

        Raises:
            ConfigError: nothing to change, or a bad value, before sending.
            CloudApiError: 404 for an unknown deployment, 400, 403, 426 ...
            TransportError: no answer could be had.
        """
        body: dict[str, Any] = _retention(run_retention_mode, run_retention_days)
        if target is not None:
            body["target"] = parse_target(target)
        if auth_mode is not None:
            body["authMode"] = _auth_mode(auth_mode)
        if enabled is not None:
            if not isinstance(enabled, bool):
                raise ConfigError(f"enabled must be True or False, got {enabled!r}")
            body["enabled"] = enabled
        if not body:
            raise ConfigError("update_deployment: give at least one field to change")
        path = endpoint_path(deployment_id)
        return await self._deployment("PATCH", path, "update deployment", body)

    async def delete_deployment(self, deployment_id: str) -> None:
        """Delete a deployment and its keys (``DELETE /v1/endpoints/{id}``); its URL goes 404.

        Raises:
            ConfigError: an empty id.
            CloudApiError: 404 for an unknown deployment, or another non-2xx answer.
            TransportError: no answer could be had.
        """
        await self._call("DELETE", endpoint_path(deployment_id))

    async def list_deployment_keys(self, deployment_id: str) -> list[DeploymentKey]:
        """A deployment's keys, revoked ones included (``GET /v1/endpoints/{id}/keys``).

        Never a plaintext: only the label and a display prefix.

        Raises:
            ConfigError: an empty id.
            CloudApiError: 404 for an unknown deployment, or another non-2xx answer.
            TransportError: no answer could be had.
        """
        status, raw = await self._call("GET", endpoint_keys_path(deployment_id))
        return self._items(status, raw, "keys", DeploymentKey, "list deployment keys")

    async def create_deployment_key(self, deployment_id: str, label: str) -> DeploymentKeyCreated:
        """Issue a key for a deployment (``POST /v1/endpoints/{id}/keys``).

        The answer's ``plaintext`` is the only copy there will ever be: store
        it now. It is not in the repr, and nothing here logs it.

        Args:
            deployment_id: the deployment's id.
            label: a name for the key, 1-80 characters (e.g. ``"production"``).

        Raises:
            ConfigError: an empty id or a bad label, before sending.
            CloudApiError: 404 for an unknown deployment, or another non-2xx answer.
            TransportError: no answer could be had.
        """
        body = {"label": check_key_label(label)}
        status, raw = await self._call("POST", endpoint_keys_path(deployment_id), json_body=body)
        key = self._item(status, raw, "key", DeploymentKeyCreated, "create deployment key")
        hide(key.plaintext)  # never handed to a sink (see arkor_rx._redaction.hide)
        return key

    async def revoke_deployment_key(self, deployment_id: str, key_id: str) -> None:
        """Revoke a key (``DELETE /v1/endpoints/{id}/keys/{keyId}``): it is listed as disabled.

        Raises:
            ConfigError: an empty id.
            CloudApiError: 404 for an unknown deployment or key, or another non-2xx answer.
            TransportError: no answer could be had.
        """
        await self._call("DELETE", endpoint_key_path(deployment_id, key_id))
