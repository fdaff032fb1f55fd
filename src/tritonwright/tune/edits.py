"""Text edits at AST positions, so a rewrite keeps the user's formatting everywhere it does not touch."""

from __future__ import annotations

import ast
from dataclasses import dataclass


class RewriteError(Exception):
    """The rewrite cannot be done safely; the message says why (it becomes a refusal, never a traceback)."""


class GridDoesNotFollow(RewriteError):
    """The launch grid ignores a tile-size constexpr: that one cannot vary, the kernel's other settings may."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Edit:
    start: int  # byte offsets into the UTF-8 source (AST column offsets are bytes)
    end: int
    text: str
    order: int  # insertion order, to keep several insertions at one offset in the order they were made


class Edits:
    def __init__(self, source: str) -> None:
        self.data = source.encode()
        self.line_starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))
        self.items: list[Edit] = []

    def offset(self, line: int, col: int) -> int:
        return self.line_starts[line - 1] + col

    def start(self, node: ast.AST) -> int:
        return self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end(self, node: ast.AST) -> int:
        return self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def line_start(self, node: ast.AST) -> int:
        return self.line_starts[node.lineno - 1]  # type: ignore[attr-defined]

    def indent_of(self, node: ast.AST) -> str:
        line = self.data[self.line_start(node):self.start(node)].decode()
        return line[:len(line) - len(line.lstrip())]

    def text(self, start: int, end: int) -> str:
        return self.data[start:end].decode()

    def add(self, start: int, end: int, text: str) -> None:
        self.items.append(Edit(start, end, text, len(self.items)))

    def replace(self, node: ast.AST, text: str) -> None:
        self.add(self.start(node), self.end(node), text)

    def apply(self) -> str:
        ordered, seen = [], set()
        for e in sorted(self.items, key=lambda e: (e.start, e.end, e.order)):
            # the same edit twice (two launches sharing one `**meta` dict or grid) is one edit
            if e.start < e.end and (e.start, e.end, e.text) in seen:
                continue
            seen.add((e.start, e.end, e.text))
            ordered.append(e)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if b.start < a.end:
                raise RewriteError(f"two edits overlap at byte {b.start}: the launch is written in a way the "
                                   "rewriter cannot follow")
        out = bytearray(self.data)
        for e in sorted(ordered, key=lambda e: (e.start, e.order), reverse=True):
            out[e.start:e.end] = e.text.encode()
        return out.decode()
