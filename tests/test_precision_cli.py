"""--precision on every command that evaluates: checked in one line, carried into the evaluation settings and
the run's environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tritonwright.cli import app
from tritonwright.environment import PRECISION_POLICIES, run_environment
from tritonwright.pipeline.cli import _settings
from tritonwright.pipeline.runner import RunSettings

ROOT = Path(__file__).resolve().parents[1]
ELU = ROOT / "examples" / "elu"


@pytest.mark.parametrize("command", [
    ["eval", str(ELU / "task.py"), str(ELU / "candidate.py")],
    ["optimize", str(ELU / "task.py")],
    ["tune", str(ELU / "task.py"), str(ELU / "candidate.py")],
])
def test_an_unknown_policy_is_one_line(command, tmp_path) -> None:
    result = CliRunner().invoke(app, [*command, "--device", "cpu", "--precision", "fp8", "--out", str(tmp_path)]
                                if command[0] == "optimize" else [*command, "--device", "cpu", "--precision", "fp8"])
    assert result.exit_code != 0
    assert "--precision fp8: expected one of fp32, tf32, fp16, bf16" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_the_policy_reaches_the_evaluation_and_survives_a_resume() -> None:
    s = _settings("cpu", None, None, None, "none", "compact", 0, 0.02, None, False, True, precision="tf32",
                  fp64_k=40.0)
    assert s.eval.precision == "tf32" and s.eval.fp64_k == 40.0
    again = RunSettings.from_dict(s.to_dict())  # what --resume reads back from the store
    assert again.eval.precision == "tf32" and again.eval.fp64_k == 40.0


def test_the_run_environment_states_the_policy() -> None:
    env = run_environment("cpu", "H100 SXM", "assumed", {}, {}, "bf16")
    assert env["precision"] == PRECISION_POLICIES["bf16"] and "baselines run in bf16" in env["precision"]


def test_the_options_list_of_policies_is_eval_precisions() -> None:
    from tritonwright import options
    from tritonwright.eval.precision import Policy

    assert tuple(p.value for p in Policy) == options.PRECISIONS  # options stays torch-free: pinned here
