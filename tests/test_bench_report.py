"""Tables, targets and the plot, rendered from a results dict written by hand (as bench/cli.py writes it)."""

from __future__ import annotations

import copy

import pytest

from bench import report
from tritonwright.floor import TensorSpec, Traffic

N_ELU = 4096 * 393216
COPY_BPS = 4.0e12  # 4 TB/s: the ELU floor is 8 * N_ELU / 4e12 s = 3.2212 ms


def _eval_job(ms: float, traffic: Traffic, overrides: dict | None = None, eager: float = 3.1,
              compiled: float = 3.05) -> dict:
    t = {"median_ms": ms, "q1_ms": ms, "q3_ms": ms, "n": 100, "method": "cuda_events"}
    return {"kind": "quality_eval", "example": "x", "overrides": overrides or {}, "sections": ["quality"],
            "status": "ok", "reason": "", "wall_s": 20.0, "rc": 0, "peak_rss_mib": 900.0, "gpu_peak_mib": 13000.0,
            "result": {"status": "ok", "traffic": traffic.to_dict(), "max_autotune": None,
                       "eval": {"status": "OK", "reason": "", "timing": t, "eager": dict(t, median_ms=eager),
                                "compiled": dict(t, median_ms=compiled), "env": None, "wall_s": 18.0,
                                "step_seconds": {"load": 3.5, "correctness": 6.0, "correctness.check": 1.0}}}}


def _tune_job(decision: str, tuned_ms: float | None, winner: str = "warps=2 stages=4") -> dict:
    return {"kind": "quality_tune", "example": "x", "overrides": {}, "sections": ["quality"], "status": "ok",
            "reason": "", "wall_s": 70.0, "peak_rss_mib": 1000.0, "gpu_peak_mib": 14000.0,
            "result": {"status": "ok", "decision": decision, "reason": "r", "original_ms": 0.356,
                       "tuned_ms": tuned_ms, "wall_s": 66.0, "winners": {"k": winner},
                       "configs": [{"kernel": "k", "config": "warps=4 stages=3", "original": True, "status": "OK",
                                    "median_ms": 0.356, "round": 1}]}}


def _trust(aa_faster: int, detected5: int, n: int = 50) -> dict:
    def ds(k: int, speedup: float) -> list[dict]:
        return [{"speedup": speedup, "noise": 0.003, "significant": i < k, "reason": "", "a_median_ms": 0.78,
                 "b_median_ms": 0.78, "ratios": [speedup] * 10} for i in range(n)]
    aa = ds(aa_faster, 1.0)
    from bench.trust import repeated_medians, summarize
    slowed = [{"target": t, "fraction": 2 * t, "summary": summarize(ds(k, 1 + t)), "decisions": ds(k, 1 + t),
               "measured_slowdown": t} for t, k in ((0.03, 40), (0.05, detected5))]
    return {"kind": "trust", "example": "elu", "overrides": {"batch_size": "1024"}, "sections": ["trust"],
            "status": "ok", "reason": "", "wall_s": 100.0,
            "result": {"status": "ok", "config": {"warmup_ms": 5.0, "min_runs": 50.0, "budget_ms": 100.0,
                                                  "max_runs": 2000}, "threshold": 0.02, "rounds": 10,
                       "calibration": [{"step": 0, "fractions": [0.06, 0.1], "base_ms": 0.78,
                                        "measured": [0.031, 0.049]}],
                       "aa": {"summary": summarize(aa), "decisions": aa}, "spread": repeated_medians(aa),
                       "slowed": slowed}}


def _results() -> dict:
    elu = Traffic(reads=(TensorSpec((4096, 393216), "float32"),), writes=(TensorSpec((4096, 393216), "float32"),))
    mm = Traffic(reads=(TensorSpec((4096, 4096), "float16"),) * 2, writes=(TensorSpec((4096, 4096), "float16"),),
                 flops=2 * 4096**3, compute_dtype="float16")
    return {
        "schema": 1, "date": "2026-11-22", "mode": "default", "command": "PYTHONPATH=src python3 bench/run.py",
        "sections": ["cost", "quality", "trust"], "budget_s": 540.0, "max_autotune": False, "wall_s": 530.0,
        "env": {"gpu": "NVIDIA H200", "driver": "580.159.04", "cuda": "13.0", "torch": "2.11.0", "triton": "3.6.0",
                "python": "3.12.3", "platform": "Linux", "sm_count": 132, "compute_capability": "9.0",
                "total_memory_mib": 143000},
        "ceilings": {"copy": {"median": COPY_BPS, "best": 4.1e12, "reps": 20, "size": "copy of 4.0 GiB fp32"},
                     "matmul": {"float16": {"median": 700e12, "best": 710e12, "reps": 10, "size": "8192"}}},
        "jobs": {"eval:elu": _eval_job(3.25, elu), "tune:elu": _tune_job("REVERT", 3.26),
                 "trust": _trust(1, 49), "eval:matmul_fp16": _eval_job(0.25, mm, eager=0.24, compiled=0.24),
                 "tune:matmul_fp16": {"kind": "quality_tune", "status": "skipped", "reason": "time budget",
                                      "example": "matmul_fp16", "overrides": {}, "sections": ["quality"]},
                 "tune:conv_mish_bn": _tune_job("KEEP", 0.35)},
        "quoted": report.load_quoted(),
    }


def test_gpu_tag():
    assert report.gpu_tag("NVIDIA H200") == "H200"
    assert report.gpu_tag("NVIDIA H100 80GB HBM3") == "H100"
    assert report.gpu_tag("NVIDIA GeForce RTX 4090") == "RTX-4090"
    assert report.gpu_tag(None) == "unknown-gpu"


def test_pair_key():
    assert report.pair_key("BLOCK_SIZE=1024 warps=2 stages=4") == "w2s4"
    assert report.pair_key("BLOCK_SIZE=1024") is None


def test_quality_rows_ratios_and_tuner_decisions():
    rows = {r.example: r for r in report.quality_rows(_results())}
    elu = rows["elu"]
    assert elu.floor is not None and elu.floor.limit == "memory"
    assert elu.floor.ms == pytest.approx(8 * N_ELU / COPY_BPS * 1e3)
    assert elu.tuned_ms == 3.25 and elu.tune_note == "REVERT"  # reverted: the original code's time
    assert elu.best_ms == 3.25 and elu.full_size
    mm = rows["matmul_fp16"]
    assert mm.floor is not None and mm.floor.limit == "compute"
    assert mm.floor.ms == pytest.approx(2 * 4096**3 / 700e12 * 1e3)
    assert mm.tuned_ms is None and mm.tune_note == "skipped"


def test_targets_met_and_not_met():
    t = {x.name.split()[0] + x.name.split()[1]: x for x in report.targets(_results())}
    assert t["A/Afalse"].met is True and t["A/Afalse"].measured == "1/50 (2%)"
    assert t["5%slowdown"].met is True and t["5%slowdown"].measured.startswith("49/50 (98%)")
    ratio = 3.25 / (8 * N_ELU / COPY_BPS * 1e3)
    assert t["seedELU"].met is (ratio - 1 <= 0.03) and t["seedELU"].measured.startswith(f"{ratio:.3f}x")
    # This run's tuner kept w2s4; no sweep ran, so the quoted sweep judges it: 0.3503 / 0.3463 - 1 = 1.16%.
    assert t["tuner'sMish"].met is True and t["tuner'sMish"].measured.startswith("+1.16%")

    bad = copy.deepcopy(_results())
    bad["jobs"]["trust"] = _trust(3, 47)
    bad["jobs"]["eval:elu"] = _eval_job(3.4, Traffic.from_dict(bad["jobs"]["eval:elu"]["result"]["traffic"]))
    # The search picked w4s3 (0.3560 ms in the quoted sweep, +2.8% from its best): graded on the pick.
    bad["jobs"]["tune:conv_mish_bn"] = _tune_job("REVERT", None, winner="warps=4 stages=3")
    verdicts = [x.met for x in report.targets(bad)]
    assert verdicts == [False, False, False, False]


def test_mish_target_grades_the_search_pick_and_reports_the_decision():
    r = _results()
    r["jobs"]["tune:conv_mish_bn"] = _tune_job("REVERT", None)  # picked w2s4, then the A/B kept the original
    mish = report.targets(r)[3]
    assert mish.met is True and mish.measured.startswith("+1.16% (w2s4")
    assert "picked w2s4, then REVERT (r)" in mish.note


def test_targets_not_measured_say_why():
    r = _results()
    del r["jobs"]["trust"]
    r["jobs"]["eval:elu"]["overrides"] = {"batch_size": "256"}
    r["jobs"]["tune:conv_mish_bn"] = _tune_job("KEEP", 0.35, winner="warps=8 stages=1")  # not in the quoted sweep
    ts = report.targets(r)
    assert [x.met for x in ts] == [None, None, None, None]
    assert "not the full 4096x393216" in ts[2].note and "w8s1" in ts[3].note


def test_sweep_in_this_run_is_preferred_over_the_quote():
    r = _results()
    r["jobs"]["sweep:conv_mish_bn"] = {"kind": "sweep", "status": "ok", "reason": "", "wall_s": 50.0,
                                       "result": {"median_ms": {"original w4s3": 0.36, "w2s4": 0.3405,
                                                                "w2s5": 0.34}, "best_pair": "w2s5", "best_ms": 0.34}}
    mish = report.targets(r)[3]
    assert mish.met is True and mish.measured.startswith("+0.15%") and "sweep in this run" in mish.note


def test_markdown_has_every_section_and_row():
    md = report.render_markdown(_results())
    for heading in ("# tritonwright benchmark: NVIDIA H200, 2026-11-22", "## Environment", "## Targets (issue 9)",
                    "## Kernel quality", "## Measurement trust", "## Cost of the tool", "## Jobs"):
        assert heading in md
    assert "| elu | KernelBench | 3.221 (memory) | 3.1 (0.96x) | 3.05 (0.95x) | - | 3.25 (1.01x) | " \
           "3.25 (1.01x) REVERT | 1.01x |" in md
    assert "| A/A (same kernel twice) | 50 | 1 | 2.0% |" in md
    assert "| slowed 5% on purpose | 50 | 49 | 98.0% | 5.0% | 0.100 x input |" in md
    assert "| one evaluation (ELU) | KernelBench | 20.0 | harness 18.0 s: load 3.5, correctness 6.0 | 900.0 | " \
           "13000.0 |" in md
    assert "| tune:matmul_fp16 | skipped | - | time budget |" in md
    assert "copy 4.000 TB/s read+write" in md


def test_plot_writes_a_png(tmp_path):
    p = tmp_path / "q.png"
    report.plot_quality(_results(), p)
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = tmp_path / "empty.png"
    report.plot_quality({"jobs": {}}, empty)
    assert empty.stat().st_size > 0


def test_a_variant_far_from_its_target_is_marked():
    r = _results()
    r["jobs"]["trust"]["result"]["slowed"][0]["measured_slowdown"] = 0.112  # the "3%" variant ran 11.2% slower
    md = report.render_markdown(r)
    assert "| slowed 3% on purpose (calibration missed) | 50 | 40 | 80.0% | 11.2% |" in md
    assert "| slowed 5% on purpose | 50 | 49 |" in md


def test_markdown_lists_the_parts_of_a_continued_suite():
    r = _results() | {"parts": [{"command": "PYTHONPATH=src python3 bench/run.py", "wall_s": 540.0},
                                {"command": "PYTHONPATH=src python3 bench/run.py --continue X", "wall_s": 300.0}]}
    md = report.render_markdown(r)
    assert "- part 1: `PYTHONPATH=src python3 bench/run.py`, 540 s" in md
    assert "- part 2: `PYTHONPATH=src python3 bench/run.py --continue X`, 300 s" in md
