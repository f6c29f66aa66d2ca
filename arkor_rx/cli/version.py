"""Print the version."""

from __future__ import annotations

import argparse

from arkor_rx.cli._common import EXIT_OK, PROG

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add nothing: the command takes no arguments."""


def run(args: argparse.Namespace) -> int:
    """Print ``arkor-rx <version>``."""
    from arkor_rx._version import __version__

    print(f"{PROG} {__version__}", flush=True)
    return EXIT_OK
