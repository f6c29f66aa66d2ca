"""Import paths of the first release keep working, and name the same objects as the new homes."""

from __future__ import annotations

import arkor_rx as ax
from arkor_rx import callbacks, stopping


def test_the_stop_types_old_path_is_the_new_one() -> None:
    from arkor_rx.operators._decision import StopDecision, StopRule

    assert StopDecision is stopping.StopDecision is ax.StopDecision
    assert StopRule is stopping.StopRule


def test_the_dispatch_module_re_exports_the_callbacks() -> None:
    from arkor_rx import dispatch

    for name in ("TrainerCallbacks", "LogContext", "CheckpointContext", "Dispatcher", "drain"):
        assert getattr(dispatch, name) is getattr(callbacks, name)


def test_loop_of_and_observe_async_still_import_from_the_stream() -> None:
    from arkor_rx._loop import loop_of
    from arkor_rx._observe import observe_async
    from arkor_rx.stream import loop_of as old_loop_of
    from arkor_rx.stream import observe_async as old_observe_async

    assert old_loop_of is loop_of
    assert old_observe_async is observe_async


def test_the_console_script_entry_point_and_parser_are_where_they_were() -> None:
    from arkor_rx.cli import build_parser, main

    assert callable(main)
    assert build_parser().prog == "arkor-rx"
