"""The run plan: priorities, sections, sizes (the seed ELU at full size by default), modes."""

from __future__ import annotations

from bench import plan
from bench.cli import main


def test_default_plan_runs_the_targets_first_and_elu_at_full_size():
    jobs = plan.jobs_for(plan.DEFAULT, frozenset(plan.SECTIONS))
    names = [j.name for j in jobs]
    assert names[:6] == ["ceilings", "eval:elu", "tune:elu", "trust", "eval:conv_mish_bn", "profile:elu"]
    assert names[-1] == "sweep:conv_mish_bn"
    # One figure of every kind before the second of any: all evaluations, then an optimize run, then the rest.
    assert names.index("eval:gemm_bias_relu") < names.index("optimize:elu") < names.index("tune:conv_mish_bn")
    assert names.index("optimize:conv_mish_bn") < names.index("tune:softmax")
    elu = next(j for j in jobs if j.name == "eval:elu")
    assert elu.overrides == {} and elu.estimate_s == plan.ESTIMATE_FULL_ELU_S["quality_eval"]
    opt = next(j for j in jobs if j.name == "optimize:elu")
    assert opt.overrides == {"batch_size": "64"}
    assert len(set(names)) == len(names)


def test_sections_select_jobs():
    trust_only = [j.name for j in plan.jobs_for(plan.DEFAULT, frozenset({"trust"}))]
    assert trust_only == ["ceilings", "trust"]
    cost = [j.name for j in plan.jobs_for(plan.DEFAULT, frozenset({"cost"}))]
    assert cost == ["ceilings", "eval:elu", "tune:elu", "profile:elu", "optimize:elu", "optimize:conv_mish_bn"]


def test_modes():
    assert plan.FULL.budget_s == 0 and plan.FULL.max_autotune and plan.FULL.trust_timing == {}
    assert not plan.DEFAULT.max_autotune and plan.DEFAULT.budget_s <= 540
    assert plan.QUICK.budget_s < 240 and plan.QUICK.trust_decisions < plan.AA_DECISIONS
    assert plan.DEFAULT.trust_decisions == 50 and plan.DEFAULT.slowed_decisions[0.05] == 50


def test_unknown_section_is_refused(capsys):
    assert main(["--only", "speed"]) == 2
    assert "unknown section or example: speed" in capsys.readouterr().err
