"""The program ncu runs: build ModelNew with the reference's weights, warm up, then run the profiled range.

    python -m tritonwright.profile.target --task T.py --candidate C.py --result R.json [--launches N]

Launched by `collect` under `ncu --profile-from-start off`: everything before `cudaProfilerStart` (imports,
Triton compilation, autotuning) is not profiled; the range holds exactly `--launches` forward calls.
The failure kind is decided here, where the exception type is known, and written to the result file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_SETUP = 3  # task/candidate could not be loaded or built: the candidate's or user's problem
EXIT_FORWARD = 4  # ModelNew.forward raised during warm-up or in the profiled range
EXIT_NO_CUDA = 5  # nothing to profile without a GPU


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tritonwright.profile.target")
    p.add_argument("--task", required=True)
    p.add_argument("--candidate", required=True)
    p.add_argument("--result", required=True, help="JSON file this program writes its outcome to")
    p.add_argument("--set", action="append", default=[], help="task constant override NAME=VALUE")
    p.add_argument("--launches", type=int, default=1)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--inputs-on-host", action="store_true",
                   help="run get_inputs() on the CPU as the evaluator does (slower for large inputs)")
    return p.parse_args(argv)


def _write(path: str, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(data, indent=2), encoding="utf-8")


def _fail(path: str, step: str, exc: BaseException, code: int) -> int:
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    _write(path, {"ok": False, "step": step, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": "".join(tb)[-4000:]})
    return code


class _Failed(Exception):
    """A step of the target failed: which one, and the exception it raised."""

    def __init__(self, step: str, exc: Exception) -> None:
        super().__init__(step)
        self.step, self.exc = step, exc


def _setup(args: argparse.Namespace, device: Any) -> tuple[Any, list[Any], Any]:
    """2-3. ModelNew with the reference's weights, and the inputs: (model, inputs, weight notes). Raises
    _Failed("load" | "inputs", exc) for anything the task's or the candidate's code raises."""
    import torch

    from tritonwright.eval import loading
    from tritonwright.task import exec_task_module, load_task, parse_overrides

    step = "load"
    try:
        task = load_task(args.task, parse_overrides(args.set))
        ref_module = exec_task_module(task)
        loading.fp32_only()  # as in the evaluation: the kernels profiled are the ones that were judged
        init = loading.make_init_args(ref_module, task.path)
        model = loading.construct(ref_module.Model, init, args.seed, device, "Model")
        model_new, weight_notes = loading.load_model_new(args.candidate, init, loading.reference_state(model),
                                                         args.seed, device)
        del model
        # 3. Inputs. Made on the GPU by default: profiling needs shapes and value distribution, not the CPU
        #    random stream, and a multi-GB randn on the CPU costs many seconds.
        step = "inputs"
        if args.inputs_on_host:
            inputs = loading.make_inputs(ref_module, task.path, args.seed, device)
        else:
            with torch.device(device):
                inputs = loading.make_inputs(ref_module, task.path, args.seed, device)
    except Exception as exc:  # any failure while importing/building user code is the candidate's or task's
        raise _Failed(step, exc) from exc
    return model_new, inputs, weight_notes


def _warm_and_profile(torch: Any, model_new: Any, inputs: list[Any], args: argparse.Namespace, t0: float,
                      setup_s: float) -> float:
    """4-5. Warm-up outside the profiled range (JIT compilation and @triton.autotune benchmarking happen here),
    then exactly `--launches` forward calls between cudaProfilerStart/Stop. Returns the warm-up seconds;
    raises _Failed("warmup" | "profiled", exc) when the candidate raises at run time."""
    step = "warmup"
    try:
        with torch.no_grad():
            for _ in range(args.warmup):
                model_new(*inputs)
            torch.cuda.synchronize()
            warm_s: float = time.perf_counter() - t0 - setup_s
            step = "profiled"
            torch.cuda.profiler.start()
            for _ in range(args.launches):
                model_new(*inputs)
            torch.cuda.synchronize()
            torch.cuda.profiler.stop()
    except Exception as exc:  # candidate code raising at run time (Triton errors, shape errors, ...)
        raise _Failed(step, exc) from exc
    return warm_s


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    t0 = time.perf_counter()
    # 1. The device. torch is imported here so `--help` works without it.
    import torch

    if not torch.cuda.is_available():
        _write(args.result, {"ok": False, "step": "device", "error": "no CUDA device visible to the profiled "
                             "process"})
        return EXIT_NO_CUDA
    device = torch.device("cuda")
    try:
        model_new, inputs, weight_notes = _setup(args, device)
    except _Failed as failed:
        return _fail(args.result, failed.step, failed.exc, EXIT_SETUP)
    setup_s = time.perf_counter() - t0
    try:
        warm_s = _warm_and_profile(torch, model_new, inputs, args, t0, setup_s)
    except _Failed as failed:
        return _fail(args.result, failed.step, failed.exc, EXIT_FORWARD)

    # 6. Outcome for the parent.
    import triton

    _write(args.result, {
        "ok": True,
        "device": torch.cuda.get_device_name(device),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "setup_s": round(setup_s, 3),
        "warmup_s": round(warm_s, 3),
        "total_s": round(time.perf_counter() - t0, 3),
        "weights": weight_notes,
    })
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
