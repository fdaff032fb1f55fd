"""Bodies of the two child processes of an evaluation: the reference and the candidate.

The parent talks to each child over a control pipe (plain data only: commands, numbers, strings).
Tensors travel between the two children over a data pipe through torch.multiprocessing's sharing
(CUDA IPC on GPU, shared memory on CPU), so multi-gigabyte outputs are never copied through the parent.

Replies on the control pipe are ("ok", payload) or ("fail", status, message, full traceback); the message
is the candidate's part only (eval.errtext). The failure kind is decided
here, where the exception type is known.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import torch
import torch.multiprocessing  # noqa: F401  (registers tensor sharing for pipes)

from tritonwright.eval import checks, errtext, hooks, loading
from tritonwright.eval import timing as timing_mod  # bound before any candidate code is imported
from tritonwright.eval.types import Environment, Status, Tolerance

_TAIL_CHARS = 4000  # enough for the Triton compile message and the last frames, short enough for a prompt
_CUDA_FATAL = ("illegal memory access", "unspecified launch failure", "misaligned address",
               "illegal instruction", "device-side assert", "an illegal", "launch timed out", "ECC error")


def _tail(exc: BaseException) -> str:
    return errtext.describe_exception(exc)[-_TAIL_CHARS:]  # the candidate's part; full_traceback keeps the rest


def classify(exc: BaseException) -> Status:
    """The status an exception in the candidate's forward means."""
    names = {c.__name__ for c in type(exc).__mro__}
    if names & {"CompilationError", "CompileTimeAssertionFailure", "OutOfResources", "PTXASError",
                "TritonError"} and "InterpreterError" not in names:
        return Status.COMPILE_ERROR
    msg = str(exc)
    if ("CUDA error" in msg or "AcceleratorError" in names) and any(s in msg for s in _CUDA_FATAL):
        return Status.CRASH
    return Status.RUNTIME_ERROR


def environment(device: torch.device) -> Environment:
    import triton

    env = Environment(python=platform.python_version(), torch=torch.__version__, triton=triton.__version__,
                      platform=platform.platform(), device=device.type)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.gpu = props.name
        env.sm_count = props.multi_processor_count
        env.compute_capability = f"{props.major}.{props.minor}"
        env.cuda = torch.version.cuda
        env.driver = _driver_version()
    return env


def _driver_version() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = out.stdout.strip().splitlines()
    return line[0].strip() if line else None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        timing_mod._synchronize()


# ---------------------------------------------------------------------------------------------------------
# Reference child


class _Reference:
    def __init__(self, spec: dict[str, Any], data: Connection) -> None:
        from tritonwright.task import Task, exec_task_module

        self.spec = spec
        self.data = data
        self.device = torch.device(spec["device"])
        self.task = Task(**spec["task"])
        # 1. Real fp32 baseline: TF32 off for matmul and cuDNN.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        # 2. Task module, init args, Model under the weight seed.
        self.module = exec_task_module(self.task)
        self.init = loading.make_init_args(self.module, self.task.path)
        self.model = loading.construct(self.module.Model, self.init, spec["seed"], self.device,
                                       f"{self.task.path}: Model")
        self.trial_state: dict[str, Any] = {}
        self.timing_inputs: list[torch.Tensor] | None = None

    def load(self) -> dict[str, Any]:
        state = loading.reference_state(self.model)
        self.data.send(("init", self.init.args, self.init.kwargs, state))
        return {"env": environment(self.device).__dict__}

    def trial(self, index: int, seed: int) -> dict[str, Any]:
        t = time.perf_counter()
        inputs = loading.make_inputs(self.module, self.task.path, seed, self.device)
        ref_inputs = [x.clone() for x in inputs]
        with torch.no_grad():
            outs = checks.as_output_list(self.model(*ref_inputs))
        for i, o in enumerate(outs):
            if not isinstance(o, torch.Tensor):
                raise loading.LoadError(f"{self.task.path}: Model.forward output {i} is a {type(o).__name__}, "
                                        "not a tensor")
        _sync(self.device)
        self.trial_state = {"inputs": inputs, "ref_inputs": ref_inputs, "outs": outs}
        if self.timing_inputs is None:
            self.timing_inputs = inputs
        self.data.send(("inputs", index, inputs))
        return {"outputs": [{"shape": list(o.shape), "dtype": str(o.dtype)} for o in outs],
                "seconds": round(time.perf_counter() - t, 3)}

    def check(self, index: int, passes: int) -> dict[str, Any]:
        """Compare `passes` outputs messages from the candidate child; one group of checks per pass."""
        t = time.perf_counter()
        st = self.trial_state
        groups: list[dict[str, Any]] = []
        for _ in range(passes):
            kind, got_index, label, cand_outs, cand_inputs = self.data.recv()
            assert kind == "outputs" and got_index == index
            if len(cand_outs) != len(st["outs"]):
                reason = f"ModelNew returned {len(cand_outs)} outputs, the reference returns {len(st['outs'])}"
                groups.append({"checks": [{"ok": False, "reason": reason, "config": label}], "input_reason": None})
                continue
            results = []
            for i, (o, r) in enumerate(zip(cand_outs, st["outs"], strict=True)):
                tol = self._tol(str(r.dtype).removeprefix("torch."))
                results.append(checks.compare_output(o, r, tol, index, i, label).__dict__)
            groups.append({"checks": results, "input_reason": checks.compare_inputs(
                cand_inputs, st["ref_inputs"], st["inputs"], self._tol)})
            del cand_outs, cand_inputs
        return {"passes": groups, "seconds": round(time.perf_counter() - t, 3)}

    def _tol(self, dtype: str) -> Tolerance:
        t = self.spec["tolerances"]
        base = t["defaults"].get(dtype, [1e-4, 1e-4])
        return Tolerance(t["atol"] if t["atol"] is not None else base[0],
                         t["rtol"] if t["rtol"] is not None else base[1])

    def baselines(self, settings: dict[str, Any], compile_mode: str) -> dict[str, Any]:
        """Eager and torch.compile timings of the reference on the first trial's inputs."""
        assert self.timing_inputs is not None
        self.trial_state = {}
        ts = timing_mod.TimingSettings(**settings)
        flush = timing_mod.L2Flusher(self.device)
        inputs = self.timing_inputs
        out: dict[str, Any] = {}
        with torch.no_grad():
            out["eager"] = timing_mod.time_cuda(lambda: self.model(*inputs), ts, flush).__dict__
            try:
                compiled = torch.compile(self.model, mode=None if compile_mode == "default" else compile_mode)
                out["compiled"] = timing_mod.time_cuda(lambda: compiled(*inputs), ts, flush).__dict__
            except Exception as exc:  # torch.compile fails on some models; the eager baseline still stands
                out["compiled"] = None
                out["compiled_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        return out


# ---------------------------------------------------------------------------------------------------------
# Candidate child


class _Candidate:
    def __init__(self, spec: dict[str, Any], data: Connection) -> None:
        self.spec = spec
        self.data = data
        self.device = torch.device(spec["device"])
        self.interpret = self.device.type == "cpu"
        # 0. PyTorch ops inside ModelNew compute in real fp32, as the reference's do: no hidden TF32 advantage.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        # 1. Hooks before the candidate's import: launch counting, autotune pinning on CPU.
        hooks.install_launch_hooks(interpret=self.interpret, pin_autotune=self.interpret)
        # 2. Init args and the reference's weights, from the reference child.
        kind, args, kwargs, state = data.recv()
        assert kind == "init"
        self.init = loading.InitArgs(args=args, kwargs=kwargs)
        self.state = state
        self.models: dict[str, torch.nn.Module] = {}
        self.timing_inputs: list[torch.Tensor] | None = None
        self.trial_index: int | None = None
        self.trial_inputs: list[torch.Tensor] = []
        self.keep: list[Any] = []  # tensors shared with the reference stay alive until it has read them

    def load(self, label: str, path: str) -> list[str]:
        module = loading.load_candidate_module(path, f"tritonwright_candidate_{label}")
        cls = getattr(module, "ModelNew", None)
        if cls is None:
            raise loading.LoadError(f"{path}: no class ModelNew")
        model = loading.construct(cls, self.init, self.spec["seed"], self.device, f"{path}: ModelNew")
        match = loading.match_weights(model, self.state)
        err = match.error()
        if err:
            raise loading.LoadError(f"{path}: ModelNew's parameters cannot be matched to Model's: {err}")
        self.models[label] = model
        return match.notes()

    def trial(self, labels: list[str], index: int, record: bool) -> dict[str, Any]:
        """Run the given candidates on this trial's inputs; outputs go to the reference, pass by pass.

        The parent asks for one label at a time and has the reference check it before the next, so only one
        candidate's outputs are alive at once (multi-gigabyte tasks would not fit otherwise).
        """
        if self.trial_index != index:
            kind, got, inputs = self.data.recv()
            assert kind == "inputs" and got == index
            self.trial_index, self.trial_inputs = index, inputs
            if self.timing_inputs is None:
                self.timing_inputs = inputs
        self.keep = []
        out: dict[str, Any] = {}
        for label in labels:
            t = time.perf_counter()
            try:
                out[label] = self._trial_one(label, index, self.trial_inputs, record)
            except Exception as exc:  # one candidate's failure is its own; the others still run
                status = classify(exc)
                if status is Status.CRASH:
                    raise
                out[label] = {"error": [status.value, _tail(exc), errtext.full_traceback(exc)], "passes": 0}
            out[label]["seconds"] = round(time.perf_counter() - t, 3)
        return out

    def _trial_one(self, label: str, index: int, inputs: list[torch.Tensor], record: bool) -> dict[str, Any]:
        model = self.models[label]
        hooks.LOG.autotune_configs.clear()
        hooks.LOG.used_configs.clear()
        passes, p = 1, 0
        info: dict[str, Any] = {}
        while p < passes:
            hooks.LOG.pinned = p
            hooks.LOG.launches.clear()
            mine = [x.clone() for x in inputs]
            mode = hooks.CandidateMode(poison=True, record=record and p == 0)
            with torch.no_grad(), mode:
                result = model(*mine)
            # Copy on the current stream, as a consumer would: work left running on a side stream is caught.
            outs = [o.clone() if isinstance(o, torch.Tensor) else o for o in checks.as_output_list(result)]
            _sync(self.device)
            if p == 0:
                info = {"launches": dict(hooks.LOG.launches), "ops": dict(mode.ops)}
                counts = [len(c) for c in hooks.LOG.autotune_configs.values()]
                passes = max(counts, default=1) if self.interpret else 1
            label_cfg = "; ".join(f"{k}: {v}" for k, v in hooks.LOG.used_configs.items()) or None
            self.keep.append((outs, mine))
            self.data.send(("outputs", index, label_cfg if passes > 1 else None, outs, mine))
            p += 1
        info["passes"] = passes
        info["autotune_configs"] = dict(hooks.LOG.autotune_configs)
        return info

    def inputs(self, index: int) -> dict[str, Any]:
        """Take a trial's inputs for timing only (A/B comparison), without a correctness pass."""
        kind, got, inputs = self.data.recv()
        assert kind == "inputs" and got == index
        self.timing_inputs = inputs
        return {}

    def kernel_share(self, label: str) -> dict[str, Any]:
        """GPU: where forward's kernel time goes (profiler), and how many streams ran kernels."""
        from torch.profiler import ProfilerActivity, profile

        assert self.timing_inputs is not None
        model, inputs = self.models[label], self.timing_inputs
        with torch.no_grad():
            model(*inputs)
            _sync(self.device)
            hooks.LOG.launches.clear()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                model(*inputs)
                _sync(self.device)
        names = set(hooks.LOG.launches)
        triton_us = other_us = 0.0
        other: dict[str, int] = {}
        streams: set[Any] = set()
        for evt in prof.events():
            if getattr(evt, "device_type", None) != torch.autograd.DeviceType.CUDA:
                continue
            dur = float(getattr(evt, "device_time", None) or getattr(evt, "cuda_time", 0.0) or 0.0)
            if "memcpy" in evt.name.lower() or "memset" in evt.name.lower():
                continue
            streams.add(getattr(evt, "device_resource_id", None))
            if evt.name in names:
                triton_us += dur
            else:
                other_us += dur
                other[evt.name[:120]] = other.get(evt.name[:120], 0) + 1
        return {"launches": dict(hooks.LOG.launches), "other_kernels": other, "triton_ms": triton_us / 1000,
                "other_ms": other_us / 1000, "streams": len(streams - {None}) or None}

    def time(self, label: str, settings: dict[str, Any], graph: bool) -> dict[str, Any]:
        assert self.timing_inputs is not None
        self.keep = []
        model, inputs = self.models[label], self.timing_inputs
        ts = timing_mod.TimingSettings(**settings)
        flush = timing_mod.L2Flusher(self.device)
        out: dict[str, Any] = {}
        with torch.no_grad():
            out["timing"] = timing_mod.time_cuda(lambda: model(*inputs), ts, flush).__dict__
            if graph:
                try:
                    out["graph"] = timing_mod.time_cuda_graph(lambda: model(*inputs), ts, flush).__dict__
                except RuntimeError as exc:  # capture fails for code that syncs or allocates on the host
                    out["graph_error"] = f"CUDA graph capture failed: {str(exc)[:200]}"
        return out

    def screen(self, labels: list[str], settings: dict[str, Any]) -> dict[str, Any]:
        """Time each loaded candidate on the timing inputs, one after the other, with no correctness check:
        the tuner's quick ranking of many configs. One candidate's exception is its own; the rest still run."""
        assert self.timing_inputs is not None
        self.keep = []
        inputs = self.timing_inputs
        ts = timing_mod.TimingSettings(**settings)
        flush = timing_mod.L2Flusher(self.device)
        out: dict[str, Any] = {}
        with torch.no_grad():
            for label in labels:
                t = time.perf_counter()
                model = self.models[label]
                try:
                    out[label] = {"timing": timing_mod.time_cuda(lambda m=model: m(*inputs), ts, flush).__dict__}
                except Exception as exc:  # this config's failure: recorded, the others are still timed
                    status = classify(exc)
                    if status is Status.CRASH:
                        raise
                    out[label] = {"error": [status.value, _tail(exc)]}
                out[label]["seconds"] = round(time.perf_counter() - t, 3)
        return out

    def compare(self, a: str, b: str, rounds: int, settings: dict[str, Any]) -> dict[str, Any]:
        """Interleaved rounds: A then B, B then A, ...; each round's figure is a median over its runs."""
        assert self.timing_inputs is not None
        self.keep = []
        inputs = self.timing_inputs
        ts = timing_mod.TimingSettings(**settings)
        flush = timing_mod.L2Flusher(self.device)
        fa = lambda: self.models[a](*inputs)  # noqa: E731
        fb = lambda: self.models[b](*inputs)  # noqa: E731
        ta: list[float] = []
        tb: list[float] = []
        with torch.no_grad():
            for r in range(rounds):
                order = ((fa, ta), (fb, tb)) if r % 2 == 0 else ((fb, tb), (fa, ta))
                for fn, sink in order:
                    sink.append(timing_mod.time_cuda(fn, ts, flush).median_ms)
        return {"a": ta, "b": tb}


# ---------------------------------------------------------------------------------------------------------
# Process entry points


def _serve(ctrl: Connection, handlers: dict[str, Any]) -> None:
    while True:
        try:
            msg = ctrl.recv()
        except EOFError:
            return
        cmd, args = msg[0], msg[1:]
        if cmd == "exit":
            return
        try:
            ctrl.send(("ok", handlers[cmd](*args)))
        except _ImportFailure as exc:
            ctrl.send(("fail", Status.COMPILE_ERROR.value, str(exc), errtext.full_traceback(exc.__cause__ or exc)))
        except loading.LoadError as exc:
            ctrl.send(("fail", Status.REJECTED.value, str(exc)))
        except Exception as exc:  # any failure of candidate code is data for the parent
            status = classify(exc)
            ctrl.send(("fail", status.value, _tail(exc), errtext.full_traceback(exc)))
            if status is Status.CRASH:
                sys.stdout.flush()
                os._exit(70)  # the CUDA context is gone; nothing more can run in this process


def reference_main(ctrl: Connection, data: Connection, spec: dict[str, Any]) -> None:
    try:
        ref = _Reference(spec, data)
    except loading.LoadError as exc:
        ctrl.send(("fail", "TASK", str(exc)))
        return
    except Exception as exc:  # the task itself is broken: the parent turns this into a TaskError
        ctrl.send(("fail", "TASK", f"{spec['task']['path']}: {type(exc).__name__}: {exc}\n{_tail(exc)}"))
        return
    _serve(ctrl, {"load": ref.load, "trial": ref.trial, "check": ref.check, "baselines": ref.baselines})


def candidate_main(ctrl: Connection, data: Connection, spec: dict[str, Any]) -> None:
    try:
        cand = _Candidate(spec, data)
    except Exception as exc:  # the reference child died before handing over weights
        ctrl.send(("fail", Status.CRASH.value, _tail(exc)))
        return

    def load(label: str, path: str) -> dict[str, Any]:
        try:
            return {"notes": cand.load(label, path)}
        except loading.LoadError:
            raise
        except Exception as exc:
            raise _ImportFailure(_tail(exc)) from exc

    _serve(ctrl, {"load": load, "trial": cand.trial, "kernel_share": cand.kernel_share, "time": cand.time,
                  "compare": cand.compare, "inputs": cand.inputs, "screen": cand.screen})


class _ImportFailure(Exception):
    """Importing or constructing the candidate raised: a COMPILE_ERROR (the import/compile step)."""
