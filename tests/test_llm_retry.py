"""Backoff arithmetic and the retry loop with an injected sleep."""

from __future__ import annotations

import random

import pytest

from tritonwright.llm.errors import FailureKind, ProviderCallError
from tritonwright.llm.retry import RetryPolicy, call_with_retries


def flaky(failures: list[ProviderCallError], value: str = "done"):
    calls = []

    def fn() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return value

    return fn, calls


def test_delays_grow_and_are_capped():
    policy = RetryPolicy(max_attempts=10, base_delay_s=2.0, max_delay_s=10.0)
    rng = random.Random(3)
    for i, ceiling in enumerate([2, 4, 8, 10, 10]):
        for _ in range(50):
            assert ceiling / 2 <= policy.delay_s(i, rng) <= ceiling
    assert policy.delay_s(0, rng, retry_after_s=30) == 30
    assert policy.delay_s(0, rng, retry_after_s=10_000) == policy.max_retry_after_s


def test_jitter_spreads_parallel_callers():
    policy = RetryPolicy()
    pauses = {round(policy.delay_s(2, random.Random(seed)), 6) for seed in range(20)}
    assert len(pauses) > 15


def test_retryable_errors_are_retried_until_success():
    sleeps: list[float] = []
    fn, calls = flaky([ProviderCallError(FailureKind.RATE_LIMIT, "429"), ProviderCallError(FailureKind.TIMEOUT, "t")])
    out = call_with_retries(fn, RetryPolicy(max_attempts=5, base_delay_s=1.0), sleep=sleeps.append,
                            rng=random.Random(0))
    assert out.value == "done" and out.error is None and out.attempts == 3 and len(calls) == 3
    assert len(sleeps) == 2 and out.slept_s == pytest.approx(sum(sleeps))


def test_cap_reached_returns_last_error_without_a_final_sleep():
    sleeps: list[float] = []
    fn, calls = flaky([ProviderCallError(FailureKind.SERVER, f"500 #{i}") for i in range(5)])
    out = call_with_retries(fn, RetryPolicy(max_attempts=3), sleep=sleeps.append, rng=random.Random(0))
    assert out.value is None and out.attempts == 3 and "500 #2" in str(out.error) and len(sleeps) == 2


@pytest.mark.parametrize("kind", [FailureKind.AUTH, FailureKind.CONTEXT_LENGTH, FailureKind.BAD_REQUEST,
                                  FailureKind.NOT_FOUND])
def test_non_retryable_errors_return_at_once(kind):
    sleeps: list[float] = []
    fn, calls = flaky([ProviderCallError(kind, "no")])
    out = call_with_retries(fn, RetryPolicy(), sleep=sleeps.append, rng=random.Random(0))
    assert out.error is not None and out.error.kind is kind and len(calls) == 1 and sleeps == []


def test_policy_validation():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_retry_after_headers():
    from tritonwright.llm.statuses import classify_status, retry_after_s

    assert retry_after_s({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_s({"retry-after": "3"}) == 3.0
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None
    assert retry_after_s({}) is None
    assert classify_status(400, None, "prompt is too long: 207791 tokens > 200000 maximum") is FailureKind.CONTEXT_LENGTH
    assert classify_status(400, "context_length_exceeded", "x") is FailureKind.CONTEXT_LENGTH
    assert classify_status(400, None, "invalid value for tools") is FailureKind.BAD_REQUEST
    assert classify_status(403, None, "") is FailureKind.AUTH and classify_status(503, None, "") is FailureKind.SERVER
