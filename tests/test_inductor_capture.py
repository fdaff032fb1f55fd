"""The Inductor seed from the compiled baseline's own module: captured while the reference child's torch.compile
compiles, remembered in the worker, converted by the seed's child instead of compiling the Model again.

On a CPU, Inductor's Triton backend (cpu_backend="triton") and Triton's interpreter run the same path for
kernels that need no libdevice; the GPU test measures the real thing through an evaluation's baselines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tritonwright.eval import baseline_cache
from tritonwright.eval import protocol as pr
from tritonwright.eval.types import TimingStats
from tritonwright.inductor_seed import make_seed
from tritonwright.task import load_task

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures" / "inductor"
NOTE = "made from the module torch.compile generated for the compiled baseline (no second compile)"

TASK = """import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(64))

    def forward(self, x):
        return torch.relu(x * self.w) + 1.0


def get_inputs():
    return [torch.randn(8, 64)]


def get_init_inputs():
    return []
"""

SCRIPT = """
import json, sys, tempfile
import torch
from tritonwright.eval import loading
from tritonwright.inductor_seed import capture
from tritonwright.task import exec_task_module, load_task

capture._configure("cpu")
task = load_task(sys.argv[1], {})
module = exec_task_module(task, "reference")
model = loading.construct(module.Model, loading.make_init_args(module, task.path), 42, torch.device("cpu"), "Model")
inputs = loading.make_inputs(module, task.path, 42, torch.device("cpu"))
with torch.no_grad():
    out, captured, note = capture.first_call_captured(torch.compile(model), model, inputs, "cpu")
    right = bool(torch.equal(out, model(*inputs)))

    class Broken(torch.nn.Module):
        def forward(self, x):
            y = x * 2
            torch._dynamo.graph_break()
            return y + 1

    torch._dynamo.reset()
    broken = Broken()
    _, none, why = capture.first_call_captured(torch.compile(broken), broken, [torch.randn(4)], "cpu")

def no_compile(*a, **k):
    raise AssertionError("compiled again")

capture._compile_and_capture = no_compile
built = capture.build(task, 42, "cpu", tempfile.mkdtemp(), captured)
print(json.dumps({"right": right, "note": note, "slots": captured and captured["spec"]["slots"],
                  "none": none, "why": why, "notes": built["notes"], "converted": built["converted"]}))
"""


def test_captured_module_makes_the_seed_without_a_second_compile(tmp_path: Path) -> None:
    task = tmp_path / "task.py"
    task.write_text(TASK)
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(task)], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["right"] and got["note"] == ""  # the call's own output, unchanged by the watching
    assert {s["kind"] for s in got["slots"]} == {"param", "input"}  # the weight and x, matched by identity
    assert got["none"] is None and got["why"].startswith("no capture: 2 generated modules")  # a graph break
    assert NOTE in got["notes"] and got["converted"]


def _softmax_capture() -> tuple[object, dict]:
    data = json.loads((FIX / "softmax.spec.json").read_text())
    task = load_task(ROOT / "examples" / "softmax" / "task.py", data["sizes"])
    return task, {"wrapper": (FIX / "softmax.wrapper.txt").read_text(), "spec": data["spec"]}


@pytest.fixture(autouse=True)
def _own_captures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baseline_cache, "_CAPTURES", {})  # what one test remembers, no other test sees


def test_make_seed_converts_the_remembered_capture(tmp_path: Path) -> None:
    task, captured = _softmax_capture()
    baseline_cache.remember_capture(task.hash, captured)  # what an evaluation's baselines leave in a worker
    seed = make_seed(task, "cpu", workdir=tmp_path)
    assert NOTE in seed.notes and seed.converted


def test_a_capture_whose_seed_fails_falls_back_to_compiling(tmp_path: Path) -> None:
    task, captured = _softmax_capture()
    captured["spec"] = {**captured["spec"], "slots": []}  # the wrapper's input goes unfed: the check fails
    baseline_cache.remember_capture(task.hash, captured)
    seed = make_seed(task, "cpu", workdir=tmp_path)
    assert NOTE not in seed.notes and seed.converted
    assert any(n.startswith("the seed from the baseline's captured module failed") for n in seed.notes)


def test_baseline_reply_carries_the_capture() -> None:
    stats = TimingStats(median_ms=1.0, q1_ms=1.0, q3_ms=1.0, min_ms=1.0, mean_ms=1.0, n=10, method="cuda_events")
    reply = pr.BaselineTimes(eager=stats, compiled=stats, inductor={"wrapper": "def call(args): ...",
                                                                     "spec": {"slots": []}})
    data = json.loads(json.dumps(pr.to_data(reply)))
    assert pr.decode(pr.BaselineTimes, data) == reply
    assert pr.decode(pr.BaselineTimes, {"eager": data["eager"]}).inductor is None  # older replies and caches


@pytest.mark.gpu
def test_baselines_capture_and_the_seed_uses_it(tmp_path: Path) -> None:
    from tritonwright.candidate import read_candidate
    from tritonwright.eval.runner import evaluate
    from tritonwright.eval.types import EvalConfig

    task = load_task(ROOT / "examples" / "softmax" / "task.py", {"batch_size": "64", "dim": "1024"})
    config = EvalConfig(device="cuda", trials=2, cache_dir=str(tmp_path / "cache"))
    assert evaluate(task, read_candidate(ROOT / "examples" / "softmax" / "candidate.py"), config).ok
    assert baseline_cache.capture_for(task.hash) is not None
    seed = make_seed(task, "cuda", workdir=tmp_path / "seed")
    assert NOTE in seed.notes
    result = evaluate(task, seed.candidate, config)
    assert result.ok, result.reason


def test_watching_that_cannot_start_still_makes_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """A torch whose code cache cannot be watched: the baseline's first call happens all the same, unwatched."""
    import torch._inductor.compile_fx as cfx

    from tritonwright.inductor_seed import capture

    monkeypatch.setattr(capture, "_inductor_api", lambda: (None, type("NoLoader", (), {})))
    out, captured, note = capture.first_call_captured(lambda *a: ("ran", a), None, [1, 2], "cpu")  # type: ignore[arg-type]
    assert out == ("ran", (1, 2)) and captured is None and note.startswith("no capture:")

    def fails(*a: object) -> None:
        raise RuntimeError("backend compiler failed")

    original = cfx.compile_fx
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="backend compiler failed"):  # the baseline reports it, as before
        capture.first_call_captured(fails, None, [], "cpu")  # type: ignore[arg-type]
    assert cfx.compile_fx is original  # restored whatever happened


def test_reference_baselines_ask_the_watcher_only_for_the_fp32_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference child's baseline step: with capture_inductor, the compiled model's first call goes through
    the registered watcher and its capture rides back on the reply; not asked, or a policy whose baselines run
    another model (fp16 casts) or TF32, no capture. Timing and torch.compile are stand-ins here (CPU)."""
    from types import SimpleNamespace

    import torch

    from tritonwright.eval import worker
    from tritonwright.eval.precision import Policy

    stats = TimingStats(median_ms=1.0, q1_ms=1.0, q3_ms=1.0, min_ms=1.0, mean_ms=1.0, n=10, method="fake")
    monkeypatch.setattr(worker.timing_mod, "time_cuda", lambda fn, ts, flush: (fn(), stats)[1])
    monkeypatch.setattr(worker.timing_mod, "L2Flusher", lambda device: None)
    monkeypatch.setattr(torch, "compile", lambda model, mode=None: model)
    seen: list[tuple[object, str]] = []

    def watch(compiled: object, model: object, inputs: list, device: str) -> tuple:
        seen.append((model, device))
        return compiled(*inputs), {"wrapper": "def call(args): ...", "spec": {}}, ""  # type: ignore[operator]

    monkeypatch.setattr(worker, "BASELINE_WATCH", [watch])
    model = torch.nn.ReLU()
    ref = SimpleNamespace(timing_inputs=[torch.randn(4)], trial_state={}, policy=Policy.FP32,
                          device=torch.device("cpu"), model=model)
    ref._baseline_model = lambda inputs: worker._Reference._baseline_model(ref, inputs)  # type: ignore[arg-type]
    settings = pr.RunSettings(warmup_ms=1.0, min_runs=3, budget_ms=1.0, max_runs=10, device_sync=False)

    def baselines(capture: bool) -> pr.BaselineTimes:
        return worker._Reference.baselines(ref, pr.Baselines(settings, "default", capture))  # type: ignore[arg-type]

    got = baselines(True)
    assert got.inductor == {"wrapper": "def call(args): ...", "spec": {}} and got.compiled == stats
    assert seen == [(model, "cpu")]
    assert baselines(False).inductor is None and len(seen) == 1
    for policy in (Policy.TF32, Policy.FP16):
        ref.policy = policy
        assert baselines(True).inductor is None and len(seen) == 1
    ref.policy = Policy.FP32
    monkeypatch.setattr(worker, "BASELINE_WATCH", [])
    got = baselines(True)
    assert got.inductor is None and got.inductor_note.startswith("no capture") and got.compiled == stats


def test_children_register_the_capture_plugin() -> None:
    """reference_inductor is named for the children to import, and importing it registers the watcher."""
    import importlib

    from tritonwright.eval import runner, worker
    from tritonwright.inductor_seed.capture import first_call_captured

    assert "tritonwright.reference_inductor" in runner.REFERENCE_PLUGINS
    importlib.reload(importlib.import_module("tritonwright.reference_inductor"))  # registers (again) now
    assert len(worker.BASELINE_WATCH) == 1 and worker.BASELINE_WATCH[0] is first_call_captured


def test_the_runner_asks_for_the_capture_keeps_it_on_disk_and_remembers_it(tmp_path: Path) -> None:
    """fp32 and torch.compile's default mode: the baseline step is asked for the capture, the cache entry keeps
    it, and the worker remembers it, also when the baselines come from the cache (a user's second run)."""
    from tritonwright.eval import runner
    from tritonwright.eval.types import Environment, EvalConfig, EvalResult, Status

    stats = TimingStats(median_ms=1.0, q1_ms=1.0, q3_ms=1.0, min_ms=1.0, mean_ms=1.0, n=10, method="fake")
    capture = {"wrapper": "def call(args): ...", "spec": {"slots": []}}
    asked: list[pr.Baselines] = []

    class Ref:
        def call(self, step: str, timeout_s: float, request: pr.Baselines) -> pr.BaselineTimes:
            asked.append(request)
            return pr.BaselineTimes(eager=stats, compiled=stats, inductor=capture)

    task, _ = _softmax_capture()
    env = Environment(python="3.12", torch="2.11", triton="3.6", platform="linux", device="cuda", gpu="H200")
    for config in (EvalConfig(device="cuda", cache_dir=str(tmp_path / "a")),
                   EvalConfig(device="cuda", cache_dir=str(tmp_path / "b"), compile_mode="max-autotune")):
        runner._baselines(Ref(), task, config, [EvalResult(Status.OK, env=env)])  # type: ignore[arg-type]
    assert [r.capture_inductor for r in asked] == [True, False]  # the seed is made from the default mode's code
    assert baseline_cache.capture_for(task.hash) == capture
    baseline_cache._CAPTURES.clear()  # a new process: its baselines from the cache entry
    runner._baselines(Ref(), task, EvalConfig(device="cuda", cache_dir=str(tmp_path / "a")),
                      [EvalResult(Status.OK, env=env)])  # type: ignore[arg-type]
    assert len(asked) == 2 and baseline_cache.capture_for(task.hash) == capture


@pytest.mark.parametrize("damaged", [{"wrapper": "not python ((", "spec": {}}, {"spec": []}, {"wrapper": 3, "spec": "x"}])
def test_a_damaged_capture_from_the_cache_falls_back_to_compiling(tmp_path: Path, damaged: dict) -> None:
    """A cache entry is a file a user (or a killed run) may have damaged: the seed is made the usual way."""
    task, _ = _softmax_capture()
    baseline_cache.remember_capture(task.hash, damaged)
    seed = make_seed(task, "cpu", workdir=tmp_path)
    assert seed.converted and any(n.startswith("the seed from the baseline's captured module failed")
                                  for n in seed.notes)
