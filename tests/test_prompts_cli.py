"""`tritonwright prompt`: the golden seeds through the real entry point, and its user errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
SEED_000 = GOLDEN / "000_61741dbe6900c556.txt"
SEED_003 = GOLDEN / "003_42e0586be2c9d8a8.txt"


def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    # A C locale proves the prompt is written as UTF-8 bytes whatever the terminal says.
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    env.pop("PYTHONIOENCODING", None)
    return subprocess.run([sys.executable, "-m", "tritonwright", *args], capture_output=True, env=env,
                          timeout=120, check=False)


def one_line(stderr: bytes) -> str:
    """stderr with the console's line wrapping undone."""
    return " ".join(stderr.decode("utf-8").split())


def test_seed_000_compact_reproduced_byte_for_byte() -> None:
    result = run_cli("prompt", "--stage", "advanced_memory", "--gpu", "4090", "--style", "compact",
                     "--code", str(GOLDEN / "000_code.py"), "--metrics", str(GOLDEN / "000_metrics.json"))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == SEED_000.read_bytes()
    assert b"task kind fusion" in result.stderr  # detected from the candidate, reported on stderr only


def test_seed_003_verbose_reproduced_byte_for_byte() -> None:
    result = run_cli("prompt", "--stage", "advanced_memory", "--gpu", "4090", "--style", "verbose",
                     "--code", str(GOLDEN / "003_code.py"), "--metrics", str(GOLDEN / "003_metrics.json"))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == SEED_003.read_bytes()


@pytest.mark.parametrize("kind", ["single", "fusion"])
def test_seed_000_with_explicit_kind(kind: str) -> None:
    result = run_cli("prompt", "--stage", "advanced_memory", "--gpu", "4090", "--kind", kind,
                     "--code", str(GOLDEN / "000_code.py"), "--metrics", str(GOLDEN / "000_metrics.json"))
    assert result.stdout == SEED_000.read_bytes()
    assert result.stderr == b""


def test_task_file_decides_the_kind_and_feeds_reference_extra(tmp_path: Path) -> None:
    task = tmp_path / "mlp_task.py"
    task.write_text(
        "import torch\nimport torch.nn as nn\n\n"
        "class Model(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.net = nn.Sequential(nn.Linear(4, 4), nn.ReLU())\n\n"
        "    def forward(self, x):\n        return self.net(x)\n\n"
        "def get_inputs():\n    return [torch.randn(2, 4)]\n\n"
        "def get_init_inputs():\n    return []\n", encoding="utf-8")
    data = tmp_path / "extras.json"
    data.write_text(json.dumps({"timing": {"latency_ms": 0.5, "eager_ms": 1.0}}), encoding="utf-8")
    result = run_cli("prompt", "--stage", "block_tiling", "--gpu", "H100 SXM", "--code", str(GOLDEN / "003_code.py"),
                     "--task", str(task), "--extras", "reference,timing", "--extras-data", str(data))
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode("utf-8")
    assert b"task kind network" in result.stderr
    assert "Tile each kernel for its own shapes" in out  # the network variant of the stage text
    assert "[REFERENCE CODE]\n```python\nimport torch" in out
    assert "- vs PyTorch eager (1 ms): 2x speedup" in out
    assert "No NCU metrics available" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--stage", "tiling"], "unknown stage 'tiling'; valid stages: grid_and_parallel, block_tiling"),
    (["--stage", "block_tiling", "--style", "long"], "unknown style 'long'; valid styles: compact, verbose"),
    (["--stage", "block_tiling", "--kind", "batch"], "unknown kind 'batch'; valid kinds: single, fusion, network"),
    (["--stage", "block_tiling", "--gpu", "GTX 480"], "unknown GPU 'GTX 480'; known GPUs: 4090"),
    (["--stage", "block_tiling", "--extras", "timing"], "--extras timing needs 'timing'"),
    (["--stage", "block_tiling", "--extras", "speed"], "unknown extra 'speed'; valid extras: reference"),
    (["--stage", "block_tiling", "--extras", "reference"], "--extras reference needs the reference task"),
    (["--stage", "block_tiling", "--metrics", str(GOLDEN / "000_code.py")], "metrics file is not valid JSON"),
])
def test_user_mistakes_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    # --gpu 4090 first: a later --gpu in `args` wins, as click keeps the last value of an option.
    result = run_cli("prompt", "--gpu", "4090", "--code", str(GOLDEN / "003_code.py"), *args)
    err = one_line(result.stderr)
    assert result.returncode == 2, err
    assert message in err
    assert "Traceback" not in err and result.stdout == b""


def test_missing_candidate_file_is_a_user_error(tmp_path: Path) -> None:
    result = run_cli("prompt", "--stage", "block_tiling", "--gpu", "4090", "--code", str(tmp_path / "none.py"))
    assert result.returncode == 2
    assert "candidate file not found" in one_line(result.stderr)


def test_metrics_of_the_wrong_shape_are_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"kernel": [1, 2]}), encoding="utf-8")
    result = run_cli("prompt", "--stage", "block_tiling", "--gpu", "4090", "--code", str(GOLDEN / "003_code.py"),
                     "--metrics", str(bad))
    assert result.returncode == 2
    assert "expected an object of metric values" in one_line(result.stderr)
