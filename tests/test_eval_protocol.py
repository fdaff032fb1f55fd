"""The control pipes' typed protocol: every message round-trips, anything else is refused without being
unpickled, a hostile candidate that writes raw bytes to its control pipe is a CRASH, and a broken task is a
TaskError naming the task."""

from __future__ import annotations

import json
import pickle
import re
import textwrap
from pathlib import Path

import pytest

from tests.test_eval_cpu import candidate
from tritonwright.errors import TaskError
from tritonwright.eval import protocol as pr
from tritonwright.eval import runner
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import Environment, EvalConfig, OutputCheck, Status, TimingStats
from tritonwright.task import load_task

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
CPU = EvalConfig(device="cpu", trials=1, load_timeout_s=120, correctness_timeout_s=120)
STATS = TimingStats(median_ms=1.0, q1_ms=0.9, q3_ms=1.1, min_ms=0.8, mean_ms=1.0, n=100, method="cuda_events")
SETTINGS = pr.RunSettings(warmup_ms=25.0, min_runs=100, budget_ms=1000.0, max_runs=2000, device_sync=False)

JOB = pr.KernelJob("tritonwright_candidate_c3", "scale_kernel", '{"name": "tritonwright_candidate_c3.scale_kernel"}')
REQUESTS: list[pr.Request] = [
    pr.LoadReference(), pr.LoadCandidate("c0", "work/c0.py"), pr.Trial(0, 43),
    pr.CandidateTrial(["c0", "c1"], 1, True), pr.Check(2, 3), pr.MeasureKernelShare("c0"),
    pr.Time("c0", SETTINGS, True), pr.Compare("a", "b", 10, SETTINGS), pr.TakeInputs(0),
    pr.Screen(["c3"], SETTINGS), pr.Precompile(["c3", "c4"], 8), pr.CollectKernels(["c3", "c4"]),
    pr.CompileKernels([JOB], {"tritonwright_candidate_c3": "work/c3.py"}), pr.FloorOfTask(None, True), pr.Baselines(SETTINGS, "max-autotune"), pr.Refill(7), pr.Recheck("c1"), pr.Exit(),
]
FAIL = pr.Fail(Status.RUNTIME_ERROR, "boom", "Traceback ...")
PAYLOADS: list[object] = [
    pr.Nothing(),
    pr.ReferenceLoaded(Environment(python="3.12", torch="2.11", triton="3.6", platform="linux", device="cuda",
                                   gpu="NVIDIA H200", sm_count=132)),
    pr.CandidateLoaded(["weights matched by shape: w <- lin.weight"]),
    pr.TrialRan([pr.OutputSpec([4, 8], "torch.float32")], 0.25),
    pr.CandidateTrialRan({"c0": pr.CandidateRun(0.5, 2, {"k": 1}, {"aten::add": 2}, {"k": ["BLOCK=64", "BLOCK=128"]}),
                          "c1": pr.CandidateRun(0.1, 0, error=FAIL),
                          "c2": pr.CandidateRun(0.1, 1, provenance="output 0 is not computed by a kernel")}),
    pr.Checked([pr.CheckGroup([OutputCheck(0, 0, False, [3], "float32", max_abs_err=float("inf"),
                                           rel_l2_err=float("nan"), reason="NaN where the reference has none")],
                              "input 0 changed")], 0.01),
    pr.KernelShareReport({"k": 1}, {"void at::vectorized_elementwise": 1}, 0.5, 0.1, None, {"k": 0.5}),
    pr.Timed(STATS), pr.Timed(STATS, STATS), pr.Timed(STATS, None, "CUDA graph capture failed: x"),
    pr.Screened({"c0": pr.ScreenRun(0.3, STATS), "c1": pr.ScreenRun(0.2, error=pr.Fail(Status.COMPILE_ERROR, "x"))}),
    pr.Precompiled(compiled=26, failed=1, seconds=3.2), pr.KernelsCollected([JOB, JOB], 1, 0.02),
    pr.FloorReport({"available": False, "reason": "no GPU", "floor": None, "wall_s": 0.5}),
    pr.Compared([1.0, 1.1, 1.2], [0.9, 1.0, 1.1]),
    pr.BaselineTimes(STATS, None, "RuntimeError: no"), pr.BaselineTimes(STATS, STATS),
]


def _same(a: object, b: object) -> bool:
    """Equal, with NaN equal to NaN (a JSON round trip keeps NaN)."""
    return json.dumps(pr.to_data(a)) == json.dumps(pr.to_data(b))


@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: r.KIND)
def test_every_request_round_trips(req) -> None:
    back = pr.decode_request(pr.encode_request(req))
    assert type(back) is type(req) and back == req


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: type(p).__name__)
def test_every_payload_round_trips_as_ok(payload) -> None:
    back = pr.decode_reply(pr.encode_reply(pr.Ok(payload)), type(payload))
    assert isinstance(back, pr.Ok) and type(back.payload) is type(payload) and _same(back.payload, payload)


def test_fail_and_task_failed_round_trip() -> None:
    assert pr.decode_reply(pr.encode_reply(FAIL), pr.Nothing) == FAIL
    task = pr.TaskFailed("/t/task.py: get_inputs() raised ValueError: no")
    assert pr.decode_reply(pr.encode_reply(task), pr.Nothing) == task
    for status in Status:
        assert pr.decode_reply(pr.encode_reply(pr.Fail(status, "m")), pr.Nothing) == pr.Fail(status, "m")


def test_every_request_kind_is_registered() -> None:
    assert {type(r) for r in REQUESTS} == set(pr.REQUESTS.values())
    assert all(isinstance(r.reply_type(), type) for r in REQUESTS)


class _Boom:
    def __reduce__(self):
        return (Path("/nonexistent-dir/never").mkdir, ())  # would raise if ever unpickled


def _msg(kind: str, body: object) -> bytes:
    return json.dumps({"kind": kind, "body": body}).encode()


@pytest.mark.parametrize("raw, words", [
    (pickle.dumps(("ok", {"notes": []})), "not JSON"),
    (pickle.dumps(_Boom()), "not JSON"),
    (b"\xff\xfe garbage", "not JSON"),
    (b"[1, 2]", "not a {kind, body} message"),
    (json.dumps({"kind": "ok", "body": {}, "extra": 1}).encode(), "not a {kind, body} message"),
    (_msg("evil", {}), "unknown reply kind 'evil'"),
    (_msg("fail", {"status": "TASK", "message": "m"}), "is not a Status"),
    (_msg("fail", {"status": "ok", "message": "m"}), "is not a Status"),
    (_msg("fail", {"status": 3, "message": "m"}), "is not a Status"),
    (_msg("fail", {"status": "CRASH"}), "missing field 'message'"),
    (_msg("ok", {"notes": "not a list"}), "expected a list"),
    (_msg("ok", {"notes": [1]}), "expected a string"),
    (_msg("ok", {"notes": [], "__reduce__": "x"}), "unexpected field"),
])
def test_malformed_replies_are_refused(raw, words) -> None:
    with pytest.raises(pr.ProtocolError, match=words.replace("{", r"\{").replace("}", r"\}")):
        pr.decode_reply(raw, pr.CandidateLoaded)


@pytest.mark.parametrize("body, words", [
    ({"seconds": 0.1, "passes": True}, "expected an integer"),
    ({"seconds": "fast", "passes": 1}, "expected a number"),
    ({"seconds": 0.1, "passes": 1, "launches": {"k": 1.5}}, "expected an integer"),
    ({"seconds": 0.1, "passes": 0, "error": {"status": "TASK", "message": "m"}}, "fits none of|is not a Status"),
])
def test_nested_fields_are_checked(body, words) -> None:
    with pytest.raises(pr.ProtocolError, match=words):
        pr.decode_reply(_msg("ok", {"runs": {"c0": body}}), pr.CandidateTrialRan)


def test_oversized_and_unknown_requests_are_refused() -> None:
    with pytest.raises(pr.ProtocolError, match="byte limit"):
        pr.decode_reply(b" " * (pr.MAX_MESSAGE_BYTES + 1), pr.Nothing)
    with pytest.raises(pr.ProtocolError, match="unknown request kind"):
        pr.decode_request(_msg("sleep", {}))
    with pytest.raises(TypeError, match="not plain data"):
        pr.encode_reply(pr.Ok(pr.CandidateLoaded([object()])))  # type: ignore[list-item]


# --- end to end on CPU: a candidate writes its own bytes to the control pipe ------------------------------

WRITE = '''
    import sys as _s
    frame = _s._getframe()
    while frame is not None and "ctrl" not in frame.f_locals:
        frame = frame.f_back
    frame.f_locals["ctrl"].send_bytes({payload!r})
    return launch(x, torch.empty_like(x), self.scale)
'''


@pytest.fixture(scope="module")
def task():
    return load_task(FIXTURES / "scale_task.py", {"n": "600"})


@pytest.mark.parametrize("payload, words", [
    ("pickle", "not JSON"),
    (_msg("task_failed", {"message": "the task is broken"}), "only the reference process may report"),
    (_msg("fail", {"status": "TASK", "message": "m"}), "is not a Status"),
    (_msg("ok", {"runs": {"c0": {"seconds": 0.1, "passes": 0}}}), "0 output passes"),
])
def test_a_candidate_writing_its_own_reply_is_a_crash_and_never_unpickled(task, tmp_path, monkeypatch, payload,
                                                                          words) -> None:
    marker = tmp_path / "unpickled"
    if payload == "pickle":  # what the parent would run if it unpickled the reply
        payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    # The static rules reject these spellings already; the run-time boundary is what is tested here.
    monkeypatch.setattr(runner, "_static", lambda cand, task: None)
    r = evaluate(task, candidate(WRITE.format(payload=payload)), CPU)
    assert r.status is Status.CRASH, r.reason
    assert "the candidate process sent a malformed reply in step 'correctness'" in r.reason and words in r.reason
    assert not marker.exists()


def _task(tmp_path: Path, get_inputs: str, get_init_inputs: str = "return [1.0]") -> Path:
    path = tmp_path / "broken_task.py"
    path.write_text(textwrap.dedent(f'''
        import torch
        import torch.nn as nn

        class Model(nn.Module):
            def __init__(self, scale):
                super().__init__()

            def forward(self, x):
                return x

        def get_inputs():
            {get_inputs}

        def get_init_inputs():
            {get_init_inputs}
    '''))
    return path


def test_a_task_whose_get_inputs_raises_is_a_task_error_naming_it(tmp_path) -> None:
    path = _task(tmp_path, "raise ValueError('no inputs today')")
    with pytest.raises(TaskError) as err:
        evaluate(load_task(path), candidate("return x"), CPU)
    text = str(err.value)
    assert re.match(rf"{re.escape(str(path))}:\d+ in get_inputs\(\): ValueError: no inputs today", text), text
    assert "RUNTIME_ERROR" not in text and "reference Model failed" not in text and "\n" not in text


def test_a_task_whose_get_init_inputs_raises_is_a_task_error_of_one_line(tmp_path) -> None:
    path = _task(tmp_path, "return [torch.randn(4)]", "raise KeyError('scale')")
    with pytest.raises(TaskError) as err:
        evaluate(load_task(path), candidate("return x"), CPU)
    assert str(err.value) == f"{path}: KeyError: 'scale'"


def test_a_child_gone_before_the_request_answers_with_its_last_message(tmp_path: Path) -> None:
    """A reference whose task cannot load sends TaskFailed and exits at once; a request sent after that meets a
    closed pipe, and the answer is still the task's failure (a CRASH when the child left no message)."""
    import multiprocessing as mp
    import sys

    ctx = mp.get_context("spawn")
    for last, expected in ((pr.encode_reply(pr.TaskFailed("task.py: get_init_inputs() raised KeyError")),
                            runner.TaskFailure), (None, runner.StepFailure)):
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=sys.exit, args=(0,))
        proc.start()
        proc.join(30)
        if last is not None:
            child.send_bytes(last)
        child.close()  # the child end is gone: sending now fails with a broken pipe
        ref = runner._Child("reference", proc, parent, tmp_path / "reference.log")
        with pytest.raises(expected) as info:
            ref.call("load", 5.0, pr.LoadReference())
        if last is None:
            assert info.value.status is Status.CRASH and "exited with code 0 during step 'load'" in str(info.value)
        else:
            assert "get_init_inputs() raised KeyError" in str(info.value)
