"""collect on CPU: a fake ncu (a small script written here) plays back real captures and the failure paths."""

from __future__ import annotations

import gzip
import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from tritonwright.profile.collect import (
    PERMISSION_HELP,
    ProfileSettings,
    ProfileStatus,
    build_command,
    find_ncu,
    kernel_regex,
    profile_candidate,
    query_metrics,
)
from tritonwright.profile.parse import MetricCatalog
from tritonwright.task import load_task

FIX = Path(__file__).parent / "fixtures" / "ncu"
MEMORY_DEPENDENCY = "smsp__warp_issue_stalled_memory_dependency_per_warp_active.pct"

# The fake answers --query-metrics with the real H200 listing; for a profile it reads its own arguments
# (--log-file, --result) and acts out MODE: copy a captured CSV, refuse counters, hang, or fail the target.
FAKE = '''#!{python}
import gzip, json, shutil, sys, time
MODE, CSV, QUERY = {mode!r}, {csv!r}, {query!r}
args = sys.argv[1:]
if "--query-metrics" in args:
    if MODE == "crash":
        print("==ERROR== An error was reported by the driver")
        sys.exit(9)
    sys.stdout.write(gzip.open(QUERY, "rt").read())
    sys.exit(0)
log, result = args[args.index("--log-file") + 1], args[args.index("--result") + 1]
open(log + ".argv", "w").write(json.dumps(args))
if MODE == "csv":
    shutil.copy(CSV, log)
    json.dump({{"ok": True, "device": "fake"}}, open(result, "w"))
elif MODE == "perm":
    print("==PROF== Connected to process 1 (/usr/bin/python3)")
    print("==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU Performance "
          "Counters on the target device 0. For instructions on enabling permissions and to get more "
          "information see https://developer.nvidia.com/ERR_NVGPUCTRPERM")
    sys.exit(1)
elif MODE == "hang":
    time.sleep(60)
elif MODE == "target-fails":
    json.dump({{"ok": False, "step": "load", "error": "LoadError: ModelNew: constructor does not accept"}},
              open(result, "w"))
    sys.exit(3)
elif MODE == "crash":
    print("==ERROR== An error was reported by the driver")
    sys.exit(9)
'''


def make_fake(tmp_path: Path, mode: str, csv: str = "elu.csv") -> str:
    path = tmp_path / f"ncu-{mode}"
    path.write_text(FAKE.format(python=sys.executable, mode=mode, csv=str(FIX / csv),
                                query=str(FIX / "query_metrics_h200.txt.gz")))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def run(tmp_path: Path, mode: str, name: str = "elu", csv: str | None = None, **settings):
    task = load_task(FIX / f"{name}_task.py")
    ncu = make_fake(tmp_path, mode, csv or f"{name}.csv")
    return profile_candidate(task, str(FIX / f"{name}_candidate.py"), ProfileSettings(ncu_path=ncu, **settings))


def argv_of(outcome) -> list[str]:
    log = outcome.command[outcome.command.index("--log-file") + 1]
    return json.loads(Path(log + ".argv").read_text()) if Path(log + ".argv").exists() else []


def test_ok_elu(tmp_path):
    out = run(tmp_path, "csv")
    assert out.status is ProfileStatus.OK, out.reason
    assert out.kernels == ("elu_kernel",) and list(out.report.kernels) == ["elu_kernel"]
    assert out.headline() == "NCU metrics collected"
    assert out.unsupported == () and out.notes == []
    assert out.target == {"ok": True, "device": "fake"}


def test_command_profiles_exact_names_in_the_range_without_touching_clocks(tmp_path):
    out = run(tmp_path, "csv", name="mish", stage="advanced_memory", metrics=(MEMORY_DEPENDENCY,))
    cmd = out.command
    assert cmd[cmd.index("--clock-control") + 1] == "none"
    assert cmd[cmd.index("--profile-from-start") + 1] == "off"
    assert cmd[cmd.index("--kernel-name") + 1] == "regex:^(fused_activation_kernel|fused_activation_kernel_optimized)$"
    assert cmd[cmd.index("--launch-count") + 1] == "64"
    asked = cmd[cmd.index("--metrics") + 1].split(",")
    assert MEMORY_DEPENDENCY not in asked and out.unsupported == (MEMORY_DEPENDENCY,)
    assert "smsp__warp_issue_stalled_barrier_per_warp_active.pct" in asked
    assert any("left out (not collectable on NVIDIA H200 (GH100))" in n for n in out.notes)
    assert cmd[cmd.index("-m") + 1] == "tritonwright.profile.target"


def test_kernel_defined_but_not_launched_is_a_note_not_a_failure(tmp_path):
    out = run(tmp_path, "csv", name="mish")
    assert out.ok and list(out.report.kernels) == ["fused_activation_kernel_optimized"]
    assert "defined but not launched: fused_activation_kernel" in out.notes


def test_one_launch_per_kernel_unless_asked(tmp_path):
    out = run(tmp_path, "csv", name="multi")
    assert [len(k.launches) for k in out.report.kernels.values()] == [1, 1]
    assert "relu_kernel: 2 launches profiled, first 1 kept" in out.notes
    assert "defined but not launched: unused_kernel" in out.notes
    more = run(tmp_path, "csv", name="multi", launches=2)
    assert len(more.report.kernels["relu_kernel"].launches) == 2
    assert more.command[more.command.index("--launches") + 1] == "2"


def test_permission_error_is_one_clear_message(tmp_path):
    out = run(tmp_path, "perm")
    assert out.status is ProfileStatus.PERMISSION and out.report is None
    assert out.reason == PERMISSION_HELP
    assert out.headline().startswith("No NCU metrics available: ncu may not read the GPU performance counters")
    assert "NVreg_RestrictProfilingToAdminUsers=0" in out.reason


def test_timeout_kills_ncu_and_its_children(tmp_path):
    t0 = time.perf_counter()
    out = run(tmp_path, "hang", timeout_s=1.0)
    assert time.perf_counter() - t0 < 20
    assert out.status is ProfileStatus.TIMEOUT and "killed after 1 s" in out.reason


def test_kernel_not_found_names_what_ran(tmp_path):
    out = run(tmp_path, "csv", name="multi", csv="no_kernel.log")
    assert out.status is ProfileStatus.KERNEL_NOT_FOUND
    assert out.reason.endswith("ncu saw: relu_kernel, scale_kernel")


def test_target_failure_is_reported_from_the_child(tmp_path):
    out = run(tmp_path, "target-fails")
    assert out.status is ProfileStatus.TARGET_FAILED
    assert out.reason == ("the profiled program failed at step load: LoadError: ModelNew: constructor does not "
                          "accept")


def test_ncu_failing_otherwise(tmp_path):
    out = run(tmp_path, "crash")
    assert out.status is ProfileStatus.NCU_FAILED and "exit 9" in out.reason
    assert "An error was reported by the driver" in out.reason
    assert out.notes[0].startswith("supported metrics unknown (ncu --query-metrics failed (exit 9)")


def test_ncu_missing(tmp_path):
    task = load_task(FIX / "elu_task.py")
    missing = str(tmp_path / "no-ncu-here")
    out = profile_candidate(task, str(FIX / "elu_candidate.py"), ProfileSettings(ncu_path=missing))
    assert out.status is ProfileStatus.NCU_MISSING and missing in out.reason and out.command == []
    assert find_ncu(env={"PATH": str(tmp_path)}, globs=()) is None


def test_find_ncu_order(tmp_path, monkeypatch):
    cuda = tmp_path / "cuda" / "bin"
    cuda.mkdir(parents=True)
    fake = make_fake(cuda.parent, "csv")
    os.rename(fake, cuda / "ncu")
    assert find_ncu(env={"PATH": "", "CUDA_HOME": str(cuda.parent)}, globs=()) == str(cuda / "ncu")
    assert find_ncu(env={"PATH": str(cuda)}, globs=()) == str(cuda / "ncu")
    assert find_ncu(env={"PATH": ""}, globs=(str(tmp_path / "*" / "bin" / "ncu"),)) == str(cuda / "ncu")
    assert find_ncu(str(cuda / "ncu")) == str(cuda / "ncu")


def test_candidate_without_kernels_does_not_run_ncu(tmp_path):
    cand = tmp_path / "plain.py"
    cand.write_text("import torch\nclass ModelNew(torch.nn.Module):\n    def forward(self, x):\n        return x\n")
    out = profile_candidate(load_task(FIX / "elu_task.py"), str(cand), ProfileSettings(ncu_path="/nonexistent"))
    assert out.status is ProfileStatus.NO_KERNELS_DEFINED and out.command == []


def test_query_metrics_parses_the_listing(tmp_path):
    catalog = query_metrics(make_fake(tmp_path, "csv"))
    assert isinstance(catalog, MetricCatalog) and catalog.device == "NVIDIA H200 (GH100)"
    bad = query_metrics(make_fake(tmp_path, "crash"))  # the crash fake prints no listing
    assert bad == "ncu --query-metrics failed (exit 9): ==ERROR== An error was reported by the driver"


def test_overrides_travel_to_the_target(tmp_path):
    task = load_task(FIX / "elu_task.py", {"dim": "1024"})
    cmd = build_command("ncu", ProfileSettings(), ["a__b.sum"], ["elu_kernel"], task, "c.py", "r.json", "l.csv")
    assert cmd[cmd.index("--set") + 1] == "dim=1024"
    assert kernel_regex(["a_b", "c"]) == "regex:^(a_b|c)$"


def test_settings_are_validated():
    with pytest.raises(ValueError):
        ProfileSettings(clock_control="max")
    with pytest.raises(ValueError):
        ProfileSettings(launches=0)
    with pytest.raises(ValueError):
        ProfileSettings(stage="nope").requested_metrics()


def test_fixture_listing_is_gzip_text():
    assert gzip.decompress((FIX / "query_metrics_h200.txt.gz").read_bytes()).startswith(b"Device NVIDIA H200")
