"""Text forms of the numbers a report shows; one function per kind of figure, "—" where a figure is absent."""

from __future__ import annotations

import hashlib
import math
import re

MISSING = "—"  # one mark for "no figure" everywhere, so an absent value never reads as zero
SIG_DIGITS = 4  # timing noise is about 1%, so a fifth significant digit would only show noise


def ms(value: float | None) -> str:
    """Milliseconds with four significant digits: 0.01234 -> "0.01234 ms"."""
    return MISSING if value is None else f"{value:.{SIG_DIGITS}g} ms"


def speedup(value: float | None) -> str:
    """A speedup factor: 1.2345 -> "1.23x"; two decimals are below the noise of any A/B decision."""
    return MISSING if value is None else f"{value:.2f}x"


def share(value: float | None) -> str:
    """A fraction in [0, 1] as a percentage with one decimal: 0.625 -> "62.5%"."""
    return MISSING if value is None else f"{100 * value:.1f}%"


def gain(value: float | None) -> str:
    """A time ratio old/new as a signed percentage: 1.10 -> "+10.0%", 0.95 -> "-5.0%"."""
    return MISSING if value is None else f"{100 * (value - 1):+.1f}%"


def count(value: int | None) -> str:
    """An integer with thousands separators: 123456 -> "123,456"."""
    return MISSING if value is None else f"{value:,}"


def usd(value: float | None) -> str:
    """Dollars: cents above $1, four decimals below (one LLM call often costs less than a cent)."""
    if value is None:
        return "unknown"
    if value == 0:
        return "$0"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def seconds(value: float | None) -> str:
    """A duration: "0.42 s", "12.3 s", "4 min 05 s", "1 h 02 min"."""
    if value is None:
        return MISSING
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    total = int(round(value))
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {(total % 3600) // 60:02d} min"


def number(value: object) -> str:
    """A profiler value: integers in full with separators, floats with four significant digits."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.{SIG_DIGITS}g}"
    return str(value)


def tokens(input_tokens: int | None, output_tokens: int | None) -> str:
    """LLM tokens in and out: "12,345 in / 678 out"."""
    if input_tokens is None and output_tokens is None:
        return MISSING
    return f"{count(input_tokens or 0)} in / {count(output_tokens or 0)} out"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HASH_CHARS = 8  # 32 bits of a hash: no two keys of one run collide in practice


def slug(key: str) -> str:
    """A file-name-safe form of a task key; keys that needed changing get a short hash so none collide.

    "19_ReLU" -> "19_ReLU"; "level1/19 ReLU.py" -> "level1_19_ReLU.py-<hash>".
    """
    safe = _UNSAFE.sub("_", key).strip("._") or "task"
    if safe == key:
        return safe
    return f"{safe}-{hashlib.sha256(key.encode()).hexdigest()[:_HASH_CHARS]}"


def time_by_stage(steps: list[tuple[str, float | None]], wall_s: float | None) -> str:
    """Where a task's wall time went, on one line: each stage's steps summed, in the order they ran, then what
    no step counted ("seed 10.3 s, block_tiling 13.2 s, race 29.3 s, final 2.27 s; outside the steps 5.2 s");
    "" when no step took time."""
    totals: dict[str, float] = {}
    for stage, secs in steps:
        if secs is not None:
            totals[stage] = totals.get(stage, 0.0) + secs
    if not totals:
        return ""
    line = ", ".join(f"{stage} {seconds(secs)}" for stage, secs in totals.items())
    rest = None if wall_s is None else wall_s - sum(totals.values())
    return line + (f"; outside the steps {seconds(rest)}" if rest is not None and rest >= 0.05 else "")
