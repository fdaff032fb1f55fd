"""Inductor as a seed: conversion of real generated modules, the tuner's view of them, the judge's verdict on
CPU (Triton interpreter), the live build on CPU, and the CLI wiring.

The fixtures under tests/fixtures/inductor/ are real Inductor output, made on a CPU with
torch.compile(cpu_backend="triton") by tests/fixtures/inductor/make_fixtures.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tritonwright.candidate import Candidate, static_check
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig
from tritonwright.inductor_seed import ORIGIN, InductorSeedError, make_seed, spec_from_dict
from tritonwright.inductor_seed.convert import ConvertError, convert
from tritonwright.task import load_task
from tritonwright.tune.analysis import analyse
from tritonwright.tune.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures" / "inductor"
CPU = EvalConfig(device="cpu", trials=1, load_timeout_s=120, correctness_timeout_s=240)


def _fixture(name: str) -> tuple[str, dict, dict]:
    data = json.loads((FIX / f"{name}.spec.json").read_text())
    return (FIX / f"{name}.wrapper.txt").read_text(), data["spec"], data["sizes"]


@pytest.mark.parametrize("name", ["softmax", "conv_mish_bn", "gemm_bias_relu"])
def test_conversion_is_a_valid_tunable_candidate(name: str) -> None:
    wrapper, spec, _ = _fixture(name)
    conv = convert(wrapper, spec_from_dict(spec))
    assert conv.converted, conv.summary()
    assert static_check(conv.source, "seed.py", frozenset({"task"})) == []
    assert "async_compile" not in conv.source and "ctypes" not in conv.source
    # Inductor's heavy header imports stay only where the module uses them (extern_kernels: a cuBLAS call)
    assert ("select_algorithm" in conv.source) == ("extern_kernels." in conv.source)
    assert "memory_planning" not in conv.source and "maybe_profile" not in conv.source
    plan = make_plan(analyse(conv.source), "block_tiling")
    tunable = {k.kernel for k in plan.kernels}
    assert set(conv.converted) <= tunable, plan.skipped
    for k in plan.kernels:
        assert any("BLOCK" in b for b in k.block_names)


def test_kernels_that_stay_wrapped_are_named_with_a_reason() -> None:
    wrapper, spec, _ = _fixture("conv_mish_bn")
    conv = convert(wrapper, spec_from_dict(spec))
    kept = dict(conv.kept)
    assert kept and all("Grid2D" in why for why in kept.values())
    assert "extern_kernels.convolution" in conv.externs
    skipped = dict(make_plan(analyse(conv.source), "block_tiling").skipped)
    assert set(kept) <= set(skipped)  # the tuner leaves them alone, and says so


def test_convert_off_keeps_every_kernel_as_written() -> None:
    wrapper, spec, _ = _fixture("softmax")
    conv = convert(wrapper, spec_from_dict(spec), convert_kernels=False)
    assert not conv.converted and len(conv.kept) == 1
    assert "@triton_heuristics.persistent_reduction" in conv.source and ".run(" in conv.source


def test_recorded_config_is_the_initial_launch() -> None:
    wrapper, spec, _ = _fixture("softmax")
    spec = dict(spec, configs={"triton_per_fused__softmax_0": {
        "kwargs": {"XBLOCK": 2}, "num_warps": 8, "num_stages": 1, "source": "Inductor's autotuner pick"}})
    conv = convert(wrapper, spec_from_dict(spec))
    assert "XBLOCK=2, num_warps=8, num_stages=1" in conv.source
    assert 'lambda META: (triton.cdiv(4, META["XBLOCK"]),)' in conv.source


def test_unmasked_axis_gets_a_static_assert() -> None:
    wrapper, spec, _ = _fixture("gemm_bias_relu")
    wrapper = wrapper.replace("xmask = xindex < xnumel", "xmask = tl.full([XBLOCK], True, tl.int1)")
    conv = convert(wrapper, spec_from_dict(spec))
    assert "tl.static_assert(64 % XBLOCK == 0" in conv.source


def test_no_triton_kernel_is_a_clear_error() -> None:
    wrapper, spec, _ = _fixture("gemm_bias_relu")
    start = wrapper.index("triton_poi_fused_relu_0 = async_compile.triton(")
    end = wrapper.index("''', device_str=", start)
    cut = wrapper[:start] + wrapper[wrapper.index("\n", end) + 1:]
    cut = "\n".join(line for line in cut.splitlines() if "triton_poi_fused_relu_0" not in line)
    with pytest.raises(ConvertError, match="no Triton kernel"):
        convert(cut, spec_from_dict(spec))


@pytest.mark.parametrize("name", ["softmax", "conv_mish_bn"])
def test_converted_fixture_passes_the_judge_on_cpu(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    wrapper, spec, sizes = _fixture(name)
    conv = convert(wrapper, spec_from_dict(spec))
    path = tmp_path / "seed.py"
    path.write_text(conv.source)
    task = load_task(ROOT / "examples" / name / "task.py", sizes)
    result = evaluate(task, Candidate(source=conv.source, origin=ORIGIN, path=str(path)), CPU)
    assert result.ok, result.reason


def test_live_seed_on_cpu(tmp_path: Path) -> None:
    task = load_task(ROOT / "examples" / "elu" / "task.py", {"batch_size": "4", "dim": "64"})
    seed = make_seed(task, "cpu", workdir=tmp_path)
    assert seed.candidate.origin == ORIGIN and seed.converted
    assert make_plan(analyse(seed.candidate.source), "block_tiling").kernels


def test_live_seed_failure_is_one_line(tmp_path: Path) -> None:
    """Raised by make_seed; as data from the race's job (pipeline.seams.HarnessRival), which crosses from a pool
    worker to the driver pickled."""
    import pickle

    from tritonwright.executors.jobs import inductor_seed_job
    from tritonwright.inductor_seed import SeedOutcome
    from tritonwright.pipeline.seams import HarnessRival

    task_file = tmp_path / "task.py"
    task_file.write_text("import torch\nimport torch.nn as nn\n\n\nclass Model(nn.Module):\n"
                         "    def forward(self, x):\n        return x.nonzero()\n\n\n"
                         "def get_inputs():\n    return [torch.randn(4)]\n\n\ndef get_init_inputs():\n    return []\n")
    task = load_task(task_file, {})
    with pytest.raises(InductorSeedError) as info:
        make_seed(task, "cpu", workdir=tmp_path / "w")
    assert "\n" not in str(info.value) and "Inductor seed unavailable" in str(info.value)
    job = inductor_seed_job(task, "cpu", str(tmp_path / "r"), "t")
    assert pickle.loads(pickle.dumps(job)) == job and job.timeout_s > 900
    outcome = HarnessRival(task, "cpu", str(tmp_path / "r")).make()
    assert isinstance(outcome, SeedOutcome) and outcome.candidate is None
    assert outcome.reason.startswith("Inductor seed unavailable") and "\n" not in outcome.reason


def test_cli_start_says_so_and_refuses_two_starts(tmp_path: Path) -> None:
    from tritonwright.inductor_seed import cli_start

    lines: list[str] = []
    with pytest.raises(InductorSeedError, match="--start inductor and --from"):
        cli_start(ROOT / "examples/elu/task.py", {}, "cpu", True, False, True, lambda s, **k: lines.append(s))
    cand = cli_start(ROOT / "examples/elu/task.py", {"batch_size": "4", "dim": "64"}, "cpu", False, False, False,
                     lambda s, **k: lines.append(s))
    assert cand.origin == ORIGIN
    assert lines[0].startswith("no --from and no --llm: starting from torch.compile's generated Triton code")


EXAMPLE_SIZES = {  # small sizes: each seed compiles and is judged in well under a minute on one GPU
    "elu": {"batch_size": "64", "dim": "4096"},
    "softmax": {"batch_size": "64", "dim": "1024"},
    "layernorm": {"batch_size": "64", "hidden": "1024"},
    "matmul_fp16": {"M": "256", "N": "256", "K": "256"},
    "gemm_bias_relu": {"batch_size": "128", "in_features": "256", "out_features": "256"},
    "conv_mish_bn": {"batch_size": "4", "in_channels": "8", "out_channels": "16", "height": "32", "width": "32"},
}


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(EXAMPLE_SIZES))
def test_inductor_seed_passes_evaluation_on_gpu(name: str, tmp_path: Path) -> None:
    task = load_task(ROOT / "examples" / name / "task.py", EXAMPLE_SIZES[name])
    seed = make_seed(task, "cuda", workdir=tmp_path)
    result = evaluate(task, seed.candidate, EvalConfig(device="cuda", trials=2))
    assert result.ok, (result.reason, seed.summary)


def test_a_batch_task_without_a_start_gets_torch_compiles_code_from_a_job(tmp_path: Path) -> None:
    """batch: a task with no candidate.py and no LLM starts from torch.compile's code, made by a job on the
    run's executor (a GPU slot in a pool, never beside another task's timing); a task that cannot load is
    its own one-line failure; a resumed task whose seed is recorded needs no start."""
    from tritonwright.pipeline.runner import RunSettings, Session, task_entry
    from tritonwright.store import RunStore

    store = RunStore(tmp_path / "runs")
    settings = RunSettings(device="cpu", overrides={"batch_size": "4", "dim": "64"})
    session = Session(store, store.create_run("batch", settings.to_dict()), settings, None)
    entry = task_entry(ROOT / "examples" / "elu" / "task.py")
    cand, why = session.inductor_start(entry)
    assert cand is not None and cand.origin == ORIGIN and why == ""
    assert (store.task_dir(session.run_id, entry.key) / "inductor-seed" / "inductor_seed.py").is_file()
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\n\nclass Model(torch.nn.Module):\n    pass\n")
    cand, why = session.inductor_start(task_entry(bad))
    assert cand is None and why and "\n" not in why
    assert not session.seed_recorded(entry.key)
    from tritonwright.decision import Decision
    from tritonwright.store import AttemptRecord

    store.start_task(session.run_id, entry.key, str(entry.path), "h", None, "single")
    store.record_attempt(session.run_id, entry.key, AttemptRecord("seed", "seed", ORIGIN, Decision.BASE))
    assert session.seed_recorded(entry.key)
