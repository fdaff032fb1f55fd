"""Rewrites of the fixture corpus: every variant parses, runs in the Triton interpreter, and matches the original."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tritonwright.tune import rewrite
from tritonwright.tune.analysis import Analysis, analyse
from tritonwright.tune.edits import RewriteError
from tritonwright.tune.neighbourhoods import STAGE_SPECS, neighbourhood
from tritonwright.tune.plan import KernelPlan, make_plan

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "tune"
TASKS = FIXTURES / "tasks"
MATMUL_EXAMPLE = "../../../examples/matmul_fp16/candidate.py"  # the example itself, run on a small task
# fixture -> task it solves; the refuse_* fixtures are the too-dynamic ones
CORPUS = {
    "relu_positional.py": "relu.py",
    "relu_keywords.py": "relu.py",
    "relu_grid_variable.py": "relu.py",
    "relu_lambda_defaults.py": "relu.py",
    "relu_module_constant.py": "relu.py",
    "relu_heuristics.py": "relu.py",
    "relu_vectorize.py": "relu.py",
    "two_kernels.py": "add_scale.py",
    "elu_autotuned.py": "elu.py",
    "elu_configs_variable.py": "elu.py",
    "mish_size_branch.py": "conv_mish_bn.py",
    "softmax_rows.py": "softmax.py",
    "sum_atomic.py": "rowsum.py",
    # what LLMs write: settings computed from constants, **meta dicts, autotune lists built by code
    "softsign_warps_from_block.py": "softsign.py",  # num_warps=BLOCK_SIZE // 32
    "softsign_branch_warps.py": "softsign.py",  # num_warps follows a BLOCK_SIZE chosen by an if/else on sizes
    "swish_min_max_expr.py": "swish.py",  # module constants: 2 ** 9, max(1, min(8, BLOCK // 128)), 1 + 1
    "relu_tuple_unpack.py": "relu.py",  # BLOCK_SIZE, NUM_WARPS = 128, 2 and block, warps = ... * 2
    "relu_meta_dict.py": "relu.py",  # meta = dict(BLOCK_SIZE=..., num_warps=...); kernel[grid](..., **meta)
    "elu_meta_literal.py": "elu.py",  # a module-level {"BLOCK_SIZE": ...} literal passed as **LAUNCH_META
    "elu_autotune_comprehension.py": "elu.py",  # configs=[triton.Config(...) for b in [...] for w in [...]]
    "swish_autotune_loop.py": "swish.py",  # configs = []; for ...: configs.append(triton.Config(...))
    "relu_grid_per_branch.py": "relu.py",  # grid = ... assigned in each if/else arm, launched in that arm
    "relu_grid_def.py": "relu.py",  # def grid(meta): ... reading the BLOCK's variable (made to read meta)
    "relu_grid_reassigned.py": "relu.py",  # grid = ... set again before each of two launches
    "scale_then_sum_atomic.py": "scale_sum.py",  # an atomic kernel (launched at one config) beside a plain one
    "relu_autotune_warps_only.py": "relu.py",  # autotune configs set warps; the launch passes BLOCK_SIZE
    "matmul_autotune_warps_only.py": "matmul_small.py",  # the same with BLOCK_M/N/K, and a `def grid(META)`
    MATMUL_EXAMPLE: "matmul_small.py",  # GROUP_M: tuned, and the grid need not follow it
    "matmul_while_k_grid_per_arm.py": "matmul_small.py",  # `while k < K: k += BLOCK_K`; a def grid in each arm
}
# What each stage must be able to tune (kernel names); anything else must come with a reason.
EXPECTED_TUNABLE = {
    ("two_kernels.py", "block_tiling"): {"scale_kernel"},  # add_kernel's grid hard-codes 256
    ("softmax_rows.py", "block_tiling"): set(),  # BLOCK_SIZE = next_power_of_2(n_cols): run-time value
    **{(name, stage): {kernel} for name, kernel in [
        ("softsign_warps_from_block.py", "softsign_kernel"), ("softsign_branch_warps.py", "softsign_kernel"),
        ("swish_min_max_expr.py", "swish_kernel"), ("relu_tuple_unpack.py", "relu_kernel"),
        ("relu_meta_dict.py", "relu_kernel"), ("elu_meta_literal.py", "elu_kernel"),
        ("elu_autotune_comprehension.py", "elu_kernel"), ("swish_autotune_loop.py", "swish_kernel"),
        ("relu_grid_per_branch.py", "relu_kernel"), ("relu_grid_def.py", "relu_kernel"),
        ("relu_grid_reassigned.py", "relu_kernel"), ("relu_autotune_warps_only.py", "relu_kernel"),
        ("matmul_autotune_warps_only.py", "matmul_kernel"), (MATMUL_EXAMPLE, "matmul_kernel"),
        ("matmul_while_k_grid_per_arm.py", "matmul_kernel"),
    ] for stage in STAGE_SPECS},
}


def _variants(name: str, tmp: Path) -> tuple[list[Path], list[str]]:
    """Write every frozen config and every autotune rewrite of one fixture; return paths and refusals."""
    source = (FIXTURES / name).read_text()
    analysis = analyse(source)
    paths, refusals = [], []
    for stage in STAGE_SPECS:
        plan = make_plan(analysis, stage)
        refusals += [f"{stage}:{k}: {why}" for k, why in plan.skipped]
        configs = {}
        for kp in plan.kernels:
            nb = neighbourhood(stage, list(kp.centres), list(kp.block_names), uses_dot=kp.uses_dot)
            try:
                for i, c in enumerate(nb.configs):
                    p = tmp / f"{Path(name).stem}__{stage}__{kp.kernel}__{i}.py"
                    p.write_text(rewrite.freeze(analysis, [kp], {kp.kernel: c}))
                    paths.append(p)
                configs[kp.kernel] = list(nb.configs)
            except RewriteError as exc:
                refusals.append(f"{stage}:{kp.kernel}: {exc}")
        usable = [kp for kp in plan.kernels if kp.kernel in configs]
        if usable:  # the unsafe ones (atomics) at their last config, as a timed search writes its winner
            p = tmp / f"{Path(name).stem}__{stage}__autotune.py"
            p.write_text(rewrite.autotune(analysis, usable, {k.kernel: configs[k.kernel] for k in usable},
                                          frozen={k.kernel: configs[k.kernel][-1] for k in usable}))
            paths.append(p)
    return paths, refusals


def _run_interpreted(jobs: list[dict[str, object]], tmp: Path) -> list[dict[str, object]]:
    job = tmp / "job.json"
    job.write_text(json.dumps(jobs))
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run_variants.py"), str(job)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_corpus_has_at_least_twelve_launch_styles() -> None:
    assert len(CORPUS) >= 12
    assert all((FIXTURES / f).is_file() and (TASKS / t).is_file() for f, t in CORPUS.items())


def test_every_rewrite_runs_in_the_interpreter_and_matches_the_original(tmp_path: Path) -> None:
    jobs, counts = [], {}
    for name, task in CORPUS.items():
        paths, _ = _variants(name, tmp_path)
        counts[name] = len(paths)
        jobs.append({"task": str(TASKS / task), "variants": [str(FIXTURES / name), *map(str, paths)]})
    assert all(n > 0 for n in counts.values()), counts
    results = _run_interpreted(jobs, tmp_path)
    for job, res in zip(jobs, results, strict=True):
        assert res["reference_vs_model"] is not None and res["reference_vs_model"] < 1e-4, res
        for path, err in zip(job["variants"], res["errors"], strict=True):
            assert isinstance(err, float) and err < 1e-5, f"{Path(path).name}: {err}"


@pytest.mark.parametrize(("name", "stage"), sorted(EXPECTED_TUNABLE))
def test_stage_refuses_what_it_cannot_follow(name: str, stage: str, tmp_path: Path) -> None:
    analysis = analyse((FIXTURES / name).read_text())
    plan = make_plan(analysis, stage)
    tunable = set()
    for kp in plan.kernels:
        try:
            rewrite.freeze(analysis, [kp], {kp.kernel: kp.centres[0]})
            tunable.add(kp.kernel)
        except RewriteError as exc:
            assert "does not follow" in str(exc)
    assert tunable == EXPECTED_TUNABLE[(name, stage)]


@pytest.mark.parametrize(("name", "words"), [
    ("refuse_kernel_as_value.py", "used as a value"),
    ("refuse_loop_launch.py", "inside a loop"),
])
def test_too_dynamic_code_is_refused_with_a_reason(name: str, words: str) -> None:
    analysis = analyse((FIXTURES / name).read_text())
    for stage in STAGE_SPECS:
        plan = make_plan(analysis, stage)
        assert plan.kernels == []
        assert any(words in why for _, why in plan.skipped), plan.skipped


_RELU_HEAD = (FIXTURES / "relu_grid_def.py").read_text().split("def relu(x):")[0]


def _relu_plan(body: str) -> tuple[Analysis, KernelPlan]:
    """The relu kernel launched from `def relu(x)` with `body` (indented 4) after `out`, `n`, `BLOCK_SIZE = 64`:
    its analysis and block_tiling plan."""
    source = (_RELU_HEAD + "def relu(x):\n    out = torch.empty_like(x)\n    n = x.numel()\n    BLOCK_SIZE = 64\n"
              f"    {body}\n    return out\n")
    analysis = analyse(source)
    (kp,) = make_plan(analysis, "block_tiling").kernels
    return analysis, kp


@pytest.mark.parametrize(("body", "words"), [
    # set again in a branch between the assignment and the launch: either may reach it
    ("grid = (triton.cdiv(n, BLOCK_SIZE),)\n    if n > 4096:\n        grid = (triton.cdiv(n, BLOCK_SIZE), 1)\n"
     "    relu_kernel[grid](x, out, n, BLOCK_SIZE=BLOCK_SIZE)", "is set at line 20 and again at line 22"),
    # set inside a loop around the launch, after it: a later iteration launches with it
    ("grid = (triton.cdiv(n, BLOCK_SIZE),)\n    for _ in range(2):\n"
     "        relu_kernel[grid](x, out, n, BLOCK_SIZE=BLOCK_SIZE)\n        grid = (1,)",
     "inside a loop around the launch"),
    # a grid function reading the BLOCK's variable, shared by two launches
    ("def grid(meta):\n        return (triton.cdiv(n, BLOCK_SIZE),)\n"
     "    relu_kernel[grid](x, out, n, BLOCK_SIZE=BLOCK_SIZE)\n    relu_kernel[grid](out, out, n, BLOCK_SIZE=BLOCK_SIZE)",
     "serves several launches"),
])
def test_a_grid_the_launch_may_not_read_is_refused(body: str, words: str) -> None:
    """Which grid a launch reads must be certain before the rewrite changes it."""
    analysis, kp = _relu_plan(body)
    with pytest.raises(RewriteError, match=words):
        rewrite.freeze(analysis, [kp], {kp.kernel: kp.centres[0]})


def test_a_helper_s_own_grid_variable_is_not_the_launch_s() -> None:
    """A nested helper assigning its own `grid` after the outer one: the launch reads the outer one."""
    analysis, kp = _relu_plan("grid = (triton.cdiv(n, BLOCK_SIZE),)\n\n    def helper():\n        grid = (1,)\n"
                              "        return grid\n\n    relu_kernel[grid](x, out, n, BLOCK_SIZE=BLOCK_SIZE)")
    out = rewrite.freeze(analysis, [kp], {kp.kernel: kp.centres[0].replace(meta={"BLOCK_SIZE": 256})})
    assert 'grid = lambda META: (triton.cdiv(n, META["BLOCK_SIZE"]),)' in out
    assert "relu_kernel[grid](x, out, n, BLOCK_SIZE=256)" in out
    assert "        grid = (1,)" in out  # the helper's, untouched


def test_a_grid_function_reading_meta_is_left_as_it_is() -> None:
    """The tutorial's `def grid(META): return (triton.cdiv(n, META["BLOCK_SIZE"]),)`: nothing to rewrite in it."""
    analysis, kp = _relu_plan("def grid(META):\n        return (triton.cdiv(n, META['BLOCK_SIZE']),)\n\n"
                              "    relu_kernel[grid](x, out, n, BLOCK_SIZE=256)")
    out = rewrite.freeze(analysis, [kp], {kp.kernel: kp.centres[0].replace(meta={"BLOCK_SIZE": 1024})})
    assert "return (triton.cdiv(n, META['BLOCK_SIZE']),)" in out and "relu_kernel[grid](x, out, n, BLOCK_SIZE=1024" in out


def test_a_grid_function_defined_in_each_arm_is_the_one_that_reaches_the_launch() -> None:
    """A real reply defines `def grid(meta)` in both arms of an if/else (plain and split-K), each launching there:
    each launch follows its own arm's function, which only it reads."""
    analysis, kp = _relu_plan(
        "if n > 4096:\n        def grid(meta):\n            return (triton.cdiv(n, BLOCK_SIZE),)\n\n"
        "        relu_kernel[grid](x, out, n, BLOCK_SIZE=BLOCK_SIZE)\n    else:\n"
        "        def grid(meta):\n            return (triton.cdiv(n, BLOCK_SIZE), 1)\n\n"
        "        relu_kernel[grid](x, out, n, BLOCK_SIZE=BLOCK_SIZE)")
    out = rewrite.freeze(analysis, [kp], {kp.kernel: kp.centres[0].replace(meta={"BLOCK_SIZE": 256})})
    assert 'return (triton.cdiv(n, meta["BLOCK_SIZE"]),)' in out
    assert 'return (triton.cdiv(n, meta["BLOCK_SIZE"]), 1)' in out and out.count("BLOCK_SIZE=256") == 2


def test_a_while_loop_s_step_is_no_grid_dimension() -> None:
    """`while k < K: ... k += BLOCK_K` (two real replies' matmul and implicit-GEMM conv) steps like a for loop's
    range: the grid need not read BLOCK_K."""
    from tritonwright.tune.rewrite import loop_steps

    source = (
        "import triton\nimport triton.language as tl\n\n\n@triton.jit\n"
        "def mm(a, c, M, K, BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr, STEP: tl.constexpr, W: tl.constexpr):\n"
        "    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)\n    acc = tl.zeros([BLOCK_M], tl.float32)\n"
        "    k = 0\n    while k < K:\n        cols = k + tl.arange(0, BLOCK_K)\n"
        "        acc += tl.sum(tl.load(a + rows[:, None] * K + cols[None, :]), axis=1)\n        k += BLOCK_K\n"
        "    j = 0\n    while j < STEP:\n        j += 1\n        n = W\n"
        "    tl.store(c + rows, acc)\n")
    steps = loop_steps(analyse(source).kernels["mm"])
    assert steps == {"BLOCK_K", "STEP"}  # W is assigned in the loop, not its step


def test_tile_sizes_passed_beside_a_warps_only_autotune_list_move_into_its_configs() -> None:
    """The LLM's autotune list sets warps, its launch passes BLOCK_SIZE: the autotune rewrite writes BLOCK_SIZE
    into every config, takes it off the launch and makes the grid read it; freezing deletes the decorator."""
    analysis = analyse((FIXTURES / "relu_autotune_warps_only.py").read_text())
    (kp,) = make_plan(analysis, "block_tiling").kernels
    assert kp.autotuned and kp.blocks_at_launch and kp.block_names == ("BLOCK_SIZE",)
    assert [c.label for c in kp.centres] == ["BLOCK_SIZE=128 warps=2 stages=3", "BLOCK_SIZE=128 warps=4 stages=3"]
    big = kp.centres[1].replace(meta={"BLOCK_SIZE": 1024})
    tuned = rewrite.autotune(analysis, [kp], {kp.kernel: [*kp.centres, big]})
    assert 'triton.Config({"BLOCK_SIZE": 1024}, num_warps=4, num_stages=3)' in tuned
    assert 'grid = lambda META: (triton.cdiv(n, META["BLOCK_SIZE"]),)\n    relu_kernel[grid](x, out, n)\n' in tuned
    frozen = rewrite.freeze(analysis, [kp], {kp.kernel: big})
    assert "@triton.autotune" not in frozen and "BLOCK_SIZE=1024, num_warps=4, num_stages=3)" in frozen


def test_a_matmul_s_tile_order_is_tuned_and_a_group_norm_s_group_size_is_not() -> None:
    """GROUP_M of a tl.dot kernel is searched (refinement only, the grid need not follow it, no tile-size bound
    counts it); a constexpr named GROUP_SIZE in a kernel without tl.dot (channels per group) is no knob."""
    from tritonwright.tune.neighbourhoods import GpuLimits
    from tritonwright.tune.space import build_space, kernel_kind

    analysis = analyse((FIXTURES / MATMUL_EXAMPLE).read_text())
    (kp,) = make_plan(analysis, "block_tiling").kernels
    assert "GROUP_M" in kp.block_names
    space = build_space(kp, kernel_kind(analysis.kernels[kp.kernel].node, kp.uses_dot), "block_tiling", GpuLimits())
    axis = space.axis("GROUP_M")
    assert axis is not None and axis.coarse == (8,) and axis.values == (1, 2, 4, 8, 16, 32)
    assert space.why_invalid(kp.centres[0].replace(meta={"GROUP_M": 32})) is None
    out = rewrite.freeze(analysis, [kp], {kp.kernel: kp.centres[0].replace(meta={"GROUP_M": 4})})
    assert "GROUP_M=4" in out and 'meta["BLOCK_M"]' in out
    norm = analyse(
        "import triton\nimport triton.language as tl\n\n\n@triton.jit\n"
        "def gn(x_ptr, y_ptr, n, GROUP_SIZE_M: tl.constexpr, BLOCK: tl.constexpr):\n"
        "    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)\n"
        "    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) * GROUP_SIZE_M, mask=offs < n)\n")
    assert "GROUP_SIZE_M" not in norm.kernels["gn"].block_like


def test_atomics_refuse_autotune_but_allow_freeze() -> None:
    analysis = analyse((FIXTURES / "sum_atomic.py").read_text())
    plan = make_plan(analysis, "advanced_memory")
    (kp,) = plan.kernels
    assert "atomics" in kp.autotune_problem
    with pytest.raises(RewriteError, match="atomics"):
        rewrite.autotune(analysis, [kp], {kp.kernel: list(kp.centres)})
    assert "num_warps=8" in rewrite.freeze(analysis, [kp], {kp.kernel: kp.centres[0].replace(num_warps=8)})


def test_an_autotune_rewrite_launches_an_unsafe_kernel_at_its_winner_beside_an_autotune_list() -> None:
    """rewrite.autotune with `frozen`: the kernel with atomics gets its winner as plain launch arguments, the
    other kernel its @triton.autotune list; without a winner for the unsafe one it still refuses."""
    analysis = analyse((FIXTURES / "scale_then_sum_atomic.py").read_text())
    plans = {kp.kernel: kp for kp in make_plan(analysis, "advanced_memory").kernels}
    assert not plans["scale_kernel"].autotune_problem and "atomics" in plans["sum_kernel"].autotune_problem
    scale, total = plans["scale_kernel"], plans["sum_kernel"]
    configs = {"scale_kernel": [scale.centres[0], scale.centres[0].replace(num_warps=8)],
               "sum_kernel": [total.centres[0], total.centres[0].replace(num_warps=8)]}
    new = rewrite.autotune(analysis, [scale, total], configs, frozen={"sum_kernel": total.centres[0].replace(
        num_warps=8, num_stages=2)})
    assert new.count("@triton.autotune(") == 1 and new.index("@triton.autotune(") < new.index("def scale_kernel")
    assert "sum_kernel[(triton.cdiv(n, 256),)](y, out, n, BLOCK=256, num_warps=8, num_stages=2)" in new
    assert "scale_kernel[(triton.cdiv(n, 1024),)](x, y, n, 2.0, BLOCK=1024)" in new
    with pytest.raises(RewriteError, match="atomics.*use --freeze"):
        rewrite.autotune(analysis, [scale, total], configs)


def test_autotune_rewrite_is_readable_and_removes_owned_launch_arguments() -> None:
    source = (FIXTURES / "mish_size_branch.py").read_text()
    analysis = analyse(source)
    (kp,) = make_plan(analysis, "advanced_memory").kernels
    assert kp.centres[0].num_warps == 4 and kp.centres[0].num_stages == 3
    new = rewrite.autotune(analysis, [kp], {kp.kernel: list(kp.centres) + [kp.centres[0].replace(num_warps=8)]},
                           {kp.centres[0]: "original"})
    assert ('@triton.autotune(\n    configs=[\n        triton.Config({}, num_warps=4, num_stages=3),  # original\n'
            in new)
    assert 'key=["n_elements"]' in new
    launch = new[new.index("fused_activation_kernel_optimized[grid]("):]
    launch = launch[:launch.index(")\n")]
    assert "num_warps" not in launch and "num_stages" not in launch and "VECTORIZE=VECTORIZE" in launch
    # everything outside the decorator and the launch is byte-for-byte the original
    assert new.replace(new[new.index("@triton.autotune("):new.index("@triton.jit\ndef fused_activation_kernel_opt")],
                       "").count("\n") == source.count("\n") - 2


def test_block_tiling_makes_the_grid_follow_the_block() -> None:
    analysis = analyse((FIXTURES / "relu_grid_variable.py").read_text())
    (kp,) = make_plan(analysis, "block_tiling").kernels
    new = rewrite.freeze(analysis, [kp], {kp.kernel: kp.centres[0].replace(meta={"BLOCK_SIZE": 128})})
    assert 'grid = lambda META: (triton.cdiv(n, META["BLOCK_SIZE"]),)' in new
    assert "BLOCK_SIZE=128" in new


def test_size_branch_arms_become_paired_original_configs() -> None:
    analysis = analyse((FIXTURES / "mish_size_branch.py").read_text())
    (kp,) = make_plan(analysis, "block_tiling").kernels
    assert [c.meta_dict for c in kp.centres] == [{"BLOCK_SIZE": 256, "VECTORIZE": 4},
                                                 {"BLOCK_SIZE": 512, "VECTORIZE": 2},
                                                 {"BLOCK_SIZE": 1024, "VECTORIZE": 1}]


def test_a_grid_assigned_in_each_arm_follows_the_block_at_each_launch() -> None:
    analysis = analyse((FIXTURES / "relu_grid_per_branch.py").read_text())
    (kp,) = make_plan(analysis, "block_tiling").kernels
    new = rewrite.freeze(analysis, [kp], {kp.kernel: kp.centres[0].replace(meta={"BLOCK_SIZE": 512})})
    assert 'relu_kernel[lambda META: (triton.cdiv(n, META["BLOCK_SIZE"]),)](x, out, n, BLOCK_SIZE=512' in new
    assert 'relu_kernel[lambda META: (triton.cdiv(n, META["BLOCK_SIZE"]), 1, 1)](x, out, n, BLOCK_SIZE=512' in new
