"""The pieces `optimize` and `batch` are made of (pipeline/cli.py), alone: the batch's selection and its
record for --resume, the tasks still to run, how many run at once, the start and the device checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tritonwright.errors import UserInputError
from tritonwright.pipeline import cli
from tritonwright.pipeline.runner import RunSettings, TaskEntry
from tritonwright.store import RunStore

ROOT = Path(__file__).parent.parent


def _tasks(tmp: Path) -> Path:
    folder = tmp / "tasks"
    for i, name in enumerate(("elu", "softmax", "layernorm"), start=1):
        (folder / f"{i}_{name}").mkdir(parents=True)
        for f in ("task.py", "candidate.py"):
            shutil.copy(ROOT / "examples" / name / f, folder / f"{i}_{name}" / f)
    return folder


def test_a_batch_selection_is_recorded_and_read_back(tmp_path: Path) -> None:
    sel = cli.BatchSelection(_tasks(tmp_path), None, "2:3", None, None, 5, None)
    assert [e.key for e in sel.entries()] == ["2_softmax", "3_layernorm"]
    config = {"threshold": 0.02, "batch": sel.to_config()}
    assert config["batch"] == {"folder": str(sel.folder), "level": None, "range": "2:3", "first_n": None,
                               "sample": None, "seed": 5, "from_dir": None}
    assert cli.BatchSelection.recorded(config, Path("ignored")) == sel
    old = cli.BatchSelection.recorded({}, tmp_path)  # a run that recorded no selection: the folder given now
    assert old == cli.BatchSelection(tmp_path)


def test_an_empty_selection_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no tasks found"):
        cli.BatchSelection(_tasks(tmp_path), range_="7:9").entries()


def test_tasks_in_flight() -> None:
    assert cli.in_flight(None, ready=2, has_llm=False) == 3  # one more than the workers
    assert cli.in_flight(None, ready=2, has_llm=True) == 4  # twice the workers while replies are awaited
    assert cli.in_flight(5, ready=2, has_llm=True) == 5


def test_a_resumed_batch_skips_done_and_failed_tasks(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run_id = store.create_run("batch", {})
    entries = [TaskEntry(k, tmp_path / f"{k}.py", None, None) for k in ("a", "b", "c", "d")]
    for key, status in (("a", "done"), ("b", "failed"), ("c", "interrupted")):
        store.start_task(run_id, key, f"{key}.py", "h", None, None)
        store.finish_task(run_id, key, status)
    events = cli.LiveEvents(quiet=True, total=4)
    assert [e.key for e in cli.pending_entries(store, run_id, entries, events)] == ["c", "d"]
    assert events.done == 2


def test_optimize_start_and_device_checks(tmp_path: Path) -> None:
    settings = RunSettings(device="cpu")
    with pytest.raises(UserInputError, match="task file not found"):
        cli._optimize_start(tmp_path / "nope.py", None, None, False, settings)
    task = ROOT / "examples" / "elu" / "task.py"
    with pytest.raises(UserInputError, match="--start later: expected inductor or none"):
        cli._optimize_start(task, None, "later", False, settings)
    with pytest.raises(UserInputError, match="nothing to start from"):
        cli._optimize_start(task, None, "none", False, settings)
    entry, start = cli._optimize_start(task, ROOT / "examples" / "elu" / "candidate.py", None, False, settings)
    assert entry.key == "elu" and start is not None and start.origin == "user"
    assert cli._optimize_start(task, None, None, True, settings)[1] is None  # resumed: the recorded start
    with pytest.raises(UserInputError, match="one GPU"):
        cli._optimize_device("0,1", settings)
    with pytest.raises(UserInputError, match="--gpus needs --device cuda"):
        cli._optimize_device("0", settings)
    assert cli._optimize_device(None, settings) == "cpu"


def test_a_resumed_optimize_keeps_its_settings_and_from(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    first = RunSettings(device="cpu", llm="replay:x.jsonl")
    run_id = store.create_run("optimize", first.to_dict() | {"start": {"from": "mine.py"}})
    settings, from_ = cli._resumed_optimize(store, run_id, None)
    assert settings == first and from_ == Path("mine.py")
    assert cli._resumed_optimize(store, run_id, Path("other.py"))[1] == Path("other.py")


def test_the_optimize_summary_says_where_the_time_went(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """After the result table: each stage's steps summed, then the rest of the task's wall time."""
    import sys
    from types import SimpleNamespace

    from rich.console import Console

    from tritonwright.decision import Decision
    from tritonwright.store.records import AttemptRecord

    store = RunStore(tmp_path)
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "t", "t.py", "h", 1, "single")
    for key, stage, secs in (("seed", "seed", 10.3), ("bt", "block_tiling", 13.2), ("rc", "race", 7.0),
                             ("rt", "race", 18.0), ("final", "final", 2.27)):
        store.record_attempt(run_id, "t", AttemptRecord(key, stage, "user", Decision.KEEP, wall_s=secs))
    store.finish_task(run_id, "t", "done", wall_s=55.1)
    monkeypatch.setattr(cli, "console", Console(file=sys.stdout, width=300))
    cli._print_outcome(store, run_id, "t", SimpleNamespace(status="done", error=None, files=[]),  # type: ignore[arg-type]
                       SimpleNamespace(gpu_note="", device="cpu", gpu=None))  # type: ignore[arg-type]
    assert ("time: seed 10.3 s, block_tiling 13.2 s, race 25.0 s, final 2.27 s; outside the steps 4.33 s"
            in capsys.readouterr().out)
