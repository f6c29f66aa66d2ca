"""The local model: hashed n-gram features and a low-rank adapter over a frozen base.

- **Features.** The last user message is lower-cased and split into words;
  word unigrams, word bigrams and character trigrams are hashed (CRC-32, so
  the same on every machine) into [`FEATURE_DIM`][arkor_rx.server.model.FEATURE_DIM] buckets with a
  sign bit,
  and each count ``c`` becomes ``log1p(c)``; the row is then scaled to
  the norm [`FEATURE_NORM`][arkor_rx.server.model.FEATURE_NORM]. ``maxLength`` keeps only the first
  ``maxLength`` words.
- **Model.** ``logits = x @ W0 + (loraAlpha / loraR) * (x @ A) @ B + bias``.
  ``W0`` is a frozen "base" matrix drawn from a seed derived from the model
  name; ``A`` (``FEATURE_DIM × loraR``, random) and ``B`` (``loraR × labels``,
  zeros) form the low-rank adapter that training updates, with the bias.

Rule 1: one forward pass. [`Adapter.logits`][arkor_rx.server.model.Adapter.logits] is the model;
[`Adapter.loss_and_grads`][arkor_rx.server.model.Adapter.loss_and_grads] reuses it for training, so
what inference
answers and what training optimises cannot drift apart.

Rule 2: a checkpoint (``.npz``) is written atomically and read back only
through [`load_adapter`][arkor_rx.server.model.load_adapter], which turns every kind of damage into
[`DamagedArtifactError`][arkor_rx.server.model.DamagedArtifactError] naming the file.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import re
import threading
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from arkor_rx.server.datasets import ChatDataset

__all__ = [
    "FEATURE_DIM",
    "FEATURE_NORM",
    "Adapter",
    "DamagedArtifactError",
    "FloatArray",
    "dataset_features",
    "featurize",
    "limit_blas_threads",
    "load_adapter",
]

FloatArray = npt.NDArray[np.float64]

FEATURE_DIM: Final = 4096
"""Hashed feature buckets per example."""

FEATURE_NORM: Final = 8.0
"""Every feature row is scaled to this Euclidean norm."""

_BASE_SCALE: Final = 0.01
_FORMAT: Final = "arkor-rx-lora-v1"
_WORD = re.compile(r"[a-z0-9']+")


class DamagedArtifactError(ValueError):
    """A checkpoint file exists but cannot be read as an arkor_rx adapter.

    Attributes:
        artifact: the file's name (``step-30.npz``, ``final.npz``).
    """

    def __init__(self, artifact: str, why: str) -> None:
        super().__init__(f"{artifact} is damaged or not an arkor_rx adapter ({why})")
        self.artifact = artifact


def limit_blas_threads(threads: int | None) -> Callable[[], None]:
    """Let numpy's BLAS use at most ``threads`` threads in this process; return the undo.

    Uses ``threadpoolctl`` (the limit is process-wide: BLAS libraries keep one
    setting). The results do not change: the model's products are the same
    sums, in the same order, whatever the thread count. Without
    ``threadpoolctl``, or with ``threads=None``, nothing is changed.
    """
    if threads is None:
        return lambda: None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency, but an old install may lack it
        return lambda: None
    limiter = threadpool_limits(limits=threads, user_api="blas")
    restore: Callable[[], None] = limiter.restore_original_limits
    return restore


# --- features -----------------------------------------------------------------


def _bucket(key: str) -> tuple[int, float]:
    h = zlib.crc32(key.encode("utf-8"))
    return h % FEATURE_DIM, (1.0 if h & 0x80000000 else -1.0)


def featurize(texts: tuple[str, ...] | list[str], max_length: int | None = None) -> FloatArray:
    """Hashed word, word-bigram and character-trigram features, one row per text.

    Examples:
        >>> x = featurize(["Refund please"])
        >>> x.shape, bool((x != 0).any())
        ((1, 4096), True)
    """
    out = np.zeros((len(texts), FEATURE_DIM), dtype=np.float64)
    for row, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        if max_length is not None:
            words = words[:max_length]
        counts: dict[int, float] = {}
        keys = [f"w:{w}" for w in words]
        keys += [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
        for w in words:
            padded = f" {w} "
            keys += [f"c:{padded[i : i + 3]}" for i in range(len(padded) - 2)]
        for key in keys:
            index, sign = _bucket(key)
            counts[index] = counts.get(index, 0.0) + sign
        for index, value in counts.items():
            out[row, index] = math.copysign(math.log1p(abs(value)), value)
        norm = math.sqrt(float(out[row] @ out[row]))
        if norm > 0:
            # A fixed norm: a short message speaks as loudly as a long one.
            out[row] *= FEATURE_NORM / norm
    return out


_FEATURE_CACHE: OrderedDict[tuple[str, int | None], FloatArray] = OrderedDict()
_FEATURE_LOCK = threading.Lock()


def dataset_features(data: ChatDataset, max_length: int | None) -> FloatArray:
    """The (read-only, cached) feature matrix of a dataset's texts."""
    key = (data.digest, max_length)
    with _FEATURE_LOCK:
        cached = _FEATURE_CACHE.get(key)
        if cached is not None:
            _FEATURE_CACHE.move_to_end(key)
            return cached
    features = featurize(data.texts, max_length)
    features.flags.writeable = False  # shared between runs: nobody may change it
    with _FEATURE_LOCK:
        _FEATURE_CACHE[key] = features
        while len(_FEATURE_CACHE) > 8:
            _FEATURE_CACHE.popitem(last=False)
    return features


@functools.lru_cache(maxsize=8)
def _base_matrix(model: str, classes: int) -> FloatArray:
    """The frozen base weights: shared (read-only) by every adapter of that shape."""
    rng = np.random.default_rng(zlib.crc32(model.encode("utf-8")))
    base = rng.normal(0.0, _BASE_SCALE, size=(FEATURE_DIM, classes))
    base.flags.writeable = False
    return base


def log_softmax(z: FloatArray) -> FloatArray:
    """Row-wise ``log(softmax(z))``, shifted for stability."""
    shifted = z - z.max(axis=1, keepdims=True)
    result: FloatArray = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return result


# --- the adapter ---------------------------------------------------------------


@dataclass(slots=True)
class Adapter:
    """A trained low-rank adapter with its label set: what a checkpoint holds.

    Attributes:
        model: the base model name (seeds the frozen base matrix).
        labels: the class texts, in index order.
        a, b, bias: the adapter parameters.
        scale: ``loraAlpha / loraR``.
        max_length: the word limit used for features.
        step: the training step it was saved at.
    """

    model: str
    labels: tuple[str, ...]
    a: FloatArray
    b: FloatArray
    bias: FloatArray
    scale: float
    max_length: int | None = None
    step: int = 0
    base: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.base = _base_matrix(self.model, len(self.labels))

    @property
    def parameters(self) -> list[FloatArray]:
        """The trainable arrays, in the order
        [`loss_and_grads`][arkor_rx.server.model.Adapter.loss_and_grads] returns their gradients."""
        return [self.a, self.b, self.bias]

    def _logits(self, x: FloatArray, xa: FloatArray) -> FloatArray:
        with np.errstate(all="ignore"):
            z: FloatArray = x @ self.base + self.scale * (xa @ self.b) + self.bias
        return z

    def logits(self, x: FloatArray) -> FloatArray:
        """Class scores for the feature rows ``x``."""
        with np.errstate(all="ignore"):
            xa = x @ self.a
        return self._logits(x, xa)

    def loss_and_grads(
        self, x: FloatArray, y: npt.NDArray[np.intp]
    ) -> tuple[float, list[FloatArray]]:
        """Mean softmax cross-entropy on ``(x, y)`` and its gradients for
        [`parameters`][arkor_rx.server.model.Adapter.parameters]."""
        with np.errstate(all="ignore"):
            xa = x @ self.a
            logp = log_softmax(self._logits(x, xa))
            rows = np.arange(len(y))
            loss = float(-logp[rows, y].mean())
            dz = np.exp(logp)
            dz[rows, y] -= 1.0
            dz /= len(y)
            grad_b = self.scale * (xa.T @ dz)
            grad_a = self.scale * (x.T @ (dz @ self.b.T))
            grad_bias = dz.sum(axis=0)
        return loss, [grad_a, grad_b, grad_bias]

    def evaluate(self, x: FloatArray, y: npt.NDArray[np.intp]) -> tuple[float, float]:
        """Mean cross-entropy and accuracy on ``(x, y)``."""
        with np.errstate(all="ignore"):
            logp = log_softmax(self.logits(x))
            loss = float(-logp[np.arange(len(y)), y].mean())
            accuracy = float((logp.argmax(axis=1) == y).mean())
        return loss, accuracy

    def predict(self, text: str, choices: list[str] | None = None) -> str:
        """The label for ``text``; with ``choices``, the best of those.

        A choice that is not one of the trained labels ranks below every
        trained one; when no choice is a trained label, the first choice is
        returned.
        """
        scores = self.logits(featurize([text], self.max_length))[0]
        scores = np.nan_to_num(scores, nan=-np.inf)
        if not choices:
            return self.labels[int(np.argmax(scores))]
        index = {label: i for i, label in enumerate(self.labels)}
        best, best_score = choices[0], -math.inf
        for choice in choices:
            i = index.get(choice)
            if i is not None and float(scores[i]) > best_score:
                best, best_score = choice, float(scores[i])
        return best

    def save(self, path: Path) -> int:
        """Write the adapter to ``path`` (``.npz``) atomically; return its size in bytes."""
        meta = {
            "model": self.model,
            "scale": self.scale,
            "maxLength": self.max_length,
            "step": self.step,
            "featureDim": FEATURE_DIM,
            "format": _FORMAT,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            np.savez(
                fh,
                a=self.a,
                b=self.b,
                bias=self.bias,
                labels=np.array(self.labels, dtype=str),
                meta=np.array(json.dumps(meta)),
            )
        os.replace(tmp, path)
        return path.stat().st_size


def load_adapter(path: Path) -> Adapter:
    """Read an adapter written by [`Adapter.save`][arkor_rx.server.model.Adapter.save].

    Raises:
        OSError: the file cannot be opened (missing, permissions).
        DamagedArtifactError: it opens but is not a whole arkor_rx adapter
            (truncated, not a zip, wrong arrays or shapes); the message names the file.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != _FORMAT or meta.get("featureDim") != FEATURE_DIM:
                raise DamagedArtifactError(path.name, "wrong format")
            adapter = Adapter(
                model=str(meta["model"]),
                labels=tuple(str(v) for v in data["labels"]),
                a=np.array(data["a"], dtype=np.float64),
                b=np.array(data["b"], dtype=np.float64),
                bias=np.array(data["bias"], dtype=np.float64),
                scale=float(meta["scale"]),
                max_length=meta.get("maxLength"),
                step=int(meta.get("step", 0)),
            )
    except DamagedArtifactError:
        raise
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except (
        zipfile.BadZipFile,
        EOFError,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        OSError,
    ) as exc:
        raise DamagedArtifactError(path.name, type(exc).__name__) from exc
    rank, classes = adapter.a.shape[-1], len(adapter.labels)
    if (
        adapter.a.shape != (FEATURE_DIM, rank)
        or adapter.b.shape != (rank, classes)
        or adapter.bias.shape != (classes,)
    ):
        raise DamagedArtifactError(path.name, "array shapes do not match")
    return adapter
