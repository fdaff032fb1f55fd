"""Spec strings, API keys from the environment, and make_provider's choices."""

from __future__ import annotations

import pytest

from tritonwright.errors import UserInputError
from tritonwright.llm import LLMSettings, LLMSpecError, Message, MissingAPIKeyError, make_provider, parse_spec
from tritonwright.llm.fake_servers import FakeLLMServer, openai_completion
from tritonwright.llm.keys import redact
from tritonwright.llm.openai_api import OpenAIBackend, is_reasoning_model
from tritonwright.llm.types import CallParams


@pytest.mark.parametrize(("spec", "kind", "model", "base_url", "path"), [
    ("openai:gpt-5", "openai", "gpt-5", None, None),
    ("anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", None, None),
    ("openai-compatible:http://localhost:8000/v1#Qwen2.5-Coder-32B", "openai-compatible", "Qwen2.5-Coder-32B",
     "http://localhost:8000/v1", None),
    ("openai-compatible:http://localhost:11434/v1/#qwen2.5-coder:32b", "openai-compatible", "qwen2.5-coder:32b",
     "http://localhost:11434/v1", None),
    ("replay:runs/r1/llm.jsonl", "replay", "replay", None, "runs/r1/llm.jsonl"),
    ("manual", "manual", "manual", None, None),
    ("manual:prompts", "manual", "manual", None, "prompts"),
    ("  OpenAI:gpt-4o ", "openai", "gpt-4o", None, None),
])
def test_parse_spec_forms(spec, kind, model, base_url, path):
    parsed = parse_spec(spec)
    assert (parsed.kind, parsed.model, parsed.base_url, parsed.path) == (kind, model, base_url, path)
    assert parse_spec(str(parsed)) == parsed  # the printed form reads back the same


@pytest.mark.parametrize(("spec", "why"), [
    ("gpt-5", "unknown provider"),
    ("azure:gpt-5", "unknown provider"),
    ("openai", "needs a model name"),
    ("openai:", "needs a model name"),
    ("replay:", "needs a path"),
    ("openai-compatible:Qwen", "BASE_URL#MODEL"),
    ("openai-compatible:localhost:8000#Qwen", "not an http(s) URL"),
    ("openai-compatible:http://h/v1#", "BASE_URL#MODEL"),
    ("openai:http://localhost:8000/v1#m", "use openai-compatible"),
])
def test_bad_specs_are_one_line_user_errors(spec, why):
    with pytest.raises(LLMSpecError) as info:
        parse_spec(spec)
    assert isinstance(info.value, UserInputError)
    message = str(info.value)
    assert why in message and "\n" not in message and "openai-compatible:BASE_URL#MODEL" in message


@pytest.mark.parametrize(("spec", "variable"), [("openai:gpt-5", "OPENAI_API_KEY"),
                                                ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY")])
def test_missing_key_names_the_variable(spec, variable):
    with pytest.raises(MissingAPIKeyError, match=f"set the environment variable {variable}"):
        make_provider(spec, env={})


def test_key_variable_named_by_flag():
    with pytest.raises(MissingAPIKeyError, match="DEEPSEEK_API_KEY"):
        make_provider("openai-compatible:https://api.deepseek.com/v1#deepseek-chat",
                      LLMSettings(api_key_env="DEEPSEEK_API_KEY"), env={"OPENAI_API_KEY": "sk-" + "o" * 30})
    provider = make_provider("openai:gpt-5", LLMSettings(api_key_env="MY_KEY"), env={"MY_KEY": "sk-" + "m" * 30})
    assert provider.name == "openai:gpt-5" and "sk-" not in repr(provider)


def test_openai_key_is_not_sent_to_another_server_unasked():
    openai_key = "sk-proj-" + "s" * 40
    with FakeLLMServer("openai") as server:
        server.script(openai_completion("ok"))
        provider = make_provider(f"openai-compatible:{server.base_url}#local", env={"OPENAI_API_KEY": openai_key})
        assert provider.complete([Message.user("hi")]).ok
        assert server.requests[0].headers["authorization"] == "Bearer EMPTY"


def test_official_openai_request_shape_without_network():
    backend = OpenAIBackend(model="gpt-4o", api_key="sk-" + "x" * 30)
    assert backend.request_body(CallParams(max_output_tokens=500, temperature=0.1)) == {
        "max_completion_tokens": 500, "temperature": 0.1}
    compatible = OpenAIBackend(model="Qwen2.5-Coder-32B", api_key="EMPTY", base_url="http://h:8000/v1")
    assert compatible.request_body(CallParams(max_output_tokens=500, reasoning_effort="low")) == {"max_tokens": 500}
    assert is_reasoning_model("o4-mini") and is_reasoning_model("gpt-5.4") and is_reasoning_model("openai/o3")
    assert not is_reasoning_model("gpt-4o") and not is_reasoning_model("Qwen2.5-Coder-32B")


def test_redact_hides_known_values_and_key_shapes():
    text = "key tw-value-123456789 and sk-ant-api03-abcdefgh12345 and sk-abcdefghijklmnop1234 and Bearer abcdefghijklmnopqrstu"
    out = redact(text, ["tw-value-123456789"])
    assert "tw-value" not in out and "sk-ant" not in out and "sk-abcdef" not in out and "Bearer abc" not in out
    assert out.count("[REDACTED]") == 4
    assert redact("EMPTY stays", ["EMPTY"]) == "EMPTY stays"  # placeholders are not secrets
