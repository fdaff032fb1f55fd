"""A device's health check: a tiny Triton kernel with a result known in advance.

`check` runs it in a fresh child process (a worker never touches the GPU itself, so a device that hangs or
faults takes down only the check). The device passes when the kernel compiles, runs, and returns exactly
the expected numbers; anything else (no GPU, a driver error, a wrong sum, a hang) fails it with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from tritonwright import sandbox

N = 4096  # elements: one block of work, enough to use every lane of a few warps
_CHECK_TIMEOUT_S = 180.0  # a cold Triton cache compiles in seconds; a hung device never answers


def check(device: str, timeout_s: float = _CHECK_TIMEOUT_S) -> dict[str, Any]:
    """{"ok": bool, "reason": str, "device": name, "seconds": float} for the device this process sees."""
    t0 = time.monotonic()
    extra = {"TRITON_INTERPRET": "1"} if device == "cpu" else {}
    env = sandbox.scrubbed_env(extra=extra)
    try:
        proc = subprocess.run([sys.executable, "-m", "tritonwright.executors.health", device], env=env,
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": f"the health check hung (killed after {timeout_s:g} s)", "device": "",
                "seconds": round(time.monotonic() - t0, 3)}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode == 0 and lines:
        out = json.loads(lines[-1])
    else:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        out = {"ok": False, "reason": f"health check exited with code {proc.returncode}: " + " | ".join(tail),
               "device": ""}
    out["seconds"] = round(time.monotonic() - t0, 3)
    out["visible"] = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return out


def _run(device: str) -> dict[str, Any]:
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def axpy(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        tl.store(out_ptr + offs, 2 * tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask),
                 mask=mask)

    if device == "cuda" and not torch.cuda.is_available():
        return {"ok": False, "reason": "no CUDA device is visible", "device": ""}
    x = torch.arange(N, dtype=torch.int32, device=device)
    y = torch.full((N,), 7, dtype=torch.int32, device=device)
    out = torch.empty_like(x)
    axpy[(triton.cdiv(N, 1024),)](x, y, out, N, BLOCK=1024)
    total = int(out.sum().item())
    expected = N * (N - 1) + 7 * N  # sum of 2*i + 7 over i < N, exact in int32
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu (Triton interpreter)"
    if total != expected:
        return {"ok": False, "reason": f"wrong result: sum {total}, expected {expected}", "device": name}
    props = None
    if device == "cuda":  # what the driver needs for the prompts' GPU spec when it has no GPU itself (Ray)
        import dataclasses

        from tritonwright.gpus.detect import read_device_props

        try:
            props = dataclasses.asdict(read_device_props())
        except Exception:  # the kernel ran right: the device is healthy even if its properties cannot be read
            props = None
    return {"ok": True, "reason": "", "device": name, "props": props}


if __name__ == "__main__":
    try:
        result = _run(sys.argv[1] if len(sys.argv) > 1 else "cuda")
    except Exception as exc:  # any failure is the answer: the device is not usable
        result = {"ok": False, "reason": f"{type(exc).__name__}: {exc}".splitlines()[0][:300], "device": ""}
    print(json.dumps(result), flush=True)
    sys.exit(0)
