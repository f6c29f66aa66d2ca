"""The web dashboard: every run live in a browser, pushed as it changes.

Rule 1: one module per idea: `_feed` (the views' reducer plus each run's
points and a journal of changes), `_wire` (what a row, a point and a log
line look like as JSON), `_stream` (one Server-Sent Events connection per
page), `_security` (Host check, launch token, headers), `_redact` (the
secrets and URL credentials masked in every action), `_actions` (cancel
and the playground), `_app` (the routes), `_sink` (the
[`WebDashboard`][arkor_rx.dashboard.WebDashboard] sink) and `_follow` (every
job of a backend). The page is plain files under ``static/`` with uPlot
vendored (MIT, its licence beside it).
"""

from __future__ import annotations

from arkor_rx.dashboard.web._feed import Change, Series, WebFeed
from arkor_rx.dashboard.web._security import TOKEN_HEADER
from arkor_rx.dashboard.web._sink import DEFAULT_PORT, WebDashboard, exposed_warning

__all__ = [
    "DEFAULT_PORT",
    "TOKEN_HEADER",
    "Change",
    "Series",
    "WebDashboard",
    "WebFeed",
    "exposed_warning",
]
