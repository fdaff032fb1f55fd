"""Building blocks used inside child processes: load modules, make init args and inputs, move weights.

These run in the children (reference, candidate, profiler target); the parent never imports a candidate.
Problems the user must fix raise `LoadError` with a one-line message naming the file.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


def make_inputs(task_module: types.ModuleType, path: str, seed: int, device: torch.device) -> list[torch.Tensor]:
    """Fresh inputs from get_inputs() under `seed`, on `device`. Anything but tensors is a task error."""
    torch.manual_seed(seed)
    with torch.device(device):  # tensors made straight on the device: no host RNG and copy of gigabytes
        value = task_module.get_inputs()
    if isinstance(value, torch.Tensor):
        value = [value]
    if not isinstance(value, list | tuple):
        raise LoadError(f"{path}: get_inputs() must return a list of tensors, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, torch.Tensor):
            raise LoadError(f"{path}: get_inputs() item {i} is a {type(item).__name__}, not a tensor")
        out.append(item.to(device))
    return out


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


@dataclass
class WeightMatch:
    """How ModelNew's parameters and buffers got the reference's values."""

    by_name: list[str] = field(default_factory=list)
    by_shape: list[tuple[str, str]] = field(default_factory=list)  # (ModelNew name, Model name)
    unmatched: list[str] = field(default_factory=list)  # ModelNew tensors with no counterpart: fatal
    unused: list[str] = field(default_factory=list)  # Model tensors ModelNew does not hold: a note
    shape_conflicts: list[str] = field(default_factory=list)  # same name, different shape: fatal

    def notes(self) -> list[str]:
        out = []
        if self.by_shape:
            out.append("weights matched by shape: " + ", ".join(f"{a} <- {b}" for a, b in self.by_shape))
        if self.unused:
            out.append("reference tensors not held by ModelNew: " + ", ".join(self.unused))
        return out

    def error(self) -> str | None:
        parts = []
        if self.shape_conflicts:
            parts.append("shape differs from Model's: " + "; ".join(self.shape_conflicts))
        if self.unmatched:
            parts.append("ModelNew tensors with no counterpart in Model: " + ", ".join(self.unmatched))
        return " | ".join(parts) or None


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = dict(module.named_parameters())
    state.update({k: v for k, v in module.named_buffers() if v is not None})
    return state


def reference_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The reference's parameters and buffers by name (detached), to hand to the candidate."""
    return {k: v.detach() for k, v in _tensors(model).items()}


def match_weights(model_new: torch.nn.Module, ref_state: dict[str, torch.Tensor]) -> WeightMatch:
    """Copy reference tensors into ModelNew by name, then by unique shape; report what could not be matched."""
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
            match.by_name.append(name)
            remaining_ref.pop(name)
    for name, tensor in pending.items():
        same = [k for k, v in remaining_ref.items() if tuple(v.shape) == tuple(tensor.shape)]
        rivals = [k for k, v in pending.items() if tuple(v.shape) == tuple(tensor.shape)]
        if len(same) == 1 and len(rivals) == 1:  # unambiguous only: never guess between equal shapes
            _copy(tensor, remaining_ref.pop(same[0]))
            match.by_shape.append((name, same[0]))
        else:
            match.unmatched.append(f"{name} {tuple(tensor.shape)}")
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
