"""The speed-of-light floor in the package: traffic of small known tasks, floors with fake ceilings, the
per-GPU ceilings cache, and the optimizer's stop at the floor (fake evaluator, profiler, tuner and floor)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes import FakeEvaluator, FakeFloor, FakeProfiler, FakeTuner
from tritonwright import ceilings
from tritonwright.candidate import Candidate
from tritonwright.eval.types import EvalResult, Status, TimingStats
from tritonwright.floor import (
    NO_GPU_REASON,
    Ceilings,
    Floor,
    FloorInfo,
    Traffic,
    at_floor,
    below_floor,
    floor_of,
    measure_floor,
    task_traffic,
)
from tritonwright.gpus.spec import get_gpu
from tritonwright.pipeline.optimize import OptimizeConfig as Cfg
from tritonwright.pipeline.optimize import TaskOptimizer
from tritonwright.pipeline.seams import NoFloor, Profile
from tritonwright.report import write_task_report
from tritonwright.report.batch import write_batch_report
from tritonwright.store import RunStore
from tritonwright.task import load_task

LINEAR_TASK = '''
import torch
import torch.nn as nn

batch, d_in, d_out = 8, 32, 16


class Model(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)

    def forward(self, x):
        return torch.relu(self.fc(x))


def get_inputs():
    return [torch.randn(batch, d_in)]


def get_init_inputs():
    return [d_in, d_out]
'''


def _task(tmp_path: Path, text: str = LINEAR_TASK, overrides: dict[str, str] | None = None):
    p = tmp_path / "task.py"
    p.write_text(textwrap.dedent(text))
    return load_task(p, overrides)


# --- traffic and floors -------------------------------------------------------------------------------------


def test_traffic_of_a_small_linear_task_counts_bytes_and_flops(tmp_path):
    t = task_traffic(_task(tmp_path))
    # reads: input 8x32, weight 16x32, bias 16 (fp32); writes: output 8x16.
    assert t.bytes_read == 4 * (8 * 32 + 16 * 32 + 16) and t.bytes_written == 4 * 8 * 16
    assert t.flops == 2 * 8 * 32 * 16 and t.compute_dtype == "float32"


def test_tuple_unpacked_sizes_reach_the_traffic(tmp_path):
    t = task_traffic(_task(tmp_path, overrides={"batch": "4", "d_out": "8"}))
    assert t.bytes_written == 4 * 4 * 8 and t.flops == 2 * 4 * 32 * 8


def test_floor_with_fake_ceilings_takes_the_longer_bound(tmp_path):
    t = task_traffic(_task(tmp_path))
    memory_only = floor_of(t, Ceilings(copy_bytes_per_s=t.bytes_moved * 1e3))  # exactly 1 ms of copying
    assert memory_only.limit == "memory" and memory_only.ms == pytest.approx(1.0)
    slow_math = floor_of(t, Ceilings(copy_bytes_per_s=t.bytes_moved * 1e3, matmul_flops_per_s={"float32": t.flops}))
    assert slow_math.limit == "compute" and slow_math.ms == pytest.approx(1e3)  # FLOPs at 1 s worth of rate


def test_at_floor_threshold_and_off_switch():
    f = Floor(2.0, 2.0, None, "memory")
    assert at_floor(2.09, f, 0.05) and at_floor(1.9, f, 0.05)  # a little under the floor counts as at it
    assert not at_floor(1.7, f, 0.05) and below_floor(1.7, f)  # clearly under it: the floor is wrong there
    assert not below_floor(1.9, f) and not below_floor(None, f)
    assert not at_floor(2.11, f, 0.05)
    assert not at_floor(2.0, f, 0.0)  # 0 turns the stop off
    assert not at_floor(None, f, 0.05) and not at_floor(2.0, None, 0.05)


def test_floor_info_round_trips_through_json():
    t = Traffic(reads=(), writes=(), flops=10)
    info = FloorInfo(True, "", Floor(1.0, 1.0, None, "memory"), t, Ceilings(4e12, {"float16": 7e14}), True, "H200")
    assert FloorInfo.from_dict(info.to_dict()) == info


def test_no_floor_without_a_gpu(tmp_path):
    info = measure_floor(_task(tmp_path), "cpu")
    assert not info.available and info.reason == NO_GPU_REASON and info.floor is None


# --- the ceilings cache -------------------------------------------------------------------------------------


def test_ceilings_are_measured_once_per_gpu_and_versions(tmp_path, monkeypatch):
    measured: list[int] = []

    def fake_measure(dtypes=ceilings.RATE_DTYPES):
        measured.append(1)
        return {"copy": {"median": 4e12, "best": 4.1e12, "reps": 20, "size": "fake"},
                "matmul": {d: {"median": 1e14, "best": 1e14, "reps": 10, "size": "fake"} for d in dtypes}}

    monkeypatch.setattr(ceilings, "measure", fake_measure)
    first, cached1 = ceilings.cached_or_measured("H200|580|13.0|2.11|3.6|cuda", str(tmp_path))
    again, cached2 = ceilings.cached_or_measured("H200|580|13.0|2.11|3.6|cuda", str(tmp_path))
    other, cached3 = ceilings.cached_or_measured("B200|580|13.0|2.11|3.6|cuda", str(tmp_path))
    assert (cached1, cached2, cached3) == (False, True, False) and len(measured) == 2
    assert first == again and Ceilings.from_measured(first).copy_bytes_per_s == 4e12
    assert (tmp_path / "ceilings").is_dir() and not (tmp_path / "baselines").exists()


def test_copy_size_fits_free_memory():
    assert ceilings.copy_size(100 << 30) == ceilings.COPY_BYTES
    assert ceilings.copy_size(3 << 30) == 1 << 30


@pytest.mark.gpu
def test_floor_of_a_task_on_the_gpu(tmp_path):
    """GPU: ceilings measured in a child process, cached on disk, and the floor of a small task."""
    task = _task(tmp_path)
    info = measure_floor(task, "cuda", cache_dir=str(tmp_path / "cache"))
    assert info.available, info.reason
    assert info.ceilings is not None and 1e11 < info.ceilings.copy_bytes_per_s < 2e13
    assert 1e12 < info.ceilings.matmul_flops_per_s["float16"] < 5e15
    assert info.ceilings_cached is False and info.floor is not None and info.floor.ms > 0
    again = measure_floor(task, "cuda", cache_dir=str(tmp_path / "cache"))
    assert again.ceilings_cached is True and again.floor == info.floor


@pytest.mark.gpu
def test_an_evaluation_brings_the_same_floor_from_its_reference_process(tmp_path):
    """GPU: EvalConfig.floor computes the floor where the reference already runs (no process of its own), with
    the ceilings the floor's child cached; asked once per task in this process."""
    from tritonwright.candidate import read_candidate
    from tritonwright.eval import runner
    from tritonwright.eval.types import EvalConfig

    examples = Path(__file__).parent.parent / "examples"
    task = load_task(examples / "elu" / "task.py", {"batch_size": "64"})
    cache = str(tmp_path / "cache")
    child = measure_floor(task, "cuda", cache_dir=cache)
    cand = read_candidate(examples / "elu" / "candidate.py")
    config = EvalConfig(device="cuda", floor=True, cache_dir=cache, trials=1)
    result = runner.evaluate(task, cand, config)
    assert result.ok and result.floor is not None, result.reason
    info = FloorInfo.from_dict(result.floor)
    assert info.available and info.ceilings_cached is True and info.floor == child.floor, info.reason
    assert "floor" in result.step_seconds
    again = runner.evaluate(task, cand, config)
    assert again.floor == result.floor and "floor" not in again.step_seconds  # known: not asked again


# --- the optimizer stops at the floor -----------------------------------------------------------------------

SEED = "class ModelNew:  # seed\n    pass\n"


def _timed(ms: float) -> EvalResult:
    return EvalResult(Status.OK, timing=TimingStats(ms, ms, ms, ms, ms, 100, "cuda_events"), wall_s=1.0)


def _run(tmp_path, seed_ms, floor_ms, tuner_calls, faster_ms=None, floor_stop=0.05, store=None, run_id=None):
    """The fakes (tests/fakes.py): every evaluation at `seed_ms`, a memory-bound floor at `floor_ms` (2 s to
    find), a tuner that keeps a `# tuned` copy at `faster_ms` (else reverts); `tuner_calls` gets its stages."""
    store = store or RunStore(tmp_path / "runs")
    if run_id is None:
        run_id = store.create_run("optimize", {})
        store.start_task(run_id, "t", "task.py", "h", 1, "single")
    profiler, probe = FakeProfiler(), FakeFloor(floor_ms)
    opt = TaskOptimizer(key="t", task=None, store=store, run_id=run_id,  # type: ignore[arg-type]
                        config=Cfg(timed=True, floor_stop=floor_stop),
                        evaluator=FakeEvaluator(lambda c: _timed(seed_ms)), comparer=None, profiler=profiler,
                        llm=None, gpu=get_gpu("H100 SXM"), kind="single",
                        tuner=FakeTuner(faster_ms, tuner_calls), floor=probe)
    outcome = opt.run(Candidate(source=SEED))
    return outcome, store, run_id, profiler, probe, opt


def test_a_seed_at_the_floor_skips_every_stage_and_the_tuner(tmp_path):
    calls: list[str] = []
    outcome, store, run_id, profiler, probe, opt = _run(tmp_path, seed_ms=3.02, floor_ms=3.01, tuner_calls=calls)
    assert outcome.status == "done" and calls == [] and profiler.stages == [] and probe.calls == 1
    steps = {a.step_key: a for a in store.attempts(run_id, "t")}
    for stage in ("block_tiling", "memory_access", "advanced_memory"):
        row = steps[f"stage:{stage}:skip"]
        assert row.decision == "SKIP" and row.origin == "floor"
        assert row.decision_reason.startswith("at the floor: 3.02 ms vs floor 3.01 ms (1.00x, memory bound")
        assert "nothing left to gain" in row.decision_reason
    assert steps["final"].decision == "KEEP"
    task = store.task(run_id, "t")
    assert task["floor"]["available"] and task["floor"]["floor"]["ms"] == 3.01 and task["floor"]["threshold"] == 0.05
    assert task["best"]["vs_floor"] == pytest.approx(3.02 / 3.01)
    assert opt.device_s == pytest.approx(1.0 + 2.0 + 1.0)  # seed, floor, final: nothing else on the GPU


def test_a_seed_far_from_the_floor_runs_the_tuner(tmp_path):
    calls: list[str] = []
    _, store, run_id, profiler, _, _ = _run(tmp_path, seed_ms=3.5, floor_ms=3.01, tuner_calls=calls)
    assert calls == ["launch"] and len(profiler.stages) == 1  # no LLM: one launch search, one profile
    assert not [a for a in store.attempts(run_id, "t") if a.origin == "floor"]
    assert store.task(run_id, "t")["best"]["vs_floor"] == pytest.approx(3.5 / 3.01)


def test_a_kept_change_that_reaches_the_floor_stops_the_rest(tmp_path):
    calls: list[str] = []
    _, store, run_id, _, _, _ = _run(tmp_path, seed_ms=3.5, floor_ms=3.01, tuner_calls=calls, faster_ms=3.05)
    assert calls == ["launch"]  # its KEEP reached 1.01x the floor
    steps = {a.step_key: a for a in store.attempts(run_id, "t")}
    assert steps["stage:block_tiling:tune"].decision == "KEEP"
    assert steps["stage:memory_access:skip"].origin == "floor"
    assert "3.05 ms vs floor 3.01 ms" in steps["stage:advanced_memory:skip"].decision_reason


def test_zero_turns_the_stop_off_and_no_floor_stops_nothing(tmp_path):
    calls: list[str] = []
    _run(tmp_path / "a", seed_ms=3.02, floor_ms=3.01, tuner_calls=calls, floor_stop=0.0)
    assert calls == ["launch"]
    calls.clear()
    _, store, run_id, _, _, _ = _run(tmp_path / "b", seed_ms=3.02, floor_ms=None, tuner_calls=calls)
    assert calls == ["launch"]
    rec = store.task(run_id, "t")["floor"]
    assert rec["available"] is False and rec["reason"] == "fake: nothing measured"
    assert "vs_floor" not in store.task(run_id, "t")["best"]


def test_cpu_run_records_why_there_is_no_floor(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "t", "task.py", "h", 1, "single")
    tuner = FakeTuner()
    opt = TaskOptimizer(key="t", task=None, store=store, run_id=run_id,  # type: ignore[arg-type]
                        config=Cfg(timed=False), evaluator=FakeEvaluator(lambda c: _timed(1.0)), comparer=None,
                        profiler=FakeProfiler(), llm=None, gpu=get_gpu("H100 SXM"), kind="single",
                        tuner=tuner, floor=NoFloor(NO_GPU_REASON))
    opt.run(Candidate(source=SEED))
    assert tuner.stages == ["launch"] and store.task(run_id, "t")["floor"]["reason"] == NO_GPU_REASON


def test_resume_replays_the_floor_stop(tmp_path):
    calls: list[str] = []
    _, store, run_id, _, _, _ = _run(tmp_path, seed_ms=3.5, floor_ms=3.01, tuner_calls=calls, faster_ms=3.05)
    before = [(a.step_key, a.decision) for a in store.attempts(run_id, "t")]
    calls.clear()
    outcome, _, _, profiler, probe, _ = _run(tmp_path, seed_ms=99.0, floor_ms=99.0, tuner_calls=calls,
                                             store=store, run_id=run_id)
    assert calls == [] and profiler.stages == [] and probe.calls == 0  # the recorded floor is read back
    assert [(a.step_key, a.decision) for a in store.attempts(run_id, "t")] == before
    assert "# tuned" in outcome.best.source


def test_reports_show_the_fraction_of_the_floor(tmp_path):
    calls: list[str] = []
    _, store, run_id, _, _, _ = _run(tmp_path, seed_ms=3.02, floor_ms=3.01, tuner_calls=calls)
    store.finish_task(run_id, "t", "done")
    bundle = store.bundle(run_id)
    assert bundle["tasks"][0]["floor"]["floor"]["ms"] == 3.01
    files = write_task_report(bundle, "t", tmp_path / "report")
    md = next(f for f in files if f.suffix == ".md").read_text()
    assert "Speed-of-light floor: 3.01 ms (memory bound); best at 1.00x the floor, stages stopped there" in md
    html = next(f for f in files if f.suffix == ".html").read_text()
    assert "vs speed-of-light floor" in html and "stages stopped at the floor" in html
    write_batch_report(bundle, tmp_path / "batch", with_tasks=False)
    batch = (tmp_path / "batch" / "batch.md").read_text()
    assert "| vs floor |" in batch and "1.00x (stopped)" in batch


# --- the setting and its option -----------------------------------------------------------------------------


def test_floor_stop_setting_is_recorded_with_the_run_and_offered_by_both_commands():
    from typer.testing import CliRunner

    from tritonwright.cli import app
    from tritonwright.pipeline.cli import _settings
    from tritonwright.pipeline.runner import RunSettings

    s = _settings("cpu", None, None, None, None, "compact", 1, 0.02, None, True, False, floor_stop=0.1)
    assert s.optimize.floor_stop == 0.1 and RunSettings.from_dict(s.to_dict()).optimize.floor_stop == 0.1
    assert Cfg().floor_stop == 0.05
    old = s.to_dict()
    del old["optimize"]["floor_stop"]  # a run recorded before the setting existed resumes with the default
    assert RunSettings.from_dict(old).optimize.floor_stop == 0.05
    for command in ("optimize", "batch"):
        out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}).output
        assert "--floor-stop" in out


@pytest.mark.gpu
def test_the_seed_elu_stops_at_its_floor_exactly_when_within_5_percent_of_it(tmp_path):
    """GPU, KernelBench size: the seed ELU sits near its copy floor (1.03x on the H200 of 2026-11-22, 1.06x on
    the one of 2026-12-04: the candidate syncs the host on every call). Within the 5% stop only the final check
    runs after the seed (no profile, no tuner, under 60 s of GPU); over it the stages run. The floor comes with
    the seed's evaluation, ceilings measured afresh there."""
    import dataclasses

    from tritonwright.eval.types import EvalConfig
    from tritonwright.pipeline.runner import RunSettings, Session, start_candidate, task_entry

    examples = Path(__file__).parent.parent / "examples"
    store = RunStore(tmp_path / "runs")
    # race off: this test is about the floor's stop (tests/test_race.py races the same seed)
    settings = RunSettings(device="cuda", eval=dataclasses.replace(EvalConfig(), cache_dir=str(tmp_path / "cache")),
                           optimize=Cfg(race=False))
    run_id = store.create_run("optimize", settings.to_dict())
    entry = task_entry(examples / "elu" / "task.py")
    outcome = Session(store, run_id, settings, None).run_task(
        entry, start_candidate(entry, examples / "elu" / "candidate.py"))
    assert outcome.status == "done", outcome.error
    steps = {a.step_key: a for a in store.attempts(run_id, entry.key)}
    task = store.task(run_id, entry.key)
    assert task["floor"]["available"], task["floor"]["reason"]
    assert task["floor"]["ceilings_cached"] is False and task["floor"]["floor"]["limit"] == "memory"
    assert steps["seed"].result and steps["seed"].result.get("floor"), "the floor did not come with the seed"
    stopped = [k for k, a in steps.items() if a.origin == "floor"]
    ratio = steps["seed"].median_ms / task["floor"]["floor"]["ms"]
    print(f"seed {steps['seed'].median_ms:.4f} ms, floor {task['floor']['floor']['ms']:.4f} ms ({ratio:.3f}x)")
    if ratio <= 1.05:
        assert stopped == ["stage:block_tiling:skip", "stage:memory_access:skip", "stage:advanced_memory:skip"]
        assert not [k for k in steps if k.endswith(":tune")]
        after_seed = task["gpu_s"] - steps["seed"].wall_s
        assert after_seed < 60.0, f"{after_seed:.1f} s of GPU after the seed"
    else:
        assert "stage:block_tiling:skip" not in stopped, f"stopped at {ratio:.3f}x its floor"


@dataclass
class _Said:
    """Events: the step lines a task says."""

    lines: list[str] = field(default_factory=list)

    def step(self, task_key: str, text: str) -> None:
        self.lines.append(text)

    def best(self, task_key: str, speedup: float | None) -> None:
        pass


@dataclass
class _BusyProfiler:
    """ncu says every stage looks good (SMs busy, occupancy high, few memory stalls, L2 hits): the early-exit
    rules would skip each one."""

    stages: list[str] = field(default_factory=list)

    def profile(self, candidate: Candidate, stage: str) -> Profile:
        from tritonwright.profile.report import KernelProfile, Launch, Metric, ProfileReport

        self.stages.append(stage)
        values = {"sm__throughput.avg.pct_of_peak_sustained_elapsed": 90.0,
                  "sm__warps_active.avg.pct_of_peak_sustained_active": 90.0,
                  "smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct": 5.0,
                  "lts__t_sector_hit_rate.pct": 95.0, "gpu__time_duration.sum": 1000.0}
        report = ProfileReport()
        report.kernels["k"] = KernelProfile("k", [Launch(id=0, kernel="k", metrics={
            k: Metric(k, v) for k, v in values.items()})])
        return Profile({"k": values}, report)


@pytest.mark.parametrize(("seed_ms", "rules_skip"), [(1.5, True), (10.0, False)])
def test_metric_rules_skip_nothing_far_from_the_floor(tmp_path, seed_ms, rules_skip):
    """Within FAR_FROM_FLOOR x the floor, good-looking metrics skip the stage; beyond it the stage runs."""
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "t", "task.py", "h", 1, "single")
    tuner, said = FakeTuner(), _Said()
    opt = TaskOptimizer(key="t", task=None, store=store, run_id=run_id,  # type: ignore[arg-type]
                        config=Cfg(timed=True), evaluator=FakeEvaluator(lambda c: _timed(seed_ms)), comparer=None,
                        profiler=_BusyProfiler(), llm=None, gpu=get_gpu("H100 SXM"), kind="single",
                        tuner=tuner, floor=FakeFloor(1.0), events=said)
    assert opt.run(Candidate(source=SEED)).status == "done"
    origins = {a.step_key: a.origin for a in store.attempts(run_id, "t")}
    if rules_skip:
        assert tuner.stages == [] and origins["stage:block_tiling:skip"] == "rules"
    else:
        assert tuner.stages == ["launch"] and "stage:block_tiling:tune" in origins
        assert any("runs although its metrics rule would skip it" in s and "10.0x its floor" in s for s in said.lines)


def test_the_reference_process_answers_the_floor_request_through_its_plugin(monkeypatch):
    """eval never imports the floor (a part above it): the plugin registers the reference's handler, and the
    children import the plugins eval names as strings. The handler traces on the meta device only."""
    import types

    import tritonwright.reference_floor as plugin
    from tritonwright.eval import protocol as pr
    from tritonwright.eval import runner, worker

    assert plugin.__name__ in runner.REFERENCE_PLUGINS
    calls = []

    def fake_floor_here(task, cache_dir, use_cache=True, gpu_trace=True, env=None):
        calls.append((task, cache_dir, use_cache, gpu_trace, env))
        return FloorInfo.unavailable(NO_GPU_REASON)

    monkeypatch.setattr(plugin, "floor_here", fake_floor_here)
    handler = worker.REFERENCE_EXTENSIONS[pr.FloorOfTask]
    report = handler(types.SimpleNamespace(task="the task", env="its env"), pr.FloorOfTask("cache", False))
    assert calls == [("the task", "cache", False, False, "its env")]
    assert FloorInfo.from_dict(report.info).reason == NO_GPU_REASON
