"""The seam under every provider: one request out, one raw answer back, no retries or bookkeeping.

Backends classify their client's exceptions into ProviderCallError (where the exception type is known);
the client (client.py) adds retries, truncation handling, concurrency, cache and cost on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tritonwright.llm.types import CallKey, CallParams, Message


@dataclass(frozen=True)
class BackendRequest:
    messages: tuple[Message, ...]
    params: CallParams
    key: CallKey | None
    try_index: int  # 0: the first request of a call; 1: the retry that asks for a concise answer
    timeout_s: float


@dataclass(frozen=True)
class RawReply:
    text: str
    finish_reason: str  # normalized: "stop", "length", or the server's own word for anything else
    input_tokens: int | None = None
    output_tokens: int | None = None


class Backend(Protocol):
    kind: str  # openai | openai-compatible | anthropic | replay | manual
    model: str
    endpoint: str  # the server's base URL, or the replay/manual location; part of the cache key
    billed: bool  # False: the call costs nothing (replay, manual), so the cost is 0 rather than unknown
    key_hint: str  # where the key comes from, for messages: "the key in OPENAI_API_KEY"

    def secrets(self) -> tuple[str, ...]:
        """Values to scrub from every message and stored text."""
        ...

    def send(self, request: BackendRequest) -> RawReply:
        """One request; raises ProviderCallError for a failure it recognizes."""
        ...
