"""Which paths a stage takes (the LLM's, the tuner's, or none) and the row keys each path ends in. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TUNER_STAGES_WITHOUT_LLM = ("block_tiling", "memory_access", "advanced_memory")  # stages the tuner can serve
TUNER_ALWAYS = "advanced_memory"  # served with an LLM too: launch settings are this stage's topic
LAUNCH = "launch"  # the tuner's name for "every axis at once"


def launch_stage(stages: Sequence[str], has_llm: bool, has_tuner: bool) -> str | None:
    """Without an LLM the tuner searches the whole launch space once, at the first stage it serves."""
    if has_llm or not has_tuner:
        return None
    return next((s for s in stages if s in TUNER_STAGES_WITHOUT_LLM), None)


@dataclass(frozen=True)
class StagePlan:
    stage: str
    uses_llm: bool
    uses_tuner: bool
    launch_at: str | None  # the stage where the tuner searches every axis (runs without an LLM), else None

    @property
    def llm_key(self) -> str:
        return f"stage:{self.stage}:llm"

    @property
    def tune_key(self) -> str:
        return f"stage:{self.stage}:tune"

    @property
    def skip_key(self) -> str:
        return f"stage:{self.stage}:skip"

    @property
    def tuned_elsewhere(self) -> bool:
        """The tuner's one whole-space search belongs to another stage: nothing is left for this one."""
        return self.uses_tuner and self.launch_at is not None and self.stage != self.launch_at

    @property
    def tuner_stage(self) -> str:
        """What the tuner is asked to search here."""
        return LAUNCH if self.stage == self.launch_at else self.stage

    @property
    def paths(self) -> int:
        """How many paths (LLM, tuner) this stage takes."""
        return int(self.uses_llm) + int(self.uses_tuner)


def plan_stage(stage: str, stages: Sequence[str], has_llm: bool, has_tuner: bool) -> StagePlan:
    uses_tuner = has_tuner and (stage == TUNER_ALWAYS or (
        not has_llm and stage in TUNER_STAGES_WITHOUT_LLM))
    return StagePlan(stage, has_llm, uses_tuner, launch_stage(stages, has_llm, has_tuner))
