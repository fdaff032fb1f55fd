"""`tritonwright eval TASK.py CANDIDATE.py`: verdict table for one candidate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tritonwright import options as opts
from tritonwright.candidate import read_candidate
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, EvalResult, Status
from tritonwright.task import load_task, parse_overrides


def _fmt(x: float | None, spec: str = ".3g", suffix: str = "") -> str:
    return "-" if x is None else f"{x:{spec}}{suffix}"


def render_verdict(result: EvalResult, console: Console) -> None:
    colour = "green" if result.ok else "red"
    table = Table(title=f"{result.task.get('name', '?')} on {result.device}", show_lines=False)
    table.add_column("status")
    table.add_column("outputs")
    table.add_column("max abs err")
    table.add_column("rel L2 err")
    table.add_column("Triton share")
    table.add_column("median ms")
    table.add_column("vs eager")
    table.add_column("vs compile")
    worst = max(result.outputs, key=lambda c: (not c.ok, c.max_abs_err or 0.0), default=None)
    k = result.kernels
    share = "-"
    if k is not None:
        share = _fmt(k.triton_share * 100, ".1f", "%") if k.triton_share is not None else (
            "Triton only" if k.triton_launches and not k.other_ops else
            f"{sum(k.triton_launches.values())} Triton / {sum(k.other_ops.values())} other ops")
    n_ok = sum(c.ok for c in result.outputs)
    table.add_row(
        f"[{colour}]{result.status.value}[/{colour}]",
        f"{n_ok}/{len(result.outputs)} ok" if result.outputs else "-",
        _fmt(worst.max_abs_err if worst else None), _fmt(worst.rel_l2_err if worst else None), share,
        _fmt(result.timing.median_ms if result.timing else None, ".4f"),
        _fmt(result.speedup_eager, ".2f", "x"), _fmt(result.speedup_compiled, ".2f", "x"),
    )
    console.print(table)
    if result.reason:
        console.print(f"[{colour}]reason:[/{colour}] ", end="")
        console.print(result.reason, markup=False, highlight=False)
    if result.timing:
        t = result.timing
        console.print(f"timing: median {t.median_ms:.4f} ms, IQR {t.q1_ms:.4f}-{t.q3_ms:.4f} ms, n={t.n}, "
                      f"{t.method}" + (f"; host {t.host_ms:.4f} ms a call, flush {t.flush_ms:.4f} ms"
                                       if t.host_ms is not None and t.flush_ms is not None else ""), highlight=False)
    for name, stats in (("eager", result.eager), ("torch.compile", result.compiled)):
        if stats:
            cached = " (cached)" if result.baseline_cached else ""
            console.print(f"{name}: median {stats.median_ms:.4f} ms{cached}", highlight=False)
    if result.timing_note:
        console.print(f"timing: {result.timing_note}", highlight=False)
    if k is not None and k.other_ops:
        console.print("non-Triton compute: " + ", ".join(f"{n} x{c}" for n, c in sorted(k.other_ops.items())),
                      markup=False, highlight=False)
    console.print(f"precision: {result.precision} policy", highlight=False)
    for o in result.outputs:
        if o.trial == 0 and o.fp64_err is not None:
            ratio = f"{o.fp64_ratio:.1f}x" if o.fp64_ratio is not None else "n/a"
            console.print(f"output {o.index} vs float64: error {o.fp64_err:.2g} ({ratio} the fp32 reference's "
                          f"{o.ref_fp64_err:.2g})", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    if result.env and result.env.gpu:
        e = result.env
        console.print(f"env: {e.gpu}, driver {e.driver}, CUDA {e.cuda}, torch {e.torch}, triton {e.triton}",
                      highlight=False)
    if result.seed is not None:
        console.print(f"seed {result.seed} (repeat with --seed {result.seed})", highlight=False)
    console.print(f"wall time {result.wall_s:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in result.step_seconds.items())})",
                  highlight=False)


def eval_command(
    task: Annotated[Path, typer.Argument(help="Task file (KernelBench format: Model, get_inputs, get_init_inputs)")],
    candidate: Annotated[Path, typer.Argument(help="Candidate file defining class ModelNew with Triton kernels")],
    device: opts.Device = opts.DEVICE_DEFAULT,
    trials: Annotated[int, typer.Option(min=1, help="Correctness trials, each with fresh inputs")] = 3,
    atol: opts.Atol = None,
    rtol: opts.Rtol = None,
    strict: opts.Strict = False,
    precision: opts.Precision = opts.PRECISION_DEFAULT,
    fp64_k: opts.Fp64K = None,
    set_: opts.Set = None,
    seed: Annotated[int | None, typer.Option(
        min=0, max=2**63 - 1,  # what torch.manual_seed takes
        help="Fix the seed of weights and inputs (to repeat a run; the result shows the seed it used). "
             "Default: a fresh secret seed per evaluation, so a candidate cannot precompute answers")] = None,
    no_baselines: Annotated[bool, typer.Option("--no-baselines", help="Skip eager/torch.compile timing")] = False,
    compile_mode: Annotated[str, typer.Option(help="torch.compile mode of the baseline")] = "default",
    cuda_graph: Annotated[bool, typer.Option(help="Also time the candidate as a CUDA graph replay")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the EvalResult as JSON here")] = None,
) -> None:
    """Check a candidate's correctness (and time it on a GPU); exit non-zero unless OK."""
    if compile_mode not in {"default", "max-autotune", "reduce-overhead", "max-autotune-no-cudagraphs"}:
        raise typer.BadParameter(f"--compile-mode {compile_mode}: expected default or max-autotune")
    opts.check_precision(precision)
    t = load_task(task, parse_overrides(set_))
    cand = read_candidate(candidate)
    config = EvalConfig(device=device, trials=trials, atol=atol, rtol=rtol, strict=strict,
                        seed=42 if seed is None else seed, secret_seeds=seed is None, precision=precision,
                        fp64_k=fp64_k,
                        baselines=not no_baselines, compile_mode=compile_mode, cuda_graph=cuda_graph)
    console = Console(width=None if Console().is_terminal else 140)  # logs: wide enough for the table
    with console.status(f"evaluating {candidate.name} against {task.name} ..."):
        result = evaluate(t, cand, config)
    render_verdict(result, console)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(result.to_json())
    raise typer.Exit(0 if result.status is Status.OK else 1)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
