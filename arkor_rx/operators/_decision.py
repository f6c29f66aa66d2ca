"""Kept for old imports: the stop types now live in [`arkor_rx.stopping`][arkor_rx.stopping]."""

from arkor_rx.stopping import StopDecision, StopRule

__all__ = ["StopDecision", "StopRule"]
