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

    heavy = (  # the optional extras (the sinks, views, sweeps) and the test-only libraries
        "tensorboardX",
        "tensorboard",
        "mlflow",
        "wandb",
        "prometheus_client",
        "optuna",
        "matplotlib",
        "IPython",
        "openai",
        "psycopg",
        "playwright",
        "sqlalchemy",
    )
    code = (
        "import sys, arkor_rx, arkor_rx.sinks, arkor_rx.operators, arkor_rx.notebook, "
        "arkor_rx.dashboard, arkor_rx.sweep, arkor_rx.cli; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _type_checking_imports() -> dict[str, str]:
    """The names the facade's ``if TYPE_CHECKING:`` block imports, and from where."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(ax.__file__).read_text(encoding="utf-8"))
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n)
    )
    found: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        assert node.module is not None
        for alias in node.names:
            where = f"arkor_rx.{alias.name}" if node.module == "arkor_rx" else node.module
            found[alias.name] = where
    return found


def test_the_lazy_facade_and_its_type_checking_imports_agree() -> None:
    exports: dict[str, str] = ax._EXPORTS
    assert set(exports) == set(ax.__all__)
    assert _type_checking_imports() == exports
    for name, module in exports.items():
        if name != "operators":
            assert getattr(__import__(module, fromlist=[name]), name) is getattr(ax, name), name


def test_import_arkor_rx_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    heavy = ("aiohttp", "reactivex", "pydantic", "numpy", "rich", "tensorboardX", "mlflow")
    code = (
        "import sys, arkor_rx\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('arkor_rx')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, ours = out.stdout.splitlines()
    assert loaded == "[]"
    assert ours == "['arkor_rx']"


def test_importing_a_module_keeps_the_function_of_the_same_name() -> None:
    import importlib

    attach = importlib.import_module("arkor_rx.attach").attach  # binds the module on the package
    replay = importlib.import_module("arkor_rx.replay").replay

    assert ax.replay is replay
    assert ax.attach is attach
    assert callable(ax.replay)
