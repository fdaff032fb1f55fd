"""Run candidate variants in the Triton interpreter and print, as JSON, each one's max error against the first.

Usage: TRITON_INTERPRET=1 python run_variants.py JOB.json   (JOB: [{"task": path, "variants": [paths]}, ...])
Each variant gets the same weights (seeded construction) and the same inputs (seeded get_inputs).
The interpreter cannot benchmark, so every @triton.autotune is pinned to one config at a time and each of its
configs is run and compared (the error reported is the worst over them, `pinned` says how many ran).
Per job: "errors" (a float, or the variant's error in one line), "scale" (the first variant's largest
magnitude, to judge an error by), "self_error" (how far the first variant's own configs, and a second call
of its first, are from its first call: code that reads memory it never wrote, or whose own configs disagree,
cannot judge a rewrite), "seconds" per variant, and "reference_vs_model" (the first variant against
the task's own Model: whether the code under test is right at all). With TW_CUDA_SHIM=1 tensors say they are
CUDA tensors (`is_cuda`, `.cuda()`), so code that asserts it still runs in the interpreter.
Used by tests/test_tune_rewrite.py (the fixture corpus) and bench/tuner_corpus_run.py (real LLM replies).
"""

import importlib.util
import json
import os
import sys
import time

import torch
from triton.runtime.autotuner import Autotuner

PIN = [0]  # index of the config every autotuner runs
SEEN = [1]  # most configs any autotuner had
_run = Autotuner.run


def _pinned_run(self, *args, **kwargs):
    if not hasattr(self, "all_configs_"):
        self.all_configs_ = list(self.configs)
    SEEN[0] = max(SEEN[0], len(self.all_configs_))
    self.configs = [self.all_configs_[min(PIN[0], len(self.all_configs_) - 1)]]
    return _run(self, *args, **kwargs)


Autotuner.run = _pinned_run
if os.environ.get("TW_CUDA_SHIM") == "1":  # LLM code asserts `x.is_cuda`: on a CPU, let it run in the interpreter
    torch.Tensor.is_cuda = property(lambda self: True)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _first_tensor(out):
    """A model's output, or the first tensor of a tuple/list of outputs."""
    if isinstance(out, (tuple, list)):
        out = next((o for o in out if isinstance(o, torch.Tensor)), None)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the model returned {type(out).__name__}, not a tensor")
    return out.detach().float()


def _error(r, ref):
    """Largest absolute difference; a NaN where the first variant has one is equal, anywhere else infinite."""
    if r.numel() == 0:
        return 0.0
    both = r.isnan() & ref.isnan()
    if bool((r.isnan() ^ ref.isnan()).any()):
        return float("inf")
    diff = (r - ref).abs().masked_fill(both | (r == ref), 0.0)  # r == ref: the same infinity too
    return float(torch.nan_to_num(diff, nan=float("inf")).max())


def _line(exc):
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _call(mod, task, inputs):
    torch.manual_seed(1)  # a fresh model per call: one that updates its own state in place (running
    model = mod.ModelNew(*task.get_init_inputs())  # statistics) starts where it began each time
    with torch.no_grad():
        return _first_tensor(model(*[t.clone() if isinstance(t, torch.Tensor) else t for t in inputs]))


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    out = []
    for j, job in enumerate(jobs):
        task = load(job["task"], f"task_{j}")
        torch.manual_seed(0)
        inputs = task.get_inputs()
        results, seconds, self_error = [], [], None
        for i, path in enumerate(job["variants"]):
            t0 = time.perf_counter()
            try:
                mod = load(path, f"variant_{j}_{i}")
                PIN[0], SEEN[0] = 0, 1
                outs = []
                while PIN[0] < SEEN[0]:
                    outs.append(_call(mod, task, inputs))
                    PIN[0] += 1
                if i == 0:  # the first variant's own spread: its other configs, and its first config once more
                    PIN[0] = 0
                    again = _call(mod, task, inputs)
                    self_error = max(_error(o, outs[0]) for o in [*outs[1:], again])
                results.append(outs)
            except Exception as exc:  # report which variant broke, with its error
                results.append(_line(exc))
            seconds.append(round(time.perf_counter() - t0, 3))
        ref = results[0][0] if not isinstance(results[0], str) else results[0]
        errs = []
        for outs in results:
            if isinstance(outs, str) or isinstance(ref, str):
                errs.append(outs if isinstance(outs, str) else "reference failed")
            elif any(r.shape != ref.shape for r in outs):
                errs.append(f"shape {[tuple(r.shape) for r in outs]} != {tuple(ref.shape)}")
            else:
                errs.append(max(_error(r, ref) for r in outs))
        ref_err = None
        if not isinstance(ref, str):
            try:
                torch.manual_seed(1)
                with torch.no_grad():
                    expected = _first_tensor(task.Model(*task.get_init_inputs())(*inputs))
                ref_err = _error(ref, expected) if expected.shape == ref.shape else None
            except Exception:  # the reference's own failure says nothing about the variants
                ref_err = None
        finite = ref[ref.isfinite()] if not isinstance(ref, str) else None
        scale = float(finite.abs().max()) if finite is not None and finite.numel() else None
        out.append({"task": job["task"], "errors": errs, "scale": scale, "seconds": seconds,
                    "pinned": [len(o) if not isinstance(o, str) else 0 for o in results], "self_error": self_error,
                    "reference_vs_model": ref_err})
    print(json.dumps(out))


main()
