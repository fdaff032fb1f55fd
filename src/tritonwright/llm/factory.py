"""make_provider: from a spec string and settings to a ready Provider (an LLMClient over one backend)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlparse

from tritonwright.llm.backend import Backend
from tritonwright.llm.cache import ResponseCache
from tritonwright.llm.client import ClientSettings, LLMClient
from tritonwright.llm.keys import read_api_key
from tritonwright.llm.manual import ManualBackend
from tritonwright.llm.pricing import load_prices
from tritonwright.llm.replay import ReplayBackend
from tritonwright.llm.retry import RetryPolicy
from tritonwright.llm.spec import ProviderSpec, parse_spec
from tritonwright.llm.types import CallParams

PLACEHOLDER_KEY = "EMPTY"  # sent to keyless local servers (vLLM, Ollama): the client insists on some value


@dataclass(frozen=True)
class LLMSettings:
    timeout_s: float = 600.0  # one request; long Triton modules from reasoning models can take minutes
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_concurrency: int = 4  # parallel calls per provider; low-tier keys hit per-minute limits beyond this
    params: CallParams = field(default_factory=CallParams)
    cache_dir: str | None = None  # None: no response cache
    use_cache: bool = True  # False is --no-cache: ask again even when an answer is stored
    prices_file: str | None = None  # a TOML file whose entries replace the packaged prices
    base_url: str | None = None  # openai/anthropic through a proxy or gateway (openai-compatible: in the spec)
    api_key_env: str | None = None  # the variable holding the key; None: OPENAI_API_KEY / ANTHROPIC_API_KEY
    manual_folder: str = "tritonwright-manual"  # where `manual` writes prompts when the spec names no folder
    manual_stdin: bool = False  # manual: read replies from standard input instead of waiting for files
    manual_wait_timeout_s: float | None = None  # manual: None waits as long as the person needs


def _is_official_openai(base_url: str) -> bool:
    return urlparse(base_url).hostname == "api.openai.com"


def _backend(spec: ProviderSpec, settings: LLMSettings, env: Mapping[str, str], *,
             sleep: Callable[[float], None], clock: Callable[[], float], notify: Callable[[str], None] | None,
             stdin: TextIO | None) -> Backend:
    # The official clients take seconds to import: load them only for the provider asked for.
    if spec.kind == "openai":
        from tritonwright.llm.openai_api import OpenAIBackend

        var = settings.api_key_env or "OPENAI_API_KEY"
        key = read_api_key(env, var, purpose=f"LLM spec {spec}")
        return OpenAIBackend(model=spec.model, api_key=key, base_url=settings.base_url, key_variable=var)
    if spec.kind == "anthropic":
        from tritonwright.llm.anthropic_api import AnthropicBackend

        var = settings.api_key_env or "ANTHROPIC_API_KEY"
        key = read_api_key(env, var, purpose=f"LLM spec {spec}")
        return AnthropicBackend(model=spec.model, api_key=key, base_url=settings.base_url, key_variable=var)
    if spec.kind == "openai-compatible":
        from tritonwright.llm.openai_api import OpenAIBackend

        assert spec.base_url is not None
        if settings.api_key_env:
            var = settings.api_key_env
            key = read_api_key(env, var, purpose=f"LLM spec {spec}")
        elif _is_official_openai(spec.base_url):
            var = "OPENAI_API_KEY"
            key = read_api_key(env, var, purpose=f"LLM spec {spec}")
        else:
            # Never send the OpenAI key to another server unasked; keyless local servers need none.
            var = "no variable (name one with --api-key-env if this server needs a key)"
            key = PLACEHOLDER_KEY
        return OpenAIBackend(model=spec.model, api_key=key, base_url=spec.base_url, kind="openai-compatible",
                             key_variable=var)
    if spec.kind == "replay":
        assert spec.path is not None
        return ReplayBackend(spec.path)
    if spec.kind == "manual":
        folder = Path(spec.path or settings.manual_folder)
        kwargs: dict[str, Any] = {"notify": notify} if notify is not None else {}
        return ManualBackend(folder, stdin=stdin if settings.manual_stdin else None,
                             wait_timeout_s=settings.manual_wait_timeout_s, sleep=sleep, clock=clock, **kwargs)
    raise AssertionError(f"parse_spec accepted an unknown kind {spec.kind!r}")


def make_provider(spec: str | ProviderSpec, settings: LLMSettings | None = None, *,
                  env: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None,
                  notify: Callable[[str], None] | None = None, stdin: TextIO | None = None) -> LLMClient:
    """A Provider for `spec`. Raises LLMSpecError, MissingAPIKeyError or PriceFileError (user mistakes)."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    settings = settings or LLMSettings()
    env = os.environ if env is None else env
    backend = _backend(parsed, settings, env, sleep=sleep, clock=clock, notify=notify, stdin=stdin)
    client_settings = ClientSettings(timeout_s=settings.timeout_s, retry=settings.retry,
                                     max_concurrency=settings.max_concurrency, default_params=settings.params)
    if parsed.kind == "manual":
        # one person answers one prompt at a time, and a missing reply is not fixed by asking again
        client_settings = replace(client_settings, max_concurrency=1, retry=replace(settings.retry, max_attempts=1))
    cache = None
    if settings.cache_dir is not None and settings.use_cache and parsed.kind != "replay":
        cache = ResponseCache(settings.cache_dir)
    return LLMClient(backend, settings=client_settings, prices=load_prices(settings.prices_file), cache=cache,
                     sleep=sleep, clock=clock, rng=rng, name=str(parsed))
