"""The public facade: API.md's names exist, and ``__all__`` is sorted and complete."""

from __future__ import annotations

import arkor_rx as ax
from arkor_rx import operators as aop

API_MD_NAMES = {
    "ArkorClient",
    "create_trainer",
    "TrainerCallbacks",
    "ReconnectPolicy",
    "TrainingResult",
    "TrainingJob",
    "TrainingEvent",
    "TrainingStarted",
    "TrainingLog",
    "CheckpointSaved",
    "TrainingCompleted",
    "TrainingFailed",
    "UnknownEvent",
    "parse_event",
    "CloudApiError",
}


def test_all_is_sorted_and_unique() -> None:
    assert ax.__all__ == sorted(set(ax.__all__))
    assert aop.__all__ == sorted(set(aop.__all__))


def test_every_exported_name_exists() -> None:
    for name in ax.__all__:
        assert hasattr(ax, name), name
    for name in aop.__all__:
        assert hasattr(aop, name), name


def test_api_md_names_are_exported() -> None:
    assert set(ax.__all__) >= API_MD_NAMES


def test_every_public_module_member_is_exported() -> None:
    public = {
        name
        for name, value in vars(ax).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("arkor_rx")
    }
    assert public <= set(ax.__all__)


def test_sse_names_live_where_api_md_says() -> None:
    from arkor_rx.events import parse_event
    from arkor_rx.sse import ServerSentEvent, SSEDecoder

    assert ax.parse_event is parse_event
    assert ax.SSEDecoder is SSEDecoder
    assert ax.ServerSentEvent is ServerSentEvent


def test_importing_arkor_rx_does_not_load_the_server() -> None:
    import subprocess
    import sys

    code = "import sys, arkor_rx; print('arkor_rx.server' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_importing_arkor_rx_and_its_sinks_loads_no_optional_library() -> None:
    # The extras are imported when a sink, the notebook view or the Optuna bridge is
    # used, never by `import arkor_rx` (nor by building the public namespaces).
    import subprocess
    import sys

    heavy = (
        "tensorboardX",
        "tensorboard",
        "mlflow",
        "wandb",
        "prometheus_client",
        "optuna",
        "matplotlib",
        "IPython",
    )
    code = (
        "import sys, arkor_rx, arkor_rx.sinks, arkor_rx.operators, arkor_rx.notebook, "
        "arkor_rx.dashboard, arkor_rx.sweep, arkor_rx.cli; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
