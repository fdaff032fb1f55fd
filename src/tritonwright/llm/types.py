"""Plain types of the LLM layer: messages in, LLMReply out. Failure is data (a status and a reason)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str) -> Message:
        return cls("assistant", content)


_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class CallKey:
    """Which call of a run this is; the replay provider matches recordings on it, manual names files by it."""

    task: str
    step: str  # seed | analysis | repair | stage:<name> | ...
    attempt: int = 0

    def slug(self) -> str:
        """A file-name-safe name: `<task>--<step>--<attempt>`."""
        task = _SLUG_UNSAFE.sub("_", self.task).strip("_") or "task"
        step = _SLUG_UNSAFE.sub("_", self.step).strip("_") or "step"
        return f"{task}--{step}--{self.attempt}"


@dataclass(frozen=True)
class CallParams:
    """What the model is asked to do besides the messages; all of it is part of the cache key."""

    max_output_tokens: int = 16384  # a full Triton module plus a short preamble fits; reasoning tokens count too
    temperature: float | None = None  # None: the server's default (reasoning models refuse anything else)
    reasoning_effort: str | None = None  # low | medium | high, sent only to models that take it
    sample: int = 0  # deliberate repeated samples of one prompt must not share a cache entry


class ReplyStatus(str, Enum):
    OK = "OK"
    TRUNCATED = "TRUNCATED"  # cut off twice: once normally, once after being asked to be concise
    CONTEXT_LENGTH = "CONTEXT_LENGTH"  # the prompt does not fit the model's context window
    FAILED = "FAILED"  # retries exhausted or a request the server refused for good


@dataclass(frozen=True)
class Exchange:
    """One request and its raw answer, kept for the run store (the concise retry adds a second one)."""

    messages: tuple[Message, ...]
    text: str
    finish_reason: str
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class LLMReply:
    """The answer to one logical call. Token counts and cost are totals over every request it took."""

    status: ReplyStatus
    text: str
    finish_reason: str  # stop | length | error | other values as the server gave them
    provider: str  # openai | openai-compatible | anthropic | replay | manual
    model: str
    input_tokens: int | None = None  # None: the server did not say
    output_tokens: int | None = None
    latency_s: float = 0.0  # wall time of the whole call, retries and backoff included
    cost_usd: float | None = None  # None: no price known for this model (never a silent 0)
    attempts: int = 1  # HTTP requests made, retries included
    cached: bool = False  # served from the response cache: nothing was paid this time
    error: str | None = None  # the reason, when status is not OK (already redacted)
    refused: bool = False  # the provider refused this request for good (not retryable): asking the same again is
    # refused again, so the pipeline stops a repair loop instead of spending its rounds on refusals
    notes: tuple[str, ...] = ()
    exchanges: tuple[Exchange, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return self.status is ReplyStatus.OK

    @property
    def answered(self) -> bool:
        """False for a refused call: no answer came back (the request was never made, or refused or failed
        before any answer), so it counts as no call in usage and reports."""
        return self.status is ReplyStatus.OK or bool(self.exchanges)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LLMReply:
        exchanges = tuple(
            Exchange(messages=tuple(Message(**m) for m in ex["messages"]), text=ex["text"],
                     finish_reason=ex["finish_reason"], input_tokens=ex.get("input_tokens"),
                     output_tokens=ex.get("output_tokens"))
            for ex in data.get("exchanges", ()))
        fields = {k: v for k, v in data.items() if k not in ("status", "exchanges", "notes")}
        return cls(status=ReplyStatus(data["status"]), notes=tuple(data.get("notes", ())), exchanges=exchanges,
                   **fields)


@runtime_checkable
class Provider(Protocol):
    """Messages in, LLMReply out. Implementations never raise for a failed call; they raise only for user
    mistakes (missing key, key refused, unknown model), which stop a run."""

    name: str  # e.g. "openai:gpt-5", shown in logs and reports

    def complete(self, messages: Sequence[Message], *, key: CallKey | None = None,
                 params: CallParams | None = None) -> LLMReply: ...
