"""How much of what LLMs write the launch tuner can rewrite: every code block of a corpus of recorded replies,
extracted as the LLM path extracts it, analysed and planned as a no-LLM run's `launch` stage would, then checked
the way the tuner checks its plans before a search (tune.search._usable_plans: both rewrites must work).

    PYTHONPATH=src python3 bench/tuner_coverage.py --corpus ../shared/data/llm-replies [--out FILE.json] [--top 12]

Prints the kernels found, how many the tuner can rewrite, and the commonest reasons it leaves the rest (line
numbers and quoted code folded, so one idiom counts once). CPU only, no candidate code runs. Writes no code from
the corpus: only counts and reasons (the reasons quote short spans of the replies; keep --out outside the
repository, or leave it off).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class CorpusError(ValueError):
    """The corpus cannot be read: the message says which line and why."""


def code_replies(corpus: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of each reply with text that is not an analysis (analyses hold no ModelNew), in
    order; a line that is not a JSON object raises CorpusError naming it."""
    for number, line in enumerate((corpus / "replay.jsonl").read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"replay.jsonl line {number} is not JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise CorpusError(f"replay.jsonl line {number} is not a JSON object")
        text, step = record.get("text"), str(record.get("step", ""))
        if isinstance(text, str) and text and not step.startswith("analysis"):
            yield number, record


def survey(corpus: Path) -> dict[str, Any]:
    from tritonwright.llm.extract import extract_model_code
    from tritonwright.tune.analysis import analyse
    from tritonwright.tune.search import TuneSettings, _usable_plans, plans_for

    replies = blocks = unparsed = kernels = usable = tiles = 0
    reasons: Counter[str] = Counter()
    for _, record in code_replies(corpus):
        replies += 1
        source = extract_model_code(record["text"]).source
        if not source:
            continue
        blocks += 1
        try:
            analysis = analyse(source)
        except SyntaxError:
            unparsed += 1
            continue
        plan = plans_for(analysis, "launch")
        skipped: list[tuple[str, str]] = []
        plans = _usable_plans(analysis, list(plan.kernels), TuneSettings(stage="launch"), skipped)
        kernels += len(analysis.kernels)
        usable += len({p.kernel for p in plans} & set(analysis.kernels))
        tiles += sum(1 for p in plans if p.block_names)
        for kernel, why in [*plan.skipped, *skipped]:
            reasons[_fold(kernel, why)] += 1
    return {"replies": replies, "code_blocks": blocks, "unparsed": unparsed, "kernels": kernels,
            "rewritable": usable, "tile_sizes_searched": tiles, "reasons": reasons.most_common()}


def _fold(kernel: str, why: str) -> str:
    """One idiom, one key: without the kernel's name, line numbers and quoted code."""
    why = why.replace(f"{kernel}: ", "").replace(kernel, "KERNEL")
    why = re.sub(r"line \d+", "line N", why)
    return re.sub(r"`[^`]*`", "`...`", why)[:200]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="a folder with replay.jsonl")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--top", type=int, default=12, help="reasons listed")
    args = ap.parse_args(argv)
    if not (args.corpus / "replay.jsonl").is_file():
        print(f"error: {args.corpus / 'replay.jsonl'} does not exist", file=sys.stderr)
        return 2
    try:
        got = survey(args.corpus)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{got['replies']} replies, {got['code_blocks']} code blocks ({got['unparsed']} do not parse), "
          f"{got['kernels']} kernels, {got['rewritable']} rewritable by the launch tuner, "
          f"{got['tile_sizes_searched']} of them with their tile sizes searched")
    for why, n in got["reasons"][:args.top]:
        print(f"{n:4d}  {why}")
    if args.out:
        args.out.write_text(json.dumps(got, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
