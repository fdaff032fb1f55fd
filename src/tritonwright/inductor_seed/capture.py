"""Child-process side of the Inductor seed: compile the task's Model with torch.compile, capture the module
Inductor generates, convert it to a ModelNew file and check that file against the eager Model.

Everything here touches private torch APIs (Inductor's code cache, compile_fx, the backend hash); each use is
guarded so a torch version without it gives a one-line `SeedFailure`, never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import torch

from tritonwright.eval import loading
from tritonwright.eval.checks import as_output_list, compare_output
from tritonwright.eval.types import DEFAULT_TOLERANCES, Tolerance
from tritonwright.inductor_seed.convert import ConvertError, SeedSpec, Slot, TensorSpec, convert
from tritonwright.task import Task, exec_task_module

_KERNEL_ASSIGN = re.compile(r"^(\w+) = async_compile\.triton\(", re.MULTILINE)


class SeedFailure(Exception):
    """The seed cannot be made for this task; the message is one line for the user."""


def _inductor_api() -> tuple[Any, Any]:
    """compile_fx and PyCodeCache, or a SeedFailure naming what this torch lacks."""
    try:
        from torch._inductor.codecache import PyCodeCache
        from torch._inductor.compile_fx import compile_fx
    except ImportError as exc:
        raise SeedFailure(f"this torch ({torch.__version__}) has no Inductor API the seed needs: {exc}") from None
    if not hasattr(PyCodeCache, "load_by_key_path"):
        raise SeedFailure(f"this torch ({torch.__version__}) has no PyCodeCache.load_by_key_path to capture "
                          "Inductor's generated module")
    return compile_fx, PyCodeCache


def _configure(device: str) -> None:
    """Inductor settings for the seed child (this process only)."""
    import torch._inductor.config as icfg

    if hasattr(icfg, "fx_graph_cache"):
        icfg.fx_graph_cache = False  # a cache hit could skip the code path we capture the module from
    if hasattr(icfg, "compile_threads"):
        icfg.compile_threads = 1  # compile in this process: no worker pool in the child
    if device != "cpu":
        return
    # On CPU Inductor writes C++ unless told otherwise; its Triton backend writes the same kinds of kernels
    # as on a GPU, which the Triton interpreter (TRITON_INTERPRET=1, set by the parent) runs.
    if not hasattr(icfg, "cpu_backend"):
        raise SeedFailure(f"this torch ({torch.__version__}) cannot make Inductor write Triton code for a CPU "
                          "(no cpu_backend setting): the Inductor seed needs a GPU here")
    icfg.cpu_backend = "triton"
    import torch.utils._triton as tu

    if hasattr(tu, "triton_hash_with_backend"):
        # Code generation stamps each kernel with a hash of the active Triton backend; a CPU has no Triton
        # driver to ask, and the interpreter never reads the stamp.
        tu.triton_hash_with_backend = lambda: "TRITONWRIGHT-CPU-INTERPRETER"  # type: ignore[assignment]


class _StopAfterCodegen(Exception):
    """Raised once the wrapper is loaded when Inductor's own run is not wanted (CPU: see build())."""


class _Capture:
    """Records every module Inductor loads through PyCodeCache (the wrapper and, on CPU, its kernels)."""

    def __init__(self, code_cache: Any, stop_at_wrapper: bool) -> None:
        self.cache = code_cache
        self.stop_at_wrapper = stop_at_wrapper
        self.original = code_cache.__dict__["load_by_key_path"]
        self.loaded: list[tuple[str, Any]] = []

    def __enter__(self) -> _Capture:
        original = self.original.__func__ if isinstance(self.original, classmethod) else self.original
        outer = self

        def load(cls: Any, key: str, path: str, *args: Any, **kwargs: Any) -> Any:
            module = original(cls, key, path, *args, **kwargs)
            with contextlib.suppress(OSError):  # a module we cannot read back is not the wrapper we look for
                outer.loaded.append((Path(path).read_text(), module))
            if outer.stop_at_wrapper and outer.wrapper() is not None:
                raise _StopAfterCodegen
            return module

        self.cache.load_by_key_path = classmethod(load)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cache.load_by_key_path = self.original

    def wrappers(self) -> list[tuple[str, Any]]:
        """Every wrapper module loaded (one per compiled graph), as (source, module)."""
        return [(t, m) for t, m in self.loaded if "def call(" in t and ("async_compile" in t or "runner" in t)]

    def wrapper(self) -> tuple[str, Any] | None:
        found = self.wrappers()
        return found[-1] if found else None


def _slot(t: torch.Tensor, named: dict[str, tuple[str, torch.Tensor]], inputs: list[loading.Input]
          ) -> Slot | None:
    for i, x in enumerate(inputs):
        if t is x:
            return Slot("input", index=i)
    for name, (kind, p) in named.items():
        if t is p:
            return Slot(kind, name=name)
    # Dynamo may hand over a different Python object for the same storage: match storage, shape, stride.
    def same(a: torch.Tensor, b: torch.Tensor) -> bool:
        return a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride() \
            and a.dtype == b.dtype
    for i, x in enumerate(inputs):
        if isinstance(x, torch.Tensor) and same(t, x):
            return Slot("input", index=i)
    for name, (kind, p) in named.items():
        if same(t, p):
            return Slot(kind, name=name)
    return None


def _configs(module: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    """The launch config of each kernel: the autotuner's pick when it ran, else Inductor's first config."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        k = getattr(module, name, None)
        launchers = list(getattr(k, "launchers", None) or [])
        configs = list(getattr(k, "configs", None) or [])
        cfg, source = None, ""
        if len(launchers) == 1 and getattr(launchers[0], "config", None) is not None:
            cfg, source = launchers[0].config, "Inductor's autotuner pick"
        elif configs:
            cfg, source = configs[0], "Inductor's first config (its autotuner did not run here)"
        if cfg is None:
            continue
        out[name] = {"kwargs": {k2: int(v) for k2, v in dict(getattr(cfg, "kwargs", {})).items()
                                if isinstance(v, int)},
                     "num_warps": getattr(cfg, "num_warps", None), "num_stages": getattr(cfg, "num_stages", None),
                     "source": source}
    return out


def _compile_and_capture(model: torch.nn.Module, inputs: list[loading.Input], max_autotune_gemm: bool,
                         stop_at_wrapper: bool) -> tuple[str, Any, list[torch.Tensor]]:
    compile_fx, code_cache = _inductor_api()
    seen: dict[str, list[torch.Tensor]] = {}

    def backend(gm: Any, example_inputs: list[torch.Tensor]) -> Any:
        seen["inputs"] = list(example_inputs)
        return compile_fx(gm, example_inputs)

    import torch._inductor.config as icfg

    patch = {"max_autotune_gemm": True, "max_autotune_gemm_backends": "TRITON"} if max_autotune_gemm else {}
    patch = {k: v for k, v in patch.items() if hasattr(icfg, k)}
    torch._dynamo.reset()
    try:
        with _Capture(code_cache, stop_at_wrapper) as cap, icfg.patch(patch), torch.no_grad():
            compiled = torch.compile(model, backend=backend, fullgraph=True, dynamic=False)
            compiled(*inputs)  # the caller passes copies: graph inputs are matched against these objects
    except SeedFailure:
        raise
    except Exception as exc:
        if stop_at_wrapper and cap.wrapper() is not None and "inputs" in seen:
            got = cap.wrapper()
            assert got is not None
            return got[0], got[1], seen["inputs"]  # torch.compile fails on some models: that is this task's answer, in one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SeedFailure(f"torch.compile failed on this task ({type(exc).__name__}: {first[:300]})") from None
    got = cap.wrapper()
    if got is None or "inputs" not in seen:
        raise SeedFailure("torch.compile ran but no generated module was captured (this torch's Inductor "
                          f"{torch.__version__} loads its code another way)")
    return got[0], got[1], seen["inputs"]


def first_call_captured(compiled: Any, model: torch.nn.Module, inputs: list[loading.Input], device: str
                        ) -> tuple[Any, dict[str, Any] | None, str]:
    """The first call of `compiled` (torch.compile of `model`, default backend) on `inputs`, keeping the module
    Inductor generates for it: (the call's output, the seed's capture or None, why none).

    For the reference child's compiled baseline: the Inductor seed then converts this module instead of
    compiling the Model a second time in its own child (5-7 s of an H200 optimize: Inductor's imports, tracing,
    code generation). Watching only: Inductor's code cache loads as it would, and compile_fx is wrapped to
    record the graph's inputs, then restored. An error of the call itself propagates (the baseline reports it);
    anything the capture cannot make sense of is None with its reason, and the seed compiles on its own.
    """
    try:
        import torch._inductor.compile_fx as cfx

        _, code_cache = _inductor_api()
        cap = _Capture(code_cache, stop_at_wrapper=False)
    except (ImportError, SeedFailure, KeyError, AttributeError) as exc:
        return compiled(*inputs), None, f"no capture: {exc}"
    graphs: list[list[Any]] = []
    original = cfx.compile_fx

    def recording(gm: Any, example_inputs: Any, *args: Any, **kwargs: Any) -> Any:
        graphs.append(list(example_inputs))  # compile_fx calls itself (config patches): the first is outermost
        return original(gm, example_inputs, *args, **kwargs)

    cfx.compile_fx = recording  # type: ignore[assignment]
    try:
        # Not retried unwatched when it fails: after a failed compile Dynamo may run the frame eagerly, and a
        # "compiled" figure timed on eager code would be a wrong baseline. The error is the baseline's to report.
        with cap:
            out = compiled(*inputs)
    finally:
        cfx.compile_fx = original
    try:
        found = cap.wrappers()
        if len(found) != 1 or not graphs:
            return out, None, (f"no capture: {len(found)} generated modules for {len(graphs)} compile calls "
                               "(graph breaks, or a torch that compiles another way)")
        wrapper, wmod = found[0]
        names = _KERNEL_ASSIGN.findall(wrapper)
        if not names:
            return out, None, "no capture: torch.compile made no Triton kernel here (library calls only)"
        spec = _spec(model, inputs, graphs[0], out, _configs(wmod, names), device)
        return out, {"wrapper": wrapper, "spec": dataclasses.asdict(spec)}, ""
    except Exception as exc:  # the capture is an optimisation: a surprise in it leaves the seed its own compile
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return out, None, f"no capture: {type(exc).__name__}: {first[:200]}"


def _spec(model: torch.nn.Module, inputs: list[loading.Input], graph_inputs: list[torch.Tensor],
          eager_out: Any, configs: dict[str, dict[str, Any]], device: str) -> SeedSpec:
    named: dict[str, tuple[str, torch.Tensor]] = {n: ("param", p) for n, p in model.named_parameters()}
    named.update({n: ("buffer", b) for n, b in model.named_buffers() if b is not None})
    slots = []
    for i, t in enumerate(graph_inputs):
        s = _slot(t, named, inputs) if isinstance(t, torch.Tensor) else None
        if s is None:
            raise SeedFailure(f"graph input {i} of the compiled model is neither a forward input nor a "
                              "parameter/buffer of Model (the seed cannot pass it)")
        slots.append(s)
    tensors = [TensorSpec(n, kind, tuple(t.shape), str(t.dtype).removeprefix("torch."),
                          bool(t.requires_grad) if kind == "param" else False) for n, (kind, t) in named.items()]
    outs = as_output_list(eager_out)
    import triton

    header = (f"made with torch {torch.__version__}, triton {triton.__version__}, device {device}; "
              "sizes are fixed at the task's sizes when the seed was made")
    return SeedSpec(slots=slots, tensors=tensors, n_outputs=len(outs),
                    single_output=isinstance(eager_out, torch.Tensor), configs=configs, header=header,
                    interpreter_libdevice=device == "cpu")


def _check(path: Path, task: Task, model: torch.nn.Module, init: loading.InitArgs,
           inputs: list[loading.Input], eager_out: Any, seed: int, device: str) -> str | None:
    """Run the written ModelNew like the judge would; the reason it fails, or None."""
    try:
        cand = loading.load_candidate_module(str(path), f"tritonwright_inductor_seed_{path.stem}")
        new = loading.construct(cand.ModelNew, init, seed, torch.device(device), f"{path}: ModelNew")
        match = loading.match_weights(new, loading.reference_state(model))
        if match.error():
            return match.error()
        with torch.no_grad():
            out = new(*loading.clone_inputs(inputs))
    except Exception as exc:  # the seed's own code failing is a verdict on the conversion, reported in a line
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"{type(exc).__name__}: {first[:300]}"
    got, ref = as_output_list(out), as_output_list(eager_out)
    if len(got) != len(ref):
        return f"{len(got)} outputs, the Model returns {len(ref)}"
    for i, (o, r) in enumerate(zip(got, ref, strict=True)):
        tol = DEFAULT_TOLERANCES.get(str(r.dtype).removeprefix("torch."), Tolerance(1e-4, 1e-4))
        c = compare_output(o, r, tol, 0, i)
        if not c.ok:
            return c.reason
    del task
    return None


def build(task: Task, seed: int, device: str, workdir: str, captured: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    """Make the seed (in this process: call it in a child). Returns {source, converted, kept, notes, wrapper}.
    `captured`: the module the compiled baseline generated (first_call_captured), converted instead of
    compiling again; when its seed fails, the Model is compiled here after all."""
    torch.backends.cuda.matmul.allow_tf32 = False  # the judge's setting: fp32 matmuls without TF32
    torch.backends.cudnn.allow_tf32 = False
    if device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        raise SeedFailure("on CPU the Inductor seed needs TRITON_INTERPRET=1 in its process")
    dev = torch.device(device)
    module = exec_task_module(task, "tritonwright_inductor_reference")
    init = loading.make_init_args(module, task.path)
    model = loading.construct(module.Model, init, seed, dev, f"{task.path}: Model")
    inputs = loading.make_inputs(module, task.path, seed, dev)
    with torch.no_grad():
        eager_out = model(*loading.clone_inputs(inputs))
    if captured is not None:
        from tritonwright.inductor_seed import spec_from_dict

        note = "made from the module torch.compile generated for the compiled baseline (no second compile)"
        try:
            return _converted(captured["wrapper"], spec_from_dict(captured["spec"]), [note], task, model, init,
                              inputs, eager_out, seed, device, Path(workdir))
        except (SeedFailure, KeyError, TypeError, ValueError, AttributeError) as exc:  # a damaged cache entry too
            failed = f"the seed from the baseline's captured module failed ({exc}); compiled the Model again"
    else:
        failed = ""
    _configure(device)  # Inductor's settings for our own compile (a captured module needed none)
    # On CPU Inductor's own run of its kernels would need libdevice, which the interpreter lacks: the
    # module is captured once loaded (kernels defined, configs known) and only the converted seed runs.
    cpu = device == "cpu"
    call_inputs = loading.clone_inputs(inputs)
    wrapper, wmod, graph_inputs = _compile_and_capture(model, call_inputs, False, stop_at_wrapper=cpu)
    notes: list[str] = [failed] if failed else []
    if not _KERNEL_ASSIGN.search(wrapper) and device != "cpu":
        # Inductor sends plain matmuls to cuBLAS; its Triton matmul templates give a Triton starting point.
        notes.append("torch.compile's default mode made no Triton kernel (library calls only): this seed uses "
                     "its Triton GEMM templates (max_autotune_gemm, TRITON backend)")
        call_inputs = loading.clone_inputs(inputs)
        wrapper, wmod, graph_inputs = _compile_and_capture(model, call_inputs, True, stop_at_wrapper=False)
    names = _KERNEL_ASSIGN.findall(wrapper)
    spec = _spec(model, call_inputs, graph_inputs, eager_out, _configs(wmod, names), device)
    return _converted(wrapper, spec, notes, task, model, init, inputs, eager_out, seed, device, Path(workdir))


def _converted(wrapper: str, spec: SeedSpec, notes: list[str], task: Task, model: torch.nn.Module,
               init: loading.InitArgs, inputs: list[loading.Input], eager_out: Any, seed: int, device: str,
               out_dir: Path) -> dict[str, Any]:
    """Convert the generated module, write it and check it; kernels as Inductor wrote them when converting
    them breaks the check. SeedFailure when neither passes."""
    failures: list[str] = []
    for attempt, convert_kernels in enumerate((True, False)):
        try:
            conv = convert(wrapper, spec, convert_kernels=convert_kernels)
        except ConvertError as exc:
            raise SeedFailure(str(exc)) from None
        if not convert_kernels and not conv.kept:
            break
        path = out_dir / f"inductor_seed_{attempt}.py"
        path.write_text(conv.source)
        problem = _check(path, task, model, init, inputs, eager_out, seed, device)
        if problem is None:
            conv.notes = notes + failures + conv.notes
            return {"source": conv.source, "converted": conv.converted, "kept": [list(k) for k in conv.kept],
                    "externs": sorted(set(conv.externs)), "notes": conv.notes, "summary": conv.summary(),
                    "wrapper": wrapper, "spec": dataclasses.asdict(spec)}
        failures.append(f"the converted seed failed its check ({problem}); kernels kept as Inductor wrote them")
        if not conv.converted:
            break
    raise SeedFailure("the seed made from torch.compile's code does not match the Model: "
                      + (failures[-1] if failures else "no conversion"))
