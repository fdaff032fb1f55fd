"""Which profiler a run's stages get (issue 16): ncu only where an LLM reads its metrics, unless asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritonwright.executors.jobs import InlineExecutor
from tritonwright.pipeline.runner import RunSettings, Session
from tritonwright.pipeline.seams import NcuProfiler, NoProfiler
from tritonwright.store import RunStore
from tritonwright.task import load_task

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class _GpuExecutor(InlineExecutor):
    """A pool whose workers hold a GPU: seams() builds the GPU seams without running anything."""

    device = "cuda"


@pytest.mark.parametrize(("profile", "llm", "expected"), [
    (None, None, "not profiled: no LLM reads the metrics"),  # the no-LLM default: the tuner times configs itself
    (None, "replay:unused.jsonl", None),  # an LLM reads the metrics: ncu runs
    (True, None, None),  # --profile: ncu runs without an LLM too
    (False, "replay:unused.jsonl", "profiling turned off (--no-profile)"),
])
def test_stages_are_profiled_where_the_metrics_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         profile: bool | None, llm: str | None,
                                                         expected: str | None) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "unused.jsonl").write_text('{"task": "elu", "step": "seed", "text": "never read"}\n')
    store = RunStore(tmp_path / "runs")
    settings = RunSettings(device="cuda", gpu="H200", llm=llm, profile=profile)
    session = Session(store, store.create_run("optimize", settings.to_dict()), settings, None, _GpuExecutor())
    _, _, profiler, _ = session.seams(load_task(EXAMPLES / "elu" / "task.py"))
    if expected is None:
        assert isinstance(profiler, NcuProfiler)
    else:
        assert isinstance(profiler, NoProfiler) and profiler.reason.startswith(expected)


def test_settings_of_older_runs_keep_their_profile_choice() -> None:
    """A run stored with profile=True (the old default) resumes profiling."""
    assert RunSettings.from_dict(RunSettings(profile=True).to_dict()).profile is True
    assert RunSettings.from_dict(RunSettings().to_dict()).profile is None
