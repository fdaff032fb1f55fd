"""Static analysis of launch idioms LLMs write: what the tuner can prove (and tunes) and what it refuses, where.

Sources are inline and never run here; tests/test_tune_rewrite.py runs the fixture versions in the interpreter.
"""

from __future__ import annotations

import ast
import re

import pytest

from tritonwright.tune import rewrite
from tritonwright.tune.analysis import Setting, analyse
from tritonwright.tune.configs import LaunchConfig
from tritonwright.tune.plan import KernelPlan, make_plan

HEAD = '''import torch
import triton
import triton.language as tl


@triton.jit
def k(x_ptr, out_ptr, n, BLOCK_SIZE: tl.constexpr):
    offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)
'''


def _src(body: str, module: str = "") -> str:
    """HEAD, module-level lines, then `def run(x):` with `body` (4-space indented) as its body."""
    lines = "\n".join(f"    {line}" if line else "" for line in body.strip("\n").splitlines())
    return f"{HEAD}\n{module.strip()}\n\n\ndef run(x):\n    out = torch.empty_like(x)\n    n = x.numel()\n{lines}\n"


def _line(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


def _settings(source: str) -> dict[str, Setting]:
    (site,) = analyse(source).kernels["k"].sites
    return site.settings


def _plan(source: str, stage: str) -> tuple[list[KernelPlan], str]:
    plan = make_plan(analyse(source), stage)
    return plan.kernels, "; ".join(why for _, why in plan.skipped)


GRID = 'grid = lambda META: (triton.cdiv(n, META["BLOCK_SIZE"]),)'


@pytest.mark.parametrize(("module", "expr", "value"), [
    ("", "BLOCK // 32", 32),
    ("", "min(8, BLOCK // 64)", 8),
    ("", "max(1, BLOCK // 256)", 4),
    ("", "2 ** 2", 4),
    ("A = 2\nB = A * 4", "B", 8),  # a name bound to an expression of other names
    ("A, B = 2, 8", "A * B // 4", 4),  # tuple-unpacked module constants
    ("", "triton.cdiv(BLOCK, 512)", 2),
    ("", "16 if BLOCK >= 1024 else 4", 16),
    ("", "BLOCK >> 8", 4),
])
def test_warps_from_constant_expressions_are_folded(module: str, expr: str, value: int) -> None:
    source = _src(f"BLOCK = 1024\n{GRID}\nk[grid](x, out, n, BLOCK_SIZE=BLOCK, num_warps={expr})", module)
    s = _settings(source)["num_warps"]
    assert s.known and s.values == (value,), s
    kernels, skipped = _plan(source, "advanced_memory")
    assert kernels and kernels[0].centres[0].num_warps == value, skipped


def test_warps_computed_from_the_tuned_block_are_owned_by_the_tuner() -> None:
    source = _src(f"BLOCK_SIZE = 1024\n{GRID}\nk[grid](x, out, n, BLOCK_SIZE=BLOCK_SIZE, num_warps=BLOCK_SIZE // 32)")
    analysis = analyse(source)
    (kp,) = make_plan(analysis, "block_tiling").kernels
    assert kp.centres == (LaunchConfig.make(32, 3, {"BLOCK_SIZE": 1024}),)
    frozen = rewrite.freeze(analysis, [kp], {"k": kp.centres[0].replace(meta={"BLOCK_SIZE": 2048})})
    assert "k[grid](x, out, n, BLOCK_SIZE=2048, num_warps=32)" in frozen  # the expression is replaced
    tuned = rewrite.autotune(analysis, [kp], {"k": list(kp.centres)})
    assert "k[grid](x, out, n)" in tuned and "BLOCK_SIZE // 32" not in tuned


def test_a_constant_variable_is_left_as_written_when_the_stage_does_not_own_it() -> None:
    source = _src(f"BLOCK_SIZE = 256\nWARPS = 4\n{GRID}\nk[grid](x, out, n, BLOCK_SIZE=BLOCK_SIZE, num_warps=WARPS)")
    analysis = analyse(source)
    (kp,) = make_plan(analysis, "block_tiling").kernels
    frozen = rewrite.freeze(analysis, [kp], {"k": kp.centres[0].replace(meta={"BLOCK_SIZE": 512})})
    assert "BLOCK_SIZE=512, num_warps=WARPS)" in frozen


def test_module_constants_and_function_locals_resolve_like_python() -> None:
    # the function's own binding shadows the module's; the module's is used where the function has none
    source = _src(f"BLOCK = 512\n{GRID}\nk[grid](x, out, n, BLOCK_SIZE=BLOCK, num_warps=WARPS)",
                  "BLOCK = 64\nWARPS = 2")
    s = _settings(source)
    assert s["BLOCK_SIZE"].values == (512,) and s["num_warps"].values == (2,)


@pytest.mark.parametrize("meta", ['dict(BLOCK_SIZE=256, num_warps=4)', '{"BLOCK_SIZE": 256, "num_warps": 4}'])
def test_a_meta_dict_bound_once_is_read_and_rewritten(meta: str) -> None:
    source = _src(f"meta = {meta}\n{GRID}\nk[grid](x, out, n, **meta)")
    analysis = analyse(source)
    s = _settings(source)
    assert s["BLOCK_SIZE"].values == (256,) and s["num_warps"].values == (4,)
    (kp,) = make_plan(analysis, "block_tiling").kernels
    frozen = rewrite.freeze(analysis, [kp], {"k": kp.centres[0].replace(meta={"BLOCK_SIZE": 128})})
    assert meta.replace("256", "128") in frozen and "k[grid](x, out, n, **meta)" in frozen
    (kp,) = make_plan(analysis, "advanced_memory").kernels
    tuned = rewrite.autotune(analysis, [kp], {"k": list(kp.centres)})
    assert "num_warps" not in tuned.split("def run")[1]  # the autotuner owns it: dropped from the dict
    assert ("dict(BLOCK_SIZE=256)" if meta.startswith("dict") else '{"BLOCK_SIZE": 256}') in tuned
    ast.parse(tuned)


@pytest.mark.parametrize("arg", ["META", "meta", "kw"])
def test_grid_lambdas_with_any_argument_name_follow_the_block(arg: str) -> None:
    source = _src(f'grid = lambda {arg}: (triton.cdiv(n, {arg}["BLOCK_SIZE"]),)\n'
                  "k[grid](x, out, n, BLOCK_SIZE=256)")
    analysis = analyse(source)
    (kp,) = make_plan(analysis, "block_tiling").kernels
    frozen = rewrite.freeze(analysis, [kp], {"k": kp.centres[0].replace(meta={"BLOCK_SIZE": 512})})
    assert f'grid = lambda {arg}: (triton.cdiv(n, {arg}["BLOCK_SIZE"]),)' in frozen and "BLOCK_SIZE=512" in frozen


AUTOTUNED = '''import torch
import triton
import triton.language as tl

{module}


@triton.autotune(configs={configs}, key=["n"])
@triton.jit
def k(x_ptr, out_ptr, n, BLOCK_SIZE: tl.constexpr):
    offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


def run(x):
    out = torch.empty_like(x)
    n = x.numel()
    k[lambda META: (triton.cdiv(n, META["BLOCK_SIZE"]),)](x, out, n)
'''


def _autotune_configs(module: str, configs: str) -> tuple[list[tuple[int, int, int]], str]:
    info = analyse(AUTOTUNED.format(module=module, configs=configs)).kernels["k"].autotune
    assert info is not None
    return [(c.meta_dict["BLOCK_SIZE"], c.num_warps, c.num_stages) for c in info.configs], info.problem


@pytest.mark.parametrize(("module", "configs"), [
    ("", '[triton.Config({"BLOCK_SIZE": b}, num_warps=w) for b in [256, 512] for w in [2, 4]]'),
    ("", '[triton.Config({"BLOCK_SIZE": b}, num_warps=w) for b, w in ((256, 2), (256, 4), (512, 2), (512, 4))]'),
    ("BLOCKS = [256, 512]", '[triton.Config({"BLOCK_SIZE": b}, num_warps=2 ** w) for b in BLOCKS for w in range(1, 3)]'),
    ("CONFIGS = []\nfor b in (256, 512):\n    for w in (2, 4):\n"
     '        CONFIGS.append(triton.Config({"BLOCK_SIZE": b}, num_warps=w))', "CONFIGS"),
    ("CONFIGS = []\nfor b in (256, 512, 1024):\n    if b < 1024:\n        for w in (2, 4):\n"
     '            CONFIGS.append(triton.Config({"BLOCK_SIZE": b}, num_warps=w))', "CONFIGS"),
])
def test_autotune_lists_built_by_code_expand_statically(module: str, configs: str) -> None:
    expanded, problem = _autotune_configs(module, configs)
    assert problem == ""
    assert expanded == [(256, 2, 3), (256, 4, 3), (512, 2, 3), (512, 4, 3)]


def test_a_launch_option_written_in_a_config_s_dict_is_what_triton_makes_of_it() -> None:
    """A real reply wrote `triton.Config({'BLOCK_SIZE': 512, 'num_stages': 2}, num_warps=8)`: Triton lets the
    Config's own num_stages (default 3) win, so the dict entry never reaches the launch; freezing the kernel used
    to write `num_stages=` twice (a SyntaxError)."""
    configs = '[triton.Config({"BLOCK_SIZE": 512, "num_stages": 2}, num_warps=8), triton.Config({"BLOCK_SIZE": 256})]'
    expanded, problem = _autotune_configs("", configs)
    assert problem == "" and expanded == [(512, 8, 3), (256, 4, 3)]
    analysis = analyse(AUTOTUNED.format(module="", configs=configs))
    (kp,) = make_plan(analysis, "launch").kernels
    frozen = rewrite.freeze(analysis, [kp], {"k": kp.centres[0]})
    ast.parse(frozen)
    assert frozen.count("num_stages=") == 1 and "@triton.autotune" not in frozen


@pytest.mark.parametrize(("configs", "searched", "refusal"), [
    # a real reply's grid `(triton.cdiv(C, 64), ...)  # Using 64 as reference` under configs of 16-128: refused
    ('[triton.Config({"BLOCK_SIZE": 256}), triton.Config({"BLOCK_SIZE": 512}, num_warps=8)]', None,
     "does not follow BLOCK_SIZE (neither META['BLOCK_SIZE'] nor its variable): changing BLOCK_SIZE would skip or "
     "repeat elements; its autotune configs set BLOCK_SIZE to 256, 512 under that one grid"),
    # one value in every config, the grid written for it: warps and stages are searched, the tile stays
    ('[triton.Config({"BLOCK_SIZE": 256}, num_warps=2), triton.Config({"BLOCK_SIZE": 256}, num_warps=8)]', (), ""),
])
def test_an_autotuned_kernel_whose_grid_ignores_its_configs_keeps_its_tile_sizes(
        configs: str, searched: tuple[str, ...] | None, refusal: str) -> None:
    from tritonwright.tune.search import TuneSettings, _usable_plans

    source = AUTOTUNED.format(module="", configs=configs).replace(
        'k[lambda META: (triton.cdiv(n, META["BLOCK_SIZE"]),)]', "k[(triton.cdiv(n, 256),)]")
    analysis = analyse(source)
    skipped: list[tuple[str, str]] = []
    plans = _usable_plans(analysis, list(make_plan(analysis, "launch").kernels), TuneSettings(stage="launch"),
                          skipped)
    if searched is None:
        assert plans == [] and len(skipped) == 1 and refusal in skipped[0][1], skipped
        return
    (kp,) = plans
    assert kp.block_names == searched and all(c.meta_dict == {"BLOCK_SIZE": 256} for c in kp.centres)
    wider = [LaunchConfig.make(w, 3, {"BLOCK_SIZE": 256}) for w in (1, 16)]
    tuned = rewrite.autotune(analysis, [kp], {"k": wider})
    assert tuned.count('"BLOCK_SIZE": 256') == 2 and "k[(triton.cdiv(n, 256),)]" in tuned


@pytest.mark.parametrize(("module", "configs", "words"), [
    ("SIZES = torch.tensor([256, 512]).tolist()",
     '[triton.Config({"BLOCK_SIZE": b}) for b in SIZES]', "line 5: `torch.tensor([256, 512]).tolist()` is not a literal list"),
    ("CONFIGS = []\nfor b in (256, 512):\n    print(b)\n    CONFIGS.append(triton.Config({'BLOCK_SIZE': b}))",
     "CONFIGS", "line 7: `print(b)` is not a for loop"),
    ("CONFIGS = [triton.Config({'BLOCK_SIZE': 256})]\nCONFIGS += [triton.Config({'BLOCK_SIZE': 512})]",
     "CONFIGS", "not assigned exactly once"),
    ("", '[triton.Config({"BLOCK_SIZE": b}, num_warps=b // 3) for b in [256]]', "num_warps=85"),
])
def test_autotune_lists_that_cannot_be_expanded_are_refused_with_the_line(module: str, configs: str,
                                                                          words: str) -> None:
    expanded, problem = _autotune_configs(module, configs)
    assert expanded == [] and words in problem, problem


@pytest.mark.parametrize(("body", "module", "line_of", "words"), [
    # a run-time size: depends on the input, so it stays a refusal, naming the line that computes it
    (f"BLOCK_SIZE = triton.next_power_of_2(n)\n{GRID}\nk[grid](x, out, n, BLOCK_SIZE=BLOCK_SIZE)", "",
     "n = x.numel()", "`n = x.numel()` is computed at run time"),
    (f"{GRID}\nk[grid](x, out, n, BLOCK_SIZE=triton.next_power_of_2(n))", "",
     "n = x.numel()", "calls x.numel()"),
    (f"{GRID}\nk[grid](x, out, n, BLOCK_SIZE=256, num_warps=WARPS)", "WARPS = 4\nWARPS = 8",
     "WARPS = 4", "`WARPS` is reassigned on one path"),
    (f"{GRID}\nk[grid](x, out, n, BLOCK_SIZE=256, num_warps=256 / 64)", "",
     "num_warps=256 / 64", "gives a float"),
    (f"{GRID}\nk[grid](x, out, n, BLOCK_SIZE=256, num_warps=W)", "W = 4\n\n\ndef bump():\n    global W\n    W = 8",
     "global W", "rebound through `global`"),
    (f"{GRID}\nmeta = dict(BLOCK_SIZE=256)\nmeta['num_warps'] = 8\nk[grid](x, out, n, **meta)", "",
     "meta['num_warps'] = 8", "`meta` is also used at line"),
    (f"BLOCK = 1024\n{GRID}\nk[grid](x, out, n, BLOCK_SIZE=BLOCK, num_warps=BLOCK // 3)", "",
     "num_warps=BLOCK // 3", "num_warps=341"),
    (f"W = 4\n{GRID}\nfor _ in range(2):\n    W = 8\nk[grid](x, out, n, BLOCK_SIZE=256, num_warps=W)", "",
     "    W = 8", "assigned inside a loop"),
])
def test_what_cannot_be_proved_is_refused_with_its_line(body: str, module: str, line_of: str, words: str) -> None:
    source = _src(body, module)
    stage = "block_tiling" if "BLOCK_SIZE=BLOCK_SIZE" in body or "next_power" in body else "advanced_memory"
    kernels, skipped = _plan(source, stage)
    assert kernels == [] and words in skipped, skipped
    assert f"line {_line(source, line_of)}" in skipped, skipped


def test_a_meta_dict_from_a_parameter_is_refused() -> None:
    source = HEAD + '\n\ndef run(x, **meta):\n    n = x.numel()\n    k[(1,)](x, x, n, **meta)\n'
    _, skipped = _plan(source, "advanced_memory")
    assert "passes `**meta`" in skipped and "parameter of run()" in skipped


def test_a_loop_rebinding_what_an_expression_reads_is_refused() -> None:
    source = _src(f"{GRID}\nfor b in (256, 512):\n    k[grid](x, out, n, BLOCK_SIZE=256, num_warps=b // 64)")
    _, skipped = _plan(source, "advanced_memory")
    assert re.search(r"line \d+: `b` is bound by a for loop", skipped), skipped


def test_values_from_two_unrelated_branches_do_not_pair() -> None:
    body = (f"if n < 1024:\n    BLOCK = 256\nelse:\n    BLOCK = 512\nif n < 4096:\n    W = 2\nelse:\n    W = 4\n"
            f"{GRID}\nk[grid](x, out, n, BLOCK_SIZE=BLOCK, num_warps=BLOCK // 64 * W)")
    source = _src(body)
    s = _settings(source)["num_warps"]
    assert s.kind == "dynamic" and "do not pair arm by arm" in s.reason
    assert f"line {_line(source, 'num_warps=BLOCK // 64 * W')}" in s.reason
