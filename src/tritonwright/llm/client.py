"""LLMClient: a Provider built from a Backend, adding what every provider needs the same way: response
cache, a concurrency limit, retries with backoff, truncation handling, cost, and key redaction."""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tritonwright.llm.backend import Backend, BackendRequest, RawReply
from tritonwright.llm.cache import ResponseCache, cache_key
from tritonwright.llm.errors import (
    FailureKind,
    LLMAuthError,
    LLMModelNotFoundError,
    LLMUnreachableError,
    ProviderCallError,
)
from tritonwright.llm.fences import has_unclosed_fence
from tritonwright.llm.keys import redact
from tritonwright.llm.pricing import Price, call_cost_usd
from tritonwright.llm.retry import RetryPolicy, call_with_retries
from tritonwright.llm.types import CallKey, CallParams, Exchange, LLMReply, Message, ReplyStatus

log = logging.getLogger(__name__)

CONCISE_INSTRUCTION = (
    "IMPORTANT: your previous answer to this request was cut off before it ended. Answer again, more "
    "concisely: only what the requested output format asks for (for code: the complete module in a single "
    "```python block), no explanation around it, comments only where essential."
)


@dataclass(frozen=True)
class ClientSettings:
    timeout_s: float = 600.0  # one request; long Triton modules from reasoning models can take minutes
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_concurrency: int = 4  # parallel calls per provider; low-tier keys hit per-minute limits beyond this
    default_params: CallParams = field(default_factory=CallParams)

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")


# The check before the first task: a models listing answers in well under a second when the server is up;
# 10 s rides out a slow TLS handshake or a cold proxy, and a dead URL fails in seconds instead of minutes.
PREFLIGHT_TIMEOUT_S = 10.0
MODELS_NAMED = 8  # a "model not found" message names this many of the server's models: enough to spot a typo


def truncation_reason(raw: RawReply) -> str | None:
    if raw.finish_reason == "length":
        return "finish_reason=length"
    if has_unclosed_fence(raw.text):
        return "a code block was opened and never closed"
    return None


def concise_messages(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """The same conversation with the concise instruction added to its last user message (appending a
    second user turn would break strict role alternation on some servers)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            amended = Message("user", f"{messages[i].content}\n\n{CONCISE_INSTRUCTION}")
            return (*messages[:i], amended, *messages[i + 1:])
    return (*messages, Message.user(CONCISE_INSTRUCTION))


def _total(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


class LLMClient:
    """A Provider. Failures of a call come back as an LLMReply with a status; only user mistakes raise
    (the key was refused: LLMAuthError; the model is unknown: LLMModelNotFoundError)."""

    def __init__(self, backend: Backend, *, settings: ClientSettings | None = None,
                 prices: dict[str, Price] | None = None, cache: ResponseCache | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None, name: str | None = None) -> None:
        self.backend = backend
        self.settings = settings or ClientSettings()
        self.prices = prices or {}
        self.cache = cache
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._slots = threading.BoundedSemaphore(self.settings.max_concurrency)
        self.name = name or f"{backend.kind}:{backend.model}"

    def __repr__(self) -> str:  # never the key: only what the spec string shows
        return f"LLMClient({self.name!r})"

    # -- public -----------------------------------------------------------------------------------------

    def complete(self, messages: Sequence[Message], *, key: CallKey | None = None,
                 params: CallParams | None = None) -> LLMReply:
        msgs = tuple(messages)
        if not msgs:
            raise ValueError("complete() needs at least one message")
        params = params or self.settings.default_params
        ckey = None
        if self.cache is not None:
            ckey = cache_key(self.backend.kind, self.backend.endpoint, self.backend.model, params, msgs)
            hit = self.cache.get(ckey)
            if hit is not None:
                log.info("%s: cache hit for %s", self.name, key.slug() if key else ckey[:12])
                return hit
        with self._slots:
            reply = self._call(msgs, params, key)
        if self.cache is not None and ckey is not None:
            self.cache.put(ckey, reply)
        return reply

    def check(self, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> str:
        """One cheap request before the first task (the server's model listing, no tokens): raises
        LLMUnreachableError (connection refused, DNS, timeout, 5xx), LLMAuthError (key refused) or, for an
        openai-compatible server that lists its models, LLMModelNotFoundError. Backends with nothing to reach
        (replay, manual) have no `list_models` and pass. Returns a line saying what was checked."""
        lister = getattr(self.backend, "list_models", None)
        if lister is None:
            return f"{self.name}: nothing to check (no server)"
        where = f"{self.backend.kind} {self.backend.endpoint}"
        try:
            ids = lister(timeout_s)
        except ProviderCallError as exc:
            detail = self._scrub(str(exc))
            if exc.kind is FailureKind.AUTH:
                raise LLMAuthError(f"{where} refused the API key ({detail}); check {self.backend.key_hint}"
                                   ) from None
            if exc.kind in (FailureKind.CONNECTION, FailureKind.TIMEOUT, FailureKind.SERVER):
                raise LLMUnreachableError(f"{where} did not answer the check before the first task ({detail}, "
                                          f"{timeout_s:g} s limit): is the server up and the URL right?") from None
            # 404/405/429 on the listing: the server is there and took the key, it just lists nothing
            return f"{where}: reachable (no model listing: {detail})"
        if self.backend.kind == "openai-compatible" and ids and self.backend.model not in ids:
            raise LLMModelNotFoundError(f"{where} does not serve model {self.backend.model!r}; it lists "
                                        f"{', '.join(ids[:MODELS_NAMED])}{' ...' if len(ids) > MODELS_NAMED else ''}")
        return f"{where}: reachable, {len(ids)} models listed"

    # -- one logical call: a first request and at most one concise retry ---------------------------------

    def _call(self, msgs: tuple[Message, ...], params: CallParams, key: CallKey | None) -> LLMReply:
        start = self._clock()
        exchanges: list[Exchange] = []
        attempts = 0
        notes: list[str] = []
        request_msgs = msgs
        for try_index in (0, 1):
            request = BackendRequest(messages=request_msgs, params=params, key=key, try_index=try_index,
                                     timeout_s=self.settings.timeout_s)
            outcome = call_with_retries(functools.partial(self.backend.send, request), self.settings.retry,
                                        sleep=self._sleep, rng=self._rng, on_retry=self._log_retry)
            attempts += outcome.attempts
            if outcome.error is not None:
                return self._failure(outcome.error, outcome.attempts, exchanges, attempts, notes, start)
            raw = outcome.value
            assert raw is not None
            exchanges.append(Exchange(messages=request_msgs, text=self._scrub(raw.text),
                                      finish_reason=raw.finish_reason, input_tokens=raw.input_tokens,
                                      output_tokens=raw.output_tokens))
            why = truncation_reason(raw)
            if why is None:
                return self._reply(ReplyStatus.OK, exchanges, attempts, notes, start)
            if try_index == 0:
                notes.append(f"first reply truncated ({why}); asked again for a concise answer")
                request_msgs = concise_messages(msgs)
            else:
                error = (f"reply still truncated after asking for a concise answer ({why}, "
                         f"{raw.output_tokens if raw.output_tokens is not None else 'unknown'} output tokens, "
                         f"limit {params.max_output_tokens})")
                return self._reply(ReplyStatus.TRUNCATED, exchanges, attempts, notes, start, error=error)
        raise AssertionError("unreachable: the second try always returns")

    def _reply(self, status: ReplyStatus, exchanges: list[Exchange], attempts: int, notes: list[str],
               start: float, *, error: str | None = None, finish_reason: str | None = None,
               refused: bool = False) -> LLMReply:
        input_tokens = _total([e.input_tokens for e in exchanges]) if exchanges else 0
        output_tokens = _total([e.output_tokens for e in exchanges]) if exchanges else 0
        if not self.backend.billed:
            cost: float | None = 0.0
        else:
            cost = call_cost_usd(self.prices, self.backend.model, input_tokens, output_tokens)
        last = exchanges[-1] if exchanges else None
        return LLMReply(
            status=status, text=last.text if last else "",
            finish_reason=finish_reason or (last.finish_reason if last else "error"),
            provider=self.backend.kind, model=self.backend.model, input_tokens=input_tokens,
            output_tokens=output_tokens, latency_s=max(0.0, self._clock() - start), cost_usd=cost,
            attempts=attempts, error=self._scrub(error) if error else None, notes=tuple(notes),
            exchanges=tuple(exchanges), refused=refused)

    def _failure(self, exc: ProviderCallError, tries: int, exchanges: list[Exchange], attempts: int,
                 notes: list[str], start: float) -> LLMReply:
        detail = self._scrub(str(exc))
        where = f"{self.backend.kind} {self.backend.endpoint}".strip()
        if exc.kind is FailureKind.AUTH:
            raise LLMAuthError(f"{where} refused the API key ({detail}); check {self.backend.key_hint}") from None
        if exc.kind is FailureKind.NOT_FOUND:
            raise LLMModelNotFoundError(f"{where} does not know model {self.backend.model!r} ({detail}); check "
                                        "the model name and base URL of the LLM spec") from None
        if exc.kind is FailureKind.CONNECTION:
            # the server went away after the check: no prompt can fix that, so the run stops (resumable)
            # instead of spending repair rounds on the same refused connection
            raise LLMUnreachableError(f"{where} stopped answering ({detail}, {tries} attempts)") from None
        if exc.kind is FailureKind.CONTEXT_LENGTH:
            return self._reply(ReplyStatus.CONTEXT_LENGTH, exchanges, attempts, notes, start,
                               error=f"prompt does not fit the model's context window ({detail})",
                               finish_reason="error")
        if exc.kind.retryable:
            error = f"gave up after {tries} attempts; last error: {detail}"
        else:
            error = f"request refused, not retried: {detail}"
        return self._reply(ReplyStatus.FAILED, exchanges, attempts, notes, start, error=error,
                           finish_reason="error", refused=not exc.kind.retryable)

    def _scrub(self, text: str) -> str:
        return redact(text, self.backend.secrets())

    def _log_retry(self, exc: ProviderCallError, pause_s: float) -> None:
        log.warning("%s: %s; retrying in %.1f s", self.name, self._scrub(str(exc)), pause_s)

