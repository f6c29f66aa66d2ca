"""The inference route of [`ArkorClient`][arkor_rx.client.ArkorClient]: ``POST /v1/inference/chat``.

Kept apart from ``arkor_rx.client`` so that each module holds one idea, as the
deployment routes are; the client inherits these methods. A plain answer goes
through the same ``ClientCore._call`` as the job routes (the same headers,
scope, errors and redaction); a streamed one is opened on the transport and
checked the way the event stream is, and its deltas are redacted too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from arkor_rx._client_core import ClientCore, header
from arkor_rx.inference import InferenceRequest, InferenceResponse
from arkor_rx.protocol import EVENT_STREAM_CONTENT_TYPE, INFERENCE_PATH, JSON_CONTENT_TYPE

__all__ = ["InferenceRoutes"]

logger = logging.getLogger("arkor_rx.client")  # the client's log, wherever the line is

_MAX_JSON_ANSWER = 16 * 1024 * 1024
"""The most bytes read of a one-body answer to a streamed request."""


class InferenceRoutes(ClientCore):
    """``infer`` and ``send_inference``; ``ArkorClient`` inherits them."""

    async def infer(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        adapter: Mapping[str, Any] | None = None,
        base_model: str | None = None,
        stream: bool = False,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        response_format: Mapping[str, Any] | None = None,
        structured_outputs: Mapping[str, Any] | None = None,
        request_timeout: float | None = None,
    ) -> InferenceResponse:
        """Chat with a base model or a trained adapter (``POST /v1/inference/chat``).

        The arguments are the fields of
        [`InferenceRequest`][arkor_rx.inference.InferenceRequest]; the body is
        camelCase and holds only the arguments given, plus ``stream``, which is
        always sent (the protocol's default is true; this method's is false).
        No ``maxTokens`` is sent unless given: the server decides.

        Examples:
            >>> async def ask(client: ArkorClient) -> str:  # doctest: +SKIP
            ...     from arkor_rx.inference import final_adapter
            ...     r = await client.infer([{"role": "user", "content": "Hi"}],
            ...                            adapter=final_adapter("j1"), max_tokens=80)
            ...     return await r.text()

        Args:
            messages: OpenAI-shaped chat messages (``role``, ``content``, ...).
            adapter: ``checkpoint_adapter(job_id, step)`` or ``final_adapter(job_id)``.
            base_model: a base model to use without an adapter.
            stream: True for a server-sent stream of content deltas.
            max_tokens: the most tokens to generate (``maxTokens``).
            temperature: sampling temperature.
            top_p: nucleus sampling (``topP``).
            tools: OpenAI-style tool definitions.
            tool_choice: which tool the model must or may call (``toolChoice``).
            response_format: an OpenAI-style response format (``responseFormat``).
            structured_outputs: output constraints such as ``{"choice": [...]}``
                (``structuredOutputs``).
            request_timeout: seconds for a non-streamed answer (default: the
                client's ``request_timeout``); a stream's headers always get the
                client's ``request_timeout``, its body has no limit.

        Returns:
            An [`InferenceResponse`][arkor_rx.inference.InferenceResponse]; close a streamed
            one with ``aclose()`` or ``async with`` if it is not read to the end.

        Raises:
            ConfigError: no messages, a message that is not a mapping, or an
                argument of the wrong type.
            CloudApiError: a non-2xx answer.
            TransportError: no answer could be had.
        """
        given = locals()  # the arguments are the fields of InferenceRequest, by name
        options = {name: given[name] for name in InferenceRequest.model_fields if name in given}
        options["stream"] = bool(stream)
        request = InferenceRequest.build(**options)
        return await self.send_inference(request, request_timeout=request_timeout)

    async def send_inference(
        self, request: InferenceRequest, *, request_timeout: float | None = None
    ) -> InferenceResponse:
        """Send a built [`InferenceRequest`][arkor_rx.inference.InferenceRequest].

        What [`infer`][arkor_rx.client.ArkorClient.infer] does once it has validated its arguments;
        ``request_timeout``
        as there.

        Raises:
            CloudApiError: a non-2xx answer.
            TransportError: no answer could be had.
        """
        body = request.to_wire()
        stream = request.stream
        if not stream:
            status, raw = await self._call(
                "POST", INFERENCE_PATH, json_body=body, total=request_timeout
            )
            return InferenceResponse(body=self._object(status, raw, "inference"))
        response = await self._transport.open_stream(
            "POST",
            self._url(INFERENCE_PATH),
            params=self._params,
            headers=self._headers(accept=EVENT_STREAM_CONTENT_TYPE),
            json=body,
        )
        logger.debug("POST %s -> %d (stream)", INFERENCE_PATH, response.status)
        await self._check_stream(response)
        content_type = header(response.headers, "Content-Type") or ""
        if content_type.startswith(JSON_CONTENT_TYPE):
            # A server that ignores stream=true and answers one body: accepted as such.
            try:
                raw = await self._read_some(response, limit=_MAX_JSON_ANSWER)
            finally:
                await response.aclose()
            return InferenceResponse(body=self._object(response.status, raw, "inference"))
        return InferenceResponse(stream=response, redactor=self._redactor)
