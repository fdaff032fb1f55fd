"""The one string that selects a provider and a model, e.g. `openai:gpt-5` or `replay:runs/r1/llm.jsonl`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from tritonwright.llm.errors import LLMSpecError

KINDS = ("openai", "openai-compatible", "anthropic", "replay", "manual")

SPEC_FORMS = ("openai:MODEL", "anthropic:MODEL", "openai-compatible:BASE_URL#MODEL", "replay:PATH",
              "manual[:FOLDER]")


@dataclass(frozen=True)
class ProviderSpec:
    kind: str  # one of KINDS
    model: str  # the model name sent to the server; "replay"/"manual" for those providers
    base_url: str | None = None  # openai-compatible only
    path: str | None = None  # replay: recordings; manual: the folder for prompt and reply files

    def __str__(self) -> str:
        if self.kind == "openai-compatible":
            return f"{self.kind}:{self.base_url}#{self.model}"
        if self.kind in ("replay", "manual"):
            return f"{self.kind}:{self.path}" if self.path else self.kind
        return f"{self.kind}:{self.model}"


def _bad(spec: str, why: str) -> LLMSpecError:
    return LLMSpecError(f"bad LLM spec {spec!r}: {why} (expected one of: {', '.join(SPEC_FORMS)})")


def parse_spec(spec: str) -> ProviderSpec:
    """Split `kind:rest`; the model may itself contain ':' (Ollama tags such as `qwen2.5-coder:32b`)."""
    text = spec.strip()
    kind, sep, rest = text.partition(":")
    kind = kind.lower()
    if kind not in KINDS:
        raise _bad(spec, f"unknown provider {kind!r}")
    if kind == "manual":
        return ProviderSpec(kind="manual", model="manual", path=rest.strip() or None)
    if not sep or not rest.strip():
        raise _bad(spec, f"{kind} needs {'a path' if kind == 'replay' else 'a model name'} after ':'")
    rest = rest.strip()
    if kind == "replay":
        return ProviderSpec(kind="replay", model="replay", path=rest)
    if kind == "openai-compatible":
        url, hash_sep, model = rest.rpartition("#")
        if not hash_sep or not url or not model:
            raise _bad(spec, "openai-compatible needs BASE_URL#MODEL")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise _bad(spec, f"base URL {url!r} is not an http(s) URL")
        return ProviderSpec(kind=kind, model=model.strip(), base_url=url.rstrip("/"))
    if "#" in rest or rest.startswith(("http://", "https://")):
        raise _bad(spec, f"{kind} takes a model name only; use openai-compatible:BASE_URL#MODEL for a server URL")
    return ProviderSpec(kind=kind, model=rest)
