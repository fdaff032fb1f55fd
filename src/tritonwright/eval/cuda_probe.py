"""How many GPUs would torch see? Answered without importing torch where that is certain.

The driver process (the CLI) needs only this before it starts the workers (is there a GPU, how many), and
importing torch for it cost 2-3 s of a 60 s optimize on the H200, paid again by every worker. torch sees the
devices the CUDA driver counts (after CUDA_VISIBLE_DEVICES) when its build has CUDA; this module reads the
build from torch's `version.py` (as text, not imported) and asks the driver library through ctypes, the same
calls the CUDA runtime makes. Anything it cannot decide for sure (ROCm builds, a driver library it cannot load or that
errs, a driver older than the build's CUDA) is None, and the caller asks torch itself.
"""

from __future__ import annotations

import ast
import ctypes
import functools
import importlib.util
from pathlib import Path

CUDA_SUCCESS = 0
CUDA_ERROR_NO_DEVICE = 100  # cuInit's answer when no device is visible (CUDA_VISIBLE_DEVICES included)
_DRIVER_LIBRARY = "libcuda.so.1"  # the name the CUDA runtime itself loads on Linux


@functools.cache  # the installed torch does not change under a running process; resolve_device asks often
def torch_build() -> dict[str, str | None] | None:
    """torch's `version.py` values `cuda` and `hip` (None for a CPU build), or None when unreadable."""
    try:
        spec = importlib.util.find_spec("torch")  # finds the package without importing it
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "version.py"
        if path.is_file():
            return _version_values(path.read_text(encoding="utf-8", errors="replace"))
    return None


def _version_values(text: str) -> dict[str, str | None] | None:
    """`cuda` and `hip` as version.py assigns them (`cuda: Optional[str] = '13.0'` or `cuda = None`)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    found: dict[str, str | None] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        else:
            continue
        if name in ("cuda", "hip") and isinstance(value, ast.Constant) and (value.value is None
                                                                          or isinstance(value.value, str)):
            found[name] = value.value
    if "cuda" not in found:  # a version.py we do not understand: let torch answer
        return None
    found.setdefault("hip", None)
    return found


def _major(version: str) -> int | None:
    head = version.split(".")[0]
    return int(head) if head.isdigit() else None


def driver_devices(library: str = _DRIVER_LIBRARY) -> tuple[int, int] | None:
    """(visible devices, driver CUDA version as 1000*major + 10*minor), or None when the driver cannot tell."""
    try:
        lib = ctypes.CDLL(library)
    except OSError:
        return None
    count, version = ctypes.c_int(0), ctypes.c_int(0)
    status = lib.cuInit(0)
    if status == CUDA_ERROR_NO_DEVICE:
        return 0, 0
    if status != CUDA_SUCCESS or lib.cuDeviceGetCount(ctypes.byref(count)) != CUDA_SUCCESS:
        return None
    if lib.cuDriverGetVersion(ctypes.byref(version)) != CUDA_SUCCESS:
        return None
    return count.value, version.value


def cuda_devices() -> int | None:
    """What torch.cuda.device_count() would say (0 where torch.cuda.is_available() is False), where certain
    without torch; None: ask torch."""
    build = torch_build()
    if build is None or build["hip"] is not None:  # ROCm builds answer through HIP: torch knows
        return None
    if build["cuda"] is None:
        return 0  # a CPU build never sees a GPU
    needed = _major(build["cuda"])
    seen = driver_devices()
    if seen is None or needed is None:
        return None
    count, version = seen
    if count == 0:
        return 0
    # Same major version or newer: CUDA's minor-version compatibility lets this driver run the build. An older
    # driver may still work through a compatibility package, which only torch can find out.
    return count if version // 1000 >= needed else None


def cuda_available() -> bool | None:
    """What torch.cuda.is_available() would say, where certain without torch; None: ask torch."""
    count = cuda_devices()
    return None if count is None else count > 0
