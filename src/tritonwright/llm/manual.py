"""Manual backend, for users who only have a chat window: each prompt is written to a file (and where is
printed); the reply is pasted into a file next to it, or on standard input ending with a line `.end`."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from tritonwright.llm.backend import BackendRequest, RawReply
from tritonwright.llm.errors import FailureKind, ProviderCallError
from tritonwright.llm.types import Message

END_MARK = ".end"  # a line holding only this ends a reply typed on standard input


def render_prompt(messages: tuple[Message, ...]) -> str:
    """The conversation as Markdown, each turn under its role, ready to paste into a chat window."""
    parts = [f"<!-- {m.role} -->\n{m.content.rstrip()}\n" for m in messages]
    return "\n".join(parts)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _default_notify(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class ManualBackend:
    """The per-call timeout of the client does not apply: a person answers; `wait_timeout_s` bounds the wait
    instead (None: wait until the reply comes)."""

    billed = False  # nothing is paid through us
    key_hint = "nothing (manual needs no key)"

    def __init__(self, folder: str | Path, *, stdin: TextIO | None = None,
                 notify: Callable[[str], None] = _default_notify, poll_s: float = 1.0,
                 wait_timeout_s: float | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kind = "manual"
        self.model = "manual"
        self.folder = Path(folder)
        self.endpoint = str(self.folder)
        self._stdin = stdin  # None: wait for the reply file
        self._notify = notify
        self._poll_s = poll_s  # one check a second: fast enough for a person, idle otherwise
        self._wait_timeout_s = wait_timeout_s
        self._sleep = sleep
        self._clock = clock
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def secrets(self) -> tuple[str, ...]:
        return ()

    def paths(self, request: BackendRequest) -> tuple[Path, Path]:
        """(prompt file, reply file) of a request."""
        if request.key is not None:
            name = request.key.slug()
        else:
            with self._lock:
                name = f"call-{next(self._counter):04d}"
        if request.try_index:
            name += f".retry{request.try_index}"
        return self.folder / f"{name}.prompt.md", self.folder / f"{name}.reply.md"

    def send(self, request: BackendRequest) -> RawReply:
        self.folder.mkdir(parents=True, exist_ok=True)
        prompt_path, reply_path = self.paths(request)
        prompt = render_prompt(request.messages)
        if reply_path.is_file():
            same_prompt = prompt_path.is_file() and prompt_path.read_text(encoding="utf-8") == prompt
            if same_prompt and reply_path.stat().st_size > 0:  # answered before (a resumed run): not asked twice
                self._notify(f"using the reply already in {reply_path}")
                return RawReply(text=reply_path.read_text(encoding="utf-8"), finish_reason="stop")
            stale = reply_path.with_name(reply_path.name.removesuffix(".md") + ".stale")
            os.replace(reply_path, stale)  # an answer to another prompt: kept, but out of the way
            self._notify(f"moved {reply_path.name}, an answer to a different prompt, to {stale.name}")
        _write_atomic(prompt_path, prompt)
        if self._stdin is not None:
            self._notify(f"prompt written to {prompt_path}; paste the model's whole reply here, then a line "
                         f"with only {END_MARK}")
            text = self._read_stdin()
            _write_atomic(reply_path, text)  # kept beside the prompt, so the folder can be replayed
        else:
            self._notify(f"prompt written to {prompt_path}; save the model's whole reply as {reply_path}")
            text = self._wait_for_file(reply_path)
        if not text.strip():
            raise ProviderCallError(FailureKind.BAD_REQUEST, f"the reply for {prompt_path.name} is empty")
        return RawReply(text=text, finish_reason="stop")

    def _read_stdin(self) -> str:
        assert self._stdin is not None
        lines: list[str] = []
        for line in self._stdin:
            if line.rstrip("\r\n") == END_MARK:
                break
            lines.append(line)
        return "".join(lines)

    def _wait_for_file(self, path: Path) -> str:
        """The file's text once it exists and its size stopped changing between two checks (an editor or a
        copy may still be writing it)."""
        start = self._clock()
        last_size = -1
        while True:
            size = path.stat().st_size if path.is_file() else -1
            if size > 0 and size == last_size:
                return path.read_text(encoding="utf-8")
            last_size = size
            if self._wait_timeout_s is not None and self._clock() - start > self._wait_timeout_s:
                raise ProviderCallError(FailureKind.TIMEOUT, f"no reply in {path} after "
                                        f"{self._wait_timeout_s:.0f} s")
            self._sleep(self._poll_s)
