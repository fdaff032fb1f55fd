"""Parent side of an evaluation: spawn the reference and candidate children, drive the numbered steps
with a named timeout each, and turn whatever happens (hang, crash, exception, wrong numbers) into an
EvalResult. The parent never imports candidate code and never touches the GPU.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from tritonwright import sandbox
from tritonwright.candidate import Candidate, CandidateError, static_check
from tritonwright.errors import TaskError
from tritonwright.eval import baseline_cache
from tritonwright.eval.types import (
    DEFAULT_TOLERANCES,
    Comparison,
    Environment,
    EvalConfig,
    EvalResult,
    KernelShare,
    OutputCheck,
    Status,
    TimingStats,
)
from tritonwright.task import Task

_LOG_TAIL_LINES = 15  # last lines of a dead child's output, enough for a signal or CUDA message
_EXIT_GRACE_S = 1.0  # a clean exit of both children usually fits; after that they are killed


class StepFailure(Exception):
    def __init__(self, status: Status, message: str, who: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.who = who


def resolve_device(device: str) -> str:
    """auto -> cuda when a GPU is visible, else cpu (Triton's interpreter, correctness only)."""
    if device not in {"auto", "cuda", "cpu"}:
        raise TaskError(f"--device {device}: expected auto, cuda or cpu")
    if device != "auto":
        if device == "cuda" and not _cuda_visible():
            raise TaskError("--device cuda: no CUDA GPU is visible (use --device cpu for the interpreter)")
        return device
    return "cuda" if _cuda_visible() else "cpu"


def _cuda_visible() -> bool:
    import torch

    return torch.cuda.is_available()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class _Child:
    def __init__(self, name: str, proc: Any, ctrl: Connection, log: Path) -> None:
        self.name = name
        self.proc = proc
        self.ctrl = ctrl
        self.log = log

    def call(self, step: str, timeout_s: float, *msg: Any) -> Any:
        self.ctrl.send(msg)
        return self.reply(step, timeout_s)

    def reply(self, step: str, timeout_s: float) -> Any:
        ready = wait([self.ctrl, self.proc.sentinel], timeout=timeout_s)
        if self.ctrl in ready:
            try:
                answer = self.ctrl.recv()
            except (EOFError, OSError):
                answer = None
            if answer is not None:
                if answer[0] == "ok":
                    return answer[1]
                raise StepFailure(_status(answer[1]), answer[2], self.name)
        if not ready:
            self.kill()
            raise StepFailure(Status.TIMEOUT, f"step '{step}' killed after {timeout_s:g} s", self.name)
        self.proc.join(5)
        tail = self.log_tail()
        msg = f"{self.name} process {_describe_exit(self.proc.exitcode)} during step '{step}'"
        raise StepFailure(Status.CRASH, msg + (f"\n{tail}" if tail else ""), self.name)

    def log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-_LOG_TAIL_LINES:])

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(10)

    def request_exit(self) -> None:
        if self.proc.is_alive():
            with suppress(BrokenPipeError, OSError):
                self.ctrl.send(("exit",))


def _status(value: str) -> Status:
    return Status(value) if value in Status.__members__ else Status.RUNTIME_ERROR


def _child_entry(role: str, ctrl: Connection, data: Connection, spec: dict[str, Any], log: str) -> None:
    """First code in a child: send its output to a log file, then run the role's body."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from tritonwright.eval import worker

    (worker.reference_main if role == "reference" else worker.candidate_main)(ctrl, data, spec)


@contextmanager
def _session(task: Task, config: EvalConfig, device: str, workdir: Path) -> Iterator[tuple[_Child, _Child]]:
    ctx = mp.get_context("spawn")
    data_ref, data_cand = ctx.Pipe(duplex=True)
    spec = {
        "device": device,
        "task": dataclasses.asdict(task),
        "seed": config.seed,
        "tolerances": {"atol": config.atol, "rtol": config.rtol,
                       "defaults": {k: [v.atol, v.rtol] for k, v in DEFAULT_TOLERANCES.items()}},
    }
    children: list[_Child] = []
    try:
        for role in ("reference", "candidate"):
            parent_end, child_end = ctx.Pipe(duplex=True)
            log = workdir / f"{role}.log"
            extra = {"TRITON_INTERPRET": "1"} if device == "cpu" and role == "candidate" else {}
            with sandbox.child_environment(extra):
                proc = ctx.Process(target=_child_entry, name=f"tritonwright-{role}", daemon=True,
                                   args=(role, child_end, data_ref if role == "reference" else data_cand,
                                         spec, str(log)))
                proc.start()
            child_end.close()
            children.append(_Child(role, proc, parent_end, log))
        data_ref.close()
        data_cand.close()
        yield children[0], children[1]
    finally:
        _shutdown(children)


def _shutdown(children: list[_Child]) -> None:
    """Ask every child to exit, give them a moment together, then kill what is left.

    Nothing a child holds is needed once its last reply arrived; waiting for each one's CUDA teardown in
    turn cost seconds per evaluation.
    """
    for c in children:
        c.request_exit()
    deadline = time.monotonic() + _EXIT_GRACE_S
    for c in children:
        c.proc.join(max(0.0, deadline - time.monotonic()))
    for c in children:
        c.kill()


def _write_source(candidate: Candidate, workdir: Path, name: str) -> str:
    if candidate.path and Path(candidate.path).is_file() and Path(candidate.path).read_text() == candidate.source:
        return str(Path(candidate.path).resolve())
    path = workdir / f"{name}_{candidate.id}.py"
    path.write_text(candidate.source)
    return str(path)


def _static(candidate: Candidate, task: Task) -> EvalResult | None:
    label = candidate.path or "<candidate>"
    try:
        violations = static_check(candidate.source, label, frozenset({task.name}))
    except CandidateError as exc:
        return EvalResult(status=Status.COMPILE_ERROR, reason=str(exc))
    if violations:
        return EvalResult(status=Status.REJECTED, reason="; ".join(str(v) for v in violations))
    return None


def evaluate(task: Task, candidate: Candidate, config: EvalConfig | None = None) -> EvalResult:
    """Correctness (and, on a GPU, timing) of `candidate` against `task`'s reference. Never raises for
    candidate failures; raises TaskError when the reference itself cannot run."""
    config = config or EvalConfig()
    t0 = time.monotonic()
    device = resolve_device(config.device)
    result = _static(candidate, task) or EvalResult(status=Status.OK)
    result.task, result.candidate, result.device = task.to_dict(), candidate.id, device
    if result.status is Status.OK:
        with tempfile.TemporaryDirectory(prefix="tritonwright-eval-") as tmp:
            _run(task, candidate, config, device, Path(tmp), result)
    result.wall_s = round(time.monotonic() - t0, 3)
    return result


def _fail(result: EvalResult, exc: StepFailure) -> None:
    if exc.who == "reference":
        if exc.status is Status.TIMEOUT:
            raise TaskError(f"{result.task.get('path')}: the reference Model: {exc.message}") from None
        raise TaskError(exc.message.splitlines()[0] if exc.status.value == "TASK" else
                        f"{result.task.get('path')}: the reference Model failed: {exc.message}") from None
    result.status, result.reason = exc.status, exc.message


def _run(task: Task, candidate: Candidate, config: EvalConfig, device: str, workdir: Path,
         result: EvalResult) -> None:
    path = _write_source(candidate, workdir, "candidate")
    steps = result.step_seconds
    with _session(task, config, device, workdir) as (ref, cand):
        try:
            # 1. load: both imports; the reference hands its weights to the candidate.
            t = time.monotonic()
            env = ref.call("load", config.load_timeout_s, "load")
            result.env = Environment(**env["env"])
            result.notes.extend(cand.call("load", config.load_timeout_s, "load", "c", path)["notes"])
            steps["load"] = round(time.monotonic() - t, 3)
            # 2. correctness over fresh inputs per trial.
            t = time.monotonic()
            first_info = _correctness(ref, cand, config, result)
            steps["correctness"] = round(time.monotonic() - t, 3)
            if result.status is not Status.OK:
                return
            # 3. runtime integrity: Triton must run; strict mode allows nothing else.
            t = time.monotonic()
            result.kernels = _kernel_share(cand, config, device, first_info)
            steps["integrity"] = round(time.monotonic() - t, 3)
            _integrity(result, config)
            if result.status is not Status.OK:
                return
            # 4. timing (GPU only) and the cached baselines.
            if device != "cuda":
                result.timing_note = "timing needs a GPU (CPU mode checks correctness only)"
                return
            if config.timing:
                t = time.monotonic()
                _timing(cand, config, result)
                steps["timing"] = round(time.monotonic() - t, 3)
            if config.baselines:
                t = time.monotonic()
                _baselines(ref, task, config, result)
                steps["baselines"] = round(time.monotonic() - t, 3)
        except StepFailure as exc:
            _fail(result, exc)


def _correctness(ref: _Child, cand: _Child, config: EvalConfig, result: EvalResult) -> dict[str, Any]:
    first: dict[str, Any] = {}
    for i in range(config.trials):
        seed = config.seed + 1 + i  # inputs differ from the weight seed and between trials
        ref.call("correctness", config.correctness_timeout_s, "trial", i, seed)
        info = cand.call("correctness", config.correctness_timeout_s, "trial", "c", i, i == 0)
        first = first or info
        checked = ref.call("correctness", config.correctness_timeout_s, "check", i, info["passes"])
        checks_ = [OutputCheck(**c) if "trial" in c else
                   OutputCheck(trial=i, index=-1, ok=False, shape=[], dtype="", reason=c["reason"],
                               config=c.get("config")) for c in checked["checks"]]
        result.outputs.extend(checks_)
        bad = [c for c in checks_ if not c.ok]
        if bad:
            result.status = Status.MISMATCH
            where = f" (autotune config {bad[0].config})" if bad[0].config else ""
            result.reason = f"trial {i}: {bad[0].reason}{where}"
            return first
        if checked["input_reason"]:
            result.status = Status.MISMATCH
            result.reason = f"trial {i}: {checked['input_reason']}"
            return first
    if first.get("autotune_configs"):
        n = sum(len(v) for v in first["autotune_configs"].values())
        result.notes.append(f"checked every autotune config in the interpreter ({n} configs)")
    return first


def _kernel_share(cand: _Child, config: EvalConfig, device: str, first: dict[str, Any]) -> KernelShare:
    if device == "cuda":
        d = cand.call("integrity", config.timing_timeout_s, "kernel_share", "c")
        return KernelShare(triton_launches=d["launches"], other_ops=d["other_kernels"],
                           triton_time_ms=d["triton_ms"], other_time_ms=d["other_ms"], streams=d["streams"])
    return KernelShare(triton_launches=first.get("launches", {}), other_ops=first.get("ops", {}))


def _integrity(result: EvalResult, config: EvalConfig) -> None:
    k = result.kernels
    assert k is not None
    if not k.triton_launches:
        result.status = Status.REJECTED
        result.reason = "ModelNew.forward launched no Triton kernel"
    elif config.strict and k.other_ops:
        result.status = Status.REJECTED
        result.reason = "--strict: non-Triton compute in forward: " + ", ".join(sorted(k.other_ops))


def _settings(config: EvalConfig, device_sync: bool) -> dict[str, Any]:
    return {"warmup_ms": config.warmup_ms, "min_runs": config.min_runs, "budget_ms": config.budget_ms,
            "max_runs": config.max_runs, "device_sync": device_sync}


def _multi_stream(result: EvalResult) -> bool:
    return bool(result.kernels and result.kernels.streams and result.kernels.streams > 1)


def _timing(cand: _Child, config: EvalConfig, result: EvalResult) -> None:
    sync = _multi_stream(result)  # kernels on several streams: end each run with a device-wide sync
    d = cand.call("timing", config.timing_timeout_s, "time", "c", _settings(config, sync), config.cuda_graph)
    result.timing = TimingStats(**d["timing"])
    if d.get("graph"):
        result.graph_timing = TimingStats(**d["graph"])
    if d.get("graph_error"):
        result.notes.append(d["graph_error"])


def _baselines(ref: _Child, task: Task, config: EvalConfig, result: EvalResult) -> None:
    assert result.env is not None
    settings = _settings(config, False)
    key = baseline_cache.key(task.hash, result.env.key(), config.compile_mode, config.seed, settings)
    cached = baseline_cache.load(key, config.cache_dir)
    if cached is None:
        cached = ref.call("baselines", config.timing_timeout_s, "baselines", settings, config.compile_mode)
        baseline_cache.store(key, cached, config.cache_dir)
        result.baseline_cached = False
    else:
        result.baseline_cached = True
    result.eager = TimingStats(**cached["eager"]) if cached.get("eager") else None
    result.compiled = TimingStats(**cached["compiled"]) if cached.get("compiled") else None
    if cached.get("compiled_error"):
        result.notes.append(f"torch.compile baseline failed: {cached['compiled_error']}")


# ---------------------------------------------------------------------------------------------------------
# A/B comparison


def compare(task: Task, a: Candidate, b: Candidate, config: EvalConfig | None = None, threshold: float = 0.02,
            rounds: int = 10) -> Comparison:
    """Interleaved A/B timing on the GPU: is B faster than A by at least `threshold`, beyond the noise?

    Both candidates run in one child on the same inputs, alternating order every round, so drift of clocks
    and temperature falls on both. Correctness is not re-checked here: evaluate each candidate first.
    """
    return compare_repeated(task, a, b, config, threshold, rounds, repeats=1)[0]


def compare_repeated(task: Task, a: Candidate, b: Candidate, config: EvalConfig | None = None,
                     threshold: float = 0.02, rounds: int = 10, repeats: int = 1) -> list[Comparison]:
    """`repeats` independent A/B decisions in one session (used for A/A and sensitivity checks)."""
    config = config or EvalConfig()
    if resolve_device(config.device) != "cuda":
        raise TaskError("compare needs a CUDA GPU (timing is unavailable in CPU mode)")
    if rounds < 3:
        raise ValueError("compare needs at least 3 rounds for a noise estimate")
    out: list[Comparison] = []
    with tempfile.TemporaryDirectory(prefix="tritonwright-ab-") as tmp, \
            _session(task, config, "cuda", Path(tmp)) as (ref, cand):
        try:
            ref.call("load", config.load_timeout_s, "load")
            cand.call("load", config.load_timeout_s, "load", "a", _write_source(a, Path(tmp), "a"))
            cand.call("load", config.load_timeout_s, "load", "b", _write_source(b, Path(tmp), "b"))
            ref.call("inputs", config.correctness_timeout_s, "trial", 0, config.seed + 1)
            cand.call("inputs", config.correctness_timeout_s, "inputs", 0)
            # Fewer runs per round than a full timing: the rounds provide the repetition.
            settings = _settings(config, False) | {"min_runs": max(10, config.min_runs // 5),
                                                   "budget_ms": config.budget_ms / 5}
            for _ in range(repeats):
                d = cand.call("compare", config.timing_timeout_s * 2, "compare", "a", "b", rounds, settings)
                out.append(decide(d["a"], d["b"], threshold))
        except StepFailure as exc:
            raise TaskError(f"A/B comparison failed ({exc.status.value}): {exc.message}") from None
    return out


def decide(times_a: list[float], times_b: list[float], threshold: float) -> Comparison:
    """Speedup of B over A from per-round medians, with a 95% noise band; significant only beyond both."""
    ratios = [x / y for x, y in zip(times_a, times_b, strict=True)]
    logs = [math.log(r) for r in ratios]
    center = statistics.median(logs)
    mad = statistics.median([abs(v - center) for v in logs])
    # 1.4826*MAD estimates sigma robustly; 1.2533*sigma/sqrt(n) is the median's standard error; 1.96 -> 95%.
    half = 1.96 * 1.2533 * 1.4826 * mad / math.sqrt(len(logs))
    speedup, noise = math.exp(center), math.exp(half) - 1
    significant = center - half >= math.log1p(threshold)
    if significant:
        reason = f"{(speedup - 1) * 100:.1f}% faster, noise {noise * 100:.1f}%"
    elif center + half < 0:
        reason = f"slower by {(1 - speedup) * 100:.1f}% (noise {noise * 100:.1f}%)"
    else:
        reason = (f"not significantly faster: {(speedup - 1) * 100:+.1f}%, noise {noise * 100:.1f}%, "
                  f"threshold {threshold * 100:g}%")
    return Comparison(speedup=speedup, noise=noise, significant=significant, threshold=threshold,
                      rounds=len(ratios), a=TimingStats.from_samples(times_a, "ab_round_medians"),
                      b=TimingStats.from_samples(times_b, "ab_round_medians"), reason=reason, ratios=ratios)
