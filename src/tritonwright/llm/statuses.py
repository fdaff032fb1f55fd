"""Shared mapping from an HTTP error answer to a FailureKind (both official clients expose the status code,
the error code and the message of the answer)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from tritonwright.llm.errors import FailureKind

# How servers say "the prompt is too long" in a 400 when they give no error code: OpenAI
# ("maximum context length"), vLLM/sglang (same wording or "context length"), Anthropic ("prompt is too
# long"), Ollama/llama.cpp ("exceeds the context window"). The code is checked first; text is the fallback
# because compatible servers rarely send one.
_CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length"}
_CONTEXT_TEXT = re.compile(
    r"maximum context length|context length|context window|prompt is too long|too many tokens|"
    r"input_length and max_tokens exceed", re.IGNORECASE)


def classify_status(status: int, code: str | None, message: str) -> FailureKind:
    if status in (401, 403):
        return FailureKind.AUTH
    if status == 404:
        return FailureKind.NOT_FOUND
    if status == 408:
        return FailureKind.TIMEOUT
    if status == 429:
        return FailureKind.RATE_LIMIT
    if status >= 500:
        return FailureKind.SERVER
    if status in (400, 413, 422) and (code in _CONTEXT_CODES or _CONTEXT_TEXT.search(message or "")):
        return FailureKind.CONTEXT_LENGTH
    return FailureKind.BAD_REQUEST


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The server's requested pause in seconds (`retry-after-ms`, or `retry-after` in seconds), or None."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP date: rare for these APIs; our own backoff applies
        if seconds >= 0:
            return seconds
    return None
