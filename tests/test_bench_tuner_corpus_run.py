"""bench/tuner_corpus_run.py on a corpus written here from the tuner fixtures: one reply run in the interpreter
beside its rewrites, duplicates run once, what cannot run said so, bad arguments refused in one line."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from bench import tuner_corpus_run as tcr

FIXTURES = Path(__file__).parent / "fixtures" / "tune"


def _corpus(tmp_path: Path, records: list[tuple[str, str, str]]) -> Path:
    corpus = tmp_path / "corpus"
    (corpus / "tasks").mkdir(parents=True)
    shutil.copy(FIXTURES / "tasks" / "relu.py", corpus / "tasks" / "relu.py")
    lines = [json.dumps({"task": task, "step": step, "attempt": 0,
                         "text": "Here it is:\n```python\n" + (FIXTURES / fixture).read_text() + "```\n"})
             for task, step, fixture in records]
    (corpus / "replay.jsonl").write_text("\n".join(lines) + "\n")
    return corpus


def test_the_rewrites_of_a_reply_parse_and_move_off_its_own_settings() -> None:
    codes, kernels, chosen = tcr.variants((FIXTURES / "relu_keywords.py").read_text())
    assert list(codes) == ["frozen-original", "frozen-alt-1", "frozen-alt-2", "autotune"] and kernels == ["relu_kernel"]
    for code in codes.values():
        ast.parse(code)
    assert "@triton.autotune" in codes["autotune"] and "@triton.autotune" not in codes["frozen-original"]
    original = chosen["original"]["relu_kernel"]
    assert all(alt["relu_kernel"] != original for alt in chosen["alt"]), chosen


def test_the_original_settings_must_match_bit_for_bit_and_other_configs_closely() -> None:
    assert tcr.verdict("frozen-original", 0.0, 5.0) == "ok"
    assert tcr.verdict("frozen-original", 1e-7, 5.0) == "differs"
    assert tcr.verdict("frozen-alt-1", 4e-4, 5.0) == "ok" and tcr.verdict("frozen-alt-1", 6e-4, 5.0) == "differs"
    assert tcr.verdict("autotune", "SyntaxError: keyword argument repeated", None) == "fails"


def test_a_corpus_runs_each_distinct_reply_once(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(tcr, "SMALL", {"relu": {}})
    corpus = _corpus(tmp_path, [("relu", "seed", "relu_keywords.py"), ("relu", "repair:1", "relu_keywords.py"),
                                ("relu", "stage:block_tiling:llm", "refuse_kernel_as_value.py"),
                                ("softplus", "seed", "relu_keywords.py")])
    out = tmp_path / "out.json"
    assert tcr.main(["--corpus", str(corpus), "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["blocks"] == 3 and got["rewrite_faults"] == []  # the repeated reply counted once
    rows = {r["reply"]: r for r in got["rows"] if r["task"] == "relu"}
    ran = rows["seed/0"]
    assert ran["status"] == "ran" and set(ran["verdicts"].values()) == {"ok"}, ran
    assert ran["errors"]["frozen-original"] == 0.0 and ran["pinned"]["autotune"] == 3
    assert rows["seed/0"]["original_vs_model"] == 0.0
    assert rows["stage:block_tiling:llm/0"]["status"] == "not rewritten"
    assert rows["seed/0"]["line"] == 1 and "source" not in rows["seed/0"]  # the replies' code stays out of --out
    (other,) = [r for r in got["rows"] if r["task"] == "softplus"]
    assert other["status"] == "not run" and "no small size" in other["why"]
    assert "relu seed/0: ran" in capsys.readouterr().out
    assert got["complete"] is True

    def no_rerun(*args: object, **kwargs: object) -> dict[str, object]:
        raise AssertionError("a block --out already holds ran again")

    monkeypatch.setattr(tcr, "run_block", no_rerun)  # --continue keeps what the file holds
    assert tcr.main(["--corpus", str(corpus), "--work", str(tmp_path / "work"), "--out", str(out), "--continue"]) == 0
    assert json.loads(out.read_text())["rows"] == got["rows"]


def test_an_original_that_disagrees_with_itself_judges_no_rewrite(tmp_path: Path, monkeypatch) -> None:
    """Code that reads memory it never wrote, or whose own autotune configs cover different elements, gives
    another output on another call: its rewrites are not judged against it."""
    import subprocess

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        job = json.loads(Path(cmd[-1]).read_text())
        n = len(job[0]["variants"])
        res = [{"errors": [0.0] * n, "scale": 2.0, "self_error": 0.5, "seconds": [0.1] * n, "pinned": [1] * n,
                "reference_vs_model": 0.0}]
        return subprocess.CompletedProcess(cmd, 0, json.dumps(res) + "\n", "")

    monkeypatch.setattr(tcr.subprocess, "run", fake_run)
    block = {"task": "relu", "code": "abc", "reply": "seed/0", "line": 1,
             "source": (FIXTURES / "relu_keywords.py").read_text()}
    row = tcr.run_block(block, FIXTURES / "tasks" / "relu.py", tmp_path, timeout=60)
    assert row["status"] == "original unsteady" and "differ by 0.5" in row["why"], row


@pytest.mark.parametrize(("args", "words"), [
    (["--work", str(tcr.ROOT / "bench" / "scratch")], "--work must be outside the repository"),
    (["--tasks", "no_such_task"], "no small size for no_such_task"),
    (["--continue"], "--continue needs --out"),
    (["--timeout", "0"], "--timeout 0: must be > 0 seconds"),
])
def test_bad_arguments_are_one_line(tmp_path: Path, capsys, args: list[str], words: str) -> None:
    corpus = _corpus(tmp_path, [("relu", "seed", "relu_keywords.py")])
    assert tcr.main(["--corpus", str(corpus), *args]) == 2
    assert words in capsys.readouterr().err
    assert not (tcr.ROOT / "bench" / "scratch").exists()


def test_a_corpus_without_its_tasks_is_one_line(tmp_path: Path, capsys) -> None:
    corpus = _corpus(tmp_path, [("relu", "seed", "relu_keywords.py")])
    shutil.rmtree(corpus / "tasks")
    assert tcr.main(["--corpus", str(corpus)]) == 2
    assert "tasks does not exist" in capsys.readouterr().err
