"""The stop at the speed-of-light floor: the task's floor measured once (a resumed run reads the recorded
one, so it makes the same stop decisions), and a SKIP row for each path a stage would take once the best
candidate is within `floor_stop` of it."""

from __future__ import annotations

from collections.abc import Callable

from tritonwright.eval.types import EvalResult
from tritonwright.floor import FAR_FROM_FLOOR, FloorInfo, at_floor, below_floor, far_from_floor
from tritonwright.pipeline.seams import FloorProbe
from tritonwright.pipeline.steps import StepRecorder


class FloorGuard:
    """Measures the floor and says when the current best is at it."""

    def __init__(self, probe: FloorProbe | None, steps: StepRecorder, timed: bool, floor_stop: float,
                 say: Callable[[str], None]) -> None:
        self.probe, self.steps, self.timed, self.floor_stop, self.say = probe, steps, timed, floor_stop, say
        self.info: FloorInfo | None = None  # the task's floor, once known
        self.said_below = False  # the note that the best is below the floor was given

    def measure(self, seed: EvalResult | None = None) -> float:
        """Know the floor (recorded; else the one the seed's evaluation brought; else measured now by the probe)
        and record it; returns the device seconds it took beyond the evaluations."""
        if self.probe is None:
            return 0.0
        row = self.steps.task_row() or {}
        if row.get("floor"):
            self.info = FloorInfo.from_dict(row["floor"])
            return 0.0
        brought = FloorInfo.from_dict(seed.floor) if seed is not None and seed.floor else None
        if brought is not None and brought.available:
            info, spent = brought, 0.0  # its seconds are the evaluation's, counted there
        else:
            self.say("floor" if brought is None else f"floor (none came with the evaluation: {brought.reason[:200]})")
            info = self.probe.floor()
            spent = info.wall_s if self.timed else 0.0  # a CPU run's floor is no device time
        self.info = info
        self.steps.update_task(floor=info.to_dict() | {"threshold": self.floor_stop})
        if info.available and info.floor is not None:
            self.say(f"floor {info.floor.ms:.4g} ms ({info.floor.limit} bound)")
        else:
            self.say(f"no floor: {info.reason}")
        return spent

    def why_at_floor(self) -> str | None:
        """Why the current best is at the floor (within the floor_stop threshold), or None."""
        return self.why_at(self.steps.state.best_ms)

    def why_at(self, ms: float | None) -> str | None:
        """Why a candidate with median `ms` is at the floor (within the floor_stop threshold), or None (no
        median, no floor)."""
        info = self.info
        if not self.timed or info is None or info.floor is None or not info.available:
            return None
        if not at_floor(ms, info.floor, self.floor_stop):
            return None
        assert ms is not None
        return (f"at the floor: {ms:.4g} ms vs floor {info.floor.ms:.4g} ms "
                f"({ms / info.floor.ms:.2f}x, {info.floor.limit} bound; stop within "
                f"{self.floor_stop * 100:g}%), nothing left to gain")

    def why_far(self) -> str | None:
        """Why the current best has room whatever its metrics say (over FAR_FROM_FLOOR x its floor), or None."""
        info, best_ms = self.info, self.steps.state.best_ms
        if not self.timed or info is None or info.floor is None or not info.available \
                or not far_from_floor(best_ms, info.floor):
            return None
        assert best_ms is not None
        return (f"the best ({best_ms:.4g} ms) is {best_ms / info.floor.ms:.1f}x its floor ({info.floor.ms:.4g} ms, "
                f"{info.floor.limit} bound): over {FAR_FROM_FLOOR:g}x there is room whatever the metrics say")

    def stop(self, stage: str, keys: list[str], what: str = "skipped") -> bool:
        """At the floor: record a SKIP under each key (no profile, no LLM, no tuner) and say `what` was."""
        why = self.why_at_floor()
        if why is None:
            self._note_below()
            return False
        self.say(f"{stage}: {what}, {why}")
        for key in keys:
            self.steps.skip(key, stage, "floor", why)
        return True

    def _note_below(self) -> None:
        """Once per task, when the best is clearly under the floor: say why the floor stops nothing."""
        info, best_ms = self.info, self.steps.state.best_ms
        if self.said_below or not self.timed or info is None or info.floor is None or best_ms is None \
                or not below_floor(best_ms, info.floor):
            return
        self.said_below = True  # the stages go on; saying it at every stage would add nothing
        self.say(f"best {best_ms:.4g} ms is {best_ms / info.floor.ms:.2f}x of the floor ({info.floor.ms:.4g} ms, "
                 f"{info.floor.limit} bound): the floor's model does not hold for this kernel (reduced "
                 f"precision, or work PyTorch's FLOP count misses), so it stops nothing")
