"""Retries of one provider request: exponential backoff with jitter on 429, 5xx, timeouts and dropped
connections; everything else is returned at once. The sleep function and the random source are injected."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tritonwright.llm.errors import ProviderCallError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # with 2 s doubling that waits ~1 min in all: rides out a short outage, not a long one
    base_delay_s: float = 2.0  # a rate-limit window is usually a few seconds
    max_delay_s: float = 60.0  # never sleep longer than a minute between two tries of one call
    max_retry_after_s: float = 300.0  # honour a server's Retry-After up to 5 min; more looks like a quota cut

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("retry delays must not be negative")

    def delay_s(self, retry_index: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        """Pause before retry number `retry_index` (0-based): half fixed, half random ("equal jitter"), so
        parallel callers spread out yet every pause still grows."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** retry_index))
        pause = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if retry_after_s is not None:
            pause = max(pause, min(retry_after_s, self.max_retry_after_s))
        return pause


@dataclass(frozen=True)
class RetryOutcome(Generic[T]):
    value: T | None
    error: ProviderCallError | None  # set when no attempt succeeded
    attempts: int
    slept_s: float


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, *, sleep: Callable[[float], None],
                      rng: random.Random, on_retry: Callable[[ProviderCallError, float], None] | None = None
                      ) -> RetryOutcome[T]:
    """Call `fn` until it returns, raises a non-retryable ProviderCallError, or the attempt cap is reached."""
    slept = 0.0
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return RetryOutcome(value=fn(), error=None, attempts=attempt, slept_s=slept)
        except ProviderCallError as exc:
            if not exc.kind.retryable or attempt == policy.max_attempts:
                return RetryOutcome(value=None, error=exc, attempts=attempt, slept_s=slept)
            pause = policy.delay_s(attempt - 1, rng, exc.retry_after_s)
            if on_retry is not None:
                on_retry(exc, pause)
            sleep(pause)
            slept += pause
    raise AssertionError("unreachable: the loop returns on its last attempt")
