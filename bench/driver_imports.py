"""Run the tritonwright CLI and say whether (and from where) the driver process imported torch.

    PYTHONPATH=src python3 bench/driver_imports.py optimize examples/softmax/task.py --from ... --quiet

The driver only orchestrates (workers and their children do the GPU work), and a torch import costs it 3-4 s
before any worker starts. This wraps `python -m tritonwright` with an import hook that records the stack of the
first real import of torch (a find_spec that only locates the package, as eval.cuda_probe does, is not one) and
prints it, or "driver never imported torch", to stderr when the command ends.
"""

from __future__ import annotations

import runpy
import sys
import time
import traceback
from typing import Any

T0 = time.perf_counter()
FOUND: list[str] = []


class _Watch:
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "torch" and not FOUND:
            stack = traceback.format_stack(limit=14)
            if not any("find_spec" in line and "cuda_probe" in line for line in stack):
                FOUND.append(f"[{time.perf_counter() - T0:.2f} s] driver imported torch from:\n" + "".join(stack))
        return None


def main() -> int:
    sys.meta_path.insert(0, _Watch())
    sys.argv = ["tritonwright", *sys.argv[1:]]
    code = 0
    try:
        runpy.run_module("tritonwright", run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        print(FOUND[0] if FOUND else f"driver never imported torch ({time.perf_counter() - T0:.1f} s)",
              file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
