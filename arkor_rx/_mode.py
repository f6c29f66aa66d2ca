"""Which way a metric is better: the one `Mode` and the one "best so far".

Every module that compares monitored values (the sweep, the cross-run
pruners, a sweep's result, the operators) asks here, so "better" means the
same everywhere: NaN is never better than anything, and a value is better
than no value.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

__all__ = ["Mode", "better"]

Mode: TypeAlias = Literal["min", "max"]
"""Whether lower (``"min"``, a loss) or higher (``"max"``, an accuracy) is better."""


def better(value: float, than: float | None, mode: Mode) -> bool:
    """Whether ``value`` beats ``than`` (None: nothing yet); NaN never beats anything.

    Examples:
        >>> better(1.0, None, "min"), better(1.0, 2.0, "min"), better(1.0, 2.0, "max")
        (True, True, False)
        >>> better(float("nan"), None, "min"), better(1.0, float("nan"), "min")
        (False, True)
    """
    if value != value:  # NaN
        return False
    if than is None or than != than:
        return True
    return value < than if mode == "min" else value > than
