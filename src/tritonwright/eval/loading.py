"""Building blocks used inside child processes: load modules, make init args and inputs, move weights.

These run in the children (reference, candidate, profiler target); the parent never imports a candidate.
Problems the user must fix raise `LoadError` with a one-line message naming the file.
"""

from __future__ import annotations

import importlib.util
import numbers
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import torch

from tritonwright.errors import UserInputError


class LoadError(UserInputError):
    """The task or candidate cannot be set up as the KernelBench format requires."""


@dataclass
class InitArgs:
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)


def load_candidate_module(path: str, module_name: str = "tritonwright_candidate") -> types.ModuleType:
    """Import a candidate file from its real path (Triton's JIT reads kernel source back from the file)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def make_init_args(task_module: types.ModuleType, path: str) -> InitArgs:
    """get_init_inputs(): a list/tuple is passed as *args, a dict as **kwargs (KernelBench convention)."""
    value = task_module.get_init_inputs()
    if isinstance(value, dict):
        return InitArgs(kwargs=dict(value))
    if isinstance(value, list | tuple):
        return InitArgs(args=list(value))
    raise LoadError(f"{path}: get_init_inputs() must return a list or a dict, got {type(value).__name__}")


Input = torch.Tensor | bool | int | float  # what get_inputs() may return: tensors, and numbers passed as they are


def make_inputs(task_module: types.ModuleType, path: str, seed: int, device: torch.device) -> list[Input]:
    """Fresh inputs from get_inputs() under `seed`, tensors on `device`. Python numbers pass through as they are
    (KernelBench's 5_Matrix_scalar_multiplication gives `[A, s]`, and a kernel takes `s` as a scalar argument,
    which a 0-dim tensor would not be: Triton passes tensors as pointers); anything else is a task error."""
    torch.manual_seed(seed)
    with torch.device(device):  # tensors made straight on the device: no host RNG and copy of gigabytes
        value = task_module.get_inputs()
    if isinstance(value, torch.Tensor):
        value = [value]
    if not isinstance(value, list | tuple):
        raise LoadError(f"{path}: get_inputs() must return a list of tensors, got {type(value).__name__}")
    out: list[Input] = []
    for i, item in enumerate(value):
        if isinstance(item, torch.Tensor):
            out.append(item.to(device))
        elif isinstance(item, numbers.Real):  # numpy scalars too, as the builtin type: no subclass behaviour
            out.append(bool(item) if isinstance(item, bool) else
                       int(item) if isinstance(item, numbers.Integral) else float(item))
        else:
            raise LoadError(f"{path}: get_inputs() item {i} is a {type(item).__name__}, not a tensor or a number")
    return out


def tensors(inputs: list[Input]) -> list[torch.Tensor]:
    """The tensor inputs, in order (numbers cannot be changed in place, so only tensors are checked after)."""
    return [x for x in inputs if isinstance(x, torch.Tensor)]


def map_tensors(inputs: list[Input], fn: Callable[[torch.Tensor], torch.Tensor]) -> list[Input]:
    """`fn` applied to every tensor input; numbers as they are."""
    return [fn(x) if isinstance(x, torch.Tensor) else x for x in inputs]


def clone_inputs(inputs: list[Input]) -> list[Input]:
    return map_tensors(inputs, torch.Tensor.clone)


def construct(cls: type, init: InitArgs, seed: int, device: torch.device, what: str) -> torch.nn.Module:
    """Instantiate Model/ModelNew under a fixed seed (same seed for both: same default initialisation order)."""
    torch.manual_seed(seed)
    try:
        with torch.device(device):  # parameters initialised where they will live (same RNG for both models)
            module = cls(*init.args, **init.kwargs)
    except TypeError as exc:
        raise LoadError(f"{what}: constructor does not accept get_init_inputs() values: {exc}") from None
    if not isinstance(module, torch.nn.Module):
        raise LoadError(f"{what}: is not an nn.Module")
    return module.to(device)


Strategy = Literal["name", "suffix", "order", "seed"]


@dataclass(frozen=True)
class TensorMatch:
    """Where one ModelNew tensor got its value: a Model tensor (`ref`), or its own construction (`ref` None)."""

    new: str
    ref: str | None
    strategy: Strategy


@dataclass(frozen=True)
class Ambiguity:
    """ModelNew tensors of one (shape, dtype kind) whose Model counterpart cannot be told apart (fatal)."""

    new: tuple[str, ...]  # ModelNew's unmatched tensors of this shape and kind, in registration order
    ref: tuple[str, ...]  # Model's, likewise: a different count, so no pairing by order
    shape: tuple[int, ...]
    kind: str  # "float", "int", "bool" or "complex"

    def __str__(self) -> str:
        what = str(self.shape) + ("" if self.kind == "float" else f" {self.kind}")  # float is the norm
        news = ", ".join(f"ModelNew.{n}" for n in self.new)
        verb = "could be" if len(self.new) == 1 else "could each be"
        refs = ("any of " if len(self.ref) > 1 else "") + "Model's " + ", ".join(self.ref)
        return f"{news} {what} {verb} {refs} {what}"


# Strategies whose pairs notes() lists one by one, and how it words them (exact names are only counted).
_LISTED: dict[Strategy, str] = {"suffix": "suffix", "order": "order of registration"}


@dataclass
class WeightMatch:
    """How ModelNew's parameters and buffers got the reference's values, tensor by tensor."""

    matches: list[TensorMatch] = field(default_factory=list)  # in ModelNew's registration order
    unused: list[str] = field(default_factory=list)  # Model tensors ModelNew does not hold: a note
    shape_conflicts: list[str] = field(default_factory=list)  # same name, different shape: fatal
    ambiguous: list[Ambiguity] = field(default_factory=list)  # several possible counterparts: fatal

    def by(self, strategy: Strategy) -> list[TensorMatch]:
        """The matches made by one strategy, in ModelNew's registration order."""
        return [m for m in self.matches if m.strategy == strategy]

    @property
    def by_name(self) -> list[str]:
        """ModelNew tensors matched by exact name (the field of the same name before per-tensor records)."""
        return [m.new for m in self.by("name")]

    def notes(self) -> list[str]:
        out = []
        if any(m.strategy != "name" for m in self.matches):  # all by name is the plain case: nothing to say
            counts = {s: len(self.by(s)) for s in get_args(Strategy)}
            out.append("weights matched: " + ", ".join(f"{n} by {'same seed' if s == 'seed' else s}"
                                                     for s, n in counts.items() if n))
        for strategy, words in _LISTED.items():
            if pairs := self.by(strategy):
                out.append(f"weights matched by {words}: " + ", ".join(f"{m.new} <- {m.ref}" for m in pairs))
        if seeded := self.by("seed"):
            out.append("weights with no counterpart in Model, kept as built under Model's seed (the correctness "
                       "check decides): " + ", ".join(m.new for m in seeded))
        if self.unused:
            out.append("reference tensors not held by ModelNew: " + ", ".join(self.unused))
        return out

    def error(self) -> str | None:
        parts = []
        if self.shape_conflicts:
            parts.append("shape differs from Model's: " + "; ".join(self.shape_conflicts))
        if self.ambiguous:  # the fix is the candidate's: a name the matcher can follow
            parts.append("; ".join(str(a) for a in self.ambiguous) + " (give these tensors Model's names)")
        return " | ".join(parts) or None


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = dict(module.named_parameters())
    state.update({k: v for k, v in module.named_buffers() if v is not None})
    return state


def reference_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The reference's parameters and buffers by name (detached), to hand to the candidate."""
    return {k: v.detach() for k, v in _tensors(model).items()}


def _dtype_kind(t: torch.Tensor) -> str:
    """float/complex/bool/int: the order step pairs only like kinds (an int64 `num_batches_tracked` is never a
    float weight's rival), but not exact dtypes (a candidate may hold a float32 weight as bf16)."""
    if t.is_floating_point():
        return "float"
    if t.is_complex():
        return "complex"
    return "bool" if t.dtype == torch.bool else "int"


def _is_suffix(a: str, b: str) -> bool:
    """One name is the other's last dotted components (`weight` / `ln.weight`, `norm.bias` / `m.norm.bias`)."""
    return a.endswith("." + b) or b.endswith("." + a)


def _match_by_suffix(match: WeightMatch, pending: dict[str, torch.Tensor],
                     remaining_ref: dict[str, torch.Tensor]) -> None:
    """Pair tensors of equal shape whose names are dotted suffixes of each other, when unique both ways."""
    cand = {n: [r for r, rv in remaining_ref.items() if _is_suffix(n, r) and rv.shape == t.shape]
            for n, t in pending.items()}
    rivals: dict[str, list[str]] = {}
    for n, refs in cand.items():
        for r in refs:
            rivals.setdefault(r, []).append(n)
    for n, refs in cand.items():
        if len(refs) == 1 and rivals[refs[0]] == [n]:  # unique in both directions, else left to the next steps
            _copy(pending.pop(n), remaining_ref.pop(refs[0]))
            match.matches.append(TensorMatch(n, refs[0], "suffix"))


def _group(state: dict[str, torch.Tensor]) -> dict[tuple[tuple[int, ...], str], list[str]]:
    groups: dict[tuple[tuple[int, ...], str], list[str]] = {}
    for name, t in state.items():  # dict order is registration order: parameters, then buffers
        groups.setdefault((tuple(t.shape), _dtype_kind(t)), []).append(name)
    return groups


def match_weights(model_new: torch.nn.Module, ref_state: dict[str, torch.Tensor]) -> WeightMatch:
    """Copy reference tensors into ModelNew: by exact name, then by unique dotted suffix, then by (shape,
    dtype kind, registration order) where a group has as many tensors on both sides; a tensor with no
    candidate keeps its same-seed construction value; an ambiguous group is reported (fatal)."""
    match = WeightMatch()
    new_state = _tensors(model_new)
    remaining_ref = dict(ref_state)
    pending: dict[str, torch.Tensor] = {}
    for name, tensor in new_state.items():
        ref = remaining_ref.get(name)
        if ref is None:
            pending[name] = tensor
        elif tuple(ref.shape) != tuple(tensor.shape):
            match.shape_conflicts.append(f"{name} {tuple(tensor.shape)} vs {tuple(ref.shape)}")
            remaining_ref.pop(name)
        else:
            _copy(tensor, ref)
            match.matches.append(TensorMatch(name, name, "name"))
            remaining_ref.pop(name)
    _match_by_suffix(match, pending, remaining_ref)
    ref_groups = _group(remaining_ref)
    for key, news in _group(pending).items():
        refs = ref_groups.pop(key, [])
        if not refs:  # nothing in Model could be its counterpart: same seed as Model, the check decides
            match.matches.extend(TensorMatch(n, None, "seed") for n in news)
        elif len(refs) == len(news):  # as many on both sides: registration order pairs them
            for n, r in zip(news, refs, strict=True):
                _copy(pending[n], remaining_ref.pop(r))
                match.matches.append(TensorMatch(n, r, "order"))
        else:  # never guess which of several equal-shaped tensors is the counterpart
            match.ambiguous.append(Ambiguity(tuple(news), tuple(refs), key[0], key[1]))
            for r in refs:
                remaining_ref.pop(r)
    order = {name: i for i, name in enumerate(new_state)}  # ModelNew's registration order, whatever step
    match.matches.sort(key=lambda m: order[m.new])
    match.unused = sorted(remaining_ref)
    return match


def _copy(dst: torch.Tensor, src: torch.Tensor) -> None:
    with torch.no_grad():
        dst.copy_(src.to(device=dst.device, dtype=dst.dtype))


def fp32_only() -> None:
    """PyTorch ops compute in real fp32 (TF32 off), in the reference and the candidate alike: a candidate's
    PyTorch matmuls get no hidden TF32 advantage, and what is profiled is what was evaluated."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def load_model_new(path: str, init: InitArgs, ref_state: dict[str, torch.Tensor], seed: int, device: torch.device,
                   module_name: str = "tritonwright_candidate",
                   after_import: Callable[[], None] | None = None) -> tuple[torch.nn.Module, list[str]]:
    """The candidate's ModelNew, built with `init` under `seed` and holding the reference's weights, with
    PyTorch ops in fp32 (`fp32_only`); also the notes on how the weights were matched. The one loader of the
    evaluation's candidate child and the profiler's target process. `after_import` runs right after the
    module is imported (hooks that need the candidate's own imports)."""
    fp32_only()
    module = load_candidate_module(path, module_name)
    if after_import is not None:
        after_import()
    cls = getattr(module, "ModelNew", None)
    if cls is None:
        raise LoadError(f"{path}: no class ModelNew")
    model = construct(cls, init, seed, device, f"{path}: ModelNew")
    match = match_weights(model, ref_state)
    err = match.error()
    if err:
        raise LoadError(f"{path}: ModelNew's parameters cannot be matched to Model's: {err}")
    return model, match.notes()
