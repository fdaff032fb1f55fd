"""Instrumentation installed in the candidate's child process *before* the candidate is imported.

- count Triton launches by kernel name (JIT on GPU, interpreter on CPU);
- pin every @triton.autotune kernel to one config index (CPU: each config is run and checked);
- record, without compiling or launching, the kernels a forward would compile (a screen's collection pass);
- poison memory handed out by factory ops (torch.empty & co.) so unwritten outputs are NaN;
- record the compute operations forward dispatches outside Triton kernels.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from tritonwright.eval.provenance import PROV
from tritonwright.eval.types import CANDIDATE_MODULE, HOST_MATH


@dataclass
class LaunchLog:
    launches: Counter[str] = field(default_factory=Counter)
    autotune_configs: dict[str, list[str]] = field(default_factory=dict)  # kernel -> config descriptions
    pinned: int = 0  # config index every autotuner uses (clamped to its own count)
    pin_active: bool = False
    used_configs: dict[str, str] = field(default_factory=dict)  # kernel -> config used in the last pass
    precompiling: bool = False  # a precompile pass is running (worker._Candidate.precompile)
    collecting: KernelCollector | None = None  # a collection pass is running (worker._Candidate.collect)


@dataclass
class KernelCollector:
    """What a collection pass records: for each JIT kernel of the given modules a launch would compile, the
    module, the kernel's name and Triton's serialized specialization (as JITFunction.preload reads it).

    Recorded through Triton's jit_cache_hook, which JITFunction calls before it compiles and which, returning
    True, makes it compile nothing; launches are skipped while the pass runs (see _wrap_run), so no kernel runs
    on the garbage that kernels not launched leave behind."""

    modules: frozenset[str]  # the candidate modules whose kernels are recorded
    jobs: list[tuple[str, str, str]] = field(default_factory=list)  # (module, kernel name, specialization)
    seen: set[tuple[str, str]] = field(default_factory=set)  # (kernel source hash, specialization key)
    uncollected: int = 0  # launches not recorded (another module's kernel, a hook Triton could not feed)

    def hook(self, **kwargs: Any) -> bool:
        """Triton's jit_cache_hook(key=, repr=, fn=, compile=, is_manual_warmup=, already_compiled=)."""
        fn, spec = kwargs.get("fn"), (kwargs.get("compile") or {}).get("specialization_data")
        module, name = getattr(fn, "module", None), getattr(fn, "name", None)
        if module not in self.modules or not isinstance(name, str) or not isinstance(spec, str):
            self.uncollected += 1
            return True  # compiled at its timed call, as without the pass
        # The same source with the same specialization is one compile (Triton's cache key does not hold the
        # module's name), whichever label's module it comes from.
        source = getattr(getattr(fn, "jit_function", None), "cache_key", module)
        seen = (str(source), str(kwargs.get("key")))
        if seen not in self.seen:
            self.seen.add(seen)
            self.jobs.append((module, name, spec))
        return True


LOG = LaunchLog()
_STATE = threading.local()


def in_triton() -> bool:
    return getattr(_STATE, "depth", 0) > 0


def _kernel_name(fn_obj: Any) -> str:
    inner = getattr(fn_obj, "fn", None)
    return str(getattr(inner, "__name__", None) or getattr(fn_obj, "__name__", "?"))


class PrecompileStop(BaseException):
    """Ends a precompile pass's forward at its first launch whose kernel was just sent to the compile threads.

    A BaseException, so a candidate's own `except Exception` fallback (an LLM's habit) does not catch it and
    switch the model to its fallback for the timed calls that follow."""


def precompile_mode(executor: Any) -> Any:
    """The context a precompile pass runs in: Triton's AsyncCompileMode (compiles run on `executor`; a launch
    of a kernel still compiling waits for it), counting the compiles it starts and those that fail, so a
    launch knows whether its kernel was already compiled. In it, launches of JIT kernels not yet compiled go
    to the threads and end the forward (PrecompileStop); kernels already compiled launch as usual."""
    from triton.runtime._async_compile import AsyncCompileMode

    lock = threading.Lock()

    class Counting(AsyncCompileMode):
        submitted = 0  # compiles started (a kernel already being compiled is not started again)
        failed = 0  # compiles that raised

        def submit(self, key: Any, compile_fn: Any, *rest: Any, **kwargs: Any) -> Any:
            # Triton 3.6 passes (key, compile, finalize), 3.9 also a cleanup: the rest goes on as it came
            fresh = key not in getattr(self, "future_kernels", {})

            def counted() -> Any:
                try:
                    return compile_fn()
                except BaseException:
                    with lock:
                        self.failed += 1
                    raise

            future = super().submit(key, counted, *rest, **kwargs)
            self.submitted += fresh
            return future

    # ignore_errors: a config that fails to compile meets the error again at its timed call (3.9 compiles
    # it again, 3.6 keeps the failed future), which reports it as that config's own
    return Counting(executor, ignore_errors=True)


def _precompile_launch(original: Any, self: Any, args: Any, kwargs: dict[str, Any]) -> None:
    """In a precompile pass: compile this launch's kernel without launching it (Triton's warmup) and stop the
    forward if that started a compile; a kernel already compiled falls through to a normal launch."""
    from triton.runtime import _async_compile

    mode = _async_compile.active_mode.get()
    if mode is None or not hasattr(mode, "submitted"):
        return
    before = mode.submitted
    original(self, *args, **{**kwargs, "warmup": True})
    if mode.submitted > before:
        raise PrecompileStop(_kernel_name(self))


@contextmanager
def collecting(modules: frozenset[str]) -> Iterator[KernelCollector]:
    """A collection pass: Triton's jit_cache_hook records (and skips) every compile; JIT launches are skipped."""
    from triton import knobs

    collector = KernelCollector(modules)
    before = knobs.runtime.jit_cache_hook
    knobs.runtime.jit_cache_hook = collector.hook
    LOG.collecting = collector
    try:
        yield collector
    finally:
        LOG.collecting = None
        knobs.runtime.jit_cache_hook = before


def _collect_launch(original: Any, self: Any, args: Any, kwargs: dict[str, Any]) -> None:
    """In a collection pass: the launch's compile is recorded (Triton's warmup reaches the cache hook, which
    says skip it) and nothing is launched. A launch Triton cannot record (a constant its serializer does not
    know) is counted and left to its timed call."""
    try:
        original(self, *args, **{**kwargs, "warmup": True})
    except Exception:  # noqa: BLE001 - not a verdict: its timed call compiles it and reports any error
        if LOG.collecting is not None:
            LOG.collecting.uncollected += 1


def _wrap_run(cls: Any, precompilable: bool = False) -> None:  # a Triton launcher class, patched in place
    original = cls.run
    if getattr(original, "_tritonwright", False):
        return

    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        if precompilable and LOG.collecting is not None and not kwargs.get("warmup", False):
            return _collect_launch(original, self, args, kwargs)
        if precompilable and LOG.precompiling and not kwargs.get("warmup", False):
            _precompile_launch(original, self, args, kwargs)
        if not kwargs.get("warmup", False):
            LOG.launches[_kernel_name(self)] += 1
            if not in_triton():  # a launch from inside another's run (autotuner) was already seen
                PROV.on_launch(self, args, kwargs)
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
        if LOG.collecting is not None:
            # Every config's compile recorded, none benchmarked: an autotuner timing launches that the pass
            # skips would cache a pick made on nothing for the timed calls.
            for config in list(getattr(self, "configs", [])):
                try:
                    self.fn.run(*args, **{**kwargs, **config.all_kwargs()})
                except Exception:  # noqa: BLE001 - its timed call meets it
                    LOG.collecting.uncollected += 1
            return None
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


_DISK_CACHE_PARAMS = ["self", "tuning_key", "configs", "bench_fn"]  # Autotuner.check_disk_cache in Triton 3.x


def guard_autotune_cache() -> None:
    """Autotune picks read from Triton's cache (eval.runner.CANDIDATE_ENV) must be one of the code's own configs.
    Triton builds the pick from the file, and any process that may write the cache (a candidate's) could plant
    another: a config the code does not list would then be what the judge checks and times, and never what the
    user's copy runs. Such a pick is dropped and the configs are benchmarked as without the cache. A Triton whose
    check_disk_cache looks otherwise gets no cache at all."""
    import inspect
    import os

    from triton.runtime.autotuner import Autotuner

    original = getattr(Autotuner, "check_disk_cache", None)
    if original is None or getattr(original, "_tritonwright", False):
        return
    try:
        params = list(inspect.signature(original).parameters)
    except (TypeError, ValueError):
        params = []
    if params != _DISK_CACHE_PARAMS:
        os.environ["TRITON_CACHE_AUTOTUNING"] = "0"  # read when each autotuner is made: before the candidate
        return
    Autotuner.check_disk_cache = only_own_configs(original)


def only_own_configs(original: Any) -> Any:
    """`original` (Autotuner.check_disk_cache), with a loaded pick outside `configs` dropped and benchmarked."""

    def check_disk_cache(self: Any, tuning_key: Any, configs: Any, bench_fn: Any) -> bool:
        loaded = bool(original(self, tuning_key, configs, bench_fn))
        if loaded and self.cache.get(tuning_key) not in list(configs):
            self.cache.pop(tuning_key, None)
            bench_fn()  # sets self.cache[tuning_key] from its own timings
            return False
        return loaded

    check_disk_cache._tritonwright = True  # type: ignore[attr-defined]
    return check_disk_cache


def install_launch_hooks(interpret: bool, pin_autotune: bool) -> None:
    """Count launches; on CPU also pin autotuners (the interpreter cannot benchmark configs)."""
    if interpret:
        from triton.runtime.interpreter import InterpretedFunction

        _wrap_run(InterpretedFunction)
    else:
        from triton.runtime.jit import JITFunction

        _wrap_run(JITFunction, precompilable=True)
    if pin_autotune:
        LOG.pin_active = True
    _wrap_autotuner()  # pins on CPU; on a GPU only a collection pass acts in it
    guard_autotune_cache()
    install_escape_guards()


# Process escapes a candidate's own code may not make at run time (the static rule rejects the plain spellings;
# these catch getattr(os, "sys" + "tem") and the like). Triton and torch still may: ptxas runs as a subprocess.
_GUARDED_OS = ("system", "popen", "kill", "killpg", "fork", "forkpty", "execv", "execve", "execvp", "execvpe",
               "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn",
               "posix_spawnp", "setsid", "getppid")


def _from_candidate() -> bool:
    """Whether the code calling the guarded function belongs to a candidate module."""
    import sys

    frame = sys._getframe(2)
    return str(frame.f_globals.get("__name__", "")).startswith(CANDIDATE_MODULE)


def _guard(owner: Any, attr: str, what: str) -> None:
    original = getattr(owner, attr, None)
    if original is None or getattr(original, "_tritonwright_guard", False):
        return

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if _from_candidate():
            raise PermissionError(f"{what} is not allowed in a candidate: a kernel needs no processes, sockets "
                                  "or raw memory")
        return original(*args, **kwargs)

    guarded._tritonwright_guard = True  # type: ignore[attr-defined]
    setattr(owner, attr, guarded)


def install_escape_guards() -> None:
    """Before the candidate is imported: shells, processes, signals to others, sockets and ctypes libraries
    fail when the candidate's own code calls them."""
    import ctypes
    import os
    import socket
    import subprocess

    for name in _GUARDED_OS:
        _guard(os, name, f"os.{name}")
    # Classes keep being classes (libraries subclass them): their constructors are guarded instead.
    _guard(subprocess.Popen, "__init__", "subprocess")
    for name in ("run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"):
        _guard(subprocess, name, f"subprocess.{name}")
    _guard(socket.socket, "__init__", "socket.socket")
    _guard(socket, "create_connection", "socket.create_connection")
    _guard(ctypes.CDLL, "__init__", "ctypes.CDLL")


def install_late_hooks() -> None:
    """After a candidate is imported: Inductor's kernels (an Inductor seed keeps some as it wrote them) launch
    through its own autotuner, not JITFunction.run; count those launches too when the candidate loaded it."""
    import sys

    module = sys.modules.get("torch._inductor.runtime.triton_heuristics")
    cls = getattr(module, "CachingAutotuner", None) if module is not None else None
    if cls is not None:
        _wrap_run(cls)


# Factory ops whose memory is uninitialised; their results are poisoned while the candidate runs.
_EMPTY_OPS = {"aten::empty.memory_format", "aten::empty_like", "aten::empty_strided", "aten::new_empty",
              "aten::new_empty_strided", "aten::empty.names", "aten::empty_permuted"}
# Ops that move or view data but compute nothing: not counted as "non-Triton compute". Matched on the op's
# base name exactly (`aten::t` is transpose; a prefix match would also let tanh, threshold and tril through).
_NON_COMPUTE = frozenset({
    "aten::empty", "aten::empty_like", "aten::empty_strided", "aten::empty_permuted", "aten::new_empty",
    "aten::new_empty_strided", "aten::zeros", "aten::zeros_like", "aten::new_zeros", "aten::ones",
    "aten::ones_like", "aten::new_ones", "aten::full", "aten::full_like", "aten::new_full", "aten::fill_",
    "aten::zero_", "aten::view", "aten::_unsafe_view", "aten::reshape", "aten::as_strided", "aten::expand",
    "aten::expand_as", "aten::permute", "aten::transpose", "aten::t", "aten::squeeze", "aten::unsqueeze",
    "aten::slice", "aten::select", "aten::alias", "aten::detach", "aten::clone", "aten::copy_", "aten::_to_copy",
    "aten::contiguous", "aten::lift_fresh", "aten::lift_fresh_copy", "aten::stride", "aten::size",
    "aten::is_contiguous", "aten::split", "aten::chunk", "aten::unbind", "aten::flatten", "aten::unflatten",
    "aten::_reshape_alias", "aten::arange", "aten::resize_", "aten::set_", "aten::item",
    "aten::_local_scalar_dense", "aten::scalar_tensor", "aten::narrow", "aten::diagonal", "aten::movedim",
    "aten::split_with_sizes", "aten::record_stream", "aten::numpy_T", "aten::unfold", "aten::is_same_size",
    "aten::view_as", "aten::to", "aten::t_", "aten::transpose_", "aten::squeeze_", "aten::unsqueeze_",
})
_NON_COMPUTE_FAMILIES = ("aten::sym_", "aten::_has_compatible")  # whole families of shape queries


def is_compute(name: str) -> bool:
    """Whether a dispatched op computes (by its base name, exactly: `aten::tanh.default` -> aten::tanh)."""
    base = name.split(".", 1)[0]
    return base not in _NON_COMPUTE and not base.startswith(_NON_COMPUTE_FAMILIES)


def _poison(t: torch.Tensor) -> None:
    if t.is_floating_point() or t.is_complex():
        t.fill_(float("nan"))
    elif t.dtype == torch.bool:
        t.fill_(True)
    else:
        t.fill_(torch.iinfo(t.dtype).max)


# Random fills that initialise parameters (nn.Linear, nn.Conv2d, nn.init.*): the weights are replaced by the
# reference's afterwards, so this is not compute a candidate does for its results.
_INIT_FILLS = frozenset({"aten::uniform_", "aten::normal_", "aten::bernoulli_", "aten::random_",
                         "aten::exponential_", "aten::geometric_", "aten::log_normal_", "aten::cauchy_"})


class CandidateMode(TorchDispatchMode):
    """Poisons fresh allocations and records non-Triton compute ops dispatched by the candidate.

    `host`: the judge runs on a GPU, so PyTorch ops on CPU tensors are recorded as such ("... (on the CPU)"):
    the profiler, which lists the GPU's kernels, cannot see them. Tensors handed to numpy are recorded too
    (HOST_MATH): numpy's math never dispatches through PyTorch."""

    def __init__(self, poison: bool, record: bool, host: bool = False) -> None:
        super().__init__()
        self.poison = poison
        self.record = record
        self.host = host
        self.ops: Counter[str] = Counter()

    def __enter__(self) -> CandidateMode:
        _ACTIVE.append(self)
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        if _ACTIVE and _ACTIVE[-1] is self:
            _ACTIVE.pop()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = func.name()
        grown_from = args[0].numel() if name == "aten::resize_" and args and isinstance(args[0], torch.Tensor) \
            else None
        result = func(*args, **(kwargs or {}))
        if in_triton():  # the interpreter's own tensor traffic is part of a Triton kernel
            return result
        if self.poison and grown_from is not None and isinstance(result, torch.Tensor) \
                and result.numel() > grown_from and result.is_contiguous():
            with torch.no_grad():  # the elements resize_ added are uninitialised memory, as empty's are
                _poison(result.view(-1)[grown_from:])
        if self.poison and name in _EMPTY_OPS and isinstance(result, torch.Tensor):
            with torch.no_grad():
                _poison(result)
        PROV.on_op(name, args, kwargs or {}, result)
        if self.record and is_compute(name) and name.split(".", 1)[0] not in _INIT_FILLS:
            on_cpu = self.host and any(isinstance(a, torch.Tensor) and a.device.type == "cpu" for a in args)
            self.ops[name.removeprefix("aten::") + (" (on the CPU)" if on_cpu else "")] += 1
        return result


_ACTIVE: list[CandidateMode] = []  # the modes entered, innermost last (the numpy hooks record into it)


def install_host_math_hooks() -> None:
    """Before the candidate's import: Tensor.numpy/__array__/tolist record HOST_MATH while a recording mode
    is active (bound here, so the candidate cannot unbind the judge's own references)."""
    for attr in ("numpy", "__array__", "tolist"):
        original = getattr(torch.Tensor, attr, None)
        if original is None or getattr(original, "_tritonwright_host", False):
            continue

        def wrapped(self: torch.Tensor, *args: Any, _orig: Any = original, **kwargs: Any) -> Any:
            if _ACTIVE and _ACTIVE[-1].record and not in_triton():
                _ACTIVE[-1].ops[HOST_MATH] += 1
            return _orig(self, *args, **kwargs)

        wrapped._tritonwright_host = True  # type: ignore[attr-defined]
        setattr(torch.Tensor, attr, wrapped)
