"""JSON from analysis replies ({critical_issue, why_it_matters, minimal_fix_hint}), tolerant of fences,
prose around the object, trailing commas, smart quotes and Python-style literals."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

from tritonwright.llm.fences import find_fences
from tritonwright.prompts.render import Analysis  # the one type the repair prompt renders

ANALYSIS_FIELDS = ("critical_issue", "why_it_matters", "minimal_fix_hint")

_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


@dataclass(frozen=True)
class JsonExtraction:
    value: dict[str, Any] | None
    failure: str | None = None


@dataclass(frozen=True)
class AnalysisResult:
    analysis: Analysis | None
    failure: str | None = None  # a message fit to send back to the model

    @property
    def ok(self) -> bool:
        return self.analysis is not None


def _balanced_objects(text: str) -> list[str]:
    """Every top-level {...} span, matched by brace depth outside string literals."""
    spans: list[str] = []
    depth = 0
    start = -1
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(text):
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'" and depth > 0:
            quote = ch
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start:i + 1])
    return spans


def _load_object(span: str) -> dict[str, Any] | None:
    for attempt in (span, _TRAILING_COMMA.sub(r"\1", span.translate(_SMART_QUOTES))):
        try:
            value = json.loads(attempt)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(attempt)  # single quotes, True/None: a Python dict literal, never run
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
        if isinstance(value, dict):
            return value
    return None


def _normalize_key(key: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(key).strip().lower())


def extract_json_object(text: str, prefer_keys: tuple[str, ...] = ()) -> JsonExtraction:
    """The JSON object in `text`: fenced blocks first, then the whole reply. Among several objects the one
    holding most of `prefer_keys` wins (ties: the first)."""
    sources = [f.body for f in find_fences(text) if f.lang in ("json", "", "javascript", "js")] + [text]
    found: list[dict[str, Any]] = []
    for source in sources:
        for span in _balanced_objects(source):
            obj = _load_object(span)
            if obj is not None:
                found.append(obj)
    if not found:
        return JsonExtraction(None, "No JSON object found in the reply.")
    wanted = set(prefer_keys)
    best = max(found, key=lambda o: len(wanted & {_normalize_key(k) for k in o}))  # max keeps the first of ties
    return JsonExtraction(best)


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "; ".join(_as_text(v) for v in value)
    return str(value).strip()


def parse_analysis(text: str) -> AnalysisResult:
    """The analysis fields, or a failure that names what is missing and the shape expected."""
    shape = "{" + ", ".join(f'"{k}": "..."' for k in ANALYSIS_FIELDS) + "}"
    extraction = extract_json_object(text, ANALYSIS_FIELDS)
    if extraction.value is None:
        return AnalysisResult(None, f"{extraction.failure} Reply with only a JSON object: {shape}")
    fields = {_normalize_key(k): _as_text(v) for k, v in extraction.value.items()}
    missing = [k for k in ANALYSIS_FIELDS if not fields.get(k)]
    if missing:
        return AnalysisResult(None, f"The JSON object lacks {', '.join(missing)}. Reply with only a JSON object: "
                              f"{shape}")
    return AnalysisResult(Analysis(**{k: fields[k] for k in ANALYSIS_FIELDS}))
