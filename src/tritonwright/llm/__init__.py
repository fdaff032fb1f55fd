"""LLM providers behind one small interface, and the road from a reply to a candidate.

    provider = make_provider("openai:gpt-5", LLMSettings(cache_dir="runs/cache"))
    reply = provider.complete([Message.system(...), Message.user(prompt)], key=CallKey("19_ReLU", "seed"))
    code = extract_model_code(reply.text)          # ExtractedCode: .source/.notes or .failure
    analysis = parse_analysis(reply.text)          # AnalysisResult: .analysis or .failure
"""

from tritonwright.llm.analysis import (
    Analysis,
    AnalysisResult,
    JsonExtraction,
    extract_json_object,
    parse_analysis,
)
from tritonwright.llm.client import ClientSettings, LLMClient
from tritonwright.llm.errors import LLMAuthError, LLMModelNotFoundError, LLMSpecError, MissingAPIKeyError
from tritonwright.llm.extract import extract_model_code
from tritonwright.llm.factory import LLMSettings, make_provider
from tritonwright.llm.keys import redact
from tritonwright.llm.pricing import load_prices
from tritonwright.llm.replay import append_replay_records
from tritonwright.llm.retry import RetryPolicy
from tritonwright.llm.rules import ExtractedCode, apply_output_rules
from tritonwright.llm.spec import ProviderSpec, parse_spec
from tritonwright.llm.types import CallKey, CallParams, Exchange, LLMReply, Message, Provider, ReplyStatus

__all__ = [
    "Analysis", "AnalysisResult", "CallKey", "CallParams", "ClientSettings", "Exchange", "ExtractedCode",
    "JsonExtraction", "LLMAuthError", "LLMClient", "LLMModelNotFoundError", "LLMReply", "LLMSettings",
    "LLMSpecError", "Message", "MissingAPIKeyError", "Provider", "ProviderSpec", "ReplyStatus", "RetryPolicy",
    "append_replay_records", "apply_output_rules", "extract_json_object", "extract_model_code", "load_prices",
    "make_provider", "parse_analysis", "parse_spec", "redact",
]
