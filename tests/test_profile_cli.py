"""`tritonwright profile`: --parse renders saved CSVs with no GPU; failures print the no-metrics line."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tritonwright.errors import UserInputError
from tritonwright.profile.cli import register

FIX = Path(__file__).parent / "fixtures" / "ncu"
SRC = Path(__file__).parent.parent / "src"


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Keep `profile` a subcommand."""

    register(app)
    return app


def test_parse_renders_table_rules_and_prompt_json(app, tmp_path):
    out = tmp_path / "o.json"
    result = CliRunner().invoke(app, ["profile", "--parse", str(FIX / "mish.csv"), "--json", str(out),
                                      "--peak-dram-gbps", "4800"])
    assert result.exit_code == 0, result.output
    assert "[NCU PROFILING METRICS]" in result.output
    assert "stage grid_and_parallel: skip" in result.output and "stage memory_access: run" in result.output
    data = json.loads(out.read_text())
    assert list(data["prompt_metrics"]) == ["fused_activation_kernel_optimized"]
    assert data["prompt_metrics"]["fused_activation_kernel_optimized"]["launch__grid_size"] == 127008
    assert data["roofline"]["fused_activation_kernel_optimized"]["dram_share_of_peak"] > 0.5
    printed = result.output.split("[NCU PROFILING METRICS]\n", 1)[1]
    assert json.loads(printed) == data["prompt_metrics"]


def test_parse_names_are_exact(app, tmp_path):
    out = tmp_path / "o.json"
    result = CliRunner().invoke(app, ["profile", "--parse", str(FIX / "multi.csv"), "--names", "relu_kernel",
                                      "--stage", "block_tiling", "--json", str(out)])
    assert result.exit_code == 0, result.output
    prompt = json.loads(out.read_text())["prompt_metrics"]
    assert list(prompt) == ["relu_kernel"] and len(prompt["relu_kernel"]) == 2
    assert prompt["relu_kernel"][0]["launch__registers_per_thread"] == 18
    result = CliRunner().invoke(app, ["profile", "--parse", str(FIX / "multi.csv"), "--names", "relu"])
    assert result.exit_code == 1 and "No NCU metrics available (no kernel rows in" in result.output


def test_user_mistakes_raise_user_input_error(app):
    for args in (["profile"], ["profile", "--parse", "/nonexistent.csv"],
                 ["profile", "--parse", str(FIX / "elu.csv"), "--stage", "warp_magic"],
                 ["profile", str(FIX / "elu_task.py"), "/nonexistent.py"]):
        result = CliRunner().invoke(app, args)
        assert isinstance(result.exception, UserInputError), args


def test_failed_profile_prints_why_and_writes_json(app, tmp_path):
    fake = tmp_path / "ncu"
    fake.write_text(f"#!{sys.executable}\nimport sys\nprint('==ERROR== ERR_NVGPUCTRPERM - no permission')\n"
                    "sys.exit(1)\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    out = tmp_path / "o.json"
    result = CliRunner().invoke(app, ["profile", str(FIX / "elu_task.py"), str(FIX / "elu_candidate.py"),
                                      "--ncu", str(fake), "--json", str(out)])
    assert result.exit_code == 1
    assert "No NCU metrics available: ncu may not read the GPU performance counters" in result.output
    assert json.loads(out.read_text())["status"] == "PERMISSION"


def test_registered_in_the_main_cli():
    proc = subprocess.run([sys.executable, "-m", "tritonwright", "profile", "--parse", str(FIX / "elu.csv")],
                          capture_output=True, text=True, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin",
                                                               "COLUMNS": "200"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '"launch__grid_size": 3145728' in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "tritonwright", "profile"], capture_output=True, text=True,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert bad.returncode == 2 and "error:" in bad.stderr
