"""Replay backend: serves recorded replies, from a JSONL file or a folder of text files, matched by call key
(task, step, attempt) or in order. Used by tests and to re-run a recorded run without paying again.

JSONL: one object per request, e.g.
  {"task": "19_ReLU", "step": "seed", "attempt": 0, "text": "...", "finish_reason": "stop",
   "input_tokens": 812, "output_tokens": 640, "prompt_sha256": "..."}
Records of one key are served in file order (the first request, then its concise retry). Records without
task/step can only be served in order.

Folder: files `<task>--<step>--<attempt>[.retry1].reply.md` (the names the manual provider writes), or any
`*.md`/`*.txt` files, which are served in name order to calls that carry no key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from tritonwright.errors import UserInputError
from tritonwright.llm.backend import BackendRequest, RawReply
from tritonwright.llm.errors import FailureKind, ProviderCallError
from tritonwright.llm.types import CallKey, LLMReply, Message

log = logging.getLogger(__name__)

_REPLY_SUFFIXES = (".reply.md", ".md", ".txt")


class ReplayFileError(UserInputError):
    """The recordings cannot be read."""


@dataclass(frozen=True)
class Recording:
    text: str
    finish_reason: str = "stop"
    input_tokens: int | None = None
    output_tokens: int | None = None
    slug: str | None = None  # "<task>--<step>--<attempt>" plus ".retryN" for a concise retry; None: order only
    prompt_sha256: str | None = None
    origin: str = ""  # file and line, for messages


def prompt_digest(messages: tuple[Message, ...]) -> str:
    joined = json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def _request_slug(key: CallKey, try_index: int) -> str:
    return key.slug() + (f".retry{try_index}" if try_index else "")


def _load_jsonl(path: Path) -> list[Recording]:
    out: list[Recording] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ReplayFileError(f"{path}: cannot read recordings: {exc.strerror}") from None
    seen: dict[str, int] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            text = obj["text"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ReplayFileError(f"{path}:{n}: not a recording (a JSON object with a 'text' field)") from None
        slug = None
        if "task" in obj and "step" in obj:
            base = CallKey(str(obj["task"]), str(obj["step"]), int(obj.get("attempt", 0))).slug()
            tries = seen.get(base, 0)
            seen[base] = tries + 1
            slug = base + (f".retry{tries}" if tries else "")
        out.append(Recording(text=str(text), finish_reason=str(obj.get("finish_reason") or "stop"),
                             input_tokens=obj.get("input_tokens"), output_tokens=obj.get("output_tokens"),
                             slug=slug, prompt_sha256=obj.get("prompt_sha256"), origin=f"{path}:{n}"))
    return out


def _stem(name: str) -> str | None:
    for suffix in _REPLY_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _load_folder(path: Path) -> list[Recording]:
    out: list[Recording] = []
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        stem = _stem(file.name)
        if stem is None or file.name.endswith(".prompt.md"):
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ReplayFileError(f"{file}: cannot read recorded reply: {exc}") from None
        slug = stem if stem.count("--") == 2 else None
        out.append(Recording(text=text, slug=slug, origin=str(file)))
    return out


def load_recordings(path: str | Path) -> list[Recording]:
    p = Path(path)
    if p.is_dir():
        recordings = _load_folder(p)
    elif p.is_file():
        recordings = _load_jsonl(p)
    else:
        raise ReplayFileError(f"{p}: no such file or folder of recorded replies")
    if not recordings:
        raise ReplayFileError(f"{p}: holds no recorded replies")
    return recordings


class ReplayBackend:
    billed = False  # replaying costs nothing; the recorded token counts are still reported
    key_hint = "nothing (replay needs no key)"

    def __init__(self, path: str | Path, *, model: str = "replay") -> None:
        self.kind = "replay"
        self.model = model
        self.endpoint = str(path)
        self._recordings = load_recordings(path)
        self._by_slug: dict[str, deque[Recording]] = {}
        for rec in self._recordings:
            if rec.slug is not None:
                self._by_slug.setdefault(rec.slug, deque()).append(rec)
        self._in_order: deque[Recording] = deque(self._recordings)
        self._used: set[int] = set()
        self._lock = threading.Lock()

    def secrets(self) -> tuple[str, ...]:
        return ()

    def send(self, request: BackendRequest) -> RawReply:
        with self._lock:
            rec = self._take(request)
        if rec.prompt_sha256 and rec.prompt_sha256 != prompt_digest(request.messages):
            log.warning("replay %s: the prompt differs from the recorded one; serving the recording anyway",
                        rec.origin)
        return RawReply(text=rec.text, finish_reason=rec.finish_reason, input_tokens=rec.input_tokens,
                        output_tokens=rec.output_tokens)

    def _take(self, request: BackendRequest) -> Recording:
        if request.key is not None and self._by_slug:
            slug = _request_slug(request.key, request.try_index)
            queue = self._by_slug.get(slug)
            while queue and id(queue[0]) in self._used:
                queue.popleft()
            if not queue:
                raise ProviderCallError(FailureKind.BAD_REQUEST, f"no recorded reply left for call {slug} in "
                                        f"{self.endpoint}")
            rec = queue.popleft()
        else:
            while self._in_order and id(self._in_order[0]) in self._used:
                self._in_order.popleft()
            if not self._in_order:
                raise ProviderCallError(FailureKind.BAD_REQUEST, f"all {len(self._recordings)} recorded "
                                        f"replies in {self.endpoint} have been served")
            rec = self._in_order.popleft()
        self._used.add(id(rec))
        return rec


def replay_records(key: CallKey, reply: LLMReply) -> list[dict[str, object]]:
    """The JSONL records that let ReplayBackend serve `reply` again for `key` (one per request made)."""
    return [{"task": key.task, "step": key.step, "attempt": key.attempt, "text": ex.text,
             "finish_reason": ex.finish_reason, "input_tokens": ex.input_tokens, "output_tokens": ex.output_tokens,
             "prompt_sha256": prompt_digest(ex.messages)} for ex in reply.exchanges]


def append_replay_records(path: str | Path, key: CallKey, reply: LLMReply) -> None:
    """Append `reply` to a recordings file (texts are already redacted in the reply)."""
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in replay_records(key, reply))
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(lines)
