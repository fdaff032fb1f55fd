"""Bodies of the two child processes of an evaluation: the reference and the candidate.

The parent talks to each child over a control pipe in the typed messages of eval.protocol (JSON bytes,
never pickle). Tensors travel between the two children over a data pipe through torch.multiprocessing's
sharing (CUDA IPC on GPU, shared memory on CPU), so multi-gigabyte outputs are never copied through the
parent; that pipe is the one pickle boundary left (see eval.protocol).

Each request gets one reply: Ok with the request's payload, Fail(status, message, full traceback) where the
message is the candidate's part only (eval.errtext), or, from the reference, TaskFailed when the task itself
cannot run. The failure kind is decided here, where the exception type is known.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import torch
import torch.multiprocessing  # noqa: F401  (registers tensor sharing for pipes)

from tritonwright.eval import checks, errtext, hooks, loading, precision, wire
from tritonwright.eval import protocol as pr
from tritonwright.eval import timing as timing_mod  # bound before any candidate code is imported
from tritonwright.eval.provenance import PROV
from tritonwright.eval.types import Environment, OutputCheck, Status, Tolerance, label_module

_TAIL_CHARS = 4000  # enough for the Triton compile message and the last frames, short enough for a prompt
_CUDA_FATAL = ("illegal memory access", "unspecified launch failure", "misaligned address",
               "illegal instruction", "device-side assert", "an illegal", "launch timed out", "ECC error")


def _task_frame(exc: BaseException, path: str) -> str:
    """`file:line in function()` of the innermost frame of the task's own file, so a user sees which line of
    their task raised (the candidate-centred text of errtext would say only "raised outside")."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    if not frames:
        return f"{path}: get_inputs()"
    f = frames[-1]
    return f"{path}:{f.lineno} in {f.name}()"


def _failed_run(exc: Exception, started: float) -> pr.CandidateRun:
    """A candidate's run that raised: its own failure (the others still run); a CRASH ends the process."""
    status = classify(exc)
    if status is Status.CRASH:
        raise exc
    return pr.CandidateRun(seconds=round(time.perf_counter() - started, 3), passes=0,
                           error=pr.Fail(status, _tail(exc), errtext.full_traceback(exc)))


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


def _into(inputs: list[loading.Input], bufs: list[torch.Tensor]) -> list[loading.Input]:
    """The tensor inputs copied into `bufs` (one per tensor, in order); numbers as they are."""
    it = iter(bufs)
    return loading.map_tensors(inputs, lambda x: next(it).copy_(x))


def _as_float64(x: torch.Tensor) -> torch.Tensor:
    """A float64 copy of a floating tensor (the ground truth's run); other tensors cloned."""
    return x.to(torch.float64) if x.is_floating_point() else x.clone()


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
        self.timing_inputs: list[loading.Input] | None = None
        self.policy = precision.Policy(spec.get("precision", "fp32"))
        self.fp64_k: float | None = spec.get("fp64_k")
        self.model64: torch.nn.Module | None = None  # Model in float64, built at the first trial (ground truth)
        self.no64 = ""  # why there is no float64 run, when there is none
        self.trial_note = ""  # why this trial has no float64 run, when only this one failed
        self.rounded: list[float | None] | None = None  # per output: what 10-bit-mantissa inputs cost (fp32 policy)
        self.env: Environment | None = None  # known at load

    def _outputs64(self, inputs: list[loading.Input]) -> list[torch.Tensor | None] | None:
        """Model in float64 on the same inputs (eval.precision's ground truth), or None with self.no64 set."""
        if self.model64 is None and not self.no64:
            try:
                self.model64 = copy.deepcopy(self.model).to(torch.float64)
            except Exception as exc:  # a module that cannot be copied or cast: the elementwise check decides
                self.no64 = f"Model cannot be copied to float64: {type(exc).__name__}: {str(exc)[:200]}"
        if self.model64 is None:
            return None
        try:
            with torch.no_grad():
                outs = checks.as_output_list(self.model64(
                    *loading.map_tensors(inputs, _as_float64)))
        except torch.cuda.OutOfMemoryError as exc:  # no room for a float64 copy: no later trial has any either
            self.no64 = f"no GPU memory for a float64 run of Model ({str(exc)[:120]})"
            self.model64 = None
            outs = None
        except Exception as exc:  # an op without float64 kernels
            self.trial_note = f"Model does not run in float64: {type(exc).__name__}: {str(exc)[:200]}"
            outs = None
        if self.device.type == "cuda":
            # The float64 inputs and intermediates go back to the driver, not to this process's cache: the GPU is
            # shared with the candidate's process, which must not run out of memory because of the judge.
            torch.cuda.empty_cache()
        if outs is None:
            return None
        return [o if isinstance(o, torch.Tensor) else None for o in outs]

    def _rounded_errors(self, inputs: list[loading.Input], outs64: list[torch.Tensor | None] | None
                        ) -> list[float | None]:
        """fp32 policy: per output, what rounding inputs and weights to a 10-bit mantissa costs against the
        float64 run (eval.precision's lookalike rule); [] when there is no float64 run or it cannot be made."""
        if self.policy is not precision.Policy.FP32 or not outs64 or self.model64 is None:
            return []
        try:
            model = copy.deepcopy(self.model64)
            with torch.no_grad():
                for t in [*model.parameters(), *model.buffers()]:
                    if t.is_floating_point():
                        t.copy_(precision.round_mantissa(t))
                outs = checks.as_output_list(model(*loading.map_tensors(
                    inputs, lambda x: _as_float64(precision.round_mantissa(x)))))
            errs: list[float | None] = []
            for o, t64 in zip(outs, outs64, strict=False):
                if not isinstance(o, torch.Tensor) or t64 is None or list(o.shape) != list(t64.shape):
                    errs.append(None)
                    continue
                if t64.numel() > GROUND_TRUTH_SAMPLE:
                    o, t64 = _positions(GROUND_TRUTH_SAMPLE, t64, o, t64)
                errs.append(precision.rounded_error(o, t64))
            del model, outs
        except Exception:  # an estimate only: without it the K rule decides alone
            errs = []
        if self.device.type == "cuda":
            torch.cuda.empty_cache()  # as _outputs64: the transients go back to the driver
        return errs

    def load(self, req: pr.LoadReference) -> pr.ReferenceLoaded:
        state = loading.reference_state(self.model)
        self.data.send(("init", self.init.args, self.init.kwargs, state))
        self.env = environment(self.device)
        return pr.ReferenceLoaded(env=self.env)

    def trial(self, req: pr.Trial) -> pr.TrialRan:
        index = req.index
        t = time.perf_counter()
        # The previous trial's tensors (outputs, float64 outputs, buffers) go before this trial's are made.
        self.trial_state, self.out_bufs, self.in_bufs = {}, [], []
        inputs = self._inputs(req.seed)
        ref_inputs = loading.clone_inputs(inputs)
        self.trial_note = ""
        # The float64 run serves the checks only: timing-only sessions (A/B, screening) skip its cost.
        outs64 = self._outputs64(inputs) if req.buffers else None
        if req.buffers and self.rounded is None and outs64 is not None:
            # A property of the task and its input distribution, not of a candidate: measured once (one more
            # float64 forward per evaluation), applied to every trial.
            self.rounded = self._rounded_errors(inputs, outs64)
        with torch.no_grad():
            outs = checks.as_output_list(self.model(*ref_inputs))
        for i, o in enumerate(outs):
            if not isinstance(o, torch.Tensor):
                raise loading.LoadError(f"{self.task.path}: Model.forward output {i} is a {type(o).__name__}, "
                                        "not a tensor")
        _sync(self.device)
        self.trial_state = {"inputs": inputs, "ref_inputs": ref_inputs, "outs": outs, "outs64": outs64,
                            "no64": self.no64 or self.trial_note}
        if self.timing_inputs is None:
            self.timing_inputs = inputs
        # Buffers the candidate writes its outputs and its view of the inputs into (eval.wire): allocated here,
        # so nothing the candidate's child made is ever unpickled on this side.
        self.out_bufs = [torch.empty_like(o, memory_format=torch.contiguous_format) for o in outs] \
            if req.buffers else []
        self.in_bufs = [torch.empty_like(x) for x in loading.tensors(inputs)] if req.buffers else []
        self.data.send(("inputs", index, inputs, self.out_bufs, self.in_bufs))
        return pr.TrialRan(outputs=[pr.OutputSpec(shape=list(o.shape), dtype=str(o.dtype)) for o in outs],
                           seconds=round(time.perf_counter() - t, 3))

    def _inputs(self, seed: int) -> list[loading.Input]:
        """get_inputs() under `seed`; when the task's own code raises, that is the task's failure, not Model's."""
        try:
            return loading.make_inputs(self.module, self.task.path, seed, self.device)
        except loading.LoadError:
            raise
        except Exception as exc:
            raise _TaskFailure(f"{_task_frame(exc, self.task.path)}: {type(exc).__name__}: {exc}") from exc

    def refill(self, req: pr.Refill) -> pr.TrialRan:
        """Fresh values into the timing inputs, in place (eval.protocol.Refill)."""
        t = time.perf_counter()
        assert self.timing_inputs is not None
        fresh = self._inputs(req.seed)
        new, old = loading.tensors(fresh), loading.tensors(self.timing_inputs)  # numbers stay as they were
        same = len(new) == len(old) and all(
            a.shape == b.shape and a.dtype == b.dtype for a, b in zip(new, old, strict=False))
        if same:  # a task whose input shapes vary by seed keeps its values: nothing to refill in place
            for dst, src in zip(old, new, strict=True):
                dst.copy_(src)
        with torch.no_grad():
            outs = checks.as_output_list(self.model(*loading.clone_inputs(self.timing_inputs)))
        _sync(self.device)
        # Outputs only (inputs were checked in the trials); the ground truth too was measured there.
        self.trial_state = {"inputs": [], "ref_inputs": [], "outs": outs, "outs64": None, "sample": True,
                            "no64": "the recheck after timing compares with the fp32 reference only"}
        self.out_bufs = [torch.empty_like(o, memory_format=torch.contiguous_format) for o in outs]
        self.in_bufs = []
        self.data.send(("buffers", self.out_bufs))
        return pr.TrialRan(outputs=[pr.OutputSpec(shape=list(o.shape), dtype=str(o.dtype)) for o in outs],
                           seconds=round(time.perf_counter() - t, 3))

    def check(self, req: pr.Check) -> pr.Checked:
        """Compare `passes` outputs messages from the candidate child; one group of checks per pass."""
        index = req.index
        t = time.perf_counter()
        st = self.trial_state
        groups: list[pr.CheckGroup] = []
        for p in range(req.passes):
            try:  # buffers hold the first pass only: later passes would overwrite what is not yet checked
                got = wire.recv(self.data, self.out_bufs if p == 0 else [], self.in_bufs if p == 0 else [])
                if got.index != index:
                    raise wire.WireError(f"outputs of trial {got.index} sent for trial {index}")
            except wire.WireError as exc:
                return pr.Checked(passes=groups, seconds=round(time.perf_counter() - t, 3), malformed=str(exc))
            label, cand_outs, cand_inputs = got.config, got.outs, got.ins
            if len(cand_outs) != len(st["outs"]):
                reason = f"ModelNew returned {len(cand_outs)} outputs, the reference returns {len(st['outs'])}"
                bad = OutputCheck(trial=index, index=-1, ok=False, shape=[], dtype="", reason=reason, config=label)
                groups.append(pr.CheckGroup(checks=[bad], input_reason=None))
                continue
            results = []
            outs64, rounded = st.get("outs64"), self.rounded or []
            for i, (o, r) in enumerate(zip(cand_outs, st["outs"], strict=True)):
                if st.get("sample") and isinstance(o, torch.Tensor) and o.shape == r.shape:
                    o, r = _sample(o, r)  # the recheck: secret random positions of the output
                check = checks.compare_output(o, r, self._tol_for(r), index, i, label)
                if check.ok and isinstance(o, torch.Tensor) and not st.get("sample"):
                    self._ground_truth(check, o, r, outs64[i] if outs64 and i < len(outs64) else None,
                                       st.get("no64") or "not measured for this check",
                                       rounded[i] if i < len(rounded) else None)
                results.append(check)
            groups.append(pr.CheckGroup(checks=results, input_reason=self._inputs_reason(cand_inputs)))
            del cand_outs, cand_inputs, got
        return pr.Checked(passes=groups, seconds=round(time.perf_counter() - t, 3))

    def _inputs_reason(self, cand_inputs: list[torch.Tensor | wire.NotATensor]) -> str | None:
        """Inputs may change only as the reference changes them (eval.checks.compare_inputs)."""
        st = self.trial_state
        sent = loading.tensors(st["inputs"])  # numbers are passed as they are: only tensors come back
        if len(cand_inputs) != len(sent):
            return f"{len(cand_inputs)} inputs came back after forward, {len(sent)} went in"
        for i, x in enumerate(cand_inputs):
            if isinstance(x, wire.NotATensor):
                return f"input {i} after forward is {x.what} (changed in place by ModelNew.forward)"
        tensors = [x for x in cand_inputs if isinstance(x, torch.Tensor)]
        return checks.compare_inputs(tensors, loading.tensors(st["ref_inputs"]), sent, self._tol)

    def _ground_truth(self, check: OutputCheck, out: torch.Tensor, ref: torch.Tensor, ref64: torch.Tensor | None,
                      no64: str, rounded_err: float | None = None) -> None:
        """The error against float64 may be at most K times the fp32 reference's own (eval.precision)."""
        sampled = ref64 is not None and ref.is_floating_point() and ref.numel() > GROUND_TRUTH_SAMPLE and \
            list(out.shape) == list(ref.shape) == list(ref64.shape)
        if sampled:
            assert ref64 is not None
            out, ref, ref64 = _positions(GROUND_TRUTH_SAMPLE, ref, out, ref, ref64)
        gt = precision.ground_truth(out, ref, ref64, self.policy, index=check.index, no_fp64_reason=no64,
                                    k=self.fp64_k, rounded_err=rounded_err)
        if sampled:
            gt.reason = (gt.reason + " " if gt.reason else "") + \
                f"(measured on {GROUND_TRUTH_SAMPLE} secret random positions of the output)"
        check.ground_truth = gt.status.value
        check.fp64_err, check.ref_fp64_err, check.fp64_ratio = gt.cand_err, gt.ref_err, gt.ratio
        check.fp64_rounded_err = gt.rounded_err
        if not gt.ok:
            check.ok, check.reason = False, gt.reason
        elif gt.status is precision.GroundTruthStatus.SKIPPED:
            check.reason = gt.reason  # an OK output's reason: why its ground truth was not measured

    def _tol_for(self, ref: torch.Tensor) -> Tolerance:
        """--atol/--rtol when given; else the per-dtype default under fp32, the policy's under a reduced one."""
        dtype = str(ref.dtype).removeprefix("torch.")
        t = self.spec["tolerances"]
        if self.policy is precision.Policy.FP32 or (t["atol"] is not None and t["rtol"] is not None):
            return self._tol(dtype)
        tol = precision.elementwise_tolerance(self.policy, ref)
        return Tolerance(t["atol"] if t["atol"] is not None else tol.atol,
                         t["rtol"] if t["rtol"] is not None else tol.rtol)

    def _tol(self, dtype: str) -> Tolerance:
        t = self.spec["tolerances"]
        base = t["defaults"].get(dtype, [1e-4, 1e-4])
        return Tolerance(t["atol"] if t["atol"] is not None else base[0],
                         t["rtol"] if t["rtol"] is not None else base[1])

    def baselines(self, req: pr.Baselines) -> pr.BaselineTimes:
        """Eager and torch.compile timings of the reference on the first trial's inputs."""
        assert self.timing_inputs is not None
        compile_mode = req.compile_mode
        self.trial_state = {}
        ts = _timing_settings(req.settings)
        flush = timing_mod.L2Flusher(self.device)
        model, inputs = self._baseline_model(self.timing_inputs)
        tf32 = self.policy is precision.Policy.TF32  # the baselines compute as the policy lets the candidate
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
        try:
            with torch.no_grad():
                eager = timing_mod.time_cuda(lambda: model(*inputs), ts, flush)
                try:
                    compiled = torch.compile(model, mode=None if compile_mode == "default" else compile_mode)
                    captured, note = None, ""
                    if req.capture_inductor and model is self.model and not tf32:
                        if BASELINE_WATCH:  # reference_inductor: Inductor's module kept for the seed
                            _, captured, note = BASELINE_WATCH[0](compiled, model, inputs, self.device.type)
                        else:
                            note = "no capture: no watcher registered in this process"
                    return pr.BaselineTimes(eager=eager,
                                            compiled=timing_mod.time_cuda(lambda: compiled(*inputs), ts, flush),
                                            inductor=captured, inductor_note=note)
                except Exception as exc:  # torch.compile fails on some models; the eager baseline still stands
                    return pr.BaselineTimes(eager=eager, compiled=None,
                                            compiled_error=f"{type(exc).__name__}: {str(exc)[:300]}")
        finally:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False

    def _baseline_model(self, inputs: list[loading.Input]) -> tuple[torch.nn.Module, list[loading.Input]]:
        """The reference as the policy's baselines run it: fp16/bf16 policies cast weights and floating inputs
        (a speed-up is against the same precision); fp32 and tf32 use the fp32 Model itself."""
        dtype = {precision.Policy.FP16: torch.float16, precision.Policy.BF16: torch.bfloat16}.get(self.policy)
        if dtype is None:
            return self.model, inputs
        model = copy.deepcopy(self.model).to(dtype)
        return model, loading.map_tensors(inputs, lambda x: x.to(dtype) if x.is_floating_point() else x)


RECHECK_SAMPLE = 1 << 20  # elements the recheck compares: a stale output differs almost everywhere, so a million
# secret random positions find it for sure, reading under 0.1 % of a KernelBench-size output


GROUND_TRUTH_SAMPLE = 1 << 22  # elements the float64 error measure reads on large outputs: a relative RMS error
# estimated from 4M random positions is off by well under 1 %, far inside the margins of the K and lookalike
# rules (eval.precision: legitimate fp32 at most 15x the reference's error); measuring all of a KernelBench-size output
# in float64 cost 0.6 s of a 4 s evaluation on the H200. Wrong regions are the full elementwise check's business.


def _positions(n: int, like: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The same `n` secret random positions of each tensor (all shaped like `like`), on like's device."""
    gen = torch.Generator(device=like.device)
    gen.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)  # not the evaluation's seed: unknowable
    idx = torch.randint(0, like.numel(), (n,), device=like.device, generator=gen)
    return tuple(t.to(like.device).reshape(-1)[idx] for t in tensors)


def _sample(out: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same secret random positions of both (all of them when the output is small)."""
    if ref.numel() <= RECHECK_SAMPLE:
        return out, ref
    a, b = _positions(RECHECK_SAMPLE, ref, out, ref)
    return a, b


def _timing_settings(settings: pr.RunSettings) -> timing_mod.TimingSettings:
    return timing_mod.TimingSettings(warmup_ms=settings.warmup_ms, min_runs=settings.min_runs,
                                     budget_ms=settings.budget_ms, max_runs=settings.max_runs,
                                     device_sync=settings.device_sync, give_up_ms=settings.give_up_ms)


# ---------------------------------------------------------------------------------------------------------
# Candidate child


class _Candidate:
    def __init__(self, spec: dict[str, Any], data: Connection) -> None:
        self.spec = spec
        self.data = data
        self.device = torch.device(spec["device"])
        self.interpret = self.device.type == "cpu"
        # 0. PyTorch ops inside ModelNew compute in real fp32, as the reference's do: no hidden TF32 advantage;
        # under the tf32 policy with TF32, as the baselines do.
        tf32 = spec.get("precision") == precision.Policy.TF32.value
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        # 1. Hooks before the candidate's import: launch counting, autotune pinning on CPU.
        hooks.install_launch_hooks(interpret=self.interpret, pin_autotune=self.interpret)
        hooks.install_host_math_hooks()
        # 2. Init args and the reference's weights, from the reference child.
        kind, args, kwargs, state = data.recv()
        assert kind == "init"
        self.init = loading.InitArgs(args=args, kwargs=kwargs)
        self.state = state
        self.models: dict[str, torch.nn.Module] = {}
        self.timing_inputs: list[loading.Input] | None = None
        self.trial_index: int | None = None
        self.trial_inputs: list[loading.Input] = []
        self.out_bufs: list[torch.Tensor] = []  # the reference's buffers for this trial (eval.wire)
        self.in_bufs: list[torch.Tensor] = []
        self.buffers_free = False
        self.sender = wire.Sender(data)  # outputs leave in order, without blocking a step (eval.wire)

    def load(self, label: str, path: str) -> pr.CandidateLoaded:
        module = loading.load_candidate_module(path, label_module(label))
        hooks.install_late_hooks()  # Inductor's own launcher, if the candidate brought it
        cls = getattr(module, "ModelNew", None)
        if cls is None:
            raise loading.LoadError(f"{path}: no class ModelNew")
        # __init__ is watched as forward is (strict mode reports PyTorch compute there too); no poisoning:
        # the weights it allocates are overwritten with the reference's below.
        with hooks.CandidateMode(poison=False, record=True, host=not self.interpret) as watch:
            model = loading.construct(cls, self.init, self.spec["seed"], self.device, f"{path}: ModelNew")
        match = loading.match_weights(model, self.state)
        err = match.error()
        if err:
            raise loading.LoadError(f"{path}: ModelNew's parameters cannot be matched to Model's: {err}")
        self.models[label] = model
        return pr.CandidateLoaded(notes=match.notes(), init_ops=dict(watch.ops))

    def trial(self, req: pr.CandidateTrial) -> pr.CandidateTrialRan:
        """Run the given candidates on this trial's inputs; outputs go to the reference, pass by pass.

        The parent asks for one label at a time and has the reference check it before the next, so only one
        candidate's outputs are alive at once (multi-gigabyte tasks would not fit otherwise).
        """
        index, record = req.index, req.record
        if self.trial_index != index:
            kind, got, inputs, self.out_bufs, self.in_bufs = self.data.recv()  # from the reference: trusted
            assert kind == "inputs" and got == index
            self.trial_index, self.trial_inputs = index, inputs
            if self.timing_inputs is None:
                self.timing_inputs = inputs
        self.buffers_free = True  # the reference's buffers take one run's first pass per request
        out: dict[str, pr.CandidateRun] = {}
        for label in req.labels:
            t = time.perf_counter()
            try:
                info = self._trial_one(label, index, self.trial_inputs, record)
                out[label] = pr.CandidateRun(seconds=round(time.perf_counter() - t, 3), **info)
            except Exception as exc:  # one candidate's failure is its own; the others still run
                out[label] = _failed_run(exc, t)
        return pr.CandidateTrialRan(runs=out)

    def _trial_one(self, label: str, index: int, inputs: list[loading.Input], record: bool) -> dict[str, Any]:
        model = self.models[label]
        hooks.LOG.autotune_configs.clear()
        hooks.LOG.used_configs.clear()
        passes, p = 1, 0
        info: dict[str, Any] = {}
        while p < passes:
            hooks.LOG.pinned = p
            hooks.LOG.launches.clear()
            use_bufs = self.buffers_free and p == 0 and len(self.in_bufs) == len(loading.tensors(inputs))
            self.buffers_free = self.buffers_free and not use_bufs
            # The forward's inputs: copies the candidate may change in place; in the reference's buffers
            # for the first pass, so the reference reads them after forward without a transfer.
            mine = _into(inputs, self.in_bufs) if use_bufs else loading.clone_inputs(inputs)
            mode = hooks.CandidateMode(poison=True, record=record and p == 0, host=not self.interpret)
            PROV.reset(active=p == 0)  # which outputs come from data a Triton kernel wrote (first pass)
            with torch.no_grad(), mode:
                result = model(*mine)
            if p == 0:
                info_provenance = PROV.problem(checks.as_output_list(result))
            PROV.reset(active=False)
            outs = checks.as_output_list(result)
            if p == 0:
                info = {"launches": dict(hooks.LOG.launches), "ops": dict(mode.ops),
                        "provenance": info_provenance}
                counts = [len(c) for c in hooks.LOG.autotune_configs.values()]
                passes = max(counts, default=1) if self.interpret else 1
            label_cfg = "; ".join(f"{k}: {v}" for k, v in hooks.LOG.used_configs.items()) or None
            # Copied on the current stream, as a consumer would read them (work left running on a side stream
            # is caught), into the reference's buffers or as raw bytes: never pickled (eval.wire).
            self.sender.send(index, label_cfg if passes > 1 else None, outs, loading.tensors(mine),
                             self.out_bufs if use_bufs else [], self.in_bufs if use_bufs else [])
            _sync(self.device)
            del outs, mine, result
            p += 1
        info["passes"] = passes
        info["autotune_configs"] = {k: list(v) for k, v in hooks.LOG.autotune_configs.items()}
        return info

    def recheck(self, req: pr.Recheck) -> pr.CandidateTrialRan:
        """One more call on the timing inputs, which the reference has just refilled, as a timed call runs
        (no judge mode, no copies): a result kept from earlier calls or computed only while the judge was
        recording is stale now."""
        kind, out_bufs = self.data.recv()  # from the reference: trusted
        assert kind == "buffers" and self.timing_inputs is not None
        t = time.perf_counter()
        try:
            with torch.no_grad():
                outs = checks.as_output_list(self.models[req.label](*self.timing_inputs))
            self.sender.send(-1, None, outs, [], out_bufs, [])
            _sync(self.device)
            run = pr.CandidateRun(seconds=round(time.perf_counter() - t, 3), passes=1)
        except Exception as exc:
            run = _failed_run(exc, t)
        return pr.CandidateTrialRan(runs={req.label: run})

    def inputs(self, req: pr.TakeInputs) -> pr.Nothing:
        """Take a trial's inputs for timing only (A/B comparison), without a correctness pass."""
        kind, got, inputs, _, _ = self.data.recv()  # from the reference: trusted
        assert kind == "inputs" and got == req.index
        self.timing_inputs = inputs
        return pr.Nothing()

    def kernel_share(self, req: pr.MeasureKernelShare) -> pr.KernelShareReport:
        """GPU: where forward's kernel time goes (profiler), and how many streams ran kernels."""
        from torch.profiler import ProfilerActivity, profile

        assert self.timing_inputs is not None
        model, inputs = self.models[req.label], self.timing_inputs
        with torch.no_grad():
            model(*inputs)
            _sync(self.device)
            hooks.LOG.launches.clear()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                model(*inputs)
                _sync(self.device)
        names = set(hooks.LOG.launches)
        triton_us = other_us = 0.0
        per_kernel: dict[str, float] = {}
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
                per_kernel[evt.name] = per_kernel.get(evt.name, 0.0) + dur
            else:
                other_us += dur
                other[evt.name[:120]] = other.get(evt.name[:120], 0) + 1
        return pr.KernelShareReport(launches=dict(hooks.LOG.launches), other_kernels=other,
                                    triton_ms=triton_us / 1000, other_ms=other_us / 1000,
                                    streams=len(streams - {None}) or None,
                                    kernel_ms={k: round(v / 1000, 6) for k, v in per_kernel.items()})

    def time(self, req: pr.Time) -> pr.Timed:
        assert self.timing_inputs is not None
        model, inputs = self.models[req.label], self.timing_inputs
        ts = _timing_settings(req.settings)
        flush = timing_mod.L2Flusher(self.device)
        graph, graph_error = None, None
        with torch.no_grad():
            stats = timing_mod.time_cuda(lambda: model(*inputs), ts, flush)
            if req.graph:
                try:
                    graph = timing_mod.time_cuda_graph(lambda: model(*inputs), ts, flush)
                except RuntimeError as exc:  # capture fails for code that syncs or allocates on the host
                    graph_error = f"CUDA graph capture failed: {str(exc)[:200]}"
        return pr.Timed(timing=stats, graph=graph, graph_error=graph_error)

    def screen(self, req: pr.Screen) -> pr.Screened:
        """Time each loaded candidate on the timing inputs, one after the other, with no correctness check:
        the tuner's quick ranking of many configs. One candidate's exception is its own; the rest still run.
        Each is dropped once timed: a screening session stays open for a search's phases, and a config's model
        (its weights) is never needed again."""
        assert self.timing_inputs is not None
        inputs = self.timing_inputs
        ts = _timing_settings(req.settings)
        flush = timing_mod.L2Flusher(self.device)
        out: dict[str, pr.ScreenRun] = {}
        with torch.no_grad():
            for label in req.labels:
                t = time.perf_counter()
                model = self.models[label]
                try:
                    stats = timing_mod.time_cuda(functools.partial(model, *inputs), ts, flush, host_check=False)
                    out[label] = pr.ScreenRun(seconds=round(time.perf_counter() - t, 3), timing=stats)
                except Exception as exc:  # this config's failure: recorded, the others are still timed
                    status = classify(exc)
                    if status is Status.CRASH:
                        raise
                    out[label] = pr.ScreenRun(seconds=round(time.perf_counter() - t, 3),
                                              error=pr.Fail(status, _tail(exc)))
                finally:
                    self.models.pop(label, None)
                    sys.modules.pop(label_module(label), None)
        return pr.Screened(runs=out)

    def precompile(self, req: pr.Precompile) -> pr.Precompiled:
        """Compile, on `threads` threads, the first not-yet-compiled kernel of each label's forward on the
        timing inputs, so the screen's timed calls find them compiled (Triton's async compile; each forward
        stops at that launch). Nothing here is a verdict: a forward that raises, or a compile that fails, is
        left to its timed call, which reports it as that config's own failure."""
        from concurrent.futures import ThreadPoolExecutor

        assert self.timing_inputs is not None
        inputs = self.timing_inputs
        t = time.perf_counter()
        started = failed = 0
        with ThreadPoolExecutor(max_workers=max(1, req.threads), thread_name_prefix="tw-compile") as pool:
            mode = hooks.precompile_mode(pool)
            with mode, torch.no_grad():
                for label in req.labels:
                    before = mode.submitted
                    hooks.LOG.precompiling = True
                    try:
                        self.models[label](*inputs)
                    except (hooks.PrecompileStop, Exception):  # the stop; or an error its timed call reports
                        pass
                    finally:
                        hooks.LOG.precompiling = False
                    started += mode.submitted - before
            # leaving the mode waited for every compile; a failed one raises again at its timed call
            failed = mode.failed
        _sync(self.device)
        return pr.Precompiled(compiled=started - failed, failed=failed, seconds=round(time.perf_counter() - t, 3),
                              how=f"{req.threads} threads")

    def collect(self, req: pr.CollectKernels) -> pr.KernelsCollected:
        """Run each label's forward once on the timing inputs with no JIT kernel compiled or launched,
        recording what each kernel of the label's own module would compile (hooks.collecting), for the
        screen's compiler processes. Nothing here is a verdict: a forward that raises is left to its timed call,
        and a model's state touched by a forward whose kernels did not run is only ever timed, never judged."""
        assert self.timing_inputs is not None
        inputs = self.timing_inputs
        t = time.perf_counter()
        modules = frozenset(label_module(label) for label in req.labels)
        with hooks.collecting(modules) as collector, torch.no_grad():
            for label in req.labels:
                with contextlib.suppress(hooks.PrecompileStop, Exception):  # its timed call reports it
                    self.models[label](*inputs)
        _sync(self.device)
        jobs = [pr.KernelJob(module=m, qualname=q, specialization=spec) for m, q, spec in collector.jobs]
        return pr.KernelsCollected(jobs=jobs, uncollected=collector.uncollected,
                                   seconds=round(time.perf_counter() - t, 3))

    def compare(self, req: pr.Compare) -> pr.Compared:
        """Interleaved rounds: A then B, B then A, ...; each round's figure is a median over its runs."""
        assert self.timing_inputs is not None
        a, b, rounds = req.a, req.b, req.rounds
        inputs = self.timing_inputs
        ts = _timing_settings(req.settings)
        flush = timing_mod.L2Flusher(self.device)
        fa = lambda: self.models[a](*inputs)  # noqa: E731
        fb = lambda: self.models[b](*inputs)  # noqa: E731
        ta: list[float] = []
        tb: list[float] = []
        with torch.no_grad():
            for r in range(rounds):
                order = ((fa, ta), (fb, tb)) if r % 2 == 0 else ((fb, tb), (fa, ta))
                for fn, sink in order:
                    sink.append(timing_mod.time_cuda(fn, ts, flush, host_check=False).median_ms)
        return pr.Compared(a=ta, b=tb)


# ---------------------------------------------------------------------------------------------------------
# Process entry points


Handler = Callable[[Any], Any]  # a request of one type -> that request's reply payload


def _send(ctrl: Connection, reply: pr.Ok[Any] | pr.Fail | pr.TaskFailed) -> None:
    ctrl.send_bytes(pr.encode_reply(reply))


def _serve(ctrl: Connection, handlers: dict[type, Handler], reference: bool) -> None:
    """Answer the parent's requests, dispatched by type, until Exit or a closed pipe.

    In the reference child every failure is the task's: its own problems (LoadError, get_inputs) become
    TaskFailed, anything else a Fail that the parent reports as "the reference Model failed"."""
    while True:
        try:
            raw = ctrl.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            req = pr.decode_request(raw)
        except pr.ProtocolError as exc:  # the parent's bug; answer so it does not wait for a timeout
            _send(ctrl, pr.Fail(Status.CRASH, f"the child could not read its request: {exc}"))
            return
        if isinstance(req, pr.Exit):
            return
        handler = handlers.get(type(req))
        if handler is None:
            _send(ctrl, pr.Fail(Status.CRASH, f"the child has no handler for a {req.KIND!r} request"))
            return
        try:
            _send(ctrl, pr.Ok(handler(req)))
        except _ImportFailure as exc:
            _send(ctrl, pr.Fail(Status.COMPILE_ERROR, str(exc), errtext.full_traceback(exc.__cause__ or exc)))
        except (_TaskFailure, loading.LoadError) as exc:
            if reference:
                _send(ctrl, pr.TaskFailed(str(exc)))
            else:
                _send(ctrl, pr.Fail(Status.REJECTED, str(exc)))
        except Exception as exc:  # any failure of candidate code is data for the parent
            status = classify(exc)
            _send(ctrl, pr.Fail(status, _tail(exc), errtext.full_traceback(exc)))
            if status is Status.CRASH:
                sys.stdout.flush()
                os._exit(70)  # the CUDA context is gone; nothing more can run in this process


def reference_main(ctrl: Connection, data: Connection, spec: dict[str, Any]) -> None:
    try:
        ref = _Reference(spec, data)
    except loading.LoadError as exc:
        _send(ctrl, pr.TaskFailed(str(exc)))
        return
    except Exception as exc:  # the task itself is broken: the parent turns this into a TaskError
        _send(ctrl, pr.TaskFailed(f"{spec['task']['path']}: {type(exc).__name__}: {exc}\n{_tail(exc)}"))
        return
    handlers: dict[type, Handler] = {pr.LoadReference: ref.load, pr.Trial: ref.trial, pr.Check: ref.check,
                                     pr.Baselines: ref.baselines, pr.Refill: ref.refill}
    handlers |= {kind: functools.partial(handler, ref) for kind, handler in REFERENCE_EXTENSIONS.items()}
    _serve(ctrl, handlers, reference=True)


# Requests the reference process answers for parts above eval (they import eval, eval never imports them):
# request type -> handler(reference, request). Registered when such a module is imported; the children import
# the modules named in runner.REFERENCE_PLUGINS first.
REFERENCE_EXTENSIONS: dict[type, Callable[[Any, Any], Any]] = {}


def extend_reference(kind: type, handler: Callable[[Any, Any], Any]) -> None:
    """Let the reference process answer requests of `kind` with handler(reference, request)."""
    REFERENCE_EXTENSIONS[kind] = handler


# How the compiled baseline's first call is made when the parent asks for a capture (Baselines.capture_inductor):
# watch(compiled, model, inputs, device type) -> (output, captured data or None, why none). Set by a part above
# eval (reference_inductor, one of runner.REFERENCE_PLUGINS); empty: nothing is captured.
BASELINE_WATCH: list[Callable[[Any, Any, Any, str], tuple[Any, dict[str, Any] | None, str]]] = []


def watch_compiled_baseline(watch: Callable[[Any, Any, Any, str], tuple[Any, dict[str, Any] | None, str]]) -> None:
    BASELINE_WATCH[:] = [watch]


def candidate_main(ctrl: Connection, data: Connection, spec: dict[str, Any]) -> None:
    try:
        cand = _Candidate(spec, data)
    except Exception as exc:  # the reference child died before handing over weights
        _send(ctrl, pr.Fail(Status.CRASH, _tail(exc)))
        return

    def load(req: pr.LoadCandidate) -> pr.CandidateLoaded:
        try:
            return cand.load(req.label, req.path)
        except loading.LoadError:
            raise
        except Exception as exc:
            raise _ImportFailure(_tail(exc)) from exc

    _serve(ctrl, {pr.LoadCandidate: load, pr.CandidateTrial: cand.trial, pr.MeasureKernelShare: cand.kernel_share,
                  pr.Time: cand.time, pr.Compare: cand.compare, pr.TakeInputs: cand.inputs, pr.Screen: cand.screen,
                  pr.Precompile: cand.precompile, pr.CollectKernels: cand.collect,
                  pr.Recheck: cand.recheck},
           reference=False)


def compile_kernels(req: pr.CompileKernels) -> pr.Precompiled:
    """A compiler child's work: compile each job's kernel into Triton's cache (JITFunction.preload, which
    compiles exactly what the recorded launch would have), importing each candidate module once under the name
    its kernels were recorded in (the name is part of the specialization Triton checks). A job that fails is
    counted: its timed call compiles it again and reports the error as that config's own."""
    from triton.runtime.jit import JITFunction

    t = time.perf_counter()
    modules: dict[str, Any] = {}
    compiled = failed = 0
    error = ""
    import_s = 0.0
    for job in req.jobs:
        try:
            module = modules.get(job.module)
            if module is None:
                t_import = time.perf_counter()
                try:
                    module = modules[job.module] = loading.load_candidate_module(req.paths[job.module], job.module)
                finally:
                    import_s += time.perf_counter() - t_import
            kernel: Any = module
            for part in job.qualname.split("."):
                kernel = getattr(kernel, part)
            while not isinstance(kernel, JITFunction) and hasattr(kernel, "fn"):  # autotune / heuristics
                kernel = kernel.fn
            kernel.preload(job.specialization)
            compiled += 1
        except Exception as exc:  # noqa: BLE001 - counted; the config's timed call reports its own error
            failed += 1
            error = error or f"{job.qualname}: {type(exc).__name__}: {str(exc).strip()[:200]}"
    total = time.perf_counter() - t
    return pr.Precompiled(compiled=compiled, failed=failed, seconds=round(total, 3), error=error,
                          import_s=round(import_s, 3), compile_s=round(total - import_s, 3))


def compiler_main(ctrl: Connection, data: Connection | None, spec: dict[str, Any]) -> None:
    """A screen's compiler child: started from the same fork server, confined like a candidate's (it imports
    candidate code), it only compiles kernels into Triton's cache shared with the candidate child."""
    hooks.install_escape_guards()
    try:  # CUDA and Triton's driver up before the first job arrives: they start while the parent collects
        from triton.runtime import driver

        driver.active.get_current_device()
    except Exception:  # noqa: BLE001 - each job meets the problem again and is counted as failed
        pass
    _serve(ctrl, {pr.CompileKernels: compile_kernels}, reference=False)


class _ImportFailure(Exception):
    """Importing or constructing the candidate raised: a COMPILE_ERROR (the import/compile step)."""


class _TaskFailure(Exception):
    """The task's own code (get_inputs) raised in the reference child: a TaskError in the parent."""
