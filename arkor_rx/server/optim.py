"""The optimisers of the local model: AdamW with decoupled weight decay, and plain SGD.

Rule 1: an optimiser updates the arrays it was given in place; ``step`` is
the 1-based optimizer step (AdamW's bias correction uses it).

Rule 2: weight decay is decoupled (``p -= lr × weightDecay × p``, before the
gradient step) and applies only to the arrays marked for it (the adapter
matrices, not the bias), for both optimisers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

import numpy as np

from arkor_rx.server.model import FloatArray

__all__ = ["AdamW", "Optimizer", "Sgd", "make_optimizer"]

BETA1: Final = 0.9
BETA2: Final = 0.999
EPS: Final = 1e-8


class Optimizer(Protocol):
    """Updates parameters in place from their gradients."""

    def step(self, grads: Sequence[FloatArray], lr: float, step: int) -> None:
        """Apply one update with learning rate ``lr`` at the 1-based ``step``."""


class Sgd:
    """Plain gradient descent with decoupled weight decay.

    Examples:
        >>> p = np.ones(2)
        >>> Sgd([p], decay=[False], weight_decay=0.0).step([np.full(2, 0.5)], 0.1, 1)
        >>> p.tolist()
        [0.95, 0.95]
    """

    def __init__(
        self, params: Sequence[FloatArray], *, decay: Sequence[bool], weight_decay: float
    ) -> None:
        self._params = list(params)
        self._decay = list(decay)
        self._weight_decay = weight_decay

    def _decay_weights(self, lr: float) -> None:
        if not self._weight_decay:
            return
        for p, decays in zip(self._params, self._decay, strict=True):
            if decays:
                p -= lr * self._weight_decay * p

    def step(self, grads: Sequence[FloatArray], lr: float, step: int) -> None:
        """``p -= lr × g`` for every parameter."""
        with np.errstate(all="ignore"):
            self._decay_weights(lr)
            for p, g in zip(self._params, grads, strict=True):
                p -= lr * g


class AdamW(Sgd):
    """Adam with bias-corrected moments and decoupled weight decay (Loshchilov & Hutter)."""

    def __init__(
        self, params: Sequence[FloatArray], *, decay: Sequence[bool], weight_decay: float
    ) -> None:
        super().__init__(params, decay=decay, weight_decay=weight_decay)
        self._m = [np.zeros_like(p) for p in self._params]
        self._v = [np.zeros_like(p) for p in self._params]

    def step(self, grads: Sequence[FloatArray], lr: float, step: int) -> None:
        """One AdamW update (β₁ 0.9, β₂ 0.999, ε 1e-8)."""
        with np.errstate(all="ignore"):
            self._decay_weights(lr)
            for i, (p, g) in enumerate(zip(self._params, grads, strict=True)):
                self._m[i] = BETA1 * self._m[i] + (1 - BETA1) * g
                self._v[i] = BETA2 * self._v[i] + (1 - BETA2) * (g * g)
                m_hat = self._m[i] / (1 - BETA1**step)
                v_hat = self._v[i] / (1 - BETA2**step)
                p -= lr * m_hat / (np.sqrt(v_hat) + EPS)


def make_optimizer(
    name: str, params: Sequence[FloatArray], *, decay: Sequence[bool], weight_decay: float
) -> Optimizer:
    """``"sgd"`` gives [`Sgd`][arkor_rx.server.optim.Sgd]; anything else (``"adamw"``) gives
    [`AdamW`][arkor_rx.server.optim.AdamW]."""
    kind = Sgd if name == "sgd" else AdamW
    return kind(params, decay=decay, weight_decay=weight_decay)
