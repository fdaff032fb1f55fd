"""The job runner: ok, failure with its last line, timeout that kills the process group, peak RSS."""

from __future__ import annotations

import sys
import time

from bench.monitor import GpuMemoryPoller, run_job


def test_ok_job_reports_wall_and_rss(tmp_path):
    code = "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); print('done')"
    r = run_job([sys.executable, "-c", code], 60, tmp_path / "ok.log", poll_gpu=False)
    assert r.status == "ok" and r.rc == 0 and r.reason == ""
    assert r.peak_rss_mib is not None and r.peak_rss_mib >= 300  # the 300 MiB buffer was touched
    assert r.log_tail == ["done"] and r.gpu_peak_mib is None


def test_failed_job_keeps_its_last_line(tmp_path):
    r = run_job([sys.executable, "-c", "import sys; print('boom: bad input'); sys.exit(3)"], 60,
                tmp_path / "bad.log", poll_gpu=False)
    assert r.status == "failed" and r.rc == 3 and r.reason == "exit code 3: boom: bad input"


def test_timeout_kills_the_job_and_its_children(tmp_path):
    code = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
            "time.sleep(60)")
    t0 = time.monotonic()
    r = run_job([sys.executable, "-c", code], 1.0, tmp_path / "slow.log", poll_gpu=False)
    assert r.status == "timeout" and "killed after 1 s" in r.reason
    assert time.monotonic() - t0 < 15  # SIGTERM to the whole group: neither process outlives the limit by much


def test_gpu_poller_without_nvidia_smi_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi here
    with GpuMemoryPoller() as p:
        pass
    assert p.delta_mib is None and "nvidia-smi not found" in p.note
