"""Is a candidate's timing exposed to its host-side launch cost? (twelfth session, layernorm's final check)

    PYTHONPATH=src python3 bench/launch_bound.py TASK CANDIDATE [--repeat 3]

In one process (after one forward under torch.profiler with --profile, as the judge's kernel-share step): the host seconds one forward takes to enqueue (no sync), the GPU time of one L2 flush, and the
candidate's median under eval.timing.time_cuda as the judge runs it, then with a GPU spin of a given length
queued between the flush and the start event (the host enqueues the forward while the GPU spins, so host cost
cannot reach the timed span), then as a CUDA graph replay. Prints one JSON line per repeat.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from tritonwright.errors import UserInputError
from tritonwright.eval import loading
from tritonwright.eval import timing as tm
from tritonwright.task import exec_task_module, load_task


def spin_flush(flush: tm.L2Flusher, cycles: int):
    def run() -> None:
        flush()
        torch.cuda._sleep(cycles)
    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    ap.add_argument("candidate")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hooks", action="store_true", help="the judge's launch hooks installed, as in its child")
    ap.add_argument("--profile", action="store_true",
                    help="one forward under torch.profiler first, as the judge's kernel-share step does")
    a = ap.parse_args()
    if a.hooks:
        from tritonwright.eval import hooks

        hooks.install_launch_hooks(interpret=False, pin_autotune=False)
    if not torch.cuda.is_available():
        raise SystemExit("launch_bound: needs a CUDA GPU (it times kernels)")
    dev = torch.device("cuda")
    try:
        task = load_task(a.task)
        ref = exec_task_module(task)
        init = loading.make_init_args(ref, a.task)
        mod = loading.load_candidate_module(a.candidate)
    except UserInputError as exc:  # a missing or malformed task or candidate: one line, not a traceback
        raise SystemExit(f"launch_bound: {exc}") from None
    if a.hooks:
        hooks.install_late_hooks()
    model = mod.ModelNew(*init.args, **init.kwargs).to(dev)
    inputs = [x.to(dev) if isinstance(x, torch.Tensor) else x for x in ref.get_inputs()]
    flush = tm.L2Flusher(dev)
    settings = tm.TimingSettings()
    with torch.no_grad():
        fwd = lambda: model(*inputs)  # noqa: E731
        fwd()
        torch.cuda.synchronize()
        if a.profile:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CUDA]):
                fwd()
                torch.cuda.synchronize()
        # host cost: enqueue 200 forwards behind a long spin, so the queue never blocks the host
        torch.cuda._sleep(int(2e9))
        t = time.perf_counter()
        for _ in range(200):
            fwd()
        host_us = (time.perf_counter() - t) / 200 * 1e6
        torch.cuda.synchronize()
        flush_ms = tm.time_cuda(flush, settings, tm.L2Flusher(dev)).median_ms
        # cycles per ms of the spin kernel
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        torch.cuda._sleep(1_000_000)
        e.record()
        torch.cuda.synchronize()
        cyc_per_ms = 1_000_000 / s.elapsed_time(e)
        for r in range(a.repeat):
            plain = tm.time_cuda(fwd, settings, flush)
            spun = tm.time_cuda(fwd, settings, spin_flush(flush, int(cyc_per_ms * 0.2)))
            graph = tm.time_cuda_graph(fwd, settings, flush)
            print(json.dumps({"repeat": r, "hooks": a.hooks, "profile": a.profile, "host_us_per_forward": round(host_us, 1), "flush_ms": round(flush_ms, 4),
                              **{f"{k}_{q}": round(getattr(v, f"{q}_ms"), 4) for k, v in
                                 (("plain", plain), ("spin200us", spun), ("graph", graph))
                                 for q in ("median", "q1", "q3")}}), flush=True)


if __name__ == "__main__":
    main()
