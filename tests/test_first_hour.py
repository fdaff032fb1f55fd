"""Issue 17, the first hour of a new user: fail fast with one line, say why, leave runs resumable."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from tritonwright import __version__
from tritonwright.cli import app
from tritonwright.errors import TaskError, UserInputError, one_line
from tritonwright.llm.client import ClientSettings, LLMClient
from tritonwright.llm.errors import LLMAuthError, LLMModelNotFoundError, LLMUnreachableError
from tritonwright.llm.factory import LLMSettings, make_provider
from tritonwright.llm.fake_servers import FakeLLMServer, openai_error
from tritonwright.llm.openai_api import OpenAIBackend
from tritonwright.llm.retry import RetryPolicy
from tritonwright.llm.types import Message
from tritonwright.pipeline.cli import resume_command, run_guard
from tritonwright.pipeline.runner import TaskEntry, attach_candidates
from tritonwright.store import AttemptRecord, RunStore
from tritonwright.task import load_task, parse_overrides

ROOT = Path(__file__).parent.parent
ELU = ROOT / "examples" / "elu"
runner = CliRunner()

TRACEBACK = """x/task.py: the reference Model failed: Traceback (candidate.py frames only):
  File "x/task.py", line 22, in get_inputs
    x = torch.randn(batch_size, dim)
RuntimeError: Trying to create tensor with negative dimension -1: [-1, 4]"""


def test_one_line_names_file_function_and_error() -> None:
    assert one_line(TRACEBACK) == ("x/task.py: the reference Model failed: x/task.py:22 in get_inputs(): "
                                   "RuntimeError: Trying to create tensor with negative dimension -1: [-1, 4]")
    assert one_line("plain message") == "plain message"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"tritonwright {__version__}"


@pytest.mark.parametrize("item, words", [("batch_size=-1", "whole number >= 1"), ("dim=4.5", "whole number"),
                                         ("dim='big'", "whole number")])
def test_odd_set_values_fail_in_one_line(item: str, words: str) -> None:
    with pytest.raises(TaskError, match=words) as info:
        load_task(ELU / "task.py", parse_overrides([item]))
    assert "\n" not in str(info.value) and "--set" in str(info.value)


def test_runs_on_a_missing_folder_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["runs", "--out", str(tmp_path / "nope")])
    assert isinstance(result.exception, UserInputError) and "does not exist" in str(result.exception)
    assert not (tmp_path / "nope").exists()


def _store_with_running_task(tmp_path: Path) -> tuple[RunStore, str]:
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run("batch", {})
    store.start_task(run_id, "1_elu", "t.py", "", None, None)
    return store, run_id


def test_ctrl_c_marks_the_run_interrupted_and_prints_resume(tmp_path: Path, capsys) -> None:
    store, run_id = _store_with_running_task(tmp_path)
    cmd = resume_command("batch", Path("tasks"), run_id, store.root)
    with pytest.raises(typer.Exit) as info, run_guard(store, run_id, cmd):
        raise KeyboardInterrupt
    assert info.value.exit_code == 130
    assert store.run(run_id)["status"] == "interrupted"
    assert store.task(run_id, "1_elu")["status"] == "interrupted"
    assert f"tritonwright batch tasks --resume {run_id} --out {store.root}" in " ".join(capsys.readouterr().out.split())


def test_a_setup_error_marks_the_run_failed_with_the_resume_command(tmp_path: Path) -> None:
    store, run_id = _store_with_running_task(tmp_path)
    cmd = resume_command("optimize", Path("t.py"), run_id, store.root)
    with pytest.raises(UserInputError) as info, run_guard(store, run_id, cmd):
        raise UserInputError("no API key")
    assert store.run(run_id)["status"] == "failed" and cmd in str(info.value)
    assert store.task(run_id, "1_elu")["status"] == "interrupted"  # a resumed batch redoes it


def test_a_task_whose_get_inputs_raises_is_one_failed_line(tmp_path: Path) -> None:
    task = tmp_path / "bad.py"
    task.write_text("import torch\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        return x\n"
                    "def get_inputs():\n    raise ValueError('boom')\ndef get_init_inputs():\n    return []\n")
    out = tmp_path / "runs"
    result = runner.invoke(app, ["optimize", str(task), "--from", str(ELU / "candidate.py"), "--device", "cpu",
                                 "--out", str(out), "--quiet"])
    assert result.exit_code == 1, result.output
    assert "bad.py:6 in get_inputs(): ValueError: boom" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    store = RunStore(out, create=False)
    assert [r["status"] for r in store.runs()] == ["failed"]


# --- the LLM is checked before the first task ---------------------------------------------------------------

def test_a_dead_endpoint_fails_in_seconds_with_the_url() -> None:
    t0 = time.monotonic()
    with pytest.raises(LLMUnreachableError, match="127.0.0.1:9/v1"):
        make_provider("openai-compatible:http://127.0.0.1:9/v1#m").check(timeout_s=2)
    assert time.monotonic() - t0 < 5


def test_check_lists_models_and_names_a_missing_one() -> None:
    with FakeLLMServer("openai", models=["qwen-coder", "llama"]) as server:
        assert "2 models" in make_provider(f"openai-compatible:{server.base_url}#qwen-coder").check()
        with pytest.raises(LLMModelNotFoundError, match="qwen-coder"):
            make_provider(f"openai-compatible:{server.base_url}#qwen-cdoer").check()
        assert server.requests[0].path == "/v1/models"


def test_check_passes_a_server_without_a_listing_and_stops_a_refused_key() -> None:
    with FakeLLMServer("openai") as server:
        assert "no model listing" in make_provider(f"openai-compatible:{server.base_url}#m").check()
    with FakeLLMServer("anthropic", models=["claude-x"]) as server:
        settings = LLMSettings(base_url=server.base_url)
        assert "1 models" in make_provider("anthropic:claude-x", settings, env={"ANTHROPIC_API_KEY": "k"}).check()
    backend = OpenAIBackend(model="m", api_key="sk-secret-1", base_url="http://127.0.0.1:9/v1")
    backend.list_models = lambda t: (_ for _ in ()).throw(  # type: ignore[method-assign]
        __import__("tritonwright.llm.errors", fromlist=["x"]).ProviderCallError(
            __import__("tritonwright.llm.errors", fromlist=["x"]).FailureKind.AUTH, "bad key sk-secret-1", status_code=401))
    with pytest.raises(LLMAuthError) as info:
        LLMClient(backend).check()
    assert "sk-secret-1" not in str(info.value)


def test_replay_and_manual_need_no_check(tmp_path: Path) -> None:
    assert "nothing to check" in make_provider("manual:" + str(tmp_path)).check()


def test_a_connection_lost_mid_run_stops_the_run_instead_of_a_repair_round() -> None:
    client = LLMClient(OpenAIBackend(model="m", api_key="EMPTY", base_url="http://127.0.0.1:9/v1"),
                       settings=ClientSettings(retry=RetryPolicy(max_attempts=1)))
    with pytest.raises(LLMUnreachableError, match="stopped answering"):
        client.complete([Message.user("hi")])


def test_a_server_error_reply_is_still_data() -> None:
    with FakeLLMServer("openai") as server:
        server.script(openai_error(400, "bad"))
        client = make_provider(f"openai-compatible:{server.base_url}#m")
        assert not client.complete([Message.user("hi")]).ok


# --- batch --from-dir, options, --to -------------------------------------------------------------------------

def test_from_dir_attaches_candidates_by_name(tmp_path: Path) -> None:
    cands = tmp_path / "mine"
    (cands / "2_softmax").mkdir(parents=True)
    (cands / "1_elu.py").write_text("x")
    (cands / "2_softmax" / "candidate.py").write_text("y")
    entries = [TaskEntry("1_elu", Path("a"), None, None), TaskEntry("2_softmax", Path("b"), None, None),
               TaskEntry("3_other", Path("c"), None, None)]
    got = attach_candidates(entries, cands)
    assert [e.start for e in got] == [cands / "1_elu.py", cands / "2_softmax" / "candidate.py", None]
    with pytest.raises(UserInputError, match="no candidate for any task"):
        attach_candidates(entries[2:], cands)


@pytest.mark.parametrize("command", ["eval", "optimize", "batch", "tune", "runs", "show", "export"])
def test_every_option_has_help(command: str) -> None:
    cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    missing = [p.name for p in cmd.params if isinstance(p, click.Option) and not p.hidden and not p.help]
    assert not missing, f"{command}: options without help: {missing}"


def test_shared_options_read_the_same_everywhere() -> None:
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]

    def option(cmd: str, name: str) -> click.Option:
        return next(p for p in commands[cmd].params if p.name == name)

    for name in ("device", "set_", "atol", "rtol"):
        helps = {option(c, name).help for c in ("eval", "optimize", "batch", "tune")}
        defaults = {str(option(c, name).default) for c in ("eval", "optimize", "batch", "tune")}
        assert len(helps) == 1 and len(defaults) == 1, name
    for name in ("out",):
        assert len({option(c, name).help for c in ("optimize", "batch", "runs", "show", "export")}) == 1


def test_tune_out_points_to_to(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tune", str(ELU / "task.py"), str(ELU / "candidate.py"), "--out",
                                 str(tmp_path / "x.py")])
    assert isinstance(result.exception, UserInputError) and "--to" in str(result.exception)


# --- what a CPU run says about the GPU, and the environment ------------------------------------------------

def test_a_cpu_run_says_its_gpu_spec_is_assumed(tmp_path: Path) -> None:
    from tritonwright.pipeline.runner import RunSettings, Session
    from tritonwright.prompts import render_gpu_header

    store = RunStore(tmp_path)
    session = Session(store, store.create_run("optimize", {}), RunSettings(device="cpu"), None)
    assert session.gpu_label.startswith("none (CPU run")
    header = render_gpu_header(session.gpu)
    assert "CPU run" in header and "assumed" in header
    assert "Note:" not in render_gpu_header(dataclasses.replace(session.gpu, note=""))


def test_environment_carries_versions_policy_overrides_and_commit() -> None:
    from tritonwright.environment import PRECISION_POLICY, run_environment

    env = run_environment("cpu", "H100 SXM", "assumed", {"dim": "64"}, {"task": ELU / "task.py",
                                                                        "candidate": None})
    assert env["gpu"].startswith("none") and env["precision"] == PRECISION_POLICY and "TF32 off" in PRECISION_POLICY
    assert env["--set"] == "dim=64" and env["tritonwright"] == __version__
    assert {"torch", "triton", "python", "driver", "task commit"} <= set(env) and "candidate commit" not in env


def test_show_prints_reasons_in_full(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "elu", "t.py", "", None, None)
    reason = "first line\n" + " ".join(f"word{i}" for i in range(60)) + " THE-END"
    store.record_attempt(run_id, "elu", AttemptRecord("seed", "seed", "user", "FAILED", reason=reason))
    result = runner.invoke(app, ["show", run_id, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "THE-END" in result.output and "word59" in result.output
