"""From a reply's text to the module that defines ModelNew: not simply the first fence. Handles prose
around the code, several fences (revisions, a usage example, kernels and class split in two), a missing
language tag, an unclosed fence, and replies with no fence at all."""

from __future__ import annotations

import ast
import re

from tritonwright.llm.fences import Fence, find_fences
from tritonwright.llm.rules import OUTPUT_RULES_REMINDER, ExtractedCode, apply_output_rules

_PYTHON_TAGS = {"", "python", "py", "python3", "py3", "pycon"}
_CLASS_MODEL_NEW = re.compile(r"^class\s+ModelNew\b", re.MULTILINE)
_TRITON_JIT = re.compile(r"^\s*@\s*(?:triton\.)?jit\b", re.MULTILINE)
_CODE_START = re.compile(r"^(?:import |from \S+ import |@triton|class |def )")
_MAX_TRAILING_PROSE_LINES = 40  # bare code followed by more prose than this is not worth trimming line by line


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _defines_model_new(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return bool(_CLASS_MODEL_NEW.search(code))
    return any(isinstance(n, ast.ClassDef) and n.name == "ModelNew" for n in tree.body)


def _bare_code(text: str) -> str | None:
    """Code written without fences: from the first line that starts code to the last line that keeps the
    rest parseable (prose after the code is dropped)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return None
    for end in range(len(lines), max(start, len(lines) - _MAX_TRAILING_PROSE_LINES), -1):
        chunk = "".join(lines[start:end])
        if _parses(chunk):
            return chunk
    return "".join(lines[start:])  # let the rules report where it fails to parse


def _join_split_module(chosen: Fence, python: list[Fence]) -> tuple[str, list[str]]:
    """When ModelNew's block has no kernel but earlier blocks do, the model split one module over several
    fences: join the earlier parseable blocks with the chosen one, in reply order."""
    if _TRITON_JIT.search(chosen.body):
        return chosen.body, []
    earlier = [f for f in python if f.start_line < chosen.start_line and f.closed and _parses(f.body)
               and not _defines_model_new(f.body)]
    if not any(_TRITON_JIT.search(f.body) for f in earlier):
        return chosen.body, []
    parts = [*earlier, chosen]
    lines = ", ".join(str(f.start_line) for f in parts)
    return "\n\n".join(f.body.rstrip() for f in parts) + "\n", [
        f"joined {len(parts)} code blocks (lines {lines}) into one module"]


def extract_model_code(reply: str) -> ExtractedCode:
    """The reply's ModelNew module, cleaned by the output rules; or a failure message for the repair prompt."""
    fences = find_fences(reply)
    python = [f for f in fences if f.lang in _PYTHON_TAGS]
    if not fences:
        code = _bare_code(reply)
        if code is None:
            return ExtractedCode(None, (), f"Your reply contains no code. {OUTPUT_RULES_REMINDER}")
        return apply_output_rules(code, ("the reply had no code fence; took the code from the bare text",))
    defining = [f for f in python if _defines_model_new(f.body)]
    if not defining:
        if not python:
            tags = ", ".join(sorted({f.lang for f in fences}))
            return ExtractedCode(None, (), f"Your reply has no Python code block (only: {tags}). "
                                 f"{OUTPUT_RULES_REMINDER}")
        if not python[-1].closed:  # cut off before ModelNew was reached: say so, it guides the repair
            return apply_output_rules(python[-1].body, ("the last code block was never closed",), truncated=True)
        return ExtractedCode(None, (), f"Your code defines no class ModelNew. {OUTPUT_RULES_REMINDER}")
    complete = [f for f in defining if f.closed and _parses(f.body)]
    chosen = (complete or defining)[-1]
    notes: list[str] = []
    if len(python) > 1:
        notes.append(f"the reply had {len(python)} Python code blocks; used the one at line {chosen.start_line} "
                     "that defines ModelNew" + (" (the last complete one)" if len(defining) > 1 else ""))
    if not chosen.closed:
        notes.append("the code block was never closed")
    code, joined = _join_split_module(chosen, python)
    return apply_output_rules(code, (*notes, *joined), truncated=not chosen.closed)
