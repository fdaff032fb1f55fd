"""The screen's precompile pass (eval.hooks.precompile_mode, worker._Candidate.precompile), on a launcher that
keeps Triton's JITFunction contract: run(*args, grid, warmup, **kw), compiling through an active async mode."""

from __future__ import annotations

import inspect
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

    def __init__(self, name: str, fail: bool = False) -> None:
        self.fn = SimpleNamespace(__name__=name)
        self.fail, self.cache, self.launched, self.compiled_on = fail, {}, 0, []

    def compile_fn(self) -> str:
        self.compiled_on.append(threading.current_thread().name)
        if self.fail:
            raise ValueError(f"{self.fn.__name__} does not compile")
        return f"binary of {self.fn.__name__}"

    def run(self, *args: Any, grid: Any, warmup: bool, **kwargs: Any) -> Any:
        from triton.runtime import _async_compile

        kernel = self.cache.get("key")
        if kernel is None:
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
