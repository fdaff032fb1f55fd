"""The OpenAI-compatible provider against a local fake server: retries, truncation, cost, cache, redaction."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from tritonwright.llm import (
    CallKey,
    CallParams,
    LLMAuthError,
    LLMModelNotFoundError,
    LLMSettings,
    Message,
    Provider,
    ReplyStatus,
    RetryPolicy,
    make_provider,
)
from tritonwright.llm.client import CONCISE_INSTRUCTION
from tritonwright.llm.fake_servers import FakeLLMServer, Scripted, openai_completion, openai_error

KEY = "tw-secret-0123456789abcdef"  # not shaped like a known key: only redaction by value can hide it
GOOD = "Here it is.\n\n```python\nimport torch\nclass ModelNew: pass\n```\n"
MESSAGES = [Message.system("You write Triton kernels."), Message.user("Make it fast.")]


@pytest.fixture
def server():
    with FakeLLMServer("openai") as s:
        yield s


@pytest.fixture
def prices(tmp_path: Path) -> str:
    path = tmp_path / "prices.toml"
    path.write_text('[models."fake-coder"]\ninput_per_mtok = 2.0\noutput_per_mtok = 8.0\n')
    return str(path)


def provider(server: FakeLLMServer, prices: str, sleeps: list[float], *, model: str = "fake-coder",
             cache_dir: Path | None = None, use_cache: bool = True, attempts: int = 3, timeout_s: float = 5.0,
             params: CallParams | None = None, concurrency: int = 4):
    settings = LLMSettings(timeout_s=timeout_s, retry=RetryPolicy(max_attempts=attempts, base_delay_s=1.0),
                           prices_file=prices, api_key_env="TW_TEST_KEY", max_concurrency=concurrency,
                           cache_dir=str(cache_dir) if cache_dir else None, use_cache=use_cache,
                           params=params or CallParams(max_output_tokens=1000, temperature=0.2))
    return make_provider(f"openai-compatible:{server.base_url}#{model}", settings, env={"TW_TEST_KEY": KEY},
                         sleep=sleeps.append, rng=random.Random(0))


def test_success_sends_messages_key_and_params_and_reports_usage_and_cost(server, prices):
    server.script(openai_completion(GOOD, prompt_tokens=1000, completion_tokens=500))
    sleeps: list[float] = []
    p = provider(server, prices, sleeps)
    assert isinstance(p, Provider)
    reply = p.complete(MESSAGES)
    assert reply.status is ReplyStatus.OK and reply.text == GOOD
    assert (reply.input_tokens, reply.output_tokens, reply.attempts) == (1000, 500, 1)
    assert reply.cost_usd == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    assert reply.provider == "openai-compatible" and reply.model == "fake-coder" and sleeps == []
    (req,) = server.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body["messages"] == [{"role": "system", "content": "You write Triton kernels."},
                                    {"role": "user", "content": "Make it fast."}]
    assert req.body["max_tokens"] == 1000 and req.body["temperature"] == 0.2
    assert len(reply.exchanges) == 1 and reply.exchanges[0].messages == tuple(MESSAGES)


def test_rate_limit_then_success_backs_off_and_honours_retry_after(server, prices):
    server.script(openai_error(429, "slow down", headers={"retry-after": "7"}), openai_completion(GOOD))
    sleeps: list[float] = []
    reply = provider(server, prices, sleeps).complete(MESSAGES)
    assert reply.ok and reply.attempts == 2
    assert sleeps == [pytest.approx(7.0)]  # the server's pause is longer than our first backoff (0.5-1 s)
    assert len(server.requests) == 2


def test_server_errors_until_the_cap_fail_as_data_with_growing_pauses(server, prices):
    server.script(*[openai_error(500, "boom")] * 4)
    sleeps: list[float] = []
    reply = provider(server, prices, sleeps, attempts=4).complete(MESSAGES)
    assert reply.status is ReplyStatus.FAILED and not reply.ok
    assert reply.attempts == 4 and len(server.requests) == 4
    assert "gave up after 4 attempts" in reply.error and "HTTP 500" in reply.error
    assert len(sleeps) == 3
    for i, pause in enumerate(sleeps):  # equal jitter: between half and all of 1 s * 2**i
        assert 2 ** i / 2 <= pause <= 2 ** i
    assert reply.cost_usd == 0.0 and reply.text == ""


def test_timeouts_until_the_cap_name_the_limit(server, prices):
    server.script(*[Scripted(delay_s=0.5, body=openai_completion("late").body)] * 2)
    reply = provider(server, prices, [], timeout_s=0.1, attempts=2).complete(MESSAGES)
    assert reply.status is ReplyStatus.FAILED and "per-call limit of 0.1 s" in reply.error


def test_timeout_then_success(server, prices):
    server.script(Scripted(delay_s=1.0, body=openai_completion("late").body), openai_completion(GOOD))
    sleeps: list[float] = []
    reply = provider(server, prices, sleeps, timeout_s=0.2).complete(MESSAGES)
    assert reply.ok and reply.text == GOOD and reply.attempts == 2 and len(sleeps) == 1


def test_truncation_then_concise_retry(server, prices):
    cut = "Sure.\n```python\nimport torch\n@triton.jit\ndef k(x_ptr):\n    pid = tl.pro"
    server.script(openai_completion(cut, finish_reason="length", prompt_tokens=100, completion_tokens=1000),
                  openai_completion(GOOD, prompt_tokens=130, completion_tokens=400))
    reply = provider(server, prices, []).complete(MESSAGES)
    assert reply.ok and reply.text == GOOD
    second = server.requests[1].body["messages"]
    assert second[0] == {"role": "system", "content": "You write Triton kernels."}
    assert second[-1]["role"] == "user" and second[-1]["content"].startswith("Make it fast.")
    assert CONCISE_INSTRUCTION in second[-1]["content"]
    assert CONCISE_INSTRUCTION not in server.requests[0].body["messages"][-1]["content"]
    assert (reply.input_tokens, reply.output_tokens) == (230, 1400)  # both requests are paid for
    assert reply.cost_usd == pytest.approx((230 * 2.0 + 1400 * 8.0) / 1e6)
    assert any("truncated" in n for n in reply.notes) and len(reply.exchanges) == 2


def test_unclosed_fence_counts_as_truncation_even_with_finish_reason_stop(server, prices):
    server.script(openai_completion("```python\nimport torch\n"), openai_completion(GOOD))
    reply = provider(server, prices, []).complete(MESSAGES)
    assert reply.ok and len(server.requests) == 2
    assert "never closed" in reply.notes[0]


def test_truncated_twice_fails_as_data(server, prices):
    server.script(openai_completion("```python\nx", finish_reason="length"),
                  openai_completion("```python\ny", finish_reason="length", completion_tokens=1000))
    reply = provider(server, prices, []).complete(MESSAGES)
    assert reply.status is ReplyStatus.TRUNCATED and len(server.requests) == 2
    assert "still truncated" in reply.error and "1000 output tokens" in reply.error
    assert reply.text == "```python\ny"  # the last text is kept for the store


def test_cache_hit_on_repeated_call_and_bypass(server, prices, tmp_path):
    cache = tmp_path / "cache"
    server.script(openai_completion(GOOD), openai_completion(GOOD + "# v2\n"), openai_completion(GOOD))
    first = provider(server, prices, [], cache_dir=cache).complete(MESSAGES, key=CallKey("t", "seed"))
    again = provider(server, prices, [], cache_dir=cache).complete(MESSAGES, key=CallKey("t", "seed"))
    assert len(server.requests) == 1
    assert not first.cached and again.cached and again.text == first.text and again.attempts == 0
    assert again.cost_usd == first.cost_usd  # what it cost when it was paid; `cached` says it was not paid now
    other = provider(server, prices, [], cache_dir=cache).complete(MESSAGES, params=CallParams(sample=1))
    assert len(server.requests) == 2 and not other.cached
    fresh = provider(server, prices, [], cache_dir=cache, use_cache=False).complete(MESSAGES)
    assert len(server.requests) == 3 and not fresh.cached
    for path in cache.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text()


def test_failures_are_not_cached(server, prices, tmp_path):
    server.script(openai_error(500, "boom"), openai_completion(GOOD))
    p = provider(server, prices, [], cache_dir=tmp_path / "c", attempts=1)
    assert p.complete(MESSAGES).status is ReplyStatus.FAILED
    assert p.complete(MESSAGES).ok and len(server.requests) == 2


def test_auth_error_stops_at_once_and_never_shows_the_key(server, prices):
    server.script(openai_error(401, f"Incorrect API key provided: {KEY}", code="invalid_api_key"))
    with pytest.raises(LLMAuthError) as info:
        provider(server, prices, []).complete(MESSAGES)
    text = str(info.value)
    assert KEY not in text and "[REDACTED]" in text and "TW_TEST_KEY" in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert len(server.requests) == 1


def test_key_redacted_from_failed_reply_error(server, prices):
    server.script(openai_error(400, f"invalid request for key {KEY}"))
    reply = provider(server, prices, []).complete(MESSAGES)
    assert reply.status is ReplyStatus.FAILED and len(server.requests) == 1  # a plain 400 is not retried
    assert KEY not in reply.error and "[REDACTED]" in reply.error and "not retried" in reply.error
    assert reply.refused  # for good: the pipeline stops repairing instead of asking the same again
    assert KEY not in repr(provider(server, prices, []))


def test_context_length_fails_as_data_without_retry(server, prices):
    server.script(openai_error(400, "This model's maximum context length is 8192 tokens. However, your "
                               "messages resulted in 9100 tokens.", code="context_length_exceeded"))
    reply = provider(server, prices, []).complete(MESSAGES)
    assert reply.status is ReplyStatus.CONTEXT_LENGTH and len(server.requests) == 1
    assert "context window" in reply.error and not reply.refused  # a shorter prompt may fit


def test_context_length_recognized_from_text_of_a_compatible_server(server, prices):
    server.script(openai_error(400, "This model's maximum context length is 32768 tokens, however you requested "
                               "40000 tokens"))
    assert provider(server, prices, []).complete(MESSAGES).status is ReplyStatus.CONTEXT_LENGTH


def test_unknown_model_is_a_user_error(server, prices):
    server.script(openai_error(404, "The model `fake-codr` does not exist", code="model_not_found"))
    with pytest.raises(LLMModelNotFoundError, match="fake-coder"):
        provider(server, prices, []).complete(MESSAGES)


def test_reasoning_model_gets_no_temperature_and_max_completion_tokens(server, prices):
    server.script(openai_completion(GOOD))
    params = CallParams(max_output_tokens=2000, temperature=0.7, reasoning_effort="high")
    provider(server, prices, [], model="gpt-5-mini", params=params).complete(MESSAGES)
    body = server.requests[0].body
    assert "temperature" not in body and "max_tokens" not in body
    assert body["max_completion_tokens"] == 2000 and body["reasoning_effort"] == "high"


def test_refused_parameter_is_dropped_once_and_remembered(server, prices):
    server.script(openai_error(400, "Unsupported value: 'temperature' does not support 0.2 with this model.",
                               code="unsupported_value", param="temperature"),
                  openai_completion(GOOD), openai_completion(GOOD))
    p = provider(server, prices, [])
    assert p.complete(MESSAGES).ok
    assert p.complete(MESSAGES).ok
    assert [("temperature" in r.body) for r in server.requests] == [True, False, False]


def test_refused_max_tokens_switches_to_max_completion_tokens(server, prices):
    server.script(openai_error(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                               "'max_completion_tokens' instead.", code="unsupported_parameter", param="max_tokens"),
                  openai_completion(GOOD))
    assert provider(server, prices, []).complete(MESSAGES).ok
    assert "max_tokens" in server.requests[0].body
    assert server.requests[1].body["max_completion_tokens"] == 1000 and "max_tokens" not in server.requests[1].body


def test_concurrency_limit_per_provider(server, prices):
    server.script(*[Scripted(delay_s=0.15, body=openai_completion(GOOD).body)] * 6)
    p = provider(server, prices, [], concurrency=2)
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(p.complete(MESSAGES))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(replies) == 6 and all(r.ok for r in replies)
    assert server.max_in_flight == 2  # reached, never passed
