"""``arkor-rx version``: print the version."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from arkor_rx.cli._common import EXIT_OK, PROG, add_command

if TYPE_CHECKING:
    from arkor_rx.cli._common import Subparsers

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``version``."""
    return add_command(subparsers, "version")


def run(args: argparse.Namespace) -> int:
    """Print ``arkor-rx <version>``."""
    from arkor_rx._version import __version__

    print(f"{PROG} {__version__}", flush=True)
    return EXIT_OK
