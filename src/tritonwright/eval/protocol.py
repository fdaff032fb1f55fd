"""The typed messages of an evaluation's control pipes: parent <-> reference child, parent <-> candidate child,
parent <-> a screen's compiler children (they only compile kernels into Triton's cache).

Every message is a dataclass of plain data (strings, numbers, booleans, lists, string-keyed dicts, nested
message dataclasses, `Status` members), sent as JSON bytes with `Connection.send_bytes` and read with
`recv_bytes`; nothing on these pipes is ever pickled. On receipt the bytes are decoded and checked against the
expected dataclass, field by field: an unknown kind, a missing or extra field, a value of the wrong type or a
status that is not a `Status` member raises `ProtocolError`. The parent turns that into a CRASH of the child that
sent it ("the candidate process sent a malformed reply: ..."), so a hostile candidate can lie only in well-typed
data about itself, never make the parent run code.

Wire format: `{"kind": <message kind>, "body": {<fields>}}`. A request's kind names it (`Request.KIND`); the
reply to a request is `Ok` (its body is the request's `REPLY` payload), `Fail` (status, message, traceback), or,
from the reference child only, `TaskFailed` (the task itself is broken: the parent raises a TaskError).

The remaining pickle boundary: the data pipe between the two children. The reference hands the candidate child
its init args and weights, then each trial's inputs; the candidate child hands back its outputs and its copies
of the inputs. These are tensors, sent with torch.multiprocessing's reductions (a CUDA IPC handle on a GPU, a
shared-memory file on a CPU) so multi-gigabyte tensors are never copied, and those reductions ride on pickle:
the reference child unpickles what the candidate child sends. The parent never reads that pipe. Replacing it
with raw tensor bytes behind a dtype/shape/stride header needs the CUDA IPC path rebuilt and tested on a GPU,
and is left for a later change (issue 14).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Generic, TypeVar, Union

from tritonwright.eval.types import Environment, OutputCheck, Status, TimingStats

MAX_MESSAGE_BYTES = 64 * 2**20  # a reply of many outputs' checks is kilobytes; a bigger one is an attack


class ProtocolError(ValueError):
    """Bytes that are not a well-formed message of the expected kind."""


P = TypeVar("P")


# ---------------------------------------------------------------------------------------------------------
# Payloads: what an Ok reply carries, one dataclass per request


@dataclass(frozen=True)
class Nothing:
    """The payload of a request that only does something (take inputs, exit)."""


@dataclass(frozen=True)
class ReferenceLoaded:
    env: Environment


@dataclass(frozen=True)
class CandidateLoaded:
    notes: list[str]  # how weights were matched (suffix, order, same seed), unused reference tensors
    init_ops: dict[str, int] = field(default_factory=dict)  # PyTorch compute in ModelNew.__init__ (not init fills)


@dataclass(frozen=True)
class OutputSpec:
    shape: list[int]
    dtype: str


@dataclass(frozen=True)
class TrialRan:
    """The reference ran one trial and sent its inputs to the candidate child."""

    outputs: list[OutputSpec]
    seconds: float


@dataclass(frozen=True)
class Fail:
    """A failure decided in a child: the whole request's (a reply) or one candidate's (inside a payload)."""

    status: Status
    message: str  # the candidate's part only (eval.errtext): shown and put in prompts
    detail: str = ""  # the full traceback, for the run store


@dataclass(frozen=True)
class CandidateRun:
    """One candidate's run on a trial's inputs; its outputs went to the reference, `passes` of them."""

    seconds: float
    passes: int  # output messages sent (CPU: one per autotune config)
    launches: dict[str, int] = field(default_factory=dict)  # Triton kernel -> launches in the first pass
    ops: dict[str, int] = field(default_factory=dict)  # non-Triton compute ops in the first pass
    autotune_configs: dict[str, list[str]] = field(default_factory=dict)  # kernel -> config descriptions
    provenance: str | None = None  # why an output does not come from a Triton kernel's writes (eval.provenance)
    error: Fail | None = None  # forward raised (not a crash): this candidate's failure


@dataclass(frozen=True)
class CandidateTrialRan:
    runs: dict[str, CandidateRun]  # label -> its run


@dataclass(frozen=True)
class CheckGroup:
    """The checks of one output message (one pass): every output, then the inputs."""

    checks: list[OutputCheck]
    input_reason: str | None


@dataclass(frozen=True)
class Checked:
    passes: list[CheckGroup]
    seconds: float
    malformed: str | None = None  # the candidate's data did not follow eval.wire's schema: its CRASH


@dataclass(frozen=True)
class KernelShareReport:
    launches: dict[str, int]
    other_kernels: dict[str, int]
    triton_ms: float
    other_ms: float
    streams: int | None
    kernel_ms: dict[str, float] = field(default_factory=dict)  # each Triton kernel's GPU ms in one forward


@dataclass(frozen=True)
class Timed:
    timing: TimingStats
    graph: TimingStats | None = None
    graph_error: str | None = None


@dataclass(frozen=True)
class ScreenRun:
    seconds: float
    timing: TimingStats | None = None
    error: Fail | None = None


@dataclass(frozen=True)
class Screened:
    runs: dict[str, ScreenRun]


@dataclass(frozen=True)
class Precompiled:
    compiled: int  # kernels compiled ahead of their first timed call
    failed: int  # compiles that raised: the config's timed call meets the error and reports it as its own
    seconds: float
    how: str = ""  # "4 threads", "12 compiler processes": what compiled them
    error: str = ""  # the first failure, one line (compiler processes)
    # Compiler processes: seconds spent importing candidate modules and compiling, summed over the processes
    # (they run side by side: the sums say where the pass's work went, `seconds` what it cost in wall time)
    import_s: float = 0.0
    compile_s: float = 0.0


@dataclass(frozen=True)
class KernelJob:
    """One Triton JIT kernel a label's forward would compile: enough for another process to compile it."""

    module: str  # the candidate module's name (eval.loading; each label's file is imported under its own)
    qualname: str  # the kernel's name in that module
    specialization: str  # Triton's serialized specialization data (JSON text), as JITFunction.preload reads it


@dataclass(frozen=True)
class KernelsCollected:
    jobs: list[KernelJob]  # one per distinct compile (the same kernel source and specialization: once)
    uncollected: int  # launches whose kernel could not be recorded: they compile at their timed call
    seconds: float


@dataclass(frozen=True)
class FloorReport:
    info: dict[str, Any]  # tritonwright.floor.FloorInfo.to_dict(): read back with FloorInfo.from_dict


@dataclass(frozen=True)
class Compared:
    a: list[float]  # per-round medians, ms
    b: list[float]


@dataclass(frozen=True)
class BaselineTimes:
    eager: TimingStats
    compiled: TimingStats | None = None
    compiled_error: str | None = None
    # The module Inductor generated when the compiled baseline compiled, for the Inductor seed (asked with
    # Baselines.capture_inductor; what inductor_seed.capture.first_call_captured returns), or why none was.
    inductor: dict[str, Any] | None = None
    inductor_note: str = ""


# ---------------------------------------------------------------------------------------------------------
# Requests: parent -> child


@dataclass(frozen=True)
class RunSettings:
    """How to time (eval.timing.TimingSettings, as data)."""

    warmup_ms: float
    min_runs: int
    budget_ms: float
    max_runs: int
    device_sync: bool
    give_up_ms: float | None = None  # screening only (TimingSettings.give_up_ms)


@dataclass(frozen=True)
class Request(Generic[P]):
    KIND: ClassVar[str] = ""
    REPLY: ClassVar[type[Any]] = Nothing

    def reply_type(self) -> type[P]:
        return typing.cast("type[P]", self.REPLY)


@dataclass(frozen=True)
class LoadReference(Request[ReferenceLoaded]):
    """Hand init args and weights to the candidate child; reply with the environment."""

    KIND: ClassVar[str] = "load_reference"
    REPLY: ClassVar[type[Any]] = ReferenceLoaded


@dataclass(frozen=True)
class LoadCandidate(Request[CandidateLoaded]):
    KIND: ClassVar[str] = "load_candidate"
    REPLY: ClassVar[type[Any]] = CandidateLoaded
    label: str
    path: str


@dataclass(frozen=True)
class Trial(Request[TrialRan]):
    """Reference: make fresh inputs under `seed`, run Model, send the inputs to the candidate child."""

    KIND: ClassVar[str] = "trial"
    REPLY: ClassVar[type[Any]] = TrialRan
    index: int
    seed: int
    buffers: bool = True  # hand the candidate buffers for its outputs (a correctness trial; not timing-only)


@dataclass(frozen=True)
class CandidateTrial(Request[CandidateTrialRan]):
    """Candidate: run the given candidates on trial `index`'s inputs; outputs go to the reference."""

    KIND: ClassVar[str] = "candidate_trial"
    REPLY: ClassVar[type[Any]] = CandidateTrialRan
    labels: list[str]
    index: int
    record: bool  # record forward's compute ops (the first trial only)


@dataclass(frozen=True)
class Check(Request[Checked]):
    """Reference: compare the next `passes` output messages from the candidate child with trial `index`."""

    KIND: ClassVar[str] = "check"
    REPLY: ClassVar[type[Any]] = Checked
    index: int
    passes: int


@dataclass(frozen=True)
class MeasureKernelShare(Request[KernelShareReport]):
    KIND: ClassVar[str] = "kernel_share"
    REPLY: ClassVar[type[Any]] = KernelShareReport
    label: str


@dataclass(frozen=True)
class Time(Request[Timed]):
    KIND: ClassVar[str] = "time"
    REPLY: ClassVar[type[Any]] = Timed
    label: str
    settings: RunSettings
    graph: bool  # also time a CUDA graph replay


@dataclass(frozen=True)
class Compare(Request[Compared]):
    KIND: ClassVar[str] = "compare"
    REPLY: ClassVar[type[Any]] = Compared
    a: str
    b: str
    rounds: int
    settings: RunSettings


@dataclass(frozen=True)
class TakeInputs(Request[Nothing]):
    """Candidate: take trial `index`'s inputs for timing only (no correctness pass)."""

    KIND: ClassVar[str] = "inputs"
    REPLY: ClassVar[type[Any]] = Nothing
    index: int


@dataclass(frozen=True)
class Refill(Request[TrialRan]):
    """Reference: write fresh values (from `seed`) into the timing inputs in place, the same memory the
    candidate's timed calls read, run Model on them and hand the candidate buffers for its outputs."""

    KIND: ClassVar[str] = "refill"
    REPLY: ClassVar[type[Any]] = TrialRan
    seed: int


@dataclass(frozen=True)
class Recheck(Request[CandidateTrialRan]):
    """Candidate: run `label` once more on the refilled timing inputs, outside any judge mode, as a timed
    call runs; its outputs go to the reference (a result kept from earlier calls is then stale)."""

    KIND: ClassVar[str] = "recheck"
    REPLY: ClassVar[type[Any]] = CandidateTrialRan
    label: str


@dataclass(frozen=True)
class Screen(Request[Screened]):
    KIND: ClassVar[str] = "screen"
    REPLY: ClassVar[type[Any]] = Screened
    labels: list[str]
    settings: RunSettings


@dataclass(frozen=True)
class Precompile(Request[Precompiled]):
    """Candidate: compile the kernels each loaded label's forward would launch first, on `threads` compile
    threads, before any of them is timed (a ranking of many configs otherwise compiles them one by one)."""

    KIND: ClassVar[str] = "precompile"
    REPLY: ClassVar[type[Any]] = Precompiled
    labels: list[str]
    threads: int


@dataclass(frozen=True)
class CollectKernels(Request[KernelsCollected]):
    """Candidate: run each loaded label's forward once on the timing inputs with no kernel launched or
    compiled, recording what each Triton JIT kernel of the label's own module would compile (its
    specialization), so that compiler processes can compile them all at once."""

    KIND: ClassVar[str] = "collect"
    REPLY: ClassVar[type[Any]] = KernelsCollected
    labels: list[str]


@dataclass(frozen=True)
class CompileKernels(Request[Precompiled]):
    """Compiler: compile these kernels into Triton's cache (JITFunction.preload), importing each module from
    its file; a job that fails is counted, never fatal (its timed call compiles it and meets the error)."""

    KIND: ClassVar[str] = "compile"
    REPLY: ClassVar[type[Any]] = Precompiled
    jobs: list[KernelJob]
    paths: dict[str, str]  # module name -> the candidate file it is imported from


@dataclass(frozen=True)
class FloorOfTask(Request[FloorReport]):
    """Reference: the task's speed-of-light floor (tritonwright.floor), computed in this process."""

    KIND: ClassVar[str] = "floor"
    REPLY: ClassVar[type[Any]] = FloorReport
    cache_dir: str | None
    use_cache: bool


@dataclass(frozen=True)
class Baselines(Request[BaselineTimes]):
    KIND: ClassVar[str] = "baselines"
    REPLY: ClassVar[type[Any]] = BaselineTimes
    settings: RunSettings
    compile_mode: str
    capture_inductor: bool = False  # keep the generated module (the seed then needs no compile of its own)


@dataclass(frozen=True)
class Exit(Request[Nothing]):
    KIND: ClassVar[str] = "exit"
    REPLY: ClassVar[type[Any]] = Nothing


REQUESTS: dict[str, type[Request[Any]]] = {c.KIND: c for c in (
    LoadReference, LoadCandidate, Trial, CandidateTrial, Check, MeasureKernelShare, Time, Compare, TakeInputs,
    Screen, Precompile, CollectKernels, CompileKernels, FloorOfTask, Baselines, Refill, Recheck, Exit)}


# ---------------------------------------------------------------------------------------------------------
# Replies: child -> parent


@dataclass(frozen=True)
class Ok(Generic[P]):
    payload: P


@dataclass(frozen=True)
class TaskFailed:
    """The task itself cannot run (its module, get_init_inputs, get_inputs): the parent raises a TaskError."""

    message: str  # names the task file; the first line is the TaskError's text


Reply = Union[Ok[P], Fail, TaskFailed]  # noqa: UP007  (a generic alias: the | form cannot be subscripted on 3.10)

_OK, _FAIL, _TASK = "ok", "fail", "task_failed"


# ---------------------------------------------------------------------------------------------------------
# Encoding and checked decoding


def to_data(value: object) -> Any:
    """A message (or any value inside one) as JSON data: dataclasses to dicts, enums to their values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"{type(value).__name__} is not plain data")


def _envelope(kind: str, body: object) -> bytes:
    # NaN/inf stay as JSON's common extension: error figures of a wrong output may be non-finite.
    return json.dumps({"kind": kind, "body": to_data(body)}, allow_nan=True).encode()


def encode_request(request: Request[Any]) -> bytes:
    return _envelope(request.KIND, request)


def encode_reply(reply: Ok[Any] | Fail | TaskFailed) -> bytes:
    if isinstance(reply, Ok):
        return _envelope(_OK, reply.payload)
    if isinstance(reply, Fail):
        return _envelope(_FAIL, reply)
    return _envelope(_TASK, reply)


def _open(data: bytes) -> tuple[str, dict[str, Any]]:
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"{len(data)} bytes, over the {MAX_MESSAGE_BYTES} byte limit")
    try:
        msg = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"not JSON ({type(exc).__name__}: {str(exc)[:120]}); starts {data[:24]!r}") from None
    if not isinstance(msg, dict) or set(msg) != {"kind", "body"} or not isinstance(msg["kind"], str) \
            or not isinstance(msg["body"], dict):
        raise ProtocolError("not a {kind, body} message")
    return msg["kind"], msg["body"]


def decode_request(data: bytes) -> Request[Any]:
    kind, body = _open(data)
    cls = REQUESTS.get(kind)
    if cls is None:
        raise ProtocolError(f"unknown request kind {kind[:40]!r}")
    return decode(cls, body, kind)


def decode_reply(data: bytes, payload: type[P]) -> Ok[P] | Fail | TaskFailed:
    """The reply to a request whose Ok payload is `payload`; raises ProtocolError for anything else."""
    kind, body = _open(data)
    if kind == _OK:
        return Ok(decode(payload, body, payload.__name__))
    if kind == _FAIL:
        return decode(Fail, body, "fail")
    if kind == _TASK:
        return decode(TaskFailed, body, "task_failed")
    raise ProtocolError(f"unknown reply kind {kind[:40]!r}")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def decode(cls: type[P], data: object, where: str = "") -> P:
    """`data` (parsed JSON) checked against dataclass `cls` and built into one; ProtocolError when it does not fit."""
    return typing.cast(P, _value(data, cls, where or cls.__name__))


def _value(value: object, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        problems = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _value(value, option, where)
            except ProtocolError as exc:
                problems.append(str(exc))
        raise ProtocolError(problems[0] if len(problems) == 1 else f"{where}: {_show(value)} fits none of {hint}")
    if origin is list:
        if not isinstance(value, list):
            raise ProtocolError(f"{where}: expected a list, got {_show(value)}")
        (item,) = typing.get_args(hint)
        return [_value(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ProtocolError(f"{where}: expected an object, got {_show(value)}")
        _, item = typing.get_args(hint)
        return {k: _value(v, item, f"{where}.{k}") for k, v in value.items()}
    if hint is Any:
        return value  # json.loads gave plain data already
    if hint is bool:
        if not isinstance(value, bool):
            raise ProtocolError(f"{where}: expected true/false, got {_show(value)}")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProtocolError(f"{where}: expected an integer, got {_show(value)}")
        return value
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ProtocolError(f"{where}: expected a number, got {_show(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ProtocolError(f"{where}: expected a string, got {_show(value)}")
        return value
    if isinstance(hint, type) and issubclass(hint, Enum):
        for member in hint:
            if type(value) is type(member.value) and value == member.value:
                return member
        raise ProtocolError(f"{where}: {_show(value)} is not a {hint.__name__} "
                            f"({', '.join(str(m.value) for m in hint)})")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass(value, hint, where)
    raise TypeError(f"{where}: no decoder for {hint!r}")  # a message class with a field type not plain data


def _dataclass(value: object, cls: type, where: str) -> Any:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected an object, got {_show(value)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    extra = sorted(set(value) - set(fields))
    if extra:
        raise ProtocolError(f"{where}: unexpected field {str(extra[0])[:40]!r}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _value(value[name], hints[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ProtocolError(f"{where}: missing field {name!r}")
    return cls(**kwargs)


def _show(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
