"""Options shared by `eval`, `optimize`, `batch` and `tune`: one definition of each flag's name and help, so
the commands never drift apart. A command writes `device: opts.Device = opts.DEVICE_DEFAULT`.

Naming rule: `--out DIR` is always the run-store folder (where runs live); a file the command writes is
`--to FILE` (`tune --to`, `export --to`) or named by what it holds (`--json FILE`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEVICE_DEFAULT = "auto"  # a GPU when torch sees one, else the CPU interpreter: what a new user expects
OUT_DEFAULT = Path("runs")  # the run store beside where the command is run, as `runs` and `show` look for it

Device = Annotated[str, typer.Option(help="auto | cuda | cpu (cpu: Triton's interpreter, correctness only, "
                                          "no timing)")]
Set = Annotated[list[str] | None, typer.Option("--set", help="Override a task's module-level constant: "
                                                             "NAME=VALUE (repeatable; recorded in results)")]
Atol = Annotated[float | None, typer.Option(help="Absolute tolerance (default per dtype: fp32 1e-4, "
                                                 "fp16/bf16 1e-2)")]
Rtol = Annotated[float | None, typer.Option(help="Relative tolerance (default per dtype: fp32 1e-4, "
                                                 "fp16/bf16 1e-2)")]
Precision = Annotated[str, typer.Option(help="Precision policy: fp32 (IEEE fp32, TF32 off) | tf32 | fp16 | bf16. "
                                             "What the candidate may compute in; tolerances and the eager/"
                                             "torch.compile baselines follow it")]
PRECISION_DEFAULT = "fp32"  # today's meaning: a kernel is judged against real fp32 math, as a user expects
PRECISIONS = ("fp32", "tf32", "fp16", "bf16")  # eval.precision.Policy's values (options cannot import torch)


def check_precision(value: str) -> str:
    """The --precision value, or a one-line error naming the choices."""
    if value not in PRECISIONS:
        raise typer.BadParameter(f"--precision {value}: expected one of {', '.join(PRECISIONS)}")
    return value
Fp64K = Annotated[float | None, typer.Option(min=1.0, help="Ground truth: the candidate's error against a "
                                                          "float64 run may be this many times the fp32 "
                                                          "reference's own (default: the policy's measured K); "
                                                          "setting it also turns off the fp32 check that the "
                                                          "error is not that of 10-bit-mantissa inputs")]
Out = Annotated[Path, typer.Option(help="Run store folder (runs.sqlite and one folder per run)")]
Llm = Annotated[str | None, typer.Option(help="LLM spec: openai:MODEL, anthropic:MODEL, "
                                              "openai-compatible:URL#MODEL, replay:PATH or manual (keys from "
                                              "OPENAI_API_KEY / ANTHROPIC_API_KEY)")]
Gpu = Annotated[str | None, typer.Option(help="GPU spec name the prompts describe (default: detect; on a CPU "
                                              "run an assumed H100 SXM, said so)")]
Stages = Annotated[str | None, typer.Option(help="Comma-separated stages (grid_and_parallel, block_tiling, "
                                                 "memory_access, advanced_memory) or none (default: all four)")]
Style = Annotated[str, typer.Option(help="compact | verbose stage prompts")]
Kind = Annotated[str | None, typer.Option(help="single | fusion | network (default: detect from the task)")]
MaxRepairs = Annotated[int, typer.Option(min=0, help="LLM repair rounds for a failing seed")]
Threshold = Annotated[float, typer.Option(min=0.0, help="Minimum significant gain to keep a change (0.02: 2% "
                                                        "beyond the noise band)")]
FloorStop = Annotated[float, typer.Option(min=0.0, help="Skip the remaining stages and the tuner once the best "
                                                        "is within this fraction of the task's speed-of-light "
                                                        "floor (GPU); 0 turns it off")]
Strict = Annotated[bool, typer.Option(help="Reject any non-Triton compute in forward (matmuls and convolutions "
                                                "in PyTorch, cuBLAS/cuDNN calls in torch.compile's code)")]
Race = Annotated[bool, typer.Option(
    "--race/--no-race",
    help="When the best is still slower than torch.compile after the stages (GPU), race torch.compile's own "
         "generated Triton code against it and keep the faster (A/B timed, checked like any candidate)")]
Profile = Annotated[bool | None, typer.Option(
    "--profile/--no-profile", show_default="auto",
    help="Nsight Compute metrics before each stage (GPU only). Default: only where an LLM reads them (its "
         "prompt); a no-LLM run skips ncu, as the tuner times its configs itself")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Ask the LLM again even when a reply is cached")]
Resume = Annotated[str | None, typer.Option(help="Continue this run id (from `tritonwright runs`): finished "
                                                 "steps and tasks are not redone")]
Quiet = Annotated[bool, typer.Option(help="Log lines only, no live view")]
Candidates = Annotated[int, typer.Option(min=1, max=16, help="LLM answers per seed/stage prompt; the best "
                                                             "correct one competes")]

__all__ = ["DEVICE_DEFAULT", "OUT_DEFAULT", "PRECISIONS", "PRECISION_DEFAULT", "check_precision", "Atol", "Fp64K", "Precision", "Candidates", "Device", "FloorStop", "Gpu", "Kind", "Llm",
           "MaxRepairs", "NoCache", "Out", "Profile", "Quiet", "Race", "Strict", "Resume", "Rtol", "Set", "Stages", "Style",
           "Threshold"]
