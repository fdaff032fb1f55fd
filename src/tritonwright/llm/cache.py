"""On-disk response cache: a resumed run never pays twice for the same question.

The key holds everything that changes the answer: provider kind, endpoint, model, call parameters and the
messages. It never holds the API key, and neither do the files (replies are redacted before they get here).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

from tritonwright.llm.types import CallParams, LLMReply, Message, ReplyStatus

_FORMAT = 1  # bump when the stored layout changes, so old entries are ignored rather than misread


def cache_key(provider: str, endpoint: str, model: str, params: CallParams, messages: tuple[Message, ...]) -> str:
    payload = {
        "format": _FORMAT,
        "provider": provider,
        "endpoint": endpoint,
        "model": model,
        "params": asdict(params),
        "messages": [[m.role, m.content] for m in messages],
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """Replies stored as one JSON file per key under `root`; only successful replies are kept, because a
    failure (an outage, a truncation) may well go away on the next try."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> LLMReply | None:
        path = self._path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            return None  # a damaged entry is a miss; the fresh reply overwrites it
        if data.get("format") != _FORMAT:
            return None
        try:
            reply = LLMReply.from_dict(data["reply"])
        except (KeyError, TypeError, ValueError):
            return None
        return replace(reply, cached=True, attempts=0, latency_s=0.0)

    def put(self, key: str, reply: LLMReply) -> None:
        if reply.status is not ReplyStatus.OK:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"format": _FORMAT, "reply": reply.to_dict()}, ensure_ascii=False, indent=1)
        # A unique temporary name in the same folder, then an atomic rename: parallel writers never collide
        # and a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
