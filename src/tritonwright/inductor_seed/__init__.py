"""Inductor as a seed: torch.compile's generated Triton code as a starting ModelNew (issue 16, part 4).

`make_seed(task, device)` compiles the task's Model with torch.compile in an isolated child process (spawned,
scrubbed environment, like a candidate), captures the module Inductor generates, converts its pointwise and
reduction kernels to plain `@triton.jit` kernels with explicit launches (so the launch tuner can tune them),
checks the result against the eager Model, and returns it as a Candidate with origin "inductor".
Failures are `InductorSeedError` with a one-line message.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tritonwright import sandbox
from tritonwright.candidate import Candidate
from tritonwright.errors import UserInputError
from tritonwright.eval import baseline_cache
from tritonwright.task import Task

ORIGIN = "inductor"  # the Candidate origin the run store and the report show
REPORT_LINE = "seed: torch.compile's generated Triton code"  # what the report says about such a seed
DEFAULT_TIMEOUT_S = 900.0  # a first compile plus (for GEMMs) Triton template autotuning can take minutes
DEFAULT_SEED = 42  # the judge's weight seed (EvalConfig.seed): same Model weights as the evaluation


class InductorSeedError(UserInputError):
    """The Inductor seed cannot be made for this task (CPU without Triton codegen, compile failure, ...)."""


@dataclass
class InductorSeed:
    candidate: Candidate
    converted: list[str]
    kept: list[tuple[str, str]]
    externs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    wrapper: str = ""  # Inductor's generated module, as captured
    spec: dict[str, Any] = field(default_factory=dict)  # the SeedSpec the conversion used (asdict)

    @property
    def decision_reason(self) -> str:
        return f"{REPORT_LINE} ({len(self.converted)} kernel(s) made tunable, {len(self.kept)} kept as written)"


def _child(conn: Connection, task: dict[str, Any], seed: int, device: str, workdir: str, log: str,
           extra_env: dict[str, str] | None = None, captured: dict[str, Any] | None = None) -> None:
    os.environ.update(extra_env or {})  # a forked child has the fork server's (scrubbed) environment: add ours
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        from tritonwright.inductor_seed.capture import SeedFailure, build

        try:
            conn.send({"ok": True, **build(Task(**task), seed, device, workdir, captured)})
        except (SeedFailure, UserInputError) as exc:
            conn.send({"ok": False, "error": str(exc)})
    except BaseException as exc:  # anything else still reaches the parent as one line, with the log named
        import traceback

        traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0]
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {first[:300]} (traceback in {log})"})


def _context(device: str) -> Any:
    """The multiprocessing context of the evaluations (eval.runner: its fork server, or spawn)."""
    from tritonwright.eval.runner import process_context

    return process_context(device)


def make_seed(task: Task, device: str, seed: int = DEFAULT_SEED, timeout_s: float = DEFAULT_TIMEOUT_S,
              workdir: str | Path | None = None) -> InductorSeed:
    """The Inductor seed for `task` on `device` ("cuda" or "cpu"). Raises InductorSeedError."""
    import dataclasses

    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="tritonwright-inductor-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "inductor_seed.log"
    # The evaluations' fork server where it runs in the mode this device needs (torch, Triton and Dynamo
    # imported once: a spawned interpreter spent ~10 s of an H200 host's 12-18 s seed on them), else spawn.
    ctx = _context(device)
    parent, child = ctx.Pipe(duplex=False)
    # On CPU the kernels run under Triton's interpreter, like a candidate's do in the judge.
    extra = {"TRITON_INTERPRET": "1"} if device == "cpu" else {}
    # What the compiled baseline generated in this process's evaluations (a worker serves one device): the child
    # converts it instead of compiling the Model again.
    captured = baseline_cache.capture_for(task.hash)
    with sandbox.child_environment(extra):
        proc = ctx.Process(target=_child, name="tritonwright-inductor-seed", daemon=True,
                           args=(child, dataclasses.asdict(task), seed, device, str(work), str(log), extra,
                                 captured))
        proc.start()
    child.close()
    try:
        if not parent.poll(timeout_s):
            raise InductorSeedError(f"Inductor seed: no answer within {timeout_s:.0f} s (log: {log})")
        reply = parent.recv()
    except EOFError:
        proc.join(5)
        raise InductorSeedError(f"Inductor seed: the child process died (exit code {proc.exitcode}; log: {log})"
                                ) from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(10)
    if not reply.get("ok"):
        raise InductorSeedError(f"Inductor seed unavailable for {task.name}: {reply.get('error')}")
    path = work / "inductor_seed.py"
    path.write_text(reply["source"])
    cand = Candidate(source=reply["source"], origin=ORIGIN, path=str(path))
    return InductorSeed(candidate=cand, converted=list(reply["converted"]),
                        kept=[(a, b) for a, b in reply["kept"]], externs=list(reply["externs"]),
                        notes=list(reply["notes"]), summary=list(reply["summary"]), wrapper=reply["wrapper"],
                        spec=dict(reply["spec"]))


@dataclass(frozen=True)
class SeedOutcome:
    """A made seed as a candidate, or the one-line reason none could be made: plain data, so it crosses from a
    pool worker or a Ray actor to the driver."""

    candidate: Candidate | None
    reason: str = ""
    externs: tuple[str, ...] = ()  # non-Triton calls the code keeps (extern_kernels.mm, aten ops): reports say so


def try_seed(task: Task, device: str, workdir: str | None = None) -> SeedOutcome:
    """make_seed, with its failure as data instead of an exception."""
    try:
        seed = make_seed(task, device, workdir=workdir)
        return SeedOutcome(seed.candidate, externs=tuple(sorted(set(seed.externs))))
    except UserInputError as exc:  # InductorSeedError: one line, naming the child's log when it has one
        return SeedOutcome(None, str(exc))


def spec_from_dict(data: dict[str, Any]) -> Any:
    """A SeedSpec back from its asdict() form (fixtures, bundles)."""
    from tritonwright.inductor_seed.convert import SeedSpec, Slot, TensorSpec

    d = dict(data)
    d["slots"] = [Slot(**s) for s in d["slots"]]
    d["tensors"] = [TensorSpec(**{**t, "shape": tuple(t["shape"])}) for t in d["tensors"]]
    return SeedSpec(**d)


def cli_start(task_path: str | Path, overrides: dict[str, str], device: str, has_from: bool, has_llm: bool,
              explicit: bool, say: Any) -> Candidate:
    """`optimize`'s start when it has no candidate and no LLM (or `--start inductor`). Raises InductorSeedError."""
    from tritonwright.task import load_task

    if explicit and has_from:
        raise InductorSeedError("--start inductor and --from both name a start: pass one of them")
    if not explicit:
        say("no --from and no --llm: starting from torch.compile's generated Triton code (Inductor seed; "
            "--start none turns this off)", highlight=False)
    task = load_task(task_path, overrides)
    seed = make_seed(task, device)
    for line in seed.summary:
        say(f"  inductor seed: {line}", highlight=False)
    return seed.candidate
