"""The pool's view of its slots: each slot's state, counters and health check, and the event log (starts,
crashes, retries, drained devices). Everything here is read and written under the pool's one condition."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tritonwright.executors.jobs import Job

USABLE = frozenset({"idle", "busy"})  # states of a slot that runs jobs
GONE = frozenset({"drained", "stopped"})  # states of a slot that never runs a job again


class Slot(Protocol):
    name: str

    def start(self) -> dict[str, Any]: ...  # start the worker and return its health check ({"ok", "reason"})
    def run(self, job: Job, timeout_s: float) -> Any: ...  # raise WorkerLost when the worker fails
    def stop(self) -> None: ...  # from the slot's own thread (or once that thread has ended)
    def kill(self) -> None: ...  # from any thread: end the worker now; its thread then sees it lost
    def pid(self) -> int | None: ...


@dataclass
class PoolEvent:
    t: float  # seconds since the pool started
    slot: str
    kind: str  # started | crash | retry | lost | drained
    detail: str


@dataclass
class SlotState:
    slot: Slot
    state: str = "starting"  # starting | idle | busy | restarting | drained | stopped
    jobs: int = 0
    crashes: int = 0
    busy_s: float = 0.0
    health: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    current: str = ""


class SlotBoard:
    """Every slot's state, and the events. Methods marked "holding the condition" expect the caller to hold
    `cond`; the others take it themselves."""

    def __init__(self, slots: list[Slot], cond: threading.Condition,
                 on_event: Callable[[PoolEvent], None] | None = None) -> None:
        self.states = {s.name: SlotState(s) for s in slots}
        self.cond = cond
        self.events: list[PoolEvent] = []
        self._on_event = on_event
        self._t0 = time.monotonic()

    def event(self, slot: str, kind: str, detail: str) -> None:
        ev = PoolEvent(round(time.monotonic() - self._t0, 3), slot, kind, detail)
        with self.cond:
            self.events.append(ev)
        if self._on_event is not None:
            with contextlib.suppress(Exception):  # a display problem must never stop the pool
                self._on_event(ev)

    def set_state(self, st: SlotState, state: str) -> None:
        with self.cond:
            st.state = state
            self.cond.notify_all()

    def all_drained(self) -> bool:
        """No slot will run a job again (holding the condition)."""
        return all(st.state in GONE for st in self.states.values())

    def drained_reasons(self) -> str:
        """Why each slot stopped (holding the condition)."""
        return "no healthy worker left: " + "; ".join(f"{n} {st.reason}" for n, st in self.states.items())

    def other_idle(self, st: SlotState, avoid: set[str]) -> bool:
        """Another slot, not in `avoid`, is idle now (holding the condition)."""
        return any(o is not st and o.state == "idle" and name not in avoid for name, o in self.states.items())

    def starting(self) -> bool:
        """Some slot has not finished its first start (holding the condition)."""
        return any(st.state == "starting" for st in self.states.values())

    def usable(self) -> int:
        """Slots that run jobs now (holding the condition)."""
        return sum(st.state in USABLE for st in self.states.values())

    def report(self, executor: str) -> dict[str, Any]:
        """Plain data for the run store and the console: each slot's state, jobs, crashes, health."""
        with self.cond:
            return {
                "executor": executor,
                "slots": [{"name": name, "state": st.state, "jobs": st.jobs, "crashes": st.crashes,
                           "busy_s": round(st.busy_s, 3), "device": st.health.get("device", ""),
                           "health_s": st.health.get("seconds"), "reason": st.reason}
                          for name, st in self.states.items()],
                "events": [e.__dict__ for e in self.events],
            }
