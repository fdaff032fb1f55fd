"""Instrumentation installed in the candidate's child process *before* the candidate is imported.

- count Triton launches by kernel name (JIT on GPU, interpreter on CPU);
- pin every @triton.autotune kernel to one config index (CPU: each config is run and checked);
- poison memory handed out by factory ops (torch.empty & co.) so unwritten outputs are NaN;
- record the compute operations forward dispatches outside Triton kernels.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode


@dataclass
class LaunchLog:
    launches: Counter[str] = field(default_factory=Counter)
    autotune_configs: dict[str, list[str]] = field(default_factory=dict)  # kernel -> config descriptions
    pinned: int = 0  # config index every autotuner uses (clamped to its own count)
    pin_active: bool = False
    used_configs: dict[str, str] = field(default_factory=dict)  # kernel -> config used in the last pass


LOG = LaunchLog()
_STATE = threading.local()


def in_triton() -> bool:
    return getattr(_STATE, "depth", 0) > 0


def _kernel_name(fn_obj: Any) -> str:
    inner = getattr(fn_obj, "fn", None)
    return getattr(inner, "__name__", None) or getattr(fn_obj, "__name__", "?")


def _wrap_run(cls: type) -> None:
    original = cls.run
    if getattr(original, "_tritonwright", False):
        return

    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("warmup", False):
            LOG.launches[_kernel_name(self)] += 1
        _STATE.depth = getattr(_STATE, "depth", 0) + 1
        try:
            return original(self, *args, **kwargs)
        finally:
            _STATE.depth -= 1

    run._tritonwright = True  # type: ignore[attr-defined]
    cls.run = run


def _describe(config: Any) -> str:
    kw = ", ".join(f"{k}={v}" for k, v in getattr(config, "kwargs", {}).items())
    return f"{kw}{', ' if kw else ''}num_warps={config.num_warps}, num_stages={config.num_stages}"


def _wrap_autotuner() -> None:
    from triton.runtime.autotuner import Autotuner

    original = Autotuner.run
    if getattr(original, "_tritonwright", False):
        return

    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        if LOG.pin_active:
            all_configs = self.__dict__.setdefault("_tritonwright_configs", list(self.configs))
            name = _kernel_name(self.fn) if hasattr(self, "fn") else "?"
            LOG.autotune_configs[name] = [_describe(c) for c in all_configs]
            chosen = all_configs[min(LOG.pinned, len(all_configs) - 1)]
            LOG.used_configs[name] = _describe(chosen)
            self.configs = [chosen]  # one config: the autotuner runs it without benchmarking
            self.cache = {}
        return original(self, *args, **kwargs)

    run._tritonwright = True  # type: ignore[attr-defined]
    Autotuner.run = run


def install_launch_hooks(interpret: bool, pin_autotune: bool) -> None:
    """Count launches; on CPU also pin autotuners (the interpreter cannot benchmark configs)."""
    if interpret:
        from triton.runtime.interpreter import InterpretedFunction

        _wrap_run(InterpretedFunction)
    else:
        from triton.runtime.jit import JITFunction

        _wrap_run(JITFunction)
    if pin_autotune:
        LOG.pin_active = True
        _wrap_autotuner()


# Factory ops whose memory is uninitialised; their results are poisoned while the candidate runs.
_EMPTY_OPS = {"aten::empty.memory_format", "aten::empty_like", "aten::empty_strided", "aten::new_empty",
              "aten::new_empty_strided", "aten::empty.names"}
# Ops that move or view data but compute nothing: not counted as "non-Triton compute".
_NON_COMPUTE_PREFIXES = (
    "aten::empty", "aten::new_empty", "aten::zeros", "aten::ones", "aten::full", "aten::fill", "aten::zero_",
    "aten::view", "aten::_unsafe_view", "aten::reshape", "aten::as_strided", "aten::expand", "aten::permute",
    "aten::transpose", "aten::t", "aten::squeeze", "aten::unsqueeze", "aten::slice", "aten::select",
    "aten::alias", "aten::detach", "aten::clone", "aten::copy_", "aten::_to_copy", "aten::contiguous",
    "aten::lift_fresh", "aten::stride", "aten::size", "aten::sym_", "aten::is_contiguous", "aten::split",
    "aten::chunk", "aten::unbind", "aten::flatten", "aten::unflatten", "aten::_reshape_alias", "aten::arange",
    "aten::resize_", "aten::set_", "aten::item", "aten::_local_scalar_dense", "aten::scalar_tensor",
    "aten::narrow", "aten::diagonal", "aten::movedim", "aten::split_with_sizes", "aten::_has_compatible",
    "aten::record_stream", "aten::numpy_T", "aten::unfold", "aten::is_same_size",
)


def _poison(t: torch.Tensor) -> None:
    if t.is_floating_point() or t.is_complex():
        t.fill_(float("nan"))
    elif t.dtype == torch.bool:
        t.fill_(True)
    else:
        t.fill_(torch.iinfo(t.dtype).max)


class CandidateMode(TorchDispatchMode):
    """Poisons fresh allocations and records non-Triton compute ops dispatched by the candidate."""

    def __init__(self, poison: bool, record: bool) -> None:
        super().__init__()
        self.poison = poison
        self.record = record
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        result = func(*args, **(kwargs or {}))
        if in_triton():  # the interpreter's own tensor traffic is part of a Triton kernel
            return result
        name = func.name()
        if self.poison and name in _EMPTY_OPS and isinstance(result, torch.Tensor):
            with torch.no_grad():
                _poison(result)
        if self.record and not name.startswith(_NON_COMPUTE_PREFIXES):
            self.ops[name.removeprefix("aten::")] += 1
        return result
