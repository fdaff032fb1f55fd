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


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    t0 = time.perf_counter()
    # 1. Imports and the device. torch is imported here so `--help` works without it.
    import torch

    from tritonwright.eval import loading
    from tritonwright.task import exec_task_module, load_task, parse_overrides

    if not torch.cuda.is_available():
        _write(args.result, {"ok": False, "step": "device", "error": "no CUDA device visible to the profiled "
                             "process"})
        return EXIT_NO_CUDA
    device = torch.device("cuda")

    # 2. Reference and candidate modules, ModelNew with the reference's weights.
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
        return _fail(args.result, step, exc, EXIT_SETUP)
    setup_s = time.perf_counter() - t0

    # 4. Warm-up outside the profiled range: JIT compilation and @triton.autotune benchmarking happen here.
    step = "warmup"
    try:
        with torch.no_grad():
            for _ in range(args.warmup):
                model_new(*inputs)
            torch.cuda.synchronize()
            warm_s = time.perf_counter() - t0 - setup_s
            # 5. The profiled range: exactly `launches` forward calls between cudaProfilerStart/Stop.
            step = "profiled"
            torch.cuda.profiler.start()
            for _ in range(args.launches):
                model_new(*inputs)
            torch.cuda.synchronize()
            torch.cuda.profiler.stop()
    except Exception as exc:  # candidate code raising at run time (Triton errors, shape errors, ...)
        return _fail(args.result, step, exc, EXIT_FORWARD)

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
