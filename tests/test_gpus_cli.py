"""`tritonwright gpus`: the table, one header exactly as prompts print it, clean errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tritonwright.gpus import gpu_names

GOLDEN = Path(__file__).parent / "golden"


def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "COLUMNS": "200"}
    env.pop("PYTHONIOENCODING", None)
    return subprocess.run([sys.executable, "-m", "tritonwright", *args], capture_output=True, env=env,
                          timeout=120, check=False)


def seed_header() -> bytes:
    seed = (GOLDEN / "000_61741dbe6900c556.txt").read_bytes()
    start = seed.index(b"# Target GPU\n")
    return seed[start:seed.index(b"\n[OPTIMIZATION STAGE]")]


def test_gpus_name_prints_the_seed_header_byte_for_byte() -> None:
    result = run_cli("gpus", "4090")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == seed_header()


def test_gpus_lists_every_table_entry() -> None:
    result = run_cli("gpus")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode("utf-8")
    for name in gpu_names():
        assert name in out


def test_gpus_sources_shows_a_source_per_gpu() -> None:
    out = run_cli("gpus", "--sources").stdout.decode("utf-8")
    assert "whitepaper" in out and "datasheet" in out


def test_unknown_gpu_is_one_error_and_exit_2() -> None:
    result = run_cli("gpus", "H100")
    err = result.stderr.decode("utf-8")
    assert result.returncode == 2
    assert "unknown GPU 'H100'" in err and "H100 SXM" in err
    assert "Traceback" not in err and result.stdout == b""
