"""eval.cuda_probe: torch's device count without importing torch, or None where only torch can tell."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tritonwright.eval import cuda_probe

SRC = Path(__file__).resolve().parents[1] / "src"


def test_version_py_forms() -> None:
    assert cuda_probe._version_values("cuda: Optional[str] = '13.0'\nhip: Optional[str] = None\n") == \
        {"cuda": "13.0", "hip": None}
    assert cuda_probe._version_values("__version__ = '2.13.0+cpu'\ncuda = None\n") == {"cuda": None, "hip": None}
    assert cuda_probe._version_values("cuda = None\nhip = '6.2'\n") == {"cuda": None, "hip": "6.2"}
    assert cuda_probe._version_values("git_version = 'abc'\n") is None  # no cuda line: not understood
    assert cuda_probe._version_values("cuda = get_cuda()\n") is None  # computed: only torch knows
    assert cuda_probe._version_values("cuda = (\n") is None


def test_torch_build_matches_torch() -> None:
    import torch

    assert cuda_probe.torch_build() == {"cuda": torch.version.cuda, "hip": torch.version.hip}


class _FakeDriver:
    def __init__(self, init: int = 0, count: int = 1, version: int = 13000, fail: str = "") -> None:
        self.init, self.count, self.version, self.fail = init, count, version, fail

    def cuInit(self, flags: int) -> int:  # noqa: N802 - the driver API's names
        return self.init

    def cuDeviceGetCount(self, ref: Any) -> int:  # noqa: N802
        ref._obj.value = self.count  # byref(x)._obj is x
        return 1 if self.fail == "count" else 0

    def cuDriverGetVersion(self, ref: Any) -> int:  # noqa: N802
        ref._obj.value = self.version
        return 1 if self.fail == "version" else 0


@pytest.mark.parametrize(("driver", "expected"), [
    (_FakeDriver(count=2, version=13000), (2, 13000)),
    (_FakeDriver(init=cuda_probe.CUDA_ERROR_NO_DEVICE), (0, 0)),  # CUDA_VISIBLE_DEVICES hides every GPU
    (_FakeDriver(init=999), None),  # any other error: let torch find out
    (_FakeDriver(fail="count"), None),
    (_FakeDriver(fail="version"), None),
])
def test_driver_devices(monkeypatch: pytest.MonkeyPatch, driver: _FakeDriver, expected: Any) -> None:
    monkeypatch.setattr(ctypes, "CDLL", lambda name: driver)
    assert cuda_probe.driver_devices() == expected


def test_driver_library_missing() -> None:
    assert cuda_probe.driver_devices("libtritonwright-no-such-driver.so.1") is None


@pytest.mark.parametrize(("build", "seen", "expected"), [
    ({"cuda": None, "hip": None}, None, 0),  # CPU build: no GPU whatever the machine has
    ({"cuda": "13.0", "hip": None}, (2, 13000), 2),
    ({"cuda": "12.4", "hip": None}, (1, 13000), 1),  # a newer driver runs an older build
    ({"cuda": "13.0", "hip": None}, (1, 12080), None),  # an older driver: a compat package might help
    ({"cuda": "13.0", "hip": None}, (0, 0), 0),
    ({"cuda": "13.0", "hip": None}, None, None),  # no driver library readable
    ({"cuda": None, "hip": "6.2"}, (1, 13000), None),  # ROCm: HIP answers, not this probe
    (None, (1, 13000), None),  # no readable version.py
])
def test_cuda_devices(monkeypatch: pytest.MonkeyPatch, build: Any, seen: Any, expected: int | None) -> None:
    monkeypatch.setattr(cuda_probe, "torch_build", lambda: build)
    monkeypatch.setattr(cuda_probe, "driver_devices", lambda: seen)
    assert cuda_probe.cuda_devices() == expected
    assert cuda_probe.cuda_available() == (None if expected is None else expected > 0)


def test_agrees_with_torch() -> None:
    import torch

    count = cuda_probe.cuda_devices()
    if count is not None:
        assert count == (torch.cuda.device_count() if torch.cuda.is_available() else 0)


def test_driver_start_does_not_import_torch_where_probe_answers() -> None:
    """resolve_device and visible_gpus (what the CLI asks before any worker) leave torch unimported."""
    if cuda_probe.cuda_devices() is None:
        pytest.skip("the probe defers to torch on this machine (e.g. a CUDA build of torch without a driver)")
    code = ("import sys; from tritonwright.eval.runner import resolve_device; "
            "from tritonwright.executors.pool import visible_gpus; resolve_device('auto'); visible_gpus(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.gpu
def test_probe_answers_on_a_gpu_machine() -> None:
    """Where torch sees a GPU, the probe knows it too (else the driver pays the torch import again)."""
    import torch

    assert cuda_probe.cuda_devices() == torch.cuda.device_count()
