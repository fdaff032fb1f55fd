"""Cache keys change with everything that changes the answer; stored replies come back marked cached."""

from __future__ import annotations

from tritonwright.llm.cache import ResponseCache, cache_key
from tritonwright.llm.types import CallParams, LLMReply, Message, ReplyStatus

MSGS = (Message.system("s"), Message.user("u"))


def test_key_depends_on_every_input():
    base = cache_key("openai", "https://api.openai.com/v1", "gpt-5", CallParams(), MSGS)
    variants = [
        cache_key("anthropic", "https://api.openai.com/v1", "gpt-5", CallParams(), MSGS),
        cache_key("openai", "http://localhost:8000/v1", "gpt-5", CallParams(), MSGS),
        cache_key("openai", "https://api.openai.com/v1", "gpt-5-mini", CallParams(), MSGS),
        cache_key("openai", "https://api.openai.com/v1", "gpt-5", CallParams(temperature=0.5), MSGS),
        cache_key("openai", "https://api.openai.com/v1", "gpt-5", CallParams(max_output_tokens=10), MSGS),
        cache_key("openai", "https://api.openai.com/v1", "gpt-5", CallParams(sample=1), MSGS),
        cache_key("openai", "https://api.openai.com/v1", "gpt-5", CallParams(), (Message.user("s"), Message.user("u"))),
        cache_key("openai", "https://api.openai.com/v1", "gpt-5", CallParams(), MSGS[1:]),
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert base == cache_key("openai", "https://api.openai.com/v1", "gpt-5", CallParams(), MSGS)


def test_round_trip_and_damaged_entry_is_a_miss(tmp_path):
    cache = ResponseCache(tmp_path)
    reply = LLMReply(status=ReplyStatus.OK, text="t", finish_reason="stop", provider="openai", model="m",
                     input_tokens=3, output_tokens=4, latency_s=2.5, cost_usd=0.01, attempts=2, notes=("n",))
    cache.put("ab" * 32, reply)
    got = cache.get("ab" * 32)
    assert got is not None and got.cached and got.text == "t" and got.notes == ("n",) and got.cost_usd == 0.01
    assert got.attempts == 0 and got.latency_s == 0.0
    (path,) = [p for p in tmp_path.rglob("*.json")]
    path.write_text("{broken")
    assert cache.get("ab" * 32) is None
    assert not [p for p in tmp_path.rglob("*.tmp")]  # no temporary files left behind


def test_failed_replies_are_not_stored(tmp_path):
    cache = ResponseCache(tmp_path)
    cache.put("cd" * 32, LLMReply(status=ReplyStatus.FAILED, text="", finish_reason="error", provider="p", model="m"))
    assert cache.get("cd" * 32) is None and not list(tmp_path.rglob("*.json"))
