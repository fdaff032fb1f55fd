"""The Inductor seed's capture, plugged into the reference process: when the compiled baseline compiles, the
module Inductor generates is kept (inductor_seed.capture.first_call_captured) and sent back with the baseline's
times, so the seed needs no compile of its own. eval imports neither inductor_seed nor this module: the children
import it by name (eval.runner.REFERENCE_PLUGINS), as they do reference_floor.
"""

from __future__ import annotations

from tritonwright.eval import worker
from tritonwright.inductor_seed.capture import first_call_captured

worker.watch_compiled_baseline(first_call_captured)
