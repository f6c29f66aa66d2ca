"""What the web dashboard never shows: the backend's bearer token and a URL's credentials.

Rule 1: every action reaches the dashboard's state through
[`WebFeed.push`][arkor_rx.dashboard.web.WebFeed.push], and ``push`` passes it
through ``Scrub.action`` first:
a sink's ``open``/``write``/``close``, ``dispatch`` and the backend follower
all go that way, so what a server echoes back (in ``training.started``
metadata, a ``training.failed`` error, a job's config or error) is masked
before the reducer, the journal, ``/api/runs``, ``/api/runs/{id}`` or the
stream ever hold it.

Rule 2: in every string, each secret is masked by the client's own
``Redactor`` (every spelling JSON allows), then
every URL in it loses its userinfo and its query (a presigned ``?sig=``, a
``user:password@``): [`safe_url`][arkor_rx._credentials.safe_url], the one
the sinks use too.

Rule 3: in a mapping (a config, metadata, metrics), the value under a
credential key (``token``, ``apiKey``, ``password``, ``secret``,
``authorization``, in any case or spelling:
[`credential_key`][arkor_rx._credentials.credential_key], whose values a
sink never writes) is masked whole.

Rule 4: an action with nothing to mask is passed on as it is, the same
object; one that has is rebuilt with the masked values (``model_copy`` for a
pydantic model, ``dataclasses.replace`` for a dataclass), so it keeps its type.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar, get_args

from pydantic import BaseModel

from arkor_rx._credentials import credential_key, safe_url
from arkor_rx._redaction import MASK, Redactor

__all__ = ["Scrub"]

_V = TypeVar("_V")

_NUMBERS: Final = frozenset({int, float, bool, type(None)})


def _numeric(annotation: Any) -> bool:
    """Whether a field annotated so only ever holds numbers (``int``, ``float | None`` ...)."""
    args = get_args(annotation)
    return annotation in _NUMBERS or (bool(args) and set(args) <= _NUMBERS)


_TEXT_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {}


def _text_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``cls`` that may hold text (not only numbers): what a scrub reads."""
    found = _TEXT_FIELDS.get(cls)
    if found is None:
        found = _TEXT_FIELDS[cls] = tuple(
            name for name, info in cls.model_fields.items() if not _numeric(info.annotation)
        )
    return found


class Scrub:
    """Masks the given secrets and URL credentials in view actions (Rules 1 to 4).

    Examples:
        >>> scrub = Scrub(["tok-SECRET"])
        >>> scrub.text("echoed tok-SECRET from https://b/d?sig=x")
        'echoed *** from https://b/d?<redacted>'
        >>> scrub.action({"datasetSource": {"url": "https://b/d", "token": "t"}})
        {'datasetSource': {'url': 'https://b/d', 'token': '***'}}
        >>> scrub
        Scrub(1 secret)

    Args:
        secrets: the strings never shown (empty ones are ignored).
    """

    __slots__ = ("_redactors",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._redactors = tuple(Redactor(s) for s in dict.fromkeys(secrets) if s)

    def __repr__(self) -> str:
        count = len(self._redactors)
        return f"Scrub({count} secret{'' if count == 1 else 's'})"  # never the secrets

    def text(self, value: str) -> str:
        """``value`` with the secrets masked and every URL's credentials removed."""
        for redactor in self._redactors:
            value = redactor.text(value)
        return safe_url(value)

    def action(self, action: _V) -> _V:
        """``action`` with every string masked (Rule 4: the same object when nothing is)."""
        cleaned: Any = self._clean(action)
        return cleaned  # type: ignore[no-any-return]

    def _clean(self, obj: Any) -> Any:
        if type(obj) is str:  # the common case first: events are mostly numbers and ids
            masked = self.text(obj)
            return obj if masked == obj else masked
        if obj is None or type(obj) in _NUMBERS or isinstance(obj, enum.Enum):
            return obj
        if isinstance(obj, str):  # a str subclass
            return self.text(obj)
        if isinstance(obj, BaseModel):
            changes = self._fields(obj, _text_fields(type(obj)))
            return obj.model_copy(update=changes) if changes else obj
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            names = [f.name for f in dataclasses.fields(obj) if f.init]
            changes = self._fields(obj, names)
            return dataclasses.replace(obj, **changes) if changes else obj
        if isinstance(obj, Mapping):
            return self._mapping(obj)
        if isinstance(obj, list | tuple):
            items = [self._clean(v) for v in obj]
            if all(new is old for new, old in zip(items, obj, strict=True)):
                return obj
            if isinstance(obj, list):
                return items
            return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
        return obj  # anything else holds no text a page is sent

    def _fields(self, obj: Any, names: Iterable[str]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name in names:
            value = getattr(obj, name)
            cleaned = self._clean(value)
            if cleaned is not value:
                changes[name] = cleaned
        return changes

    def _mapping(self, obj: Mapping[Any, Any]) -> Mapping[Any, Any]:
        out: dict[Any, Any] = {}
        changed = False
        for key, value in obj.items():
            new_key = self._clean(key)
            if credential_key(key) and value is not None and value != MASK:
                new_value: Any = MASK
            else:
                new_value = self._clean(value)
            changed = changed or new_key is not key or new_value is not value
            out[new_key] = new_value
        return out if changed else obj
