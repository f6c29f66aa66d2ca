"""``python -m arkor_rx``: the same as the ``arkor-rx`` command."""

from __future__ import annotations

import sys

from arkor_rx.cli import main

if __name__ == "__main__":
    sys.exit(main())
