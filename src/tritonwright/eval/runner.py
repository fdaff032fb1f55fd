"""Parent side of an evaluation: spawn the reference and candidate children, drive the numbered steps
with a named timeout each, and turn whatever happens (hang, crash, exception, wrong numbers) into an
EvalResult. The parent never imports candidate code and never touches the GPU, and it reads the children's
replies only as the typed plain-data messages of eval.protocol (never a pickle): a reply that does not decode
is a CRASH of the child that sent it.
"""

from __future__ import annotations

import atexit
import dataclasses
import importlib
import math
import multiprocessing as mp
import os
import secrets
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, TypeVar

from tritonwright import sandbox
from tritonwright.candidate import Candidate, CandidateError, static_check
from tritonwright.defaults import AB_ROUNDS, KEEP_THRESHOLD
from tritonwright.errors import TaskError
from tritonwright.eval import baseline_cache, confine
from tritonwright.eval import protocol as pr
from tritonwright.eval.types import (
    DEFAULT_TOLERANCES,
    HOST_MATH,
    PRECOMPILE_NOTE,
    Comparison,
    Environment,
    EvalConfig,
    EvalResult,
    KernelShare,
    Status,
    TimingStats,
    label_module,
)
from tritonwright.task import Task

_LOG_TAIL_LINES = 15  # last lines of a dead child's output, enough for a signal or CUDA message
_EXIT_WAIT_S = 30.0  # the driver frees a killed process's GPU memory within seconds; past this, move on
START_METHOD_ENV = "TRITONWRIGHT_START_METHOD"
# Candidate children keep @triton.autotune's picks in Triton's cache: code tuned to an autotune list benchmarks
# every config (~0.13 s each on an H200) on its first call in each process, and one tuner pass loads it in
# three (its check, its A/B, the next pass or the final check); every pick is still checked and timed, and
# one that is not among the code's own configs is benchmarked again (eval.hooks.guard_autotune_cache).
CANDIDATE_ENV = {"TRITON_CACHE_AUTOTUNING": "1"}
# What every child imports, loaded once into the fork server instead of once per child: a spawned child
# spent ~4 s of each evaluation importing these (the dynamo/sympy chain comes in with the first Triton
# launch under a dispatch mode). Modules that fail to import are skipped by the server.
# Modules of parts above eval that extend the reference process (eval.worker.extend_reference): named, never
# imported here (they import eval); every child imports them before it serves.
REFERENCE_PLUGINS = ("tritonwright.reference_floor", "tritonwright.reference_inductor")
_PRELOAD = ("torch", "torch.multiprocessing", "triton", "triton.language", "torch._dynamo",
            "torch._higher_order_ops.triton_kernel_wrap", "tritonwright.eval.worker", *REFERENCE_PLUGINS)
_SERVER_MODE: str | None = None  # how the fork server's Triton was imported: "interpret" (CPU) or "compiled"
_SERVER_LOCK = threading.Lock()  # batch tasks start sessions from several threads
P = TypeVar("P")


class StepFailure(Exception):
    def __init__(self, status: Status, message: str, who: str, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail  # the full traceback, when the child sent one
        self.who = who


class TaskFailure(StepFailure):
    """The reference child reported that the task itself cannot run (TaskFailed): a TaskError for the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(Status.RUNTIME_ERROR, message, "reference")


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
    from tritonwright.eval.cuda_probe import cuda_available

    known = cuda_available()  # torch's answer without importing torch (2-3 s of a driver's start), when certain
    if known is not None:
        return known
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

    def call(self, step: str, timeout_s: float, request: pr.Request[P]) -> P:
        """Send one request and wait for its reply's payload; raises StepFailure for everything else."""
        # A child gone before it read this (a reference whose task cannot load sends TaskFailed and exits at
        # once) breaks the pipe: its last message, or its exit, is the answer, and reply reads both.
        with suppress(OSError):
            self.ctrl.send_bytes(pr.encode_request(request))
        return self.reply(step, timeout_s, request.reply_type())

    def reply(self, step: str, timeout_s: float, payload: type[P]) -> P:
        ready = wait([self.ctrl, self.proc.sentinel], timeout=timeout_s)
        if self.ctrl in ready:
            raw: bytes | None = None
            try:
                raw = self.ctrl.recv_bytes(pr.MAX_MESSAGE_BYTES)
            except EOFError:
                pass  # the child died before answering: reported below with its exit
            except OSError as exc:  # over the size limit (the pipe is unusable after it) or a broken pipe
                if self.proc.is_alive():
                    raise self.malformed(step, str(exc)) from None
            if raw is not None:
                try:
                    answer = pr.decode_reply(raw, payload)
                except pr.ProtocolError as exc:
                    raise self.malformed(step, str(exc)) from None
                if isinstance(answer, pr.Ok):
                    return answer.payload
                if isinstance(answer, pr.Fail):
                    raise StepFailure(answer.status, answer.message, self.name, answer.detail)
                if self.name != "reference":  # only the reference runs the task's code
                    raise self.malformed(step, "a task failure, which only the reference process may report")
                raise TaskFailure(answer.message)
        if not ready:
            self.kill()
            raise StepFailure(Status.TIMEOUT, f"step '{step}' killed after {timeout_s:g} s", self.name)
        self.proc.join(5)
        tail = self.log_tail()
        msg = f"{self.name} process {_describe_exit(self.proc.exitcode)} during step '{step}'"
        raise StepFailure(Status.CRASH, msg + (f"\n{tail}" if tail else ""), self.name)

    def malformed(self, step: str, why: str) -> StepFailure:
        """A reply that is not a well-formed message: the child is killed and its step is a CRASH."""
        self.kill()
        return StepFailure(Status.CRASH, f"the {self.name} process sent a malformed reply in step '{step}': {why}",
                           self.name)

    def log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-_LOG_TAIL_LINES:])

    def kill(self) -> None:
        if self.proc.pid is not None:
            confine.kill_group(self.proc.pid)  # with anything it started
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(10)


def _child_entry(role: str, ctrl: Connection, data: Connection, spec: dict[str, Any], log: str,
                 extra_env: dict[str, str], home: str) -> None:
    """First code in a child: its own session and working folder (eval.confine), its environment settings,
    output to a log file, then the role's body."""
    confine.enter_own_session(home, role)
    os.environ.update(extra_env)  # a forked child has the fork server's (scrubbed) environment: add ours
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from tritonwright.eval import worker

    if role == "reference":
        for name in REFERENCE_PLUGINS:  # preloaded by the fork server; a spawned child imports them now
            importlib.import_module(name)
    main = {"reference": worker.reference_main, "compiler": worker.compiler_main}.get(role, worker.candidate_main)
    main(ctrl, data, spec)


def start_method() -> str:
    """forkserver where the OS has it (children start in milliseconds, torch and triton already imported),
    else spawn; TRITONWRIGHT_START_METHOD=spawn forces the old way (a fresh interpreter per child)."""
    chosen = os.environ.get(START_METHOD_ENV, "").strip()
    if chosen:
        if chosen not in ("forkserver", "spawn"):
            raise TaskError(f"{START_METHOD_ENV}={chosen}: expected forkserver or spawn")
        return chosen
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def _context(device: str) -> Any:
    """The multiprocessing context for one session's children.

    The fork server imports Triton once, so whether Triton runs kernels in its interpreter (CPU) or compiles
    them (GPU) is fixed when the server starts: Triton's own @jit helpers (tl.zeros, ...) are built at import.
    The first session of a process decides; a later session of the other kind spawns its children instead.
    """
    global _SERVER_MODE
    method = start_method()
    mode = "interpret" if device == "cpu" else "compiled"
    if method == "forkserver":
        from multiprocessing import forkserver

        with _SERVER_LOCK:
            if _SERVER_MODE in (None, mode):
                mp.get_context(method).set_forkserver_preload(list(_PRELOAD))
                # Started with the scrubbed environment: no child forked from it inherits a secret, whatever
                # our own environment holds later. (Also restarts a server that died, the same way.)
                with sandbox.child_environment({"TRITON_INTERPRET": "1" if mode == "interpret" else "0"}):
                    forkserver.ensure_running()
                _SERVER_MODE = mode
            else:
                method = "spawn"
    return mp.get_context(method)


def process_context(device: str) -> Any:
    """The context other parts start their children from (the Inductor seed's): the evaluations' fork server
    when it runs in `device`'s mode (torch, Triton and Dynamo already imported), else spawn."""
    return _context(resolve_device(device))


def prestart(device: str) -> None:
    """Start the fork server for `device`'s sessions now, so its imports (torch, Triton, torch._dynamo: ~10 s on
    an H200 host) overlap other work, such as a worker's health check, instead of delaying the first
    evaluation. Never fails: the first session starts it (or spawns) as before."""
    try:
        _context(resolve_device(device))
    except Exception:  # noqa: BLE001 - a head start only; the session reports any real problem itself
        return


SEED_SPACE = 1 << 31  # torch.manual_seed takes any 64-bit value; 2**31 keeps seeds readable in reports


def session_seed(config: EvalConfig) -> int:
    """The seed of one session's weights and inputs. Fresh and secret unless the user fixed one: a candidate
    that knows the seed can regenerate the inputs and precompute the answers in __init__. The result records
    it after the verdict (EvalResult.seed), so a run can be repeated with --seed."""
    return secrets.randbelow(SEED_SPACE) if config.secret_seeds else config.seed


@contextmanager
def _session(task: Task, config: EvalConfig, device: str, workdir: Path, seed: int) -> Iterator[tuple[_Child, _Child]]:
    ctx = _context(device)
    data_ref, data_cand = ctx.Pipe(duplex=True)
    spec = {
        "device": device,
        "task": dataclasses.asdict(task),
        "seed": seed,
        "precision": config.precision,
        "fp64_k": config.fp64_k,
        "tolerances": {"atol": config.atol, "rtol": config.rtol,
                       "defaults": {k: [v.atol, v.rtol] for k, v in DEFAULT_TOLERANCES.items()}},
    }
    children: list[_Child] = []
    _forbid_dumping_once()
    try:
        for role in ("reference", "candidate"):
            parent_end, child_end = ctx.Pipe(duplex=True)
            log = workdir / f"{role}.log"
            extra = {} if role != "candidate" else (
                {**CANDIDATE_ENV, "TRITON_INTERPRET": "1"} if device == "cpu" else dict(CANDIDATE_ENV))
            # The candidate's child is not told where the task lives: it gets the weights, not the file.
            role_spec = spec if role == "reference" else {k: v for k, v in spec.items() if k != "task"}
            with sandbox.child_environment(extra):
                proc = ctx.Process(target=_child_entry, name=f"tritonwright-{role}", daemon=True,
                                   args=(role, child_end, data_ref if role == "reference" else data_cand,
                                         role_spec, str(log), extra, str(workdir / f"{role}-home")))
                proc.start()
            child_end.close()
            children.append(_Child(role, proc, parent_end, log))
        data_ref.close()
        data_cand.close()
        yield children[0], children[1]
    finally:
        _shutdown(children)


def _shutdown(children: list[_Child]) -> None:
    """Kill both children at once, then wait for both.

    Nothing a child holds is needed once its last reply arrived. The wait is for the driver to release the
    GPU memory (seconds for a large task), so the next evaluation starts on a free GPU; killing both first
    lets the two releases overlap.
    """
    for c in children:
        if c.proc.pid is not None:
            confine.kill_group(c.proc.pid)  # the child and anything it started (while its group id is its own)
        if c.proc.is_alive():
            c.proc.kill()
    for c in children:
        c.proc.join(_EXIT_WAIT_S)


_DUMPING_FORBIDDEN: bool | None = None


def _forbid_dumping_once() -> None:
    """This process holds API keys in its environment: non-dumpable before any candidate runs (eval.confine)."""
    global _DUMPING_FORBIDDEN
    if _DUMPING_FORBIDDEN is None:
        _DUMPING_FORBIDDEN = confine.forbid_dumping()


def _write_source(candidate: Candidate, workdir: Path, name: str) -> str:
    """The candidate's code as a file of the evaluation's temp folder: the child imports a copy, never the
    user's file (whose path it is not told)."""
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
    return evaluate_many(task, [candidate], config)[0]


def evaluate_many(task: Task, candidates: list[Candidate], config: EvalConfig | None = None) -> list[EvalResult]:
    """Evaluate several candidates in one pair of children: one process start, one reference run per trial,
    the same inputs for all (the tuner's configs). Each candidate is still checked and timed on its own.

    A crash or hang ends the session for everyone in it; the candidates it had not finished are then
    evaluated again one at a time, so one bad candidate cannot fail the others.
    """
    config = config or EvalConfig()
    t0 = time.monotonic()
    device = resolve_device(config.device)
    results = []
    for c in candidates:
        r = _static(c, task) or EvalResult(status=Status.OK)
        r.task, r.candidate, r.device, r.precision = task.to_dict(), c.id, device, config.precision
        results.append(r)
    live = [i for i, r in enumerate(results) if r.ok]
    files = confine.fingerprint([task.path, *(candidates[i].path for i in live)])
    if live:
        with tempfile.TemporaryDirectory(prefix="tritonwright-eval-") as tmp:
            unfinished = _run_many(task, [candidates[i] for i in live], [results[i] for i in live], config,
                                   device, Path(tmp))
        if len(live) > 1:
            for j in unfinished:
                results[live[j]] = evaluate(task, candidates[live[j]], config)
    wall = round(time.monotonic() - t0, 3)
    for r in results:
        r.wall_s = r.wall_s or wall
    for c, r in zip(candidates, results, strict=True):
        if r.status is Status.MISMATCH:
            _precision_hint(c, r, config.precision)
    touched = confine.changed(files)
    if touched:  # a candidate wrote the task or a candidate file: nothing measured in this run can be trusted
        for i in live:
            results[i].status = Status.REJECTED
            results[i].reason = (f"{', '.join(touched)} changed while the candidates ran: a candidate may not write "
                                 "the task or candidate files; the verdict is refused")
    return results


def _precision_hint(candidate: Candidate, result: EvalResult, policy: str) -> None:
    """A MISMATCH says which precision the kernels appear to use and which policy would accept it."""
    from tritonwright.eval import precision  # torch at import: the parent loads it only when needed

    hint = precision.advice(precision.detect_precision(candidate.source), precision.Policy(policy))
    if hint:
        result.reason = f"{result.reason}; {hint}"


def _reference_failure(task: Task, exc: StepFailure) -> TaskError:
    if isinstance(exc, TaskFailure):  # the task's own code failed; the message names the task file
        lines = exc.message.splitlines()
        return TaskError(lines[0] if lines else f"{task.path}: the task failed")
    if exc.status is Status.TIMEOUT:
        return TaskError(f"{task.path}: the reference Model: {exc.message}")
    return TaskError(f"{task.path}: the reference Model failed: {exc.message}")


def _run_many(task: Task, cands: list[Candidate], results: list[EvalResult], config: EvalConfig, device: str,
              workdir: Path) -> list[int]:
    """Drive one session; returns the indices whose result a session-wide CRASH/TIMEOUT decided."""
    labels = [f"c{i}" for i in range(len(cands))]
    active = list(range(len(cands)))
    init_ops: dict[int, dict[str, int]] = {}  # PyTorch compute in each ModelNew.__init__
    steps: dict[str, float] = {}

    def timed(name: str, t: float) -> None:
        steps[name] = round(steps.get(name, 0.0) + time.monotonic() - t, 3)

    seed = session_seed(config)
    for r in results:
        r.seed = seed
    close_screening()  # its idle children would hold GPU memory beside this session's work
    with _session(task, config, device, workdir, seed) as (ref, cand):
        try:
            # 1. load: both imports; the reference hands its weights to the candidate child.
            t = time.monotonic()
            env = ref.call("load", config.load_timeout_s, pr.LoadReference()).env
            for i in list(active):
                results[i].env = env
                path = _write_source(cands[i], workdir, labels[i])
                try:
                    loaded = cand.call("load", config.load_timeout_s, pr.LoadCandidate(labels[i], path))
                    results[i].notes.extend(loaded.notes)
                    init_ops[i] = dict(loaded.init_ops)
                except StepFailure as exc:
                    if exc.status in (Status.CRASH, Status.TIMEOUT) or exc.who == "reference":
                        raise
                    results[i].status, results[i].reason, results[i].detail = exc.status, exc.message, exc.detail
                    active.remove(i)
            timed("load", t)
            # 2. correctness over fresh inputs per trial.
            t = time.monotonic()
            first = _correctness(ref, cand, config, [labels[i] for i in active], [results[i] for i in active], steps,
                                 seed)
            active = [i for i in active if results[i].ok]
            timed("correctness", t)
            # 3. timing (GPU only), before anything is profiled: a process that has run torch.profiler keeps
            #    CUPTI's overhead on later launches (PyTorch #144455). Profiled first, torch.compile's layernorm
            #    code timed 10-80 % slow in some H200 children; timed first, it was steady (verify-8).
            for i in active:
                if device != "cuda":
                    results[i].timing_note = "timing needs a GPU (CPU mode checks correctness only)"
                elif config.timing:
                    t = time.monotonic()
                    _timing(cand, config, labels[i], results[i])
                    timed("timing", t)
            # 4. runtime integrity: Triton must run; strict mode allows nothing else.
            for i in active:
                t = time.monotonic()
                results[i].kernels = _kernel_share(cand, config, device, labels[i], first.get(labels[i]))
                unobserved = _launched_only_while_recorded(results[i], first.get(labels[i]))
                if unobserved:
                    # It behaves otherwise when unobserved: its outputs decide first (a stale result is
                    # MISMATCH, what it is); a right one computed without Triton stays REJECTED below.
                    _recheck(ref, cand, config, labels[i], results[i], seed + 1 + config.trials + i,
                             after="a call outside the judge's recording that launched no Triton kernel")
                if results[i].ok:
                    _integrity(results[i], config, init_ops.get(i, {}), unobserved)
                timed("integrity", t)
            active = [i for i in active if results[i].ok]
            for i in active:  # kernels on several streams: timed again, each run ending in a device-wide sync
                if results[i].timing is not None and _multi_stream(results[i]):
                    t = time.monotonic()
                    _timing(cand, config, labels[i], results[i])
                    timed("timing", t)
            # 5. the outputs again, on fresh values in the memory the timed calls read: stale results fail.
            for i in active:
                t = time.monotonic()
                _recheck(ref, cand, config, labels[i], results[i], seed + 1 + config.trials + i)
                timed("recheck", t)
            active = [i for i in active if results[i].ok]
            if device == "cuda" and config.baselines and active:
                t = time.monotonic()
                _baselines(ref, task, config, [results[i] for i in active])
                timed("baselines", t)
            if device == "cuda" and config.floor and config.baselines and config.timing and active:
                t = time.monotonic()
                floor, asked = _floor(ref, task, config, results[active[0]].env)
                for i in active:
                    results[i].floor = floor
                if asked:
                    timed("floor", t)
        except StepFailure as exc:
            if exc.who == "reference":
                raise _reference_failure(task, exc) from None
            for i in active:
                results[i].status, results[i].reason, results[i].detail = exc.status, exc.message, exc.detail
            return active if exc.status in (Status.CRASH, Status.TIMEOUT) else []
        finally:
            for r in results:
                r.step_seconds = dict(steps)
    return []


def _recheck(ref: _Child, cand: _Child, config: EvalConfig, label: str, result: EvalResult, seed: int,
             after: str | None = None) -> None:
    """After timing (on a CPU, after the checks): the reference writes fresh values into the timing inputs in
    place and the candidate runs once more on them, as a timed call does. A candidate right for its first
    calls, or only while the judge records, and stale afterwards is MISMATCH here."""
    t_out = config.correctness_timeout_s
    ref.call("recheck", t_out, pr.Refill(seed))
    run = _one_run(cand, "recheck", cand.call("recheck", t_out, pr.Recheck(label)).runs, label)
    if run.error is not None:
        result.status, result.detail = run.error.status, run.error.detail
        result.reason = f"on fresh inputs after the timed calls: {run.error.message}"
        return
    if run.passes != 1:
        raise cand.malformed("recheck", f"{run.passes} output passes for one call")
    checked = ref.call("recheck", t_out, pr.Check(-1, 1))
    if checked.malformed:
        raise cand.malformed("recheck", f"its outputs: {checked.malformed}")
    bad = next((c for g in checked.passes for c in g.checks if not c.ok), None)
    if bad is not None:
        result.status = Status.MISMATCH
        result.reason = (f"on fresh inputs written into the memory the timed calls read (after "
                         f"{after or _calls(result)}): "
                         f"{bad.reason} (outputs kept from earlier calls?)")


def _calls(result: EvalResult) -> str:
    n = result.timing.n if result.timing is not None else 0
    return f"{n} timed calls" if n else "the correctness trials"


def _correctness(ref: _Child, cand: _Child, config: EvalConfig, labels: list[str], results: list[EvalResult],
                 steps: dict[str, float], seed: int) -> dict[str, pr.CandidateRun]:
    """All trials for every candidate still passing; returns each label's first-trial run. `steps` gets
    where the time went (reference run, candidate runs, checks)."""
    first: dict[str, pr.CandidateRun] = {}
    running = list(range(len(labels)))
    t_out = config.correctness_timeout_s

    def add(name: str, seconds: float) -> None:
        steps[name] = round(steps.get(name, 0.0) + seconds, 3)

    for trial in range(config.trials):
        if not running:
            break
        # Inputs differ from the weight seed and between trials.
        add("correctness.reference", ref.call("correctness", t_out, pr.Trial(trial, seed + 1 + trial)).seconds)
        for k in list(running):  # one candidate at a time: only its outputs are alive while it is checked
            inf = _one_run(cand, "correctness", cand.call("correctness", t_out,
                                                          pr.CandidateTrial([labels[k]], trial, trial == 0)).runs,
                           labels[k])
            if inf.error is None and inf.passes < 1:  # a run that sent no outputs would pass unchecked
                raise cand.malformed("correctness", f"{inf.passes} output passes for a run without an error")
            add("correctness.candidate", inf.seconds)
            checked = ref.call("correctness", t_out, pr.Check(trial, inf.passes))
            add("correctness.check", checked.seconds)
            if checked.malformed:  # the candidate's child broke the data protocol (eval.wire): its CRASH
                raise cand.malformed("correctness", f"its outputs: {checked.malformed}")
            if inf.error is not None:
                results[k].status, results[k].reason = inf.error.status, inf.error.message
                results[k].detail = inf.error.detail
                running.remove(k)
                continue
            first.setdefault(labels[k], inf)
            if not _apply_checks(results[k], trial, checked.passes):
                running.remove(k)  # a wrong output is MISMATCH first: the more useful verdict to repair
            elif inf.provenance:  # right outputs, but PyTorch computed them: a kernel launched for show
                results[k].status, results[k].reason = Status.REJECTED, inf.provenance
                running.remove(k)
    for k in running:
        run = first.get(labels[k])
        configs = run.autotune_configs if run is not None else {}
        if configs:
            n = sum(len(v) for v in configs.values())
            results[k].notes.append(f"checked every autotune config in the interpreter ({n} configs)")
    return first


def _one_run(child: _Child, step: str, runs: dict[str, P], label: str) -> P:
    """The run of `label` in a reply that should hold it (and nothing else): a reply without it is malformed."""
    if set(runs) != {label}:
        raise child.malformed(step, f"expected a run of {label!r}, got {sorted(runs)[:3]}")
    return runs[label]


def _apply_checks(result: EvalResult, trial: int, groups: list[pr.CheckGroup]) -> bool:
    """Record one trial's checks; False (and the reason) at the first failing output or input."""
    for g in groups:
        checks_ = list(g.checks)
        result.outputs.extend(checks_)
        bad = [c for c in checks_ if not c.ok]
        if bad:
            where = f" (autotune config {bad[0].config})" if bad[0].config else ""
            result.status, result.reason = Status.MISMATCH, f"trial {trial}: {bad[0].reason}{where}"
            return False
        if g.input_reason:
            result.status, result.reason = Status.MISMATCH, f"trial {trial}: {g.input_reason}"
            return False
        skipped = next((c.reason for c in checks_ if c.ground_truth == "skipped" and c.reason), None)
        if skipped and not any(n.startswith("ground truth") for n in result.notes):
            result.notes.append(f"ground truth: {skipped} (the elementwise check decided alone)")
    return True


def _kernel_share(cand: _Child, config: EvalConfig, device: str, label: str, first: pr.CandidateRun | None
                  ) -> KernelShare:
    if device == "cuda":
        d = cand.call("integrity", config.timing_timeout_s, pr.MeasureKernelShare(label))
        other = dict(d.other_kernels)  # the GPU's non-Triton kernels, from the profiler ...
        if first is not None:  # ... and what it cannot see: PyTorch on CPU tensors, numpy
            other.update({n: c for n, c in first.ops.items() if n.endswith("(on the CPU)") or n == HOST_MATH})
        return KernelShare(triton_launches=dict(d.launches), other_ops=other,
                           triton_time_ms=d.triton_ms, other_time_ms=d.other_ms, streams=d.streams,
                           triton_kernel_ms=dict(d.kernel_ms))
    if first is None:
        return KernelShare()
    return KernelShare(triton_launches=dict(first.launches), other_ops=dict(first.ops))


def _launched_only_while_recorded(result: EvalResult, first: pr.CandidateRun | None) -> bool:
    """GPU: the correctness pass saw Triton launches, the unobserved profiled call none."""
    k = result.kernels
    return k is not None and not k.triton_launches and first is not None and bool(first.launches)


def _integrity(result: EvalResult, config: EvalConfig, init_ops: dict[str, int], unobserved: bool = False
               ) -> None:
    k = result.kernels
    assert k is not None
    if init_ops:
        result.notes.append("ModelNew.__init__ computes with PyTorch: " + ", ".join(sorted(init_ops)))
    if not k.triton_launches:
        result.status = Status.REJECTED
        result.reason = "ModelNew.forward launched no Triton kernel" + (
            " outside the judge's correctness pass (it launched them only while recorded)" if unobserved else "")
    elif config.strict and k.other_ops:
        result.status = Status.REJECTED
        result.reason = "--strict: non-Triton compute in forward: " + ", ".join(sorted(k.other_ops))
    elif config.strict and init_ops:
        result.status = Status.REJECTED
        result.reason = "--strict: non-Triton compute in __init__: " + ", ".join(sorted(init_ops))


def _settings(config: EvalConfig, device_sync: bool) -> pr.RunSettings:
    return pr.RunSettings(warmup_ms=config.warmup_ms, min_runs=config.min_runs, budget_ms=config.budget_ms,
                          max_runs=config.max_runs, device_sync=device_sync)


def _multi_stream(result: EvalResult) -> bool:
    return bool(result.kernels and result.kernels.streams and result.kernels.streams > 1)


def _timing(cand: _Child, config: EvalConfig, label: str, result: EvalResult) -> None:
    sync = _multi_stream(result)  # kernels on several streams: end each run with a device-wide sync
    d = cand.call("timing", config.timing_timeout_s, pr.Time(label, _settings(config, sync), config.cuda_graph))
    result.timing = d.timing
    result.notes = [n for n in result.notes if not n.startswith(HOST_BOUND_NOTE)]  # a re-timing's own say
    if d.timing.host_bound:
        result.notes.append(host_bound_note(d.timing))
    if d.graph:
        result.graph_timing = d.graph
    if d.graph_error:
        result.notes.append(d.graph_error)


HOST_BOUND_NOTE = "host-bound timing:"


def host_bound_note(t: TimingStats) -> str:
    """Why a host-bound figure is not the kernels' own time."""
    return (f"{HOST_BOUND_NOTE} one forward takes the host {t.host_ms:.4g} ms to issue, against "
            f"{t.median_ms:.4g} ms of GPU time and a {t.flush_ms:.4g} ms L2 flush between runs, so the samples include "
            "waits for the host; `--cuda-graph` times the kernels alone")


def _baselines(ref: _Child, task: Task, config: EvalConfig, results: list[EvalResult]) -> None:
    env = results[0].env
    assert env is not None
    settings = _settings(config, False)
    # Not keyed by the seed: timing does not depend on the input values, and seeds are fresh per evaluation.
    # The policy decides what the baselines run as; fp32 keeps the key it always had (caches stay valid).
    mode = config.compile_mode if config.precision == "fp32" else f"{config.compile_mode}|{config.precision}"
    key = baseline_cache.key(task.hash, env.key(), mode, dataclasses.asdict(settings))
    cached = baseline_cache.load(key, config.cache_dir)
    was_cached = cached is not None
    if cached is None:
        # The seed is made from torch.compile's default code for the fp32 Model: only that compile is kept.
        capture = config.precision == "fp32" and config.compile_mode == "default"
        times = ref.call("baselines", config.timing_timeout_s, pr.Baselines(settings, config.compile_mode,
                                                                            capture))
        cached = {k: v for k, v in pr.to_data(times).items()
                  if (k != "compiled_error" or v is not None) and (k != "inductor_note" or v)}
        baseline_cache.store(key, cached, config.cache_dir)
    if isinstance(cached.get("inductor"), dict):
        baseline_cache.remember_capture(task.hash, cached["inductor"])
    for result in results:
        result.baseline_cached = was_cached
        result.eager = TimingStats(**cached["eager"]) if cached.get("eager") else None
        result.compiled = TimingStats(**cached["compiled"]) if cached.get("compiled") else None
        if cached.get("compiled_error"):
            result.notes.append(f"torch.compile baseline failed: {cached['compiled_error']}")


_FLOORS: dict[tuple[str, str, str | None], dict[str, Any]] = {}  # this process's floors: (task, GPU, cache dir)


def _floor(ref: _Child, task: Task, config: EvalConfig, env: Environment | None) -> tuple[dict[str, Any], bool]:
    """The task's floor (FloorInfo.to_dict()), from the reference process once per task and GPU in this process,
    and whether the reference was asked now; a failure of that step is an unavailable floor, never the
    evaluation's."""
    key = (task.hash, env.key() if env is not None else "", config.cache_dir)
    if key in _FLOORS:
        return _FLOORS[key], False
    t = time.monotonic()
    try:
        info = ref.call("floor", config.timing_timeout_s, pr.FloorOfTask(config.cache_dir, True)).info
    except StepFailure as exc:  # the reference child died or hung here: the verdict stands, the floor is absent
        return {"available": False, "reason": f"the floor step failed ({exc.status.value}): {exc.message[:300]}",
                "wall_s": round(time.monotonic() - t, 3)}, True
    info["wall_s"] = round(time.monotonic() - t, 3)
    if info.get("available"):
        _FLOORS[key] = info
    return info, True


# ---------------------------------------------------------------------------------------------------------
# A/B comparison


def compare(task: Task, a: Candidate, b: Candidate, config: EvalConfig | None = None,
            threshold: float = KEEP_THRESHOLD, rounds: int = AB_ROUNDS) -> Comparison:
    """Interleaved A/B timing on the GPU: is B faster than A by at least `threshold`, beyond the noise?

    Both candidates run in one child on the same inputs, alternating order every round, so drift of clocks
    and temperature falls on both. Correctness is not re-checked here: evaluate each candidate first.
    """
    return compare_repeated(task, a, b, config, threshold, rounds, repeats=1)[0]


def compare_repeated(task: Task, a: Candidate, b: Candidate, config: EvalConfig | None = None,
                     threshold: float = KEEP_THRESHOLD, rounds: int = AB_ROUNDS, repeats: int = 1) -> list[Comparison]:
    """`repeats` independent A/B decisions in one session (used for A/A and sensitivity checks)."""
    config = config or EvalConfig()
    if resolve_device(config.device) != "cuda":
        raise TaskError("compare needs a CUDA GPU (timing is unavailable in CPU mode)")
    if rounds < 3:
        raise ValueError("compare needs at least 3 rounds for a noise estimate")
    out: list[Comparison] = []
    close_screening()  # its idle children would hold GPU memory (and its compilers CPU) beside the A/B
    with tempfile.TemporaryDirectory(prefix="tritonwright-ab-") as tmp, \
            _session(task, config, "cuda", Path(tmp), seed := session_seed(config)) as (ref, cand):
        try:
            ref.call("load", config.load_timeout_s, pr.LoadReference())
            cand.call("load", config.load_timeout_s, pr.LoadCandidate("a", _write_source(a, Path(tmp), "a")))
            cand.call("load", config.load_timeout_s, pr.LoadCandidate("b", _write_source(b, Path(tmp), "b")))
            ref.call("inputs", config.correctness_timeout_s, pr.Trial(0, seed + 1, buffers=False))
            cand.call("inputs", config.correctness_timeout_s, pr.TakeInputs(0))
            # Fewer runs per round than a full timing: the rounds provide the repetition, and the noise band
            # comes from how round medians differ (drift, clocks), not from runs within a round: 100 ms of
            # kernel time a side (a 0.15 ms kernel: ~670 runs; at 200 ms the H200's softmax A/Bs spent ~4 of
            # their ~6 s in rounds). The README's trust test ran its rounds at this budget: 0 of 50 A/A
            # decisions said faster, 29 of 30 slowdowns of 3% were caught.
            settings = dataclasses.replace(_settings(config, False), min_runs=max(10, config.min_runs // 5),
                                           budget_ms=config.budget_ms / 10)

            def run_rounds(n: int) -> pr.Compared:
                d = cand.call("compare", config.timing_timeout_s * 2, pr.Compare("a", "b", n, settings))
                if len(d.a) != n or len(d.b) != n or min(d.a + d.b) <= 0:
                    raise cand.malformed("compare", f"{len(d.a)} and {len(d.b)} positive round medians expected, "
                                                    f"{n} each")
                return d

            for _ in range(repeats):
                # One decision: a first look after EARLY_LOOK_ROUNDS may settle it (see settled_early); repeated
                # decisions (A/A and sensitivity checks) always run every round, as their purpose is the spread.
                look = EARLY_LOOK_ROUNDS if repeats == 1 and rounds >= EARLY_LOOK_ROUNDS + 2 else rounds
                d = run_rounds(look)
                first = decide(d.a, d.b, threshold)
                if look == rounds:
                    out.append(first)
                elif settled_early(first, threshold):
                    out.append(dataclasses.replace(first, reason=f"{first.reason} (settled after {look} of "
                                                                   f"{rounds} rounds)"))
                else:
                    more = run_rounds(rounds - look)
                    out.append(decide(d.a + more.a, d.b + more.b, threshold))
            # B's outputs once more on fresh values in the memory its timed rounds read: a B that returned kept
            # results during the rounds (fast because it did no work) is never "significantly faster".
            check = EvalResult(status=Status.OK)
            _recheck(ref, cand, config, "b", check, seed + 2, after=f"{sum(c.rounds for c in out)} A/B rounds")
            if not check.ok:
                out = [dataclasses.replace(c, significant=False, reason=f"B is wrong after the A/B rounds: "
                                           f"{check.reason}") for c in out]
        except StepFailure as exc:
            raise TaskError(f"A/B comparison failed ({exc.status.value}): {exc.message}") from None
    return out


# Screening is a ranking, not a verdict: a median over >= 10 runs after a short warm-up separates configs that
# differ by a few percent, and the few configs that could win are then evaluated in full (correctness on fresh
# inputs, timing). 30 ms of kernel time a config (200 runs of a 0.15 ms kernel): the H200's softmax screens
# at 60 ms spent 5.6 s of a 15.5 s race screen timing 65 configs whose medians need far fewer runs.
SCREEN_SETTINGS: dict[str, Any] = {"warmup_ms": 5.0, "min_runs": 10, "budget_ms": 30.0, "max_runs": 500}


def screen_many(task: Task, candidates: list[Candidate], config: EvalConfig | None = None,
                cutoff_ms: float | None = None) -> list[EvalResult]:
    """Compile and time many candidates in one session on the same inputs, without checking their outputs.

    Each result is OK with a TimingStats, or the failure of that candidate (static check, import, launch).
    A crash or hang ends the session: the candidate that caused it gets the CRASH/TIMEOUT, and the ones not yet
    timed go on in a new session. Never use a screened time as a verdict: evaluate the winners.

    The session stays open for the next call of the same task and settings (a tuner's search screens in
    several phases): see _Screening for when it closes. `cutoff_ms`: a config whose warm-up runs average
    above it keeps those runs as its figure instead of ten or more timed runs (it cannot rank among the best).
    """
    config = config or EvalConfig()
    if resolve_device(config.device) != "cuda":
        raise TaskError("screening needs a CUDA GPU (timing is unavailable in CPU mode)")
    t0 = time.monotonic()
    results = []
    for c in candidates:
        r = _static(c, task) or EvalResult(status=Status.OK)
        r.task, r.candidate, r.device = task.to_dict(), c.id, "cuda"
        results.append(r)
    pending = [i for i, r in enumerate(results) if r.ok]
    threads = compile_threads(config)
    while pending:
        try:
            screening = _screening(task, config)
        except StepFailure as exc:  # the session did not start: the task's failure, or every config's
            if exc.who == "reference":
                raise _reference_failure(task, exc) from None
            for i in pending:
                results[i].status, results[i].reason = exc.status, exc.message
            break
        try:
            pending = _screen_in(screening, task, candidates, results, pending, config, threads, cutoff_ms)
        except _PrecompileFailed:  # our pass, not a config, broke the session: the same configs, compiled serially
            screening.close()
            config, threads = dataclasses.replace(config, compile_threads=1, compile_processes=1), 1  # neither pass
            pending = [i for i in pending if results[i].ok and results[i].timing is None]
        except BaseException:
            screening.close()
            raise
    wall = round(time.monotonic() - t0, 3)
    for r in results:
        r.wall_s = wall
    return results


def compile_threads(config: EvalConfig) -> int:
    """How many threads compile a screen's configs ahead of their timing (1: no precompile pass)."""
    if config.compile_threads > 0:
        return config.compile_threads
    return max(1, min(8, os.cpu_count() or 1))


MAX_COMPILERS = 12  # compiler processes per screen: past ~a dozen, a screen's 16-27 configs are two per process


def compile_processes(config: EvalConfig) -> int:
    """How many compiler processes compile a screen's configs ahead of their timing (1: none)."""
    if config.compile_processes > 0:
        return config.compile_processes
    return max(1, min(MAX_COMPILERS, (os.cpu_count() or 1) - 2))


class _PrecompileFailed(Exception):
    """The precompile pass crashed or hung its session; nothing is known about any one config from it."""


def _precompile(screening: _Screening, paths: dict[str, str], threads: int, config: EvalConfig
                ) -> pr.Precompiled | None:
    """Compile the loaded configs' kernels before they are timed (None: not worth it): in compiler processes
    when there are cores for them and the candidate child can say what to compile, else on `threads` threads
    of the candidate child. `paths`: label -> the file it was loaded from."""
    labels = list(paths)
    if len(labels) <= 1:
        return None
    try:
        processes = compile_processes(config)
        if processes > 1:
            done = _compile_in_processes(screening.cand, paths, screening.compilers(processes), config)
            if done is not None:
                return done
        if threads <= 1:
            return None
        return screening.cand.call("precompile", config.correctness_timeout_s, pr.Precompile(labels, threads))
    except StepFailure as exc:
        if exc.who == "reference":
            raise
        raise _PrecompileFailed(exc.message) from None


def _compile_in_processes(cand: _Child, paths: dict[str, str], helpers: list[_Child], config: EvalConfig
                          ) -> pr.Precompiled | None:
    """Have the candidate child record what each label's forward would compile and share the jobs out to the
    compiler children: each compiles into Triton's cache, where the timed calls then find them (a compile
    becomes a cache read). None when the candidate child recorded nothing (no JIT kernel of its own, or a Triton
    without the cache hook). The jobs form a queue, one label's jobs at a time to whichever child is free: a
    config's compile costs from a few ms to seconds (Inductor's reductions at large R0_BLOCK), and a split made
    up front left a child with two slow ones while the others idled (an H200 race screen: 4.0 s of wall for
    20.4 process-seconds on 12 processes). A compiler child that fails or hangs costs only the jobs it held
    (their timed calls compile them as before) and is dropped: the screening starts another when it next needs
    one. None as well when no compiler child could be started: the threads compile instead."""
    if not helpers:
        return None
    t = time.monotonic()
    got = cand.call("collect", config.correctness_timeout_s, pr.CollectKernels(list(paths)))
    if not got.jobs:
        return None
    collected = time.monotonic() - t
    by_module: dict[str, list[pr.KernelJob]] = {}
    for job in got.jobs:  # one label's jobs go together: its module is imported once
        by_module.setdefault(job.module, []).append(job)
    modules = {module: path for label, path in paths.items() if (module := label_module(label)) in by_module}
    queue = list(by_module.values())[::-1]  # popped from the end: the collected order
    tally = _CompileTally()
    busy: dict[_Child, list[pr.KernelJob]] = {}
    used: set[int] = set()

    def give(helper: _Child) -> None:
        if not queue:
            return
        part = queue.pop()
        try:
            helper.ctrl.send_bytes(pr.encode_request(pr.CompileKernels(
                part, {m: p for m, p in modules.items() if m in {j.module for j in part}})))
        except OSError:  # the child died: this part compiles at its timed calls, the rest go to the others
            helper.kill()
            tally.lost(part, "a compiler process had died")
            return
        busy[helper] = part
        used.add(id(helper))

    for helper in helpers:
        give(helper)
    deadline = time.monotonic() + config.correctness_timeout_s  # one limit for the whole pass
    while busy:
        by_conn = {h.ctrl: h for h in busy} | {h.proc.sentinel: h for h in busy}
        ready = wait(list(by_conn), timeout=max(0.0, deadline - time.monotonic()))
        if not ready:  # hung: the parts still out (and the queue) compile at their timed calls
            for helper, part in busy.items():
                helper.kill()
                tally.lost(part, f"compiler processes still busy after {config.correctness_timeout_s:g} s")
            busy.clear()
            break
        for helper in dict.fromkeys(by_conn[r] for r in ready):
            part = busy.pop(helper)
            try:
                tally.add(helper.reply("compile", 5.0, pr.Precompiled))
            except StepFailure as exc:  # crashed (now killed): its part compiles at its timed calls
                helper.kill()
                tally.lost(part, exc.message.splitlines()[0])
                continue
            give(helper)
    for part in queue:  # every child died or hung before these were sent
        tally.lost(part, tally.error or "no compiler process was left")
    return pr.Precompiled(compiled=tally.compiled, failed=tally.failed, seconds=round(time.monotonic() - t, 3),
                          how=f"{len(used)} compiler processes, recording {collected:.2f} s, process-seconds: "
                              f"imports {tally.import_s:.1f}, compiles {tally.compile_s:.1f}",
                          error=tally.error, import_s=round(tally.import_s, 3), compile_s=round(tally.compile_s, 3))


@dataclasses.dataclass
class _CompileTally:
    """What a precompile pass's children did, summed over their replies."""

    compiled: int = 0
    failed: int = 0
    error: str = ""  # the first failure, one line
    import_s: float = 0.0
    compile_s: float = 0.0

    def add(self, done: pr.Precompiled) -> None:
        self.compiled, self.failed, self.error = self.compiled + done.compiled, self.failed + done.failed, \
            self.error or done.error
        self.import_s, self.compile_s = self.import_s + done.import_s, self.compile_s + done.compile_s

    def lost(self, part: list[pr.KernelJob], why: str) -> None:
        self.failed, self.error = self.failed + len(part), self.error or why


SCREEN_IDLE_S = 30.0  # a screening left open this long with no call is closed: its children hold GPU memory
_SCREENINGS: dict[int, _Screening] = {}  # thread id -> its open screening (a pool worker runs jobs on one thread)
_SCREENINGS_LOCK = threading.Lock()


class _Screening:
    """A screening session kept open across screen_many calls of one task and settings: a tuner's search
    screens in phases (coarse grid, stage sweep, refinement rounds) and each new session cost ~3 s (processes,
    the reference, the inputs, a candidate's heavy imports) plus its compiler children's start. Closed when
    another call (an evaluation, an A/B, a screen of another task) starts on the same thread, when a call fails,
    after SCREEN_IDLE_S with no call, or at exit. Each config is dropped from the candidate child once timed."""

    def __init__(self, task: Task, config: EvalConfig) -> None:
        self.key = (repr(task), config)
        self.lock = threading.RLock()
        self.stack = ExitStack()
        self.helpers: list[_Child] = []
        self.count = 0  # labels given out: each config of the session has its own module name
        self.last_used = time.monotonic()
        self.timer: threading.Timer | None = None
        self.closed = False
        try:
            self.workdir = Path(self.stack.enter_context(tempfile.TemporaryDirectory(prefix="tritonwright-screen-")))
            self.seed = session_seed(config)
            self.ref, self.cand = self.stack.enter_context(_session(task, config, "cuda", self.workdir, self.seed))
            self.env = self.ref.call("load", config.load_timeout_s, pr.LoadReference()).env
            self.ref.call("inputs", config.correctness_timeout_s, pr.Trial(0, self.seed + 1, buffers=False))
            self.cand.call("inputs", config.correctness_timeout_s, pr.TakeInputs(0))
        except BaseException:
            self.stack.close()
            raise

    def label(self) -> str:
        self.count += 1
        return f"s{self.count}"

    def compilers(self, n: int) -> list[_Child]:
        """Up to `n` live compiler children (CUDA and Triton's driver come up while the candidate collects)."""
        self.helpers = [h for h in self.helpers if h.proc.is_alive()]
        self.helpers += start_compilers(self.workdir, n - len(self.helpers), first=self.count)
        return self.helpers[:n]

    def touch(self) -> None:
        """A call just used it: the idle clock starts again."""
        self.last_used = time.monotonic()
        if self.timer is not None:
            self.timer.cancel()
        self.timer = threading.Timer(SCREEN_IDLE_S, self._idle)
        self.timer.daemon = True
        self.timer.start()

    def _idle(self) -> None:
        with self.lock:
            if time.monotonic() - self.last_used >= SCREEN_IDLE_S * 0.99:
                self.close()

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            if self.timer is not None:
                self.timer.cancel()
            _shutdown(self.helpers)
            self.stack.close()
        with _SCREENINGS_LOCK:
            for tid, open_one in list(_SCREENINGS.items()):
                if open_one is self:
                    del _SCREENINGS[tid]


def start_compilers(workdir: Path, n: int, first: int = 0) -> list[_Child]:
    """`n` compiler children (worker.compiler_main) from the fork server, each in its own folder of `workdir`
    and confined like a candidate's (they import candidate code)."""
    ctx = _context("cuda")
    out = []
    for k in range(first, first + max(0, n)):
        parent_end, child_end = ctx.Pipe(duplex=True)
        log = workdir / f"compiler-{k}.log"
        with sandbox.child_environment({}):
            proc = ctx.Process(target=_child_entry, name="tritonwright-compiler", daemon=True,
                               args=("compiler", child_end, None, {}, str(log), {}, str(workdir / f"compiler-{k}-home")))
            proc.start()
        child_end.close()
        out.append(_Child(f"compiler {k}", proc, parent_end, log))
    return out


def _screening(task: Task, config: EvalConfig) -> _Screening:
    """This thread's open screening for `task` and `config`, or a new one (any other of the thread's closed)."""
    tid = threading.get_ident()
    with _SCREENINGS_LOCK:
        found = _SCREENINGS.get(tid)
    if found is not None and not found.closed and found.key == (repr(task), config):
        return found
    close_screening()
    fresh = _Screening(task, config)
    with _SCREENINGS_LOCK:
        _SCREENINGS[tid] = fresh
    return fresh


def close_screening(all_threads: bool = False) -> None:
    """Close this thread's open screening session (every thread's with `all_threads`: at exit)."""
    with _SCREENINGS_LOCK:
        found = list(_SCREENINGS.values()) if all_threads else [
            s for s in [_SCREENINGS.get(threading.get_ident())] if s is not None]
    for screening in found:
        screening.close()


atexit.register(close_screening, True)


def _screen_in(screening: _Screening, task: Task, cands: list[Candidate], results: list[EvalResult],
               pending: list[int], config: EvalConfig, threads: int = 1, cutoff_ms: float | None = None
               ) -> list[int]:
    """Screen `pending` in the open session; returns the indices still to time when a crash or hang ended it
    early (the session is then closed: the next call opens another)."""
    settings = dataclasses.replace(_settings(config, False), **SCREEN_SETTINGS, give_up_ms=cutoff_ms)
    with screening.lock:
        current: int | None = None
        cand = screening.cand
        try:
            loaded, labels, paths = [], {}, {}
            for i in pending:
                current = i
                results[i].env = screening.env
                labels[i] = screening.label()
                try:
                    paths[i] = _write_source(cands[i], screening.workdir, labels[i])
                    cand.call("load", config.load_timeout_s, pr.LoadCandidate(labels[i], paths[i]))
                    loaded.append(i)
                except StepFailure as exc:
                    if exc.status in (Status.CRASH, Status.TIMEOUT) or exc.who == "reference":
                        raise
                    results[i].status, results[i].reason = exc.status, exc.message
            current = None
            pre = _precompile(screening, {labels[i]: paths[i] for i in loaded}, threads, config)
            for i in loaded:
                current = i
                d = _one_run(cand, "timing", cand.call("timing", config.timing_timeout_s,
                                                       pr.Screen([labels[i]], settings)).runs, labels[i])
                if d.error is not None:
                    results[i].status, results[i].reason = d.error.status, d.error.message
                elif d.timing is not None:
                    results[i].timing = d.timing
                else:
                    raise cand.malformed("timing", "a screening run with neither a timing nor an error")
                results[i].step_seconds = {"screen": d.seconds}
                if pre is not None:  # the shared pass, the same figure on each config it served
                    results[i].step_seconds["precompile"] = pre.seconds
                    results[i].notes.append(f"{PRECOMPILE_NOTE}{pre.compiled} "
                                            f"kernel(s) compiled, {pre.failed} failed ({pre.how})"
                                            + (f"; first failure: {pre.error}" if pre.error else ""))
            current = None
        except StepFailure as exc:
            screening.close()
            if exc.who == "reference":
                raise _reference_failure(task, exc) from None
            if current is None:  # the session broke outside any one candidate's turn: all still pending fail
                for i in pending:
                    if results[i].ok and results[i].timing is None:
                        results[i].status, results[i].reason = exc.status, exc.message
                return []
            results[current].status, results[current].reason = exc.status, exc.message
            return [i for i in pending if i != current and results[i].ok and results[i].timing is None]
        screening.touch()
    return []


# An A/B's first look: an even count, so each order (A first, B first) runs equally often in it.
EARLY_LOOK_ROUNDS = 6
# At the first look the noise band is widened this much: with two looks at a 95% band each, a decision would
# be wrong more often than 5%; a band twice as wide at the first look (~99.99%) keeps the whole near 5%.
EARLY_LOOK_BAND = 2.0


def settled_early(first: Comparison, threshold: float) -> bool:
    """Whether an A/B's first rounds already decide it: every round on the same side of the threshold, and
    the median beyond it by a band EARLY_LOOK_BAND times the usual one (a 30% gain, or a clear loss, needs no
    ten rounds; a 2.5% gain with 1% noise runs them all)."""
    logs = [math.log(r) for r in first.ratios]
    if not logs:
        return False
    center = math.log(first.speedup)  # decide()'s median of the logs
    half = EARLY_LOOK_BAND * math.log1p(first.noise)
    bar = math.log1p(threshold)
    faster = min(logs) > bar and center - half >= bar
    not_faster = max(logs) < bar and center + half < bar
    return faster or not_faster


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
