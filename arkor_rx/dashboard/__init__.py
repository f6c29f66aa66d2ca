"""The live views' state and the terminal view: one reducer, two renderers.

Rule 1: all the bookkeeping lives in [`reduce`][arkor_rx.dashboard.reduce]
(one run) and [`reduce_view`][arkor_rx.dashboard.reduce_view] (many runs,
keyed by job id): pure functions from a state, an action and the caller's
``now`` to a new state. No I/O, no clock, no mutation.

Rule 2: drawing is just as pure. The terminal renderer
([`render`][arkor_rx.dashboard.render], [`render_runs`][arkor_rx.dashboard.render_runs],
[`render_summary`][arkor_rx.dashboard.render_summary]) turns a state into a
rich renderable, [`describe`][arkor_rx.dashboard.describe] into one plain
log line, and the notebook renderer ([`arkor_rx.notebook`][arkor_rx.notebook])
into HTML with an inline SVG plot.

Rule 3: [`LiveDashboard`][arkor_rx.dashboard.LiveDashboard] is the terminal
view's only part with side effects, and a [`Sink`][arkor_rx.sinks.Sink].

Rule 4: the modules that tell kinds apart (the reducers ``_state`` and
``_runs``, the plain lines ``_lines``, the web page's event log
``web._wire``) name each kind by its family: ``events.TrainingCompleted`` is
the stream's, ``actions.RunFinished`` the view's own. The two families have
look-alike names; at each ``isinstance`` the reader sees which one it is.

Actions are the stream's events, the checkpoint samples'
[`SamplesAnswered`][arkor_rx.samples.SamplesAnswered], a sweep's
[`RunEvent`][arkor_rx.runs.RunEvent] and [`PruneDecision`][arkor_rx.runs.PruneDecision],
plus a few facts that do not travel on the stream:
[`JobSubmitted`][arkor_rx.dashboard.JobSubmitted], [`RunOpened`][arkor_rx.dashboard.RunOpened],
[`CheckpointAnswer`][arkor_rx.dashboard.CheckpointAnswer],
[`StreamProgress`][arkor_rx.dashboard.StreamProgress],
[`RunStopped`][arkor_rx.dashboard.RunStopped], [`RunFinished`][arkor_rx.dashboard.RunFinished],
and a run's deployments: [`RunDeployed`][arkor_rx.dashboard.RunDeployed] (build it with
``RunDeployed.from_deployment(deployment)``) and
[`RunUndeployed`][arkor_rx.dashboard.RunUndeployed].

Example:
    >>> from arkor_rx.events import TrainingLog
    >>> state = DashboardState(max_steps=10)
    >>> state = reduce(state, TrainingLog(step=1, loss=2.0, event_id="1"), now=0.0)
    >>> state = reduce(state, TrainingLog(step=2, loss=1.0, event_id="2"), now=1.0)
    >>> (state.step, state.loss, state.events_seen, state.lost, state.repeated)
    (2, 1.0, 2, 0, 0)
"""

from __future__ import annotations

from arkor_rx.dashboard import _actions, _lines, _live, _runs, _state, _terminal
from arkor_rx.dashboard._actions import *  # noqa: F403
from arkor_rx.dashboard._checkpoints import CheckpointView
from arkor_rx.dashboard._deployments import DEPLOYMENT_LIMIT
from arkor_rx.dashboard._lines import *  # noqa: F403
from arkor_rx.dashboard._live import *  # noqa: F403
from arkor_rx.dashboard._runs import *  # noqa: F403
from arkor_rx.dashboard._state import *  # noqa: F403
from arkor_rx.dashboard._terminal import *  # noqa: F403
from arkor_rx.dashboard.web import WebDashboard

# The three names below, and each star-imported submodule's ``__all__`` (listed once,
# where its names are defined), are public here.
__all__ = ["DEPLOYMENT_LIMIT", "CheckpointView", "WebDashboard"]
__all__ += _actions.__all__
__all__ += _lines.__all__
__all__ += _live.__all__
__all__ += _runs.__all__
__all__ += _state.__all__
__all__ += _terminal.__all__
