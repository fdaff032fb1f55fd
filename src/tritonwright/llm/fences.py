"""Markdown code fences in a reply: where they open, what they hold, whether they were closed."""

from __future__ import annotations

import re
from dataclasses import dataclass

# An opening fence: 3+ backticks or tildes, then an optional info string (```python, ``` py, ~~~).
_OPEN = re.compile(r"^[ \t]{0,3}(?P<mark>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")


@dataclass(frozen=True)
class Fence:
    lang: str  # lower-case first word of the info string; "" when there is none
    body: str
    closed: bool
    start_line: int  # 1-based line of the opening fence


def find_fences(text: str) -> list[Fence]:
    """Fenced blocks in order. A closing fence uses the opener's character, at least as many of it, and
    nothing else on the line (CommonMark's rule), so ``` inside a ~~~~ block does not end it."""
    lines = text.splitlines()
    fences: list[Fence] = []
    i = 0
    while i < len(lines):
        match = _OPEN.match(lines[i])
        if not match:
            i += 1
            continue
        mark = match.group("mark")
        info = match.group("info").strip()
        lang = info.split()[0].lower() if info else ""
        closer = re.compile(rf"^[ \t]{{0,3}}{re.escape(mark[0])}{{{len(mark)},}}[ \t]*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not closer.match(lines[j]):
            body.append(lines[j])
            j += 1
        closed = j < len(lines)
        fences.append(Fence(lang=lang, body="\n".join(body) + ("\n" if body else ""), closed=closed,
                            start_line=i + 1))
        i = j + 1
    return fences


def has_unclosed_fence(text: str) -> bool:
    """True when the reply opens a code block it never closes: the usual sign of a cut-off reply."""
    fences = find_fences(text)
    return bool(fences) and not fences[-1].closed
