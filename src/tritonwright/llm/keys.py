"""API keys: read only from environment variables, and scrubbed from every text we keep or show."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from tritonwright.llm.errors import MissingAPIKeyError

REDACTED = "[REDACTED]"
_MIN_SECRET_LEN = 8  # shorter values (e.g. "EMPTY" for local servers) are placeholders, not secrets

# Shapes of well-known keys, scrubbed even when we do not know the value (a server echoing another key).
_KEY_SHAPES = re.compile(r"\b(?:sk-ant-[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{16,}|Bearer\s+[A-Za-z0-9_\-.]{16,})")


def read_api_key(env: Mapping[str, str], variable: str, *, purpose: str) -> str:
    """The key held in `variable`, or MissingAPIKeyError naming the variable to set."""
    value = env.get(variable, "").strip()
    if not value:
        raise MissingAPIKeyError(f"{purpose} needs an API key: set the environment variable {variable}")
    return value


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret and anything shaped like an API key replaced by [REDACTED]."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LEN:
            text = text.replace(secret, REDACTED)
    return _KEY_SHAPES.sub(REDACTED, text)
