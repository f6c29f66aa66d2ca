"""Loading and validating chat JSONL datasets for the local backend.

A dataset is a text file with one JSON object per line, each in the Hugging
Face chat format: ``{"messages": [{"role": ..., "content": ...}, ...]}``.
Other top-level keys are allowed and ignored. Blank lines are skipped.

Rule 1: a record trains the classifier on (last user message → the content of
the last assistant message). A record without a user message before its last
assistant message is not chat-shaped for this purpose and is an error.

Rule 2: every problem is a [`DatasetError`][arkor_rx.errors.DatasetError] whose
message names the field (``datasetSource``), the file and, for a bad record,
its 1-based line number.

Rule 3: ``file://`` URLs are the only blob URLs the local backend reads; it
never makes a network request for data.

Rule 4: a blob is read only when it resolves (symbolic links followed) to a
*regular file* under one of the server's dataset roots (``--dataset-root``;
by default the folder the server was started in, plus its data dir). Any
other path gets one and the same error, whether or not it exists, so the
server never tells what lies outside its roots. FIFOs, devices and
directories are refused without being read (a FIFO is never opened in
blocking mode, so no thread waits on it), and the size cap is enforced while
reading, not trusted from ``stat`` (device files report 0).

Built-in datasets (``{"type": "huggingface", "name": ...}``):

- ``arkorlab/triage-demo``: 360 synthetic support tickets with their triage
  category as the assistant reply (see `arkor_rx.server.demo_data`).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from arkor_rx.errors import DatasetError
from arkor_rx.jobs import BlobDataset, HuggingFaceDataset

__all__ = [
    "BUILTIN_DATASETS",
    "MAX_DATASET_BYTES",
    "ChatDataset",
    "last_user_message",
    "load_dataset",
    "parse_chat_jsonl",
    "read_capped",
    "resolve_path",
]

MAX_DATASET_BYTES: Final = 64 << 20
"""The largest dataset file the local backend reads (64 MiB)."""

BUILTIN_DATASETS: Final[dict[str, str]] = {"arkorlab/triage-demo": "triage-demo.jsonl"}
"""Built-in dataset names and their package data files under ``arkor_rx/server/data``."""

_ROLES: Final = frozenset({"system", "user", "assistant", "tool", "developer"})


@dataclass(frozen=True, slots=True)
class ChatDataset:
    """A validated dataset: one (input text, label) pair per record.

    Attributes:
        name: the built-in name or the file path, for messages and metadata.
        texts: the last user message of each record.
        labels: the content of the last assistant message of each record.
        digest: the SHA-256 of the file's bytes (a cache key for features).
        synthetic: True for the built-in generated data.
    """

    name: str
    texts: tuple[str, ...]
    labels: tuple[str, ...]
    digest: str
    synthetic: bool = False

    def __len__(self) -> int:
        return len(self.texts)


def resolve_path(
    source: HuggingFaceDataset | BlobDataset, roots: Sequence[Path] = ()
) -> tuple[Path, bool]:
    """The file a dataset source names, and whether it is built-in.

    A blob's path is resolved (``..`` and symbolic links) and must lie under
    one of ``roots``.

    Raises:
        DatasetError: an unknown built-in name, a split the built-in data does
            not have, a URL that is not ``file://``, or a path outside ``roots``
            (one message, whether or not the path exists).
    """
    if isinstance(source, HuggingFaceDataset):
        filename = BUILTIN_DATASETS.get(source.name)
        if filename is None:
            known = ", ".join(sorted(BUILTIN_DATASETS))
            raise DatasetError(
                f"datasetSource.name: unknown dataset {source.name!r}; the local backend "
                f"has no hub access and knows only: {known} (use a 'blob' source with a "
                f"file:// URL for your own data)",
                path=source.name,
            )
        if source.split not in (None, "train"):
            raise DatasetError(
                f"datasetSource.split: {source.name} has only the 'train' split "
                f"(got {source.split!r}); the evaluation split is held out automatically",
                path=source.name,
            )
        ref = resources.files("arkor_rx.server") / "data" / filename
        return Path(str(ref)), True
    parts = urlsplit(source.url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise DatasetError(
            f"datasetSource.url: the local backend reads only file:// URLs on this machine "
            f"(got scheme {parts.scheme or '(none)'!r})",
            path=source.url,
        )
    outside = DatasetError(
        f"datasetSource.url: {source.url} is not a file under the local backend's dataset "
        f"roots; it reads only files under the folders given with --dataset-root "
        f"(by default the folder it was started in, and its data dir)",
        path=source.url,
    )
    try:
        resolved = Path(os.path.realpath(url2pathname(unquote(parts.path))))
        for root in roots:
            if resolved.is_relative_to(os.path.realpath(root)):
                return resolved, False
    except (OSError, ValueError):  # an embedded NUL, a symlink loop, a name too long
        raise outside from None
    raise outside


def read_capped(path: Path, limit: int, *, name: str) -> bytes:
    """The bytes of the regular file ``path``, refused past ``limit`` bytes.

    The file is checked with ``stat`` before it is opened (a FIFO or device is
    refused unopened), opened non-blocking without following a last symbolic
    link, checked again on the open descriptor, and read in chunks that stop
    one byte past the limit.

    Raises:
        DatasetError: missing, a directory, not a regular file, unreadable or too big.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise _not_regular(path, name)
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except DatasetError:
        raise
    except FileNotFoundError:
        raise DatasetError(f"datasetSource.url: no such file: {name}", path=name) from None
    except OSError as exc:
        raise DatasetError(
            f"datasetSource.url: cannot read {name}: {exc.strerror or exc}", path=name
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _not_regular(path, name)  # swapped between the stat and the open
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            size += len(chunk)
            if size > limit:
                raise DatasetError(
                    f"datasetSource: {name} is over the local backend's limit of {limit} bytes",
                    path=name,
                )
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise DatasetError(
            f"datasetSource.url: cannot read {name}: {exc.strerror or exc}", path=name
        ) from None
    finally:
        os.close(fd)


def _not_regular(path: Path, name: str) -> DatasetError:
    what = "a directory" if path.is_dir() else "not a regular file (a FIFO, socket or device)"
    return DatasetError(f"datasetSource.url: {name} is {what}", path=name)


def load_dataset(
    source: HuggingFaceDataset | BlobDataset,
    *,
    roots: Sequence[Path] = (),
    max_bytes: int = MAX_DATASET_BYTES,
    max_records: int | None = None,
    max_labels: int | None = None,
) -> ChatDataset:
    """Read and validate the dataset a source names.

    Examples:
        >>> ds = load_dataset(HuggingFaceDataset(name="arkorlab/triage-demo"))
        >>> len(ds), ds.synthetic, sorted(set(ds.labels))[:2]
        (360, True, ['account access', 'billing'])

    Args:
        source: a built-in dataset or a ``file://`` blob.
        roots: the folders a blob must lie under (none: every blob is refused).
        max_bytes: the largest file read.
        max_records: the most records accepted (None: any number).
        max_labels: the most distinct assistant replies (classes) accepted (None: any).

    Raises:
        DatasetError: the source is unknown, outside the roots, missing,
            unreadable, not a regular file, too big or empty, or a line is not a
            chat record (with its number).
    """
    path, builtin = resolve_path(source, roots)
    name = source.name if isinstance(source, HuggingFaceDataset) else str(path)
    raw = read_capped(path, max_bytes, name=name)
    data = parse_chat_jsonl(raw, name=name, synthetic=builtin)
    if max_records is not None and len(data) > max_records:
        raise DatasetError(
            f"datasetSource: {name} has {len(data)} records; the local backend trains on at "
            f"most {max_records}",
            path=name,
        )
    labels = len(set(data.labels))
    if max_labels is not None and labels > max_labels:
        raise DatasetError(
            f"datasetSource: {name} has {labels} distinct assistant replies; the local "
            f"backend learns at most {max_labels} (each reply is one class of its model)",
            path=name,
        )
    return data


def parse_chat_jsonl(raw: bytes, *, name: str = "<data>", synthetic: bool = False) -> ChatDataset:
    """Validate chat JSONL bytes into a [`ChatDataset`][arkor_rx.server.datasets.ChatDataset].

    Examples:
        >>> line = b'{"messages": [{"role": "user", "content": "hi"},'
        >>> line += b' {"role": "assistant", "content": "greeting"}]}'
        >>> parse_chat_jsonl(line).labels
        ('greeting',)
        >>> try:
        ...     parse_chat_jsonl(b'{"messages": [{"role": "user", "content": "x"}]}\\nnot json')
        ... except DatasetError as exc:
        ...     print(exc.line, exc)
        1 datasetSource: <data> line 1: needs a user message followed by a non-empty assistant reply

    Raises:
        DatasetError: not UTF-8, no records, or a bad line (named by number).
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"datasetSource: {name} is not UTF-8 text (byte {exc.start})", path=name
        ) from None
    texts: list[str] = []
    labels: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _bad(name, number, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        except ValueError as exc:
            raise _bad(name, number, f"not valid JSON ({exc})") from None
        user, label = _chat_pair(record, name, number)
        texts.append(user)
        labels.append(label)
    if not texts:
        raise DatasetError(f"datasetSource: {name} has no records", path=name)
    digest = hashlib.sha256(raw).hexdigest()
    return ChatDataset(name, tuple(texts), tuple(labels), digest, synthetic)


def _bad(name: str, line: int, what: str) -> DatasetError:
    return DatasetError(f"datasetSource: {name} line {line}: {what}", path=name, line=line)


def _chat_pair(record: object, name: str, line: int) -> tuple[str, str]:
    if not isinstance(record, dict):
        raise _bad(name, line, 'expected a JSON object with "messages"')
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad(name, line, '"messages" must be a non-empty list')
    user: str | None = None
    pair: tuple[str, str] | None = None
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad(name, line, f"messages[{index}] is not an object")
        role = message.get("role")
        content = message.get("content")
        if role not in _ROLES:
            raise _bad(name, line, f"messages[{index}].role is {role!r}, not a chat role")
        if role in ("user", "assistant") and not isinstance(content, str):
            raise _bad(name, line, f"messages[{index}].content must be a string")
        if role == "user" and isinstance(content, str):
            user = content
        elif role == "assistant" and isinstance(content, str) and content.strip() and user:
            pair = (user, content.strip())
    if pair is None:
        raise _bad(name, line, "needs a user message followed by a non-empty assistant reply")
    return pair


def last_user_message(messages: object) -> str | None:
    """The content of the last ``user`` message of an OpenAI-shaped list, or None.

    Content given as a list of parts keeps only the ``text`` parts.
    """
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                parts = [
                    p["text"]
                    for p in content
                    if isinstance(p, dict) and isinstance(p.get("text"), str)
                ]
                return " ".join(parts)
            return None
    return None
