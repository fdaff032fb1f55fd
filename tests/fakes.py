"""Fakes for the seams tests share (one place per seam).

Executors: `SleepJob`, a job kind only the tests know: it takes time and nothing else, so the pool's tests can
kill a worker mid-job without a GPU or a compile. It has the job interface (label, timeout_s, run()), which
is all the pool, the local worker and the Ray actor ask of a job. Real workers unpickle it by its module path,
`tests.fakes`, so they need the repository root on their path (`python -m` puts the working directory there).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tritonwright.errors import TaskError


@dataclass(frozen=True)
class SleepJob:
    seconds: float = 0.01  # long enough to be seen running, short enough for many per test
    value: Any = None  # handed back, to tell jobs apart
    label: str = ""
    timeout_s: float = 60.0  # the pool's backstop; no test job sleeps near it
    raise_message: str | None = None  # raise a TaskError with this text instead of answering

    def run(self) -> dict[str, Any]:
        time.sleep(self.seconds)
        if self.raise_message:
            raise TaskError(self.raise_message)
        return {"slept": self.seconds, "value": self.value}
