"""The Anthropic provider against a local server speaking the Messages API."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tritonwright.llm import (
    CallParams,
    LLMAuthError,
    LLMSettings,
    Message,
    ReplyStatus,
    RetryPolicy,
    make_provider,
)
from tritonwright.llm.client import CONCISE_INSTRUCTION
from tritonwright.llm.fake_servers import FakeLLMServer, anthropic_error, anthropic_message

KEY = "sk-ant-api03-" + "k" * 40
GOOD = "```python\nclass ModelNew: pass\n```"
MESSAGES = [Message.system("You write Triton kernels."), Message.user("Make it fast.")]


@pytest.fixture
def server():
    with FakeLLMServer("anthropic") as s:
        yield s


def provider(server: FakeLLMServer, tmp_path: Path, sleeps: list[float], attempts: int = 3,
             params: CallParams | None = None):
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."claude-test"]\ninput_per_mtok = 3.0\noutput_per_mtok = 15.0\n')
    settings = LLMSettings(timeout_s=5.0, retry=RetryPolicy(max_attempts=attempts, base_delay_s=0.5),
                           prices_file=str(prices), base_url=server.base_url, params=params or CallParams())
    return make_provider("anthropic:claude-test", settings, env={"ANTHROPIC_API_KEY": KEY}, sleep=sleeps.append,
                         rng=random.Random(1))


def test_success_puts_system_apart_and_counts_cost(server, tmp_path):
    server.script(anthropic_message(GOOD, input_tokens=2000, output_tokens=1000))
    reply = provider(server, tmp_path, []).complete(MESSAGES)
    assert reply.ok and reply.text == GOOD and reply.finish_reason == "stop" and reply.provider == "anthropic"
    assert reply.cost_usd == pytest.approx((2000 * 3.0 + 1000 * 15.0) / 1e6)
    (req,) = server.requests
    assert req.path == "/v1/messages"
    assert req.body["system"] == "You write Triton kernels."
    assert req.body["messages"] == [{"role": "user", "content": "Make it fast."}]
    assert req.body["model"] == "claude-test" and req.body["max_tokens"] == 16384
    assert "temperature" not in req.body


def test_max_tokens_stop_reason_triggers_one_concise_retry(server, tmp_path):
    server.script(anthropic_message("```python\nimport torch\n", stop_reason="max_tokens"),
                  anthropic_message(GOOD))
    reply = provider(server, tmp_path, []).complete(MESSAGES)
    assert reply.ok and reply.text == GOOD
    assert CONCISE_INSTRUCTION in server.requests[1].body["messages"][-1]["content"]


def test_overloaded_529_is_retried(server, tmp_path):
    sleeps: list[float] = []
    server.script(anthropic_error(529, "Overloaded", error_type="overloaded_error"), anthropic_message(GOOD))
    reply = provider(server, tmp_path, sleeps).complete(MESSAGES)
    assert reply.ok and reply.attempts == 2 and len(sleeps) == 1


def test_prompt_too_long_is_a_context_length_failure(server, tmp_path):
    server.script(anthropic_error(400, "prompt is too long: 207791 tokens > 200000 maximum"))
    reply = provider(server, tmp_path, []).complete(MESSAGES)
    assert reply.status is ReplyStatus.CONTEXT_LENGTH and len(server.requests) == 1


def test_bad_key_is_reported_once_and_redacted(server, tmp_path):
    server.script(anthropic_error(401, f"invalid x-api-key {KEY}", error_type="authentication_error"))
    with pytest.raises(LLMAuthError) as info:
        provider(server, tmp_path, []).complete(MESSAGES)
    assert KEY not in str(info.value) and "ANTHROPIC_API_KEY" in str(info.value)
    assert len(server.requests) == 1


def test_temperature_is_sent_only_when_set_and_effort_never(server, tmp_path):
    server.script(anthropic_message(GOOD))
    params = CallParams(max_output_tokens=800, temperature=0.3, reasoning_effort="high")
    assert provider(server, tmp_path, [], params=params).complete(MESSAGES).ok
    body = server.requests[0].body
    assert body["temperature"] == 0.3 and body["max_tokens"] == 800 and "reasoning_effort" not in body
