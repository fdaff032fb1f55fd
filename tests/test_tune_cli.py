"""`tritonwright tune` on CPU: a dry run of the launch search prints its table, notes and time; bad flags are
one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tritonwright.cli import app
from tritonwright.errors import UserInputError

FIX = Path(__file__).parent / "fixtures" / "tune"


def test_dry_run_launch_search_prints_where_the_time_went(tmp_path: Path) -> None:
    out = tmp_path / "tune.json"
    result = CliRunner().invoke(app, ["tune", str(FIX / "tasks" / "relu.py"), str(FIX / "relu_keywords.py"),
                                      "--dry-run", "--device", "cpu", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "CHECKED" in result.output and "time: original" in result.output
    assert "searched relu_kernel (elementwise)" in result.output
    lines = result.output.splitlines()  # not a terminal: one line per step as it starts, with the seconds so far
    steps = [line.split("] ", 1)[1] for line in lines if line.startswith("[") and " s] " in line]
    assert steps == ["checking the original", "relu_kernel: checking 12 configs in full",
                     "checking the rewritten code"], lines[:5]
    data = json.loads(out.read_text())
    assert data["decision"] == "CHECKED" and data["seconds"]["check"] >= 0
    assert {c["phase"] for c in data["configs"]} == {"dry-run"} and all(c["verified"] for c in data["configs"])


def test_bad_stage_and_budget_are_one_line_errors() -> None:
    args = ["tune", str(FIX / "tasks" / "relu.py"), str(FIX / "relu_keywords.py"), "--dry-run", "--device", "cpu"]
    bad_stage = CliRunner().invoke(app, [*args, "--stage", "warp_magic"])
    # a UserInputError reaches the entry point, which prints its one line (tritonwright.cli.main)
    assert isinstance(bad_stage.exception, UserInputError)
    assert str(bad_stage.exception).startswith("--stage warp_magic: one of")
    bad_budget = CliRunner().invoke(app, [*args, "--budget-s", "0"])
    assert isinstance(bad_budget.exception, UserInputError) and "must be > 0" in str(bad_budget.exception)
