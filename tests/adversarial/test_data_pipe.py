"""The data pipe from the candidate's child to the reference's carries a JSON header and raw bytes only
(eval.wire): nothing the candidate sends is unpickled, and anything outside the schema is its CRASH."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest
import torch

from tests.test_eval_cpu import candidate
from tritonwright.eval import runner, wire
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

FIXTURES = Path(__file__).parent.parent / "fixtures" / "eval"
CPU = EvalConfig(device="cpu", trials=1, load_timeout_s=120, correctness_timeout_s=120)


@pytest.fixture()
def pipe():
    a, b = mp.Pipe(duplex=True)
    yield a, b
    a.close()
    b.close()


def test_buffers_bytes_and_odd_objects_round_trip(pipe) -> None:
    send, recv = pipe
    out_buf, in_buf = torch.empty(3, 4), torch.empty(5)
    y, x = torch.randn(3, 4), torch.randn(5)
    extra = torch.arange(6, dtype=torch.int32).reshape(2, 3).t()  # a non-contiguous tensor travels as bytes
    wire.send(send, 7, "BLOCK: 64", [y, extra, {"a": 1}], [x], [out_buf], [in_buf])
    got = wire.recv(recv, [out_buf], [in_buf])
    assert got.index == 7 and got.config == "BLOCK: 64"
    assert got.outs[0] is out_buf and torch.equal(out_buf, y)
    assert isinstance(got.outs[1], torch.Tensor) and torch.equal(got.outs[1], extra)
    assert got.outs[2] == wire.NotATensor("a dict")
    assert got.ins[0] is in_buf and torch.equal(in_buf, x)


def test_a_tensor_subclass_and_a_wrong_shape_do_not_travel_as_data(pipe) -> None:
    class Sneaky(torch.Tensor):
        pass

    send, recv = pipe
    wire.send(send, 0, None, [torch.randn(4).as_subclass(Sneaky)], [], [torch.empty(4)], [])
    (odd,) = wire.recv(recv, [torch.empty(4)], []).outs
    assert odd == wire.NotATensor("a tensor subclass Sneaky")
    if torch.cuda.is_available():  # a CUDA tensor of another shape than the reference's: its metadata only
        wire.send(send, 0, None, [torch.randn(3, device="cuda")], [], [torch.empty(4, device="cuda")], [])
        (meta,) = wire.recv(recv, [torch.empty(4, device="cuda")], []).outs
        assert isinstance(meta, wire.NotATensor) and meta.shape == (3,)


@pytest.mark.parametrize("header, words", [
    (b"\x80\x04K\x01.", "not a JSON message"),  # a pickle
    (json.dumps({"v": 2}).encode(), "version-1"),
    (json.dumps({"v": 1, "index": 0, "config": None, "outs": [{"kind": "eval"}], "ins": []}).encode(), "shape"),
    (json.dumps({"v": 1, "index": 0, "config": None, "ins": [],
                 "outs": [{"kind": "bytes", "dtype": "float32", "shape": [4], "nbytes": 9}]}).encode(), "announced"),
    (json.dumps({"v": 1, "index": 0, "config": None, "ins": [],
                 "outs": [{"kind": "buffer", "dtype": "float32", "shape": [8]}]}).encode(), "buffer"),
    (json.dumps({"v": 1, "index": 0, "config": None, "ins": [],
                 "outs": [{"kind": "bytes", "dtype": "float32", "shape": [-1], "nbytes": 4}]}).encode(), "shape"),
])
def test_anything_outside_the_schema_is_refused(pipe, header, words) -> None:
    send, recv = pipe
    send.send_bytes(header)
    with pytest.raises(wire.WireError, match=words):
        wire.recv(recv, [torch.empty(4)], [])


def test_a_frame_longer_than_announced_is_refused_unread(pipe) -> None:
    send, recv = pipe
    send.send_bytes(json.dumps({"v": 1, "index": 0, "config": None, "ins": [],
                                "outs": [{"kind": "bytes", "dtype": "float32", "shape": [2], "nbytes": 8}]}).encode())
    send.send_bytes(b"\x00" * 4096)
    with pytest.raises(wire.WireError, match="could not be read"):
        wire.recv(recv, [], [])


# --- end to end: a candidate writes a pickle into the data pipe -----------------------------------------

WRITE = '''
    import gc as _gc
    from multiprocessing.connection import Connection as _C
    payload = b"cos\\nsystem\\n(S'touch {marker}'\\ntR."
    for obj in _gc.get_objects():  # the judge's candidate-side object holds the data pipe as `data`
        if type(obj).__name__ == "_Candidate" and isinstance(obj.data, _C):
            obj.data.send_bytes(payload)
    return launch(x, torch.empty_like(x), self.scale)
'''


def test_a_candidate_writing_a_pickle_to_its_pipes_is_a_crash_and_never_unpickled(tmp_path, monkeypatch) -> None:
    task = load_task(FIXTURES / "scale_task.py", {"n": "600"})
    marker = tmp_path / "unpickled"
    monkeypatch.setattr(runner, "_static", lambda cand, task: None)  # the static rules would refuse gc/pipes
    r = evaluate(task, candidate(WRITE.format(marker=marker)), CPU)
    assert r.status is Status.CRASH, r.reason
    assert "malformed reply in step 'correctness': its outputs: the header is not a JSON message" in r.reason
    assert not marker.exists()
