"""The task's floor, answered by an evaluation's reference process (EvalConfig.floor).

That process has torch imported, CUDA started and the task loaded, where the floor's own child takes ~9 s on an
H200 to get there. This module plugs the answer into the reference process (eval.worker.extend_reference):
the floor lives above eval (it imports eval's loading), so eval names it only as a string
(eval.runner.REFERENCE_PLUGINS) and never imports it.
"""

from __future__ import annotations

from typing import Any

import torch

from tritonwright.eval import protocol as pr
from tritonwright.eval import worker
from tritonwright.floor import floor_here


def _floor(ref: Any, req: pr.FloorOfTask) -> pr.FloorReport:
    """Sizes traced on the meta device only (a GPU trace would need the task's memory a second time), ceilings
    from their cache or measured now; its failures are an unavailable floor, never the evaluation's."""
    info = floor_here(ref.task, req.cache_dir, req.use_cache, gpu_trace=False, env=ref.env)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the ceilings' buffers go before anything else runs here
    return pr.FloorReport(info=info.to_dict())


worker.extend_reference(pr.FloorOfTask, _floor)
