"""Plain, typed, JSON-serializable results of the evaluation harness. Failure is data."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    OK = "OK"
    REJECTED = "REJECTED"  # broke an integrity rule (static or runtime) or could not be matched to the task
    COMPILE_ERROR = "COMPILE_ERROR"  # syntax error, import error, Triton compilation failure
    RUNTIME_ERROR = "RUNTIME_ERROR"  # a Python exception while running forward
    MISMATCH = "MISMATCH"  # ran, but outputs or inputs are not what the reference gives
    TIMEOUT = "TIMEOUT"  # a step ran past its named limit and was killed
    CRASH = "CRASH"  # the child process died (signal, os._exit, illegal memory access)


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float


# Defaults as KernelBench's current harness: fp32 1e-4, half types 1e-2.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float32": Tolerance(1e-4, 1e-4),
    "float64": Tolerance(1e-4, 1e-4),
    "float16": Tolerance(1e-2, 1e-2),
    "bfloat16": Tolerance(1e-2, 1e-2),
}


HOST_MATH = "numpy (host math)"  # how tensors handed to numpy are named among the non-Triton compute ops
CANDIDATE_MODULE = "tritonwright_candidate"  # the module name candidate files are imported under (eval.loading)


PRECOMPILE_NOTE = "compiled ahead with the session's other configs: "  # a screened result's note on the shared pass


def precompile_detail(notes: list[str]) -> str:
    """What a screened result's notes say of the compile-ahead pass that served it ("" when none did)."""
    return next((n.removeprefix(PRECOMPILE_NOTE) for n in notes if n.startswith(PRECOMPILE_NOTE)), "")


def label_module(label: str) -> str:
    """The module a candidate loaded under `label` is imported as: its kernels' module as Triton sees it."""
    return f"{CANDIDATE_MODULE}_{label}"


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation; frozen and hashable so it can be part of cache keys."""

    device: str = "auto"  # auto | cuda | cpu
    trials: int = 3  # KernelBench uses several fresh input sets; 3 catches memoization and lucky inputs
    atol: float | None = None  # None: per-dtype default (DEFAULT_TOLERANCES)
    rtol: float | None = None
    seed: int = 42  # with secret_seeds off: weights under `seed`, trial i's inputs under seed + 1 + i
    precision: str = "fp32"  # policy (eval.precision.Policy): what the candidate may compute in, and what the
    # eager/compile baselines run as, so a speed-up is always against the same precision
    fp64_k: float | None = None  # override of the policy's ground-truth factor K (None: the measured default)
    secret_seeds: bool = True  # a fresh random seed per evaluation (recorded in the result after the verdict):
    # a candidate cannot regenerate the inputs and precompute answers; off (a fixed --seed) to reproduce a run
    strict: bool = False  # reject any non-Triton compute kernel
    timing: bool = True
    baselines: bool = True  # time eager and torch.compile references (cached on disk)
    compile_mode: str = "default"  # torch.compile mode for the baseline: default | max-autotune
    cuda_graph: bool = False  # also time the candidate by replaying a CUDA graph
    warmup_ms: float = 25.0  # as triton.testing.do_bench: enough to leave JIT and caches out of the numbers
    min_runs: int = 100  # the floor: quartiles need enough samples
    budget_ms: float = 1000.0  # stop adding runs after this much measured time (when min_runs is met)
    max_runs: int = 2000  # cap for very short kernels
    load_timeout_s: float = 60.0  # import + construct: children start with torch/triton imported; a hang is TIMEOUT
    correctness_timeout_s: float = 300.0  # first call compiles kernels; interpreter runs are slow on CPU
    timing_timeout_s: float = 300.0  # torch.compile of a baseline can take minutes
    cache_dir: str | None = None  # baseline cache; None: $TRITONWRIGHT_CACHE_DIR or ~/.cache/tritonwright
    floor: bool = False  # with the baselines, the task's speed-of-light floor from the reference process of a
    # timed evaluation that passes (an optimize run's seed): torch and CUDA are up there; the floor's own process
    # takes ~9 s to start on an H200
    compile_threads: int = 0  # threads compiling a screen's configs ahead of their timing; 0: one per CPU core up
    # to 8 (LLVM and ptxas work is per kernel; more threads than cores only wait); 1: none, each config
    # compiles on its first timed call
    compile_processes: int = 0  # compiler processes a screen's configs are compiled in before their timing (the
    # threads' fallback: Triton's compile holds the GIL, so threads overlap only ptxas); 0: one per CPU core
    # less two (the candidate child and the driver keep theirs), up to 12; 1: none

    def tolerance(self, dtype: str) -> Tolerance:
        base = DEFAULT_TOLERANCES.get(dtype, Tolerance(1e-4, 1e-4))
        return Tolerance(self.atol if self.atol is not None else base.atol,
                         self.rtol if self.rtol is not None else base.rtol)


@dataclass
class OutputCheck:
    """How one output tensor of one trial compared with the reference."""

    trial: int
    index: int
    ok: bool
    shape: list[int]
    dtype: str
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    rel_l2_err: float | None = None  # ||out - ref|| / ||ref||
    mismatched: int = 0  # elements outside tolerance
    numel: int = 0
    reason: str = ""
    config: str | None = None  # autotune config this output came from (CPU mode checks each one)
    # Ground truth (eval.precision): relative RMS errors against the reference run in float64.
    fp64_err: float | None = None  # the candidate's
    ref_fp64_err: float | None = None  # the fp32 reference's own
    fp64_ratio: float | None = None  # fp64_err / ref_fp64_err (the policy allows up to its K)
    fp64_rounded_err: float | None = None  # fp32 policy: the error 10-bit-mantissa inputs give (lookalike rule)
    ground_truth: str | None = None  # pass | fail | not_applicable | skipped (eval.precision.GroundTruthStatus)


# A host within 20 % of the GPU's pace has no slack left: a GC pause or a busy core reaches the samples.
HOST_BOUND_SHARE = 0.8


@dataclass
class TimingStats:
    """Run times of one callable in milliseconds; the method says how they were taken."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    min_ms: float
    mean_ms: float
    n: int
    method: str  # cuda_events | cuda_events+device_sync | cuda_graph
    host_ms: float | None = None  # the host's time for one call, enqueueing without waiting (eval.timing)
    flush_ms: float | None = None  # the GPU time of one L2 flush, which runs between timed calls

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms

    @property
    def host_bound(self) -> bool:
        """The host takes about as long to issue a call as the GPU takes to run it and the flush before it: the
        GPU then waits for the launch inside the timed span, and the samples hold host time."""
        if self.host_ms is None or self.flush_ms is None:
            return False
        return self.host_ms >= HOST_BOUND_SHARE * (self.median_ms + self.flush_ms)

    @staticmethod
    def from_samples(samples: list[float], method: str) -> TimingStats:
        s = sorted(samples)
        n = len(s)

        def q(p: float) -> float:
            pos = p * (n - 1)
            lo = math.floor(pos)
            hi = min(lo + 1, n - 1)
            return s[lo] + (s[hi] - s[lo]) * (pos - lo)

        return TimingStats(median_ms=q(0.5), q1_ms=q(0.25), q3_ms=q(0.75), min_ms=s[0], mean_ms=sum(s) / n, n=n,
                           method=method)


@dataclass
class KernelShare:
    """Where forward's GPU time (or, on CPU, its compute operations) went."""

    triton_launches: dict[str, int] = field(default_factory=dict)  # kernel name -> launches in one forward
    other_ops: dict[str, int] = field(default_factory=dict)  # non-Triton compute ops/kernels -> count
    triton_time_ms: float | None = None  # GPU only (profiler)
    other_time_ms: float | None = None
    streams: int | None = None  # distinct CUDA streams that ran kernels (GPU only)
    triton_kernel_ms: dict[str, float] = field(default_factory=dict)  # GPU only: each Triton kernel's ms a forward

    @property
    def triton_share(self) -> float | None:
        if self.triton_time_ms is None or self.other_time_ms is None:
            return None
        total = self.triton_time_ms + self.other_time_ms
        return self.triton_time_ms / total if total > 0 else None


@dataclass
class Environment:
    python: str
    torch: str
    triton: str
    platform: str
    device: str  # cuda | cpu
    gpu: str | None = None
    driver: str | None = None
    cuda: str | None = None
    sm_count: int | None = None
    compute_capability: str | None = None

    def key(self) -> str:
        """What changes timings: part of the baseline cache key."""
        return "|".join(str(x) for x in (self.gpu, self.driver, self.cuda, self.torch, self.triton, self.device))


@dataclass
class EvalResult:
    status: Status
    reason: str = ""  # what went wrong, the candidate's part only (eval.errtext): shown and put in prompts
    detail: str = ""  # the full traceback behind `reason`, for the run store only
    task: dict[str, Any] = field(default_factory=dict)
    candidate: str = ""
    device: str = ""
    outputs: list[OutputCheck] = field(default_factory=list)
    timing: TimingStats | None = None
    timing_note: str = ""  # why timing is absent, when it is
    graph_timing: TimingStats | None = None
    eager: TimingStats | None = None
    compiled: TimingStats | None = None
    baseline_cached: bool | None = None
    kernels: KernelShare | None = None
    notes: list[str] = field(default_factory=list)  # weights matched by suffix/order/seed, unused ones, ...
    env: Environment | None = None
    step_seconds: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    precision: str = "fp32"  # the policy this verdict was reached under (EvalConfig.precision)
    seed: int | None = None  # the session's seed (weights; inputs of trial i: seed + 1 + i), known after the verdict
    floor: dict[str, Any] | None = None  # EvalConfig.floor: tritonwright.floor.FloorInfo.to_dict()

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def speedup_eager(self) -> float | None:
        if self.timing and self.eager:
            return self.eager.median_ms / self.timing.median_ms
        return None

    @property
    def speedup_compiled(self) -> float | None:
        if self.timing and self.compiled:
            return self.compiled.median_ms / self.timing.median_ms
        return None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["status"] = self.status.value
        d["speedup_eager"] = self.speedup_eager
        d["speedup_compiled"] = self.speedup_compiled
        if self.kernels is not None:
            d["kernels"]["triton_share"] = self.kernels.triton_share
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False, default=_json_default)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> EvalResult:
        d = dict(d)
        d.pop("speedup_eager", None)
        d.pop("speedup_compiled", None)
        d["status"] = Status(d["status"])
        d["outputs"] = [OutputCheck(**o) for o in d.get("outputs", [])]
        for k in ("timing", "graph_timing", "eager", "compiled"):
            if d.get(k):
                d[k] = TimingStats(**d[k])
        if d.get("kernels"):
            kd = dict(d["kernels"])
            kd.pop("triton_share", None)
            d["kernels"] = KernelShare(**kd)
        if d.get("env"):
            d["env"] = Environment(**d["env"])
        return EvalResult(**d)


def _json_default(o: object) -> object:
    if isinstance(o, Enum):
        return o.value
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def finite_or_none(x: float) -> float | None:
    """JSON has no inf/NaN; a non-finite error figure is reported as None beside a reason."""
    return x if math.isfinite(x) else None


@dataclass
class Comparison:
    """Interleaved A/B timing of two candidates: is B significantly faster than A?"""

    speedup: float  # median over rounds of time(A) / time(B); > 1 means B is faster
    noise: float  # relative half-width of the speedup's 95% interval (0.006 = +-0.6%)
    significant: bool  # speedup - noise clears 1 + threshold
    threshold: float
    rounds: int
    a: TimingStats | None = None
    b: TimingStats | None = None
    reason: str = ""  # in words: "2.8% faster, noise 0.6%" / "slower by 4%" / "within noise"
    ratios: list[float] = field(default_factory=list)  # per-round time(A)/time(B)
