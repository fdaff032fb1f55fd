"""The program ncu runs (profile/target.py), its pieces alone on CPU: the model and inputs it builds, the
warm-up and profiled range with a fake torch (counting launches between profiler start and stop), and the
step each failure is reported under. ncu and a GPU are tests/test_profile_gpu.py's."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from tritonwright.profile import target

ELU = Path(__file__).parent.parent / "examples" / "elu"


def _args(tmp_path: Path, **over: Any) -> argparse.Namespace:
    argv = ["--task", str(ELU / "task.py"), "--candidate", str(ELU / "candidate.py"),
            "--result", str(tmp_path / "r.json"), "--set", "batch_size=2", "--set", "dim=64"]
    args = target._parse_args(argv)
    for k, v in over.items():
        setattr(args, k, v)
    return args


class FakeTorch:
    """torch as `_warm_and_profile` uses it: no_grad, cuda.synchronize and cuda.profiler.start/stop, logged."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.cuda = SimpleNamespace(synchronize=lambda: self.log.append("sync"),
                                    profiler=SimpleNamespace(start=lambda: self.log.append("start"),
                                                             stop=lambda: self.log.append("stop")))

    def no_grad(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def test_arguments_and_their_defaults(tmp_path: Path) -> None:
    args = _args(tmp_path)
    assert (args.launches, args.warmup, args.seed, args.inputs_on_host) == (1, 2, 42, False)
    assert args.set == ["batch_size=2", "dim=64"]


def test_setup_builds_model_new_and_the_inputs(tmp_path: Path) -> None:
    model, inputs, notes = target._setup(_args(tmp_path, inputs_on_host=True), torch.device("cpu"))
    assert type(model).__name__ == "ModelNew" and isinstance(notes, list)
    assert [tuple(x.shape) for x in inputs] == [(2, 64)]


def test_setup_failures_name_their_step(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nclass ModelNew(torch.nn.Module):\n    def __init__(self, *a):\n"
                      "        raise RuntimeError('boom in init')\n")
    with pytest.raises(target._Failed) as info:
        target._setup(_args(tmp_path, candidate=str(broken)), torch.device("cpu"))
    assert info.value.step == "load" and "boom in init" in str(info.value.exc)
    task = tmp_path / "task.py"
    task.write_text((ELU / "task.py").read_text().replace("def get_inputs():", "def get_inputs():\n"
                                                          "    raise ValueError('no inputs today')"))
    with pytest.raises(target._Failed) as info:
        target._setup(_args(tmp_path, task=str(task)), torch.device("cpu"))
    assert info.value.step == "inputs"


def test_the_profiled_range_holds_exactly_the_launches(tmp_path: Path) -> None:
    calls: list[int] = []
    fake = FakeTorch()

    def model(x: int) -> None:
        calls.append(x)
        fake.log.append("forward")

    warm_s = target._warm_and_profile(fake, model, [7], _args(tmp_path, warmup=2, launches=3), 0.0, 0.0)
    assert warm_s > 0 and calls == [7] * 5
    assert fake.log == ["forward", "forward", "sync", "start", "forward", "forward", "forward", "sync", "stop"]


@pytest.mark.parametrize("fail_at, step", [(1, "warmup"), (3, "profiled")])
def test_a_forward_that_raises_names_its_step(tmp_path: Path, fail_at: int, step: str) -> None:
    count = 0

    def model() -> None:
        nonlocal count
        count += 1
        if count == fail_at:
            raise RuntimeError("triton: out of resources")

    with pytest.raises(target._Failed) as info:
        target._warm_and_profile(FakeTorch(), model, [], _args(tmp_path, warmup=2, launches=1), 0.0, 0.0)
    assert info.value.step == step


def test_a_failure_is_written_for_the_parent(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    try:
        raise KeyError("weights")
    except KeyError as exc:
        assert target._fail(str(path), "load", exc, target.EXIT_SETUP) == target.EXIT_SETUP
    out = json.loads(path.read_text())
    assert out["ok"] is False and out["step"] == "load" and out["error"] == "KeyError: 'weights'"
    assert "Traceback" in out["traceback"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer of a machine without a GPU")
def test_without_a_gpu_the_target_says_so(tmp_path: Path) -> None:
    args = _args(tmp_path)
    argv = ["--task", args.task, "--candidate", args.candidate, "--result", args.result]
    assert target.main(argv) == target.EXIT_NO_CUDA
    assert json.loads(Path(args.result).read_text())["step"] == "device"
