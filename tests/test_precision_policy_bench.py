"""bench/precision_policy.py in its --smoke mode (CPU, interpreter, small sizes): real verdicts per case and
policy land in results.json and results.md, --continue keeps finished entries, a failing entry is recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import precision_policy

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "precision_policy.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--smoke", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, check=False)


def test_smoke_records_real_verdicts_and_continues(tmp_path) -> None:
    out = tmp_path / "pp"
    done = _run("--out", str(out), "--only", "llm:matmul_fp16cast,llm:matmul_ieee", "--policies", "fp32,fp16")
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads((out / "results.json").read_text())
    assert data["smoke"] is True and data["env"]["triton"] and data["env"]["torch"]
    entries = data["entries"]
    assert sorted(entries) == ["llm:matmul_fp16cast@fp16", "llm:matmul_fp16cast@fp32",
                               "llm:matmul_ieee@fp16", "llm:matmul_ieee@fp32"]

    cheat = entries["llm:matmul_fp16cast@fp32"]  # fp16 operands under the fp32 policy: rejected, with advice
    assert cheat["status"] == "MISMATCH" and cheat["detected"] == "fp16"
    assert "--precision fp16" in cheat["advice"] and cheat["reason"]
    accepted = entries["llm:matmul_fp16cast@fp16"]
    assert accepted["status"] == "OK" and accepted["ground_truth"] == "pass"
    assert accepted["max_fp64_ratio"] > 32 and accepted["max_bound_use"] <= 1  # the floor decides, not K alone
    exact = entries["llm:matmul_ieee@fp32"]
    assert exact["status"] == "OK" and exact["detected"] == "fp32" and exact["max_fp64_ratio"] < 32
    (o,) = exact["outputs"]
    assert o["fp64_err"] > 0 and o["ref_fp64_err"] > 0 and o["ground_truth"] == "pass"
    for e in entries.values():  # CPU: no timing, so no speed-ups
        assert e["ms"] is None and e["x_eager"] is None and e["wall_s"] >= 0 and e["verdict_policy"] == e["policy"]

    md = (out / "results.md").read_text()
    assert "Smoke run" in md and "| fp32 | 32 |" in md  # the K values in force
    assert "| llm:matmul_fp16cast | fp32 | fp16 | MISMATCH |" in md
    assert "| llm:matmul_ieee | fp32 | fp32 | OK |" in md

    # --continue: the four are kept; only the new case runs (skipped in smoke: the interpreter's bf16 tl.dot)
    more = _run("--out", str(out), "--continue", str(out), "--only", "llm:matmul_ieee,llm:matmul_bf16cast",
                "--policies", "fp32")
    assert more.returncode == 0, more.stderr[-2000:]
    merged = json.loads((out / "results.json").read_text())
    assert len(merged["entries"]) == 5 and merged["parts"][-1]["entries"] == ["llm:matmul_bf16cast@fp32"]
    assert merged["entries"]["llm:matmul_bf16cast@fp32"]["status"] == "skipped"
    assert merged["entries"]["llm:matmul_ieee@fp32"]["seed"] == exact["seed"]  # kept, not measured again


def test_a_failing_entry_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # main sets it for --smoke; restored after the test
    calls: list[str] = []

    def fake(name: str, policy: str, smoke: bool) -> dict:
        calls.append(f"{name}@{policy}")
        if policy == "tf32":
            raise RuntimeError("the reference failed")
        return {"case": name, "policy": policy, "status": "OK", "detected": "fp32", "max_fp64_ratio": 1.0,
                "max_bound_use": 0.03, "ground_truth": "pass", "ms": None, "eager_ms": None, "compile_ms": None,
                "x_eager": None, "x_compile": None, "notes": [], "env": {"device": "cpu", "triton": "x"}}

    monkeypatch.setattr(precision_policy, "run_entry", fake)
    out = tmp_path / "pp"
    assert precision_policy.main(["--smoke", "--out", str(out), "--only", "elu", "--policies",
                                  "fp32,tf32,bf16"]) == 0
    assert calls == ["elu@fp32", "elu@tf32", "elu@bf16"]
    entries = json.loads((out / "results.json").read_text())["entries"]
    assert entries["elu@tf32"]["status"] == "error" and "the reference failed" in entries["elu@tf32"]["error"]
    assert entries["elu@bf16"]["status"] == "OK"
    md = (out / "results.md").read_text()
    assert "| elu | tf32 | | error |" in md and "elu@tf32: RuntimeError: the reference failed" in md
    assert precision_policy.main(["--smoke", "--out", str(out), "--only", "nope"]) == 2


def test_default_matrix_fits_the_gpu_estimate() -> None:
    """Every LLM-style kernel under all four policies (the positive-input fp16 cast, TF32 and IEEE kernels under
    fp32 and one other), each example under two: 42 entries (~7 min on an H200: ~10 s each)."""
    total = sum(len(c.policies) for c in precision_policy.CASES.values())
    assert total == 42
    assert all(set(c.policies) <= set(precision_policy.POLICIES) for c in precision_policy.CASES.values())
