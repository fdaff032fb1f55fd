"""One Decision enum (same strings as the stored ones), one source for shared defaults, one tuner-limits builder."""

from __future__ import annotations

import json

import pytest

from tritonwright import defaults
from tritonwright.decision import ATTEMPT_DECISIONS, TUNER_DECISIONS, Decision, attempt_decision
from tritonwright.gpus.spec import get_gpu
from tritonwright.store import AttemptRecord, RunStore
from tritonwright.tune.neighbourhoods import GpuLimits, gpu_limits


def test_decisions_are_the_plain_strings_runs_have_always_stored() -> None:
    assert [d.value for d in ATTEMPT_DECISIONS] == ["BASE", "KEEP", "REVERT", "FAILED", "SKIP"]
    for d in Decision:
        assert d == d.value and str(d) == d.value and f"{d}" == d.value and f"{d:>8}" == f"{d.value:>8}"
        assert Decision(d.value) is d
    assert json.dumps({Decision.KEEP: Decision.SKIP}) == '{"KEEP": "SKIP"}'
    assert {"KEEP": 1}[Decision.KEEP] == 1  # a count keyed by stored strings is found by member


def test_tuner_decisions_map_onto_attempt_decisions() -> None:
    assert {d: attempt_decision(d) for d in TUNER_DECISIONS} == {
        Decision.KEEP: Decision.KEEP, Decision.REVERT: Decision.REVERT,
        Decision.REFUSED: Decision.SKIP, Decision.CHECKED: Decision.REVERT}
    assert all(attempt_decision(d) in ATTEMPT_DECISIONS for d in TUNER_DECISIONS)
    with pytest.raises(ValueError):
        attempt_decision(Decision.BASE)


def test_a_stored_plain_string_loads_as_its_member(tmp_path) -> None:
    store = RunStore(tmp_path / "runs")
    run = store.create_run("optimize", {})
    store.start_task(run, "t", "t.py", "h", None, "single")
    store.record_attempt(run, "t", AttemptRecord("seed", "seed", "user", "BASE"))  # as an old writer passed it
    store.record_attempt(run, "t", AttemptRecord("final", "final", "user", Decision.KEEP))
    got = {a.step_key: a.decision for a in store.attempts(run, "t")}
    assert got == {"seed": Decision.BASE, "final": Decision.KEEP}
    assert all(type(d) is Decision for d in got.values())


def test_shared_defaults_are_used_by_their_users() -> None:
    from tritonwright.pipeline.optimize import OptimizeConfig
    from tritonwright.profile import metrics
    from tritonwright.prompts import stages
    from tritonwright.tune.search import TuneSettings

    assert OptimizeConfig().threshold == TuneSettings().threshold == defaults.KEEP_THRESHOLD
    assert OptimizeConfig().stages is stages.STAGES is metrics.STAGES is defaults.STAGES


def test_tuner_limits_come_from_the_spec_table() -> None:
    h100 = gpu_limits(get_gpu(defaults.ASSUMED_GPU))
    assert h100.max_smem_per_block == GpuLimits().max_smem_per_block  # the built-in figures are an H100's
    a100 = gpu_limits(get_gpu("A100 40GB"))
    assert a100.name.startswith("A100") and a100.source.startswith("spec table")
    assert a100.max_smem_per_block == int(get_gpu("A100 40GB").shared_memory_per_block_kb * 1024)
