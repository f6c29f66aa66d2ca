"""Chat inference with a trained adapter, in the OpenAI chat-completion shape.

The local model is a classifier: it answers the last user message with the
label it predicts, i.e. the assistant reply it learned (``"billing"``).

Rule 1: ``maxTokens`` counts whitespace-separated words; an answer cut short
has ``finish_reason: "length"``.

Rule 2: ``structuredOutputs.choice`` restricts the answer to one of the given
strings (see [`predict`][arkor_rx.server.training.Adapter.predict]).

Rule 3: ``temperature``, ``topP``, ``tools``, ``toolChoice``,
``responseFormat`` and ``baseModel`` are accepted and ignored: the answer is
always the most likely label (greedy, deterministic).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from arkor_rx.errors import ConfigError
from arkor_rx.server.datasets import last_user_message

__all__ = [
    "BASE_MODEL_ANSWER",
    "ChatRequest",
    "base_model_answer",
    "completion_body",
    "parse_chat_request",
    "stream_chunks",
    "truncate",
]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated inference request.

    Attributes:
        job_id: the adapter's job, or None when no adapter was given (the base model).
        step: the checkpoint step, or None for the final adapter.
        text: the last user message.
        max_tokens: the word limit of the answer, or None.
        choices: the allowed answers, or None.
        stream: answer as SSE deltas (True) or one JSON body (False).
    """

    job_id: str | None
    step: int | None
    text: str
    max_tokens: int | None
    choices: list[str] | None
    stream: bool


def parse_chat_request(body: object) -> ChatRequest:
    """Validate an inference body.

    Raises:
        ConfigError: a missing or bad field; the message names it.
    """
    if not isinstance(body, dict):
        raise ConfigError("request body must be a JSON object")
    text = last_user_message(body.get("messages"))
    if not isinstance(body.get("messages"), list):
        raise ConfigError("messages: must be a list of chat messages")
    if text is None:
        raise ConfigError("messages: needs at least one user message with text content")
    adapter = body.get("adapter")
    if adapter is not None and not isinstance(adapter, dict):
        raise ConfigError(
            'adapter: must be {"kind": "checkpoint", "jobId", "step"} or {"kind": "final", "jobId"}'
        )
    adapter = adapter or {"kind": None}
    kind = adapter.get("kind")
    job_id = adapter.get("jobId")
    if kind is not None and (not isinstance(job_id, str) or not job_id):
        raise ConfigError("adapter.jobId: must be a non-empty string")
    step: int | None = None
    if kind is None:
        job_id = None  # no adapter: the base model answers
    elif kind == "checkpoint":
        raw_step = adapter.get("step")
        if not isinstance(raw_step, int) or isinstance(raw_step, bool) or raw_step < 0:
            raise ConfigError("adapter.step: must be a non-negative integer")
        step = raw_step
    elif kind != "final":
        raise ConfigError(f"adapter.kind: must be 'checkpoint' or 'final' (got {kind!r})")
    max_tokens = body.get("maxTokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise ConfigError(f"maxTokens: must be a positive integer (got {max_tokens!r})")
    stream = body.get("stream", True)
    if not isinstance(stream, bool):
        raise ConfigError(f"stream: must be true or false (got {stream!r})")
    choices: list[str] | None = None
    structured = body.get("structuredOutputs")
    if structured is not None:
        if not isinstance(structured, dict):
            raise ConfigError("structuredOutputs: must be an object")
        raw_choices = structured.get("choice")
        if raw_choices is not None:
            if (
                not isinstance(raw_choices, list)
                or not raw_choices
                or not all(isinstance(c, str) for c in raw_choices)
            ):
                raise ConfigError("structuredOutputs.choice: must be a non-empty list of strings")
            choices = list(raw_choices)
    return ChatRequest(job_id, step, text, max_tokens, choices, stream)


BASE_MODEL_ANSWER = (
    "I am the local backend's untrained base model: pass an adapter "
    "(a checkpoint or a final one) to ask a fine-tuned model."
)
"""What the base model says when no adapter is given. It has no chat ability of its own."""


def base_model_answer(choices: list[str] | None) -> str:
    """The base model's answer: the first allowed choice, else
    [`BASE_MODEL_ANSWER`][arkor_rx.server.inference.BASE_MODEL_ANSWER]."""
    return choices[0] if choices else BASE_MODEL_ANSWER


def truncate(answer: str, max_tokens: int | None) -> tuple[str, str]:
    """Cut ``answer`` to ``max_tokens`` words; return it and the finish reason.

    Examples:
        >>> truncate("account access", 1)
        ('account', 'length')
        >>> truncate("billing", 5)
        ('billing', 'stop')
    """
    words = answer.split()
    if max_tokens is not None and len(words) > max_tokens:
        return " ".join(words[:max_tokens]), "length"
    return answer, "stop"


def completion_body(
    answer: str, finish_reason: str, model: str, prompt: str = ""
) -> dict[str, Any]:
    """The ``stream: false`` answer: one OpenAI chat completion.

    ``usage`` counts words (Rule 1): ``prompt_tokens`` those of ``prompt`` (the
    last user message), ``completion_tokens`` those of the answer, and their sum,
    as OpenAI clients expect all three.
    """
    tokens = len(answer.split())
    prompt_tokens = len(prompt.split())
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": tokens,
            "total_tokens": prompt_tokens + tokens,
        },
    }


def stream_chunks(answer: str, finish_reason: str, model: str) -> list[str]:
    """The ``stream: true`` answer: the JSON of each SSE chunk, one per word.

    Every chunk has ``choices[0].delta.content``; the last one also carries
    the ``finish_reason``. The caller sends ``data: [DONE]`` after them.

    Examples:
        >>> [json.loads(c)["choices"][0]["delta"]["content"]
        ...  for c in stream_chunks("account access", "stop", "m")]
        ['account', ' access']
    """
    words = answer.split() or [""]
    ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    chunks = []
    for i, word in enumerate(words):
        last = i == len(words) - 1
        chunk = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": word}
                    if i == 0
                    else {"content": " " + word},
                    "finish_reason": finish_reason if last else None,
                }
            ],
        }
        chunks.append(json.dumps(chunk, separators=(",", ":")))
    return chunks
