"""The status rule: which non-2xx answers are worth retrying.

Its one home, below both [`arkor_rx.protocol`][arkor_rx.protocol] (which re-exports it as
part of the wire protocol) and [`arkor_rx.errors`][arkor_rx.errors] (whose
``CloudApiError.is_permanent`` asks it), so neither imports the other for it.
It matches the official SDK's reconnect behaviour: 401, 403, 410 and 426 are
permanent; 404, 408, 429 and every 5xx are transient; every other non-2xx is
permanent too.
"""

from __future__ import annotations

__all__ = ["PERMANENT_STATUSES", "TRANSIENT_STATUSES", "is_transient_status"]

PERMANENT_STATUSES: frozenset[int] = frozenset({401, 403, 410, 426})
"""Answers to a stream open that fail at once: retrying cannot fix them."""

TRANSIENT_STATUSES: frozenset[int] = frozenset({404, 408, 429, *range(500, 600)})
"""Answers worth retrying: 404 (a just-created job may not be visible yet), 408, 429, 5xx."""


def is_transient_status(status: int) -> bool:
    """True when retrying the same request later may succeed (404, 408, 429, 5xx).

    Examples:
        >>> codes = (200, 400, 401, 404, 408, 409, 426, 429, 500, 503)
        >>> [s for s in codes if is_transient_status(s)]
        [404, 408, 429, 500, 503]
    """
    return status in TRANSIENT_STATUSES
