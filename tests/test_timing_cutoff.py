"""eval.timing.time_cuda's screening cutoff, with CUDA's events and syncs replaced by a fake clock: a config
whose warm-up runs average above the cutoff keeps them as its figure; any other is timed as before."""

from __future__ import annotations

from typing import Any

import pytest

from tritonwright.eval import timing


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each call of the timed function "takes" the ms its list says next; returns the list of calls made."""
    calls: list[int] = []

    def one(fn: Any, flush: Any, device_sync: bool) -> tuple[float, float]:
        calls.append(1)
        return 0.0, fn()

    monkeypatch.setattr(timing, "_one", one)
    monkeypatch.setattr(timing, "_synchronize", lambda: None)
    monkeypatch.setattr(timing, "_elapsed", lambda start, end: end - start)
    monkeypatch.setattr(timing, "_flush_ms", lambda flush: 0.5)
    return calls


SETTINGS = timing.TimingSettings(warmup_ms=5.0, min_runs=10, budget_ms=60.0, max_runs=500)


def test_a_config_slower_than_the_cutoff_keeps_its_warm_up_runs(fake_gpu: list[int]) -> None:
    stats = timing.time_cuda(lambda: 100.0, timing.TimingSettings(**{**SETTINGS.__dict__, "give_up_ms": 2.0}),
                             None)  # type: ignore[arg-type]
    assert len(fake_gpu) == 4 and stats.n == 3 and stats.median_ms == 100.0  # the cold call left out
    assert "slower than the cutoff" in stats.method


def test_a_config_within_the_cutoff_or_without_one_is_timed_in_full(fake_gpu: list[int]) -> None:
    stats = timing.time_cuda(lambda: 1.0, timing.TimingSettings(**{**SETTINGS.__dict__, "give_up_ms": 2.0}),
                             None)  # type: ignore[arg-type]
    assert stats.n == 60 and stats.method == "cuda_events"  # budget 60 ms of 1 ms runs, after a 5-run warm-up
    fake_gpu.clear()
    stats = timing.time_cuda(lambda: 100.0, SETTINGS, None)  # type: ignore[arg-type]
    assert stats.n == 10 and len(fake_gpu) == 14  # no cutoff: min_runs after the cold call and warm-up


def test_a_slow_first_call_is_neither_the_estimate_nor_the_figure(fake_gpu: list[int]) -> None:
    """A first call that compiles or loads the module (50 ms here, for a 1 ms config) must not put the config
    over the cutoff (the H200 run where every screened config kept 2 warm-up runs) nor cut its timed runs."""
    times = iter([50.0] + [1.0] * 1000)
    stats = timing.time_cuda(lambda: next(times), timing.TimingSettings(**{**SETTINGS.__dict__, "give_up_ms": 2.0}),
                             None)  # type: ignore[arg-type]
    assert stats.method == "cuda_events" and stats.n == 60 and stats.median_ms == 1.0


def test_a_short_run_records_the_hosts_pace_and_the_flush(fake_gpu: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs the host could fail to keep fed carry the host's ms per call (ten un-synced calls) and the flush's."""
    clock = iter([10.0, 10.0 + 10 * 0.0004])  # ten calls in 4 ms of host time
    monkeypatch.setattr(timing, "_clock", lambda: next(clock))
    stats = timing.time_cuda(lambda: 0.2, SETTINGS, None)  # type: ignore[arg-type]
    assert stats.host_ms == pytest.approx(0.4) and stats.flush_ms == 0.5
    assert not stats.host_bound  # 0.4 ms of host against 0.2 + 0.5 ms of GPU per run
    assert timing.dataclasses.replace(stats, host_ms=0.6).host_bound  # within 20 % of the GPU's 0.7 ms


def test_long_runs_synced_runs_and_ranking_runs_skip_the_host_check(fake_gpu: list[int]) -> None:
    assert timing.time_cuda(lambda: 5.0, SETTINGS, None).host_ms is None  # type: ignore[arg-type]
    synced = timing.TimingSettings(**{**SETTINGS.__dict__, "device_sync": True})
    assert timing.time_cuda(lambda: 0.2, synced, None).host_ms is None  # type: ignore[arg-type]
    # a screen's or an A/B round's figure only ranks: no extra calls for it
    assert timing.time_cuda(lambda: 0.2, SETTINGS, None, host_check=False).host_ms is None  # type: ignore[arg-type]
