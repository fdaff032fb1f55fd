"""bench/tuner_coverage.py on a two-reply corpus written here: counts, folded reasons, a missing corpus."""

from __future__ import annotations

import json
from pathlib import Path

from bench import tuner_coverage

FIXTURES = Path(__file__).parent / "fixtures" / "tune"


def _reply(name: str) -> str:
    return "Here is the code:\n```python\n" + (FIXTURES / name).read_text() + "```\n"


def test_the_survey_counts_kernels_and_folds_the_reasons(tmp_path: Path) -> None:
    records = [{"task": "t", "step": "seed", "attempt": 0, "text": _reply("two_kernels.py")},
               {"task": "t", "step": "analysis:repair:1", "attempt": 0, "text": "{\"cause\": \"...\"}"},
               {"task": "u", "step": "repair:1", "attempt": 0, "text": _reply("refuse_kernel_as_value.py")}]
    (tmp_path / "replay.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    got = tuner_coverage.survey(tmp_path)
    assert (got["replies"], got["code_blocks"], got["unparsed"]) == (2, 2, 0)  # the analysis is no code
    assert got["kernels"] == 3 and got["rewritable"] == 2 and got["tile_sizes_searched"] == 1
    ((why, n),) = [(w, n) for w, n in got["reasons"] if "used as a value" in w]
    assert n == 1 and "line N" in why and "`...`" in why


def test_a_folder_without_replies_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert tuner_coverage.main(["--corpus", str(tmp_path)]) == 2
    assert "replay.jsonl does not exist" in capsys.readouterr().err


def test_a_line_that_is_not_json_is_named(tmp_path: Path, capsys) -> None:
    (tmp_path / "replay.jsonl").write_text('{"task": "t", "step": "seed", "text": ""}\n{not json\n')
    assert tuner_coverage.main(["--corpus", str(tmp_path)]) == 2
    assert "replay.jsonl line 2 is not JSON" in capsys.readouterr().err


def test_every_tuner_bench_case_names_files_that_exist() -> None:
    """bench/tune_bench.py's cases run on a device where a missing file costs a whole command: checked here."""
    from bench.tune_bench import CASES, INDUCTOR, ROOT

    for name, (task, candidate, _) in CASES.items():
        assert (ROOT / task).is_file(), name
        assert candidate == INDUCTOR or (ROOT / candidate).is_file(), name
