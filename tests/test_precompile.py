"""The screen's precompile passes, on a launcher that keeps Triton's JITFunction contract: run(*args, grid,
warmup, **kw), asking Triton's jit_cache_hook before it compiles, compiling through an active async mode.

- threads (eval.hooks.precompile_mode, worker._Candidate.precompile);
- compiler processes: the candidate child records what each label would compile (hooks.collecting,
  worker._Candidate.collect), compiler children compile it (worker.compile_kernels, runner._compile_in_processes).
"""

from __future__ import annotations

import inspect
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
from triton.runtime._async_compile import AsyncCompileMode

from tritonwright.eval import hooks, worker
from tritonwright.eval import protocol as pr


class FakeJIT:
    """Compiles (in `compile_fn`) on a cache miss, through Triton's async mode when one is active, and launches
    the compiled kernel unless warmup is asked."""

    def __init__(self, name: str, fail: bool = False, module: str = "tritonwright_candidate_a",
                 source: str = "") -> None:
        self.fn = SimpleNamespace(__name__=name, __module__=module, __qualname__=name)
        self.cache_key = source or f"source of {name}"  # JITFunction: a hash of the kernel's source
        self.fail, self.cache, self.launched, self.compiled_on = fail, {}, 0, []

    def compile_fn(self) -> str:
        self.compiled_on.append(threading.current_thread().name)
        if self.fail:
            raise ValueError(f"{self.fn.__name__} does not compile")
        return f"binary of {self.fn.__name__}"

    def run(self, *args: Any, grid: Any, warmup: bool, **kwargs: Any) -> Any:
        from triton import knobs
        from triton.runtime import _async_compile

        kernel = self.cache.get("key")
        if kernel is None:
            # As JITFunction._do_compile: Triton's jit_cache_hook first; a true answer means compile nothing.
            hook = knobs.runtime.jit_cache_hook
            spec = json.dumps({"name": f"{self.fn.__module__}.{self.fn.__name__}", "key": str(kwargs)})
            info = SimpleNamespace(module=self.fn.__module__, name=self.fn.__qualname__, jit_function=self)
            if hook and hook(key=("key", str(kwargs)), repr=self.fn.__name__, fn=info,
                             compile={"key": "key", "specialization_data": spec}, is_manual_warmup=warmup,
                             already_compiled=False):
                return None
            mode = _async_compile.active_mode.get()
            if mode is None:
                kernel = self.compile_fn()
            else:
                def finalize(k: Any) -> None:
                    self.cache["key"] = k

                def cleanup(fk: Any) -> None:
                    if self.cache.get("key") is fk:
                        del self.cache["key"]

                extra = (cleanup,) if "cleanup_fn" in inspect.signature(AsyncCompileMode.submit).parameters else ()
                kernel = mode.submit(("key", id(self)), self.compile_fn, finalize, *extra)  # 3.6: no cleanup
            self.cache["key"] = kernel
        if not warmup:
            if not isinstance(kernel, str):
                kernel = kernel.result()  # a launch waits for its compile, as Triton's FutureKernel does
            self.launched += 1
        return kernel

    def __getitem__(self, grid: Any) -> Any:
        return lambda *args, **kwargs: self.run(*args, grid=grid, warmup=False, **kwargs)


hooks._wrap_run(FakeJIT, precompilable=True)


class Forward:
    """A model's forward: its kernels launched in order; with a fallback that switches the model off on any
    Exception (an LLM's habit), which the precompile pass must not trigger."""

    def __init__(self, *kernels: FakeJIT) -> None:
        self.kernels, self.gave_up = kernels, False

    def __call__(self, *inputs: Any) -> None:
        if self.gave_up:
            raise RuntimeError("gave up")
        try:
            for k in self.kernels:
                k[(1,)](*inputs)
        except Exception:
            self.gave_up = True
            raise


def _precompile(models: dict[str, Forward], threads: int = 2) -> pr.Precompiled:
    cand = SimpleNamespace(timing_inputs=[1.0], models=models, device=SimpleNamespace(type="cpu"))
    result: pr.Precompiled = worker._Candidate.precompile(cand, pr.Precompile(list(models), threads))
    return result


def test_a_forward_stops_at_its_first_kernel_to_compile_and_compiles_it_on_a_thread() -> None:
    shared, tuned_a, tuned_b = FakeJIT("shared"), FakeJIT("tuned_a"), FakeJIT("tuned_b")
    shared.cache["key"] = "binary of shared"  # compiled already (an earlier config used it)
    tail = FakeJIT("tail")
    a, b = Forward(shared, tuned_a, tail), Forward(shared, tuned_b, tail)
    got = _precompile({"a": a, "b": b})
    assert (got.compiled, got.failed) == (2, 0)
    assert shared.launched == 2  # compiled kernels before the new one run for real
    assert tuned_a.launched == tuned_b.launched == tail.launched == 0  # the forward stopped at the compile
    assert tuned_a.cache["key"] == "binary of tuned_a" and tuned_b.cache["key"] == "binary of tuned_b"
    assert all(n.startswith("tw-compile") for n in tuned_a.compiled_on + tuned_b.compiled_on)
    assert not a.gave_up and not b.gave_up  # the stop is no Exception: the fallback did not switch them off
    assert not hooks.LOG.precompiling
    a()  # the timed call finds its kernel compiled: launched, not compiled again
    assert len(tuned_a.compiled_on) == 1 and tuned_a.launched == 1


def test_a_failed_compile_is_left_to_the_timed_call_which_reports_it() -> None:
    bad = FakeJIT("bad", fail=True)
    good = FakeJIT("good")
    model = Forward(bad)
    got = _precompile({"bad": model, "good": Forward(good)})
    assert (got.compiled, got.failed) == (1, 1)
    assert not model.gave_up  # the model still whole
    with pytest.raises(ValueError, match="does not compile"):
        model()  # the call meets the error (3.9 compiles again; 3.6 keeps the failed future), as its own


def test_a_forward_that_raises_before_any_launch_is_left_to_its_timed_call() -> None:
    def broken(*inputs: Any) -> None:
        raise KeyError("no such weight")

    k = FakeJIT("k")
    got = _precompile({"broken": broken, "ok": Forward(k)})  # type: ignore[dict-item]
    assert (got.compiled, got.failed) == (1, 0) and k.cache["key"] == "binary of k"


def test_outside_a_pass_launches_compile_inline_as_before() -> None:
    k = FakeJIT("k")
    with ThreadPoolExecutor(1) as pool, hooks.precompile_mode(pool):
        Forward(k)()  # the mode alone (no pass running) does not stop a forward
    assert k.launched == 1


def _collect(models: dict[str, Any]) -> pr.KernelsCollected:
    cand = SimpleNamespace(timing_inputs=[1.0], models=models, device=SimpleNamespace(type="cpu"))
    result: pr.KernelsCollected = worker._Candidate.collect(cand, pr.CollectKernels(list(models)))
    return result


def test_collection_records_each_labels_kernels_and_launches_nothing() -> None:
    from triton import knobs

    shared_a = FakeJIT("shared", module="tritonwright_candidate_a", source="same")
    shared_b = FakeJIT("shared", module="tritonwright_candidate_b", source="same")  # another label's copy
    tuned_a = FakeJIT("tuned", module="tritonwright_candidate_a", source="tuned a")
    tuned_b = FakeJIT("tuned", module="tritonwright_candidate_b", source="tuned b")
    library = FakeJIT("lib", module="some_library")  # not a candidate module: compiled at its timed call
    compiled = FakeJIT("done", module="tritonwright_candidate_a")
    compiled.cache["key"] = "binary of done"  # compiled already: still not launched
    got = _collect({"a": Forward(shared_a, tuned_a, library, compiled), "b": Forward(shared_b, tuned_b)})
    assert [(j.module, j.qualname) for j in got.jobs] == [
        ("tritonwright_candidate_a", "shared"), ("tritonwright_candidate_a", "tuned"),
        ("tritonwright_candidate_b", "tuned")]  # b's copy of the shared kernel is the same compile: once
    assert json.loads(got.jobs[1].specialization)["name"] == "tritonwright_candidate_a.tuned"
    assert got.uncollected == 1
    assert all(k.launched == 0 and not k.compiled_on for k in (shared_a, shared_b, tuned_a, tuned_b, library))
    assert compiled.launched == 0
    assert knobs.runtime.jit_cache_hook is None and hooks.LOG.collecting is None  # the pass leaves nothing on
    Forward(tuned_a)()  # outside the pass: compiled and launched as before
    assert tuned_a.launched == 1 and len(tuned_a.compiled_on) == 1


def test_collection_leaves_a_raising_forward_to_its_timed_call() -> None:
    def broken(*inputs: Any) -> None:
        raise KeyError("no such weight")

    k = FakeJIT("k", module="tritonwright_candidate_ok")
    got = _collect({"broken": broken, "ok": Forward(k)})
    assert [j.qualname for j in got.jobs] == ["k"] and hooks.LOG.collecting is None


_COMPILER_MODULE = """
from pathlib import Path


class Kernel:
    def __init__(self, name):
        self.name = name

    def preload(self, spec):
        if "bad" in spec:
            raise RuntimeError("ptxas error")
        Path(MARKS, self.name + ".compiled").write_text(spec)


class Wrapper:  # as @triton.autotune around a kernel: the kernel is its .fn
    def __init__(self, fn):
        self.fn = fn


scale = Kernel("scale")
tuned = Wrapper(Kernel("tuned"))
"""


def _compiler_module(tmp_path: Any, label: str) -> tuple[str, str]:
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    path = tmp_path / f"{label}.py"
    path.write_text(f"MARKS = {str(marks)!r}\n" + _COMPILER_MODULE)
    return f"tritonwright_candidate_{label}", str(path)


def test_a_compiler_compiles_each_job_and_counts_the_ones_that_fail(tmp_path: Any) -> None:
    module, path = _compiler_module(tmp_path, "cx")
    jobs = [pr.KernelJob(module, "scale", "{}"), pr.KernelJob(module, "tuned", '{"n": 1}'),
            pr.KernelJob(module, "scale", '"bad"'), pr.KernelJob(module, "missing", "{}")]
    got = worker.compile_kernels(pr.CompileKernels(jobs, {module: path}))
    assert (got.compiled, got.failed) == (2, 2) and got.error == "scale: RuntimeError: ptxas error"
    assert sorted(p.name for p in (tmp_path / "marks").iterdir()) == ["scale.compiled", "tuned.compiled"]


def test_the_screen_shares_collected_jobs_out_to_compiler_processes(tmp_path: Any) -> None:
    """runner._compile_in_processes with real compiler children (on CPU their Triton driver is absent, which
    they survive) and a candidate child that answers the collection with jobs of two labels: each label's jobs
    go to one child, the other two children stay idle."""
    from tritonwright.eval import runner
    from tritonwright.eval.types import EvalConfig

    (m1, p1), (m2, p2) = _compiler_module(tmp_path, "c1"), _compiler_module(tmp_path, "c2")
    jobs = [pr.KernelJob(m1, "scale", "{}"), pr.KernelJob(m2, "tuned", "{}"), pr.KernelJob(m2, "scale", '"bad"')]

    class Candidate:
        asked: list[str] = []

        def call(self, step: str, timeout_s: float, req: Any) -> Any:
            self.asked.append(req.KIND)
            return pr.KernelsCollected(jobs, uncollected=1, seconds=0.0)

    cand = Candidate()
    helpers = runner.start_compilers(tmp_path, 4)  # one more than there are jobs for: it stays idle
    try:
        got = runner._compile_in_processes(cand, {"c1": p1, "c2": p2}, helpers,  # type: ignore[arg-type]
                                           EvalConfig(correctness_timeout_s=120))
        assert all(h.proc.is_alive() for h in helpers)  # kept for the session's next screen
    finally:
        runner._shutdown(helpers)
    assert cand.asked == ["collect"]
    assert got is not None and (got.compiled, got.failed) == (2, 1)  # the bad compile failed
    marks = tmp_path / "marks"
    assert {p.name for p in marks.iterdir()} == {"scale.compiled", "tuned.compiled"}
    assert not any(tmp_path.glob("compiler-*-home/*"))  # the children worked in their own empty folders


_SLOW_MODULE = """
import os
import time
from pathlib import Path


class Kernel:
    def preload(self, spec):
        if spec == "slow":
            SPECIAL  # what the test's special label does: sleep, exit
        Path(MARKS, LABEL + ".pid").write_text(str(os.getpid()))


kernel = Kernel()
"""


def _queue_run(tmp_path: Any, n: int, special: int, on_special: str) -> tuple[Any, dict[str, str]]:
    """`n` one-kernel labels compiled by two real compiler children through runner._compile_in_processes;
    label `special`'s compile does `on_special` (sleeps, exits). Returns the pass's Precompiled and, per label
    compiled, the pid of the child that compiled it."""
    from tritonwright.eval import runner
    from tritonwright.eval.types import EvalConfig

    marks = tmp_path / "marks"
    marks.mkdir()
    paths, jobs = {}, []
    body = _SLOW_MODULE.replace("SPECIAL", on_special)
    for k in range(n):
        label = f"q{k}"
        path = tmp_path / f"{label}.py"
        path.write_text(f"MARKS = {str(marks)!r}\nLABEL = {label!r}\n" + body)
        paths[label] = str(path)
        jobs.append(pr.KernelJob(runner.label_module(label), "kernel", "slow" if k == special else "fast"))

    class Candidate:
        def call(self, step: str, timeout_s: float, req: Any) -> Any:
            return pr.KernelsCollected(jobs, uncollected=0, seconds=0.0)

    helpers = runner.start_compilers(tmp_path, 2)
    try:
        got = runner._compile_in_processes(Candidate(), paths, helpers,  # type: ignore[arg-type]
                                           EvalConfig(correctness_timeout_s=120))
    finally:
        runner._shutdown(helpers)
    return got, {p.stem: p.read_text() for p in marks.iterdir()}


def test_compile_jobs_go_to_whichever_compiler_is_free(tmp_path: Any) -> None:
    """The jobs are a queue, not a split made up front: while one child compiles a slow config, the other
    compiles every other one (split round robin, it would have had the slow one and two more)."""
    got, pid = _queue_run(tmp_path, 5, 0, "time.sleep(5.0)")
    assert got is not None and (got.compiled, got.failed) == (5, 0) and got.how.startswith("2 compiler processes")
    assert len(pid) == 5 and {pid[f"q{k}"] for k in range(1, 5)} == {pid["q1"]} != {pid["q0"]}


def test_a_compiler_that_dies_costs_only_its_part_and_the_queue_goes_on(tmp_path: Any) -> None:
    """A child that exits mid-job (a crashing compile) counts its label's jobs as failed; the other child
    compiles the rest (split round robin, the dead child's second label was lost with it)."""
    got, pid = _queue_run(tmp_path, 4, 1, "os._exit(3)")
    assert got is not None and (got.compiled, got.failed) == (3, 1)
    assert "exited with code 3" in got.error
    assert sorted(pid) == ["q0", "q2", "q3"]


def test_the_screen_falls_back_when_nothing_was_collected(tmp_path: Any) -> None:
    from tritonwright.eval import runner
    from tritonwright.eval.types import EvalConfig

    class Candidate:
        def call(self, step: str, timeout_s: float, req: Any) -> Any:
            return pr.KernelsCollected([], uncollected=3, seconds=0.0)

    class Helper:  # never asked: nothing to compile
        pass

    got = runner._compile_in_processes(Candidate(), {"c1": "x.py", "c2": "y.py"}, [Helper()],  # type: ignore[list-item]
                                       EvalConfig())
    assert got is None


def test_without_a_compiler_process_the_screen_compiles_on_threads_instead() -> None:
    """No compiler child could be started: nothing is collected and the threads' pass takes over (the jobs are
    not counted as failed)."""
    from tritonwright.eval import runner
    from tritonwright.eval.types import EvalConfig

    class Candidate:
        def call(self, step: str, timeout_s: float, req: Any) -> Any:
            raise AssertionError("nothing should be collected without a compiler to give it to")

    assert runner._compile_in_processes(Candidate(), {"c1": "x.py", "c2": "y.py"}, [],  # type: ignore[arg-type]
                                        EvalConfig()) is None


def test_collection_records_every_autotune_config_and_benchmarks_none() -> None:
    import triton

    def kernel_fn(x: Any, B: Any) -> None:  # stands for the kernel's Python function
        ...

    kernel_fn.__module__ = "tritonwright_candidate_at"
    k = FakeJIT("kernel_fn", module="tritonwright_candidate_at")
    k.fn = kernel_fn  # type: ignore[assignment]  # the autotuner finds the function under .fn, as with a JIT
    k.arg_names = ["x", "B"]  # type: ignore[attr-defined]
    tuner = triton.autotune(configs=[triton.Config({"B": 1}, num_warps=2), triton.Config({"B": 2}, num_warps=4)],
                            key=[])(k)
    hooks._wrap_autotuner()
    got = _collect({"at": lambda x: tuner[(1,)](x)})
    assert len(got.jobs) == 2 and k.launched == 0  # both configs' compiles recorded, nothing timed or launched
    assert all("'B': 1" in a.specialization and "'B': 2" in b.specialization for a, b in [got.jobs])
    assert not getattr(tuner, "cache", {})  # no pick cached from a benchmark of nothing
