"""Chat inference: the request, the adapter references it uses, and the answer.

Rule 0: one frozen request model,
[`InferenceRequest`][arkor_rx.inference.InferenceRequest], lists the
arguments of a chat request and builds its camelCase body; one adapter type,
[`CheckpointAdapter`][arkor_rx.inference.CheckpointAdapter], names a
checkpoint (``checkpoint_adapter()`` is its wire dict).

Rule 1: one [`InferenceResponse`][arkor_rx.inference.InferenceResponse] type for both modes. ``await
r.json()`` and ``await r.text()`` work the same whether the server streamed
(``stream=True``) or answered one JSON body; ``async for delta in r`` yields
content as it arrives when streamed, and the whole content once otherwise.

Rule 2: a streamed answer is Server-Sent Events, ``data: {"choices":
[{"delta": {"content": "..."}}]}`` frames ending with ``data: [DONE]``,
decoded by [`arkor_rx.sse.SSEDecoder`][arkor_rx.sse.SSEDecoder]. The deltas are assembled into
the OpenAI chat-completion shape a non-streamed answer has, so code written
for one mode works for the other. A ``data:`` payload that is not JSON is
skipped; a frame with an ``error`` field raises; a stream that ends before
``[DONE]`` was cut and raises [`TransportError`][arkor_rx.errors.TransportError].

Rule 3: the connection is released as soon as ``[DONE]`` arrives, on any
error, and by ``aclose()`` (or leaving ``async with``).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from arkor_rx._closing import AsyncClosing
from arkor_rx._redaction import Redactor
from arkor_rx.errors import CloudApiError, ConfigError, TransportError
from arkor_rx.jobs import format_validation_error
from arkor_rx.sse import ServerSentEvent, SSEDecoder
from arkor_rx.transport import StreamResponse

__all__ = [
    "CheckpointAdapter",
    "InferenceRequest",
    "InferenceResponse",
    "checkpoint_adapter",
    "final_adapter",
]

_DONE = "[DONE]"


class _Request(BaseModel):
    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="forbid"
    )


class CheckpointAdapter(_Request):
    """The adapter saved at one checkpoint of a job: the one type for it.

    ``ctx.adapter`` of a checkpoint callback is one;
    [`checkpoint_adapter`][arkor_rx.inference.checkpoint_adapter]
    gives its wire shape as a dict.

    Examples:
        >>> CheckpointAdapter(job_id="j1", step=50).to_wire()
        {'kind': 'checkpoint', 'jobId': 'j1', 'step': 50}
    """

    kind: Literal["checkpoint"] = "checkpoint"
    """Always ``"checkpoint"``."""
    job_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    """The job the checkpoint belongs to."""
    step: Annotated[StrictInt, Field(ge=0)]
    """The step it was saved at."""

    def to_wire(self) -> dict[str, Any]:
        """The ``adapter`` object of an inference request."""
        return self.model_dump(by_alias=True)


def checkpoint_adapter(job_id: str, step: int) -> dict[str, Any]:
    """The adapter saved at ``step`` of a job, for ``ArkorClient.infer(adapter=...)``.

    The wire shape of a [`CheckpointAdapter`][arkor_rx.inference.CheckpointAdapter].

    Examples:
        >>> checkpoint_adapter("j1", 50)
        {'kind': 'checkpoint', 'jobId': 'j1', 'step': 50}

    Raises:
        ConfigError: an empty job id, or a step that is not a non-negative int.
    """
    _check_job_id(job_id)
    try:
        return CheckpointAdapter(job_id=job_id, step=step).to_wire()
    except ValidationError:
        raise ConfigError(f"adapter step must be a non-negative int, got {step!r}") from None


def final_adapter(job_id: str) -> dict[str, Any]:
    """The final adapter of a completed job, for ``ArkorClient.infer(adapter=...)``.

    Examples:
        >>> final_adapter("j1")
        {'kind': 'final', 'jobId': 'j1'}

    Raises:
        ConfigError: an empty job id.
    """
    _check_job_id(job_id)
    return {"kind": "final", "jobId": job_id}


def _check_job_id(job_id: str) -> None:
    if not isinstance(job_id, str) or not job_id.strip():
        raise ConfigError(f"adapter jobId must be a non-empty string, got {job_id!r}")


class InferenceRequest(_Request):
    """One chat request (``POST /v1/inference/chat``): the one list of the infer arguments.

    ``ArkorClient.infer`` and ``CheckpointContext.infer`` take these fields as
    keywords and build one of these; the body is
    [`to_wire`][arkor_rx.inference.InferenceRequest.to_wire], camelCase
    like the rest of the protocol, with only the fields that are set, plus
    ``stream``, which is always sent (the protocol's default is true; this
    model's is false).

    Examples:
        >>> InferenceRequest.build([{"role": "user", "content": "Hi"}], max_tokens=8).to_wire()
        {'messages': [{'role': 'user', 'content': 'Hi'}], 'stream': False, 'maxTokens': 8}
    """

    messages: list[dict[str, Any]]
    """OpenAI-shaped chat messages (``role``, ``content``, ...)."""
    adapter: dict[str, Any] | None = None
    """``checkpoint_adapter(job_id, step)`` or ``final_adapter(job_id)``."""
    base_model: str | None = None
    """A base model to use without an adapter (``baseModel``)."""
    stream: bool = False
    """True for a server-sent stream of content deltas."""
    max_tokens: int | None = None
    """The most tokens to generate (``maxTokens``); unset: the server decides."""
    temperature: float | None = None
    """Sampling temperature."""
    top_p: float | None = None
    """Nucleus sampling (``topP``)."""
    tools: list[dict[str, Any]] | None = None
    """OpenAI-style tool definitions."""
    tool_choice: str | dict[str, Any] | None = None
    """Which tool the model must or may call (``toolChoice``)."""
    response_format: dict[str, Any] | None = None
    """An OpenAI-style response format (``responseFormat``)."""
    structured_outputs: dict[str, Any] | None = None
    """Output constraints such as ``{"choice": [...]}`` (``structuredOutputs``)."""

    @classmethod
    def build(
        cls,
        messages: Sequence[Mapping[str, Any]],
        *,
        adapter: Mapping[str, Any] | CheckpointAdapter | None = None,
        **options: Any,
    ) -> InferenceRequest:
        """Check ``messages``, then validate the request.

        Args:
            messages: a non-empty sequence of mappings.
            adapter: a wire-shaped adapter dict or a
                [`CheckpointAdapter`][arkor_rx.inference.CheckpointAdapter].
            options: the other fields, by their snake_case names (None: unset).

        Raises:
            ConfigError: no messages, a message that is not a mapping, or a bad field.
        """
        if isinstance(messages, str | bytes) or not isinstance(messages, Sequence) or not messages:
            raise ConfigError("messages must be a non-empty list of chat messages")
        if not all(isinstance(m, Mapping) for m in messages):
            raise ConfigError(
                "every message must be a mapping such as {'role': 'user', 'content': ...}"
            )
        if isinstance(adapter, CheckpointAdapter):
            adapter = adapter.to_wire()
        try:
            return cls(messages=list(messages), adapter=adapter, **options)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, "inference request")) from None

    def to_wire(self) -> dict[str, Any]:
        """The JSON body: camelCase, only the fields that are set, ``stream`` always."""
        return self.model_dump(by_alias=True, exclude_none=True)


class _Assembler:
    """Folds streamed chat-completion chunks into one chat-completion object."""

    def __init__(self) -> None:
        self.top: dict[str, Any] = {}
        self.choices: dict[int, dict[str, Any]] = {}

    def add(self, chunk: dict[str, Any]) -> str:
        """Merge one chunk; return the content it adds to the first choice."""
        for key in ("id", "model", "created", "usage", "system_fingerprint"):
            if chunk.get(key) is not None:
                self.top[key] = chunk[key]
        added = ""
        choices = chunk.get("choices")
        for raw in choices if isinstance(choices, list) else []:
            if not isinstance(raw, dict):
                continue
            index = raw.get("index", 0)
            index = index if isinstance(index, int) else 0
            choice = self.choices.setdefault(
                index,
                {
                    "index": index,
                    "message": {"role": "assistant", "content": ""},
                    "finish_reason": None,
                },
            )
            if raw.get("finish_reason") is not None:
                choice["finish_reason"] = raw["finish_reason"]
            delta = raw.get("delta")
            if not isinstance(delta, dict):
                continue
            message = choice["message"]
            if isinstance(delta.get("role"), str):
                message["role"] = delta["role"]
            content = delta.get("content")
            if isinstance(content, str) and content:
                message["content"] += content
                if index == min(self.choices):
                    added += content
            if isinstance(delta.get("tool_calls"), list):
                self._add_tool_calls(message, delta["tool_calls"])
        return added

    @staticmethod
    def _add_tool_calls(message: dict[str, Any], parts: list[Any]) -> None:
        calls: list[dict[str, Any]] = message.setdefault("tool_calls", [])
        for part in parts:
            if not isinstance(part, dict):
                continue
            index = part.get("index", len(calls))
            while len(calls) <= index:
                calls.append(
                    {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                )
            call = calls[index]
            for key in ("id", "type"):
                if part.get(key) is not None:
                    call[key] = part[key]
            function = part.get("function")
            if isinstance(function, dict):
                for key in ("name", "arguments"):
                    if isinstance(function.get(key), str):
                        call["function"][key] += function[key]

    def result(self) -> dict[str, Any]:
        return {
            **self.top,
            "object": "chat.completion",
            "choices": [self.choices[i] for i in sorted(self.choices)],
        }


class InferenceResponse(AsyncClosing):
    """The answer of ``ArkorClient.infer``: JSON, text, or content deltas as they stream.

    Examples:
        >>> async def demo(client):  # doctest: +SKIP
        ...     msgs = [{"role": "user", "content": "Hello"}]
        ...     print(await (await client.infer(msgs)).text())
        ...     async with await client.infer(msgs, stream=True) as r:
        ...         async for delta in r:
        ...             print(delta, end="", flush=True)

    The response is its own one-shot iterator: ``async for`` yields each
    content delta once (for a non-streamed answer, the whole content once),
    and a second loop, or one after ``json()``, yields nothing more.
    ``json()`` and ``text()`` may be called any number of times, before,
    during or after iterating; on a stream they read what is left of it.
    """

    def __init__(
        self,
        *,
        body: dict[str, Any] | None = None,
        stream: StreamResponse | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        """Wrap a whole JSON ``body`` or an open SSE ``stream`` (exactly one of them).

        ``redactor`` masks the client's token in the message and body of an
        ``error`` frame the stream carries (the client passes its own).
        """
        if (body is None) == (stream is None):
            raise ValueError("InferenceResponse needs exactly one of body= and stream=")
        self._body = body
        self._stream = stream
        self._assembler = _Assembler()
        self._decoder = SSEDecoder()
        self._pending: deque[ServerSentEvent] = deque()
        self._finished = False
        self._failure: BaseException | None = None
        self._redactor = redactor

    @property
    def streamed(self) -> bool:
        """True when the server answered with an SSE stream."""
        return self._stream is not None

    @property
    def status(self) -> int:
        """The HTTP status of the answer (200 for a whole body)."""
        return self._stream.status if self._stream is not None else 200

    async def json(self) -> dict[str, Any]:
        """The answer as an OpenAI chat-completion object.

        For a stream, reads it to the end first and returns the assembled
        ``{"object": "chat.completion", "choices": [{"index", "message":
        {"role", "content", "tool_calls"?}, "finish_reason"}], ...}``.

        Raises:
            CloudApiError: the stream carried an ``error`` frame.
            TransportError: the stream broke or ended before ``[DONE]``.
            SSEError: the stream could not be decoded.
        """
        if self._body is not None:
            return self._body
        while await self._next_delta() is not None:
            pass
        return self._assembler.result()

    async def text(self) -> str:
        """The assistant's content (of the first choice); ``""`` when there is none.

        Raises:
            CloudApiError, TransportError, SSEError: as
                [`json`][arkor_rx.inference.InferenceResponse.json].
        """
        return _content(await self.json())

    def __aiter__(self) -> InferenceResponse:
        return self

    async def __anext__(self) -> str:
        """The next content delta (raises the stream's errors, as
        [`json`][arkor_rx.inference.InferenceResponse.json])."""
        if self._body is not None:
            content = "" if self._finished else _content(self._body)
            self._finished = True
            if content:
                return content
            raise StopAsyncIteration
        delta = await self._next_delta()
        if delta is None:
            raise StopAsyncIteration
        return delta

    async def _next_delta(self) -> str | None:
        """The next non-empty content delta of the stream, or None once it is over."""
        stream = self._stream
        assert stream is not None
        if self._failure is not None:
            raise self._failure
        try:
            while not self._finished:
                while self._pending:
                    data = self._pending.popleft().data.strip()
                    if data == _DONE:
                        self._finished = True
                        break
                    delta = self._handle(data, stream.status)
                    if delta:
                        return delta
                else:
                    chunk = await stream.read_chunk()
                    if not chunk:
                        raise TransportError("the inference stream ended before data: [DONE]")
                    self._pending.extend(self._decoder.feed(chunk))
        except BaseException as exc:
            if isinstance(exc, Exception):  # kept to raise again; cancellation is not kept
                self._failure = exc
            await self.aclose()
            raise
        await self.aclose()
        return None

    def _handle(self, data: str, status: int) -> str:
        try:
            chunk = json.loads(data)
        except ValueError:
            return ""  # not JSON: skipped, like on the event stream
        if not isinstance(chunk, dict):
            return ""
        error = chunk.get("error")
        if error is not None:
            if isinstance(error, dict):
                error = error.get("message", error)
            message, body = str(error), chunk
            if self._redactor is not None:  # a server may echo the token back
                message, body = self._redactor.text(message), self._redactor.value(body)
            raise CloudApiError(status, message, body=body)
        return self._assembler.add(chunk)

    async def aclose(self) -> None:
        """Release the connection. Idempotent; a no-op for a non-streamed answer."""
        if self._stream is not None:
            await self._stream.aclose()

    def __repr__(self) -> str:
        mode = "streamed" if self.streamed else "whole"
        return f"<InferenceResponse {mode} status={self.status}>"


def _content(body: dict[str, Any]) -> str:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    return content if isinstance(content, str) else ""
