"""What became of a step: one enum for the pipeline, the tuner, the run store and the reports.

Members are `str`s whose value is their name, so the run store's column, JSON bundles and report templates
hold the same plain strings as before, old run stores load unchanged, and a value read back from SQLite or
JSON compares equal to its member (`"KEEP" == Decision.KEEP`).
"""

from __future__ import annotations

from enum import Enum


class Decision(str, Enum):
    """A step's outcome. The first five are what a run records per attempt; the last two are the tuner's own."""

    BASE = "BASE"  # the seed (or a repaired candidate) became the first best: the baseline later steps beat
    KEEP = "KEEP"  # correct and significantly faster than the best: it is the new best
    REVERT = "REVERT"  # correct but not significantly faster (or not timed): the best stays
    FAILED = "FAILED"  # incorrect, crashed, or no usable answer: the best stays
    SKIP = "SKIP"  # not attempted: a stage's early-exit rule held, the floor was reached, or nothing to tune
    REFUSED = "REFUSED"  # tuner: nothing to tune (too dynamic, the original fails, or no kernel heavy enough)
    CHECKED = "CHECKED"  # tuner --dry-run: the rewritten code and each config are correct, not timed

    def __str__(self) -> str:  # the plain value in f-strings, templates and tables on every Python version
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


ATTEMPT_DECISIONS: tuple[Decision, ...] = (Decision.BASE, Decision.KEEP, Decision.REVERT, Decision.FAILED,
                                           Decision.SKIP)  # what a run store's attempt row holds
TUNER_DECISIONS: tuple[Decision, ...] = (Decision.KEEP, Decision.REVERT, Decision.REFUSED,
                                         Decision.CHECKED)  # what tune() reports
CURRENT_BEST: tuple[Decision, ...] = (Decision.BASE, Decision.KEEP)  # the attempt's candidate became the best

_FROM_TUNER: dict[Decision, Decision] = {
    Decision.KEEP: Decision.KEEP,  # the tuned code won its A/B comparison
    Decision.REVERT: Decision.REVERT,  # tried and not faster: a tried-and-lost step, like an LLM's
    Decision.REFUSED: Decision.SKIP,  # nothing could be tuned: the step did not happen
    Decision.CHECKED: Decision.REVERT,  # dry run (CPU): correct but speed unknown, so the best stays
}


def attempt_decision(tuner: Decision) -> Decision:
    """The run's decision for a tuner step, from the tuner's own decision."""
    try:
        return _FROM_TUNER[tuner]
    except KeyError:
        raise ValueError(f"{tuner!r} is not a tuner decision") from None
