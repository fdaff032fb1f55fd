"""Detection from (fake) device properties: exact name matching, measured values win, unknown GPUs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tritonwright.gpus import DeviceProps, GpuSpec, NoDeviceError, detect_gpu, get_gpu, read_device_props
from tritonwright.prompts import render_gpu_header


def props_like(spec: GpuSpec, name: str, **changes: object) -> DeviceProps:
    """What a real device of this table entry reports (bytes), with `changes` applied."""
    major, minor = spec.cc
    assert spec.l2_cache_mb and spec.shared_memory_per_sm_kb and spec.shared_memory_per_block_kb
    base = DeviceProps(name=name, major=major, minor=minor, sm_count=spec.sm_count,
                       max_threads_per_sm=spec.max_threads_per_sm, warp_size=spec.warp_size,
                       l2_cache_bytes=int(spec.l2_cache_mb * 1024 * 1024),
                       shared_memory_per_sm_bytes=int(spec.shared_memory_per_sm_kb * 1024),
                       shared_memory_per_block_optin_bytes=int(spec.shared_memory_per_block_kb * 1024),
                       total_memory_bytes=24 * 10**9)
    return DeviceProps(**{**base.__dict__, **changes})


@pytest.mark.parametrize(("device_name", "key"), [
    ("NVIDIA GeForce RTX 4090", "4090"),
    ("NVIDIA GeForce RTX 4090 D", "4090D"),
    ("NVIDIA GeForce RTX 3090", "3090"),
    ("NVIDIA RTX A6000", "A6000"),
    ("Quadro RTX 6000", "Quadro RTX 6000"),
    ("Tesla T4", "T4"),
    ("NVIDIA A10G", "A10G"),
    ("NVIDIA L4", "L4"),
    ("NVIDIA L40S", "L40S"),
    ("NVIDIA A100-SXM4-40GB", "A100 40GB"),
    ("NVIDIA A100-PCIE-40GB", "A100 40GB"),
    ("NVIDIA A100-SXM4-80GB", "A100 80GB"),
    ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe"),
    ("NVIDIA H100 80GB HBM3", "H100 SXM"),
    ("NVIDIA H100 PCIe", "H100 PCIe"),
    ("NVIDIA H200", "H200"),
    ("NVIDIA B200", "B200"),
])
def test_device_names_map_to_table_entries(device_name: str, key: str) -> None:
    detection = detect_gpu(props_like(get_gpu(key), device_name))
    assert detection.matched == key
    assert detection.spec == get_gpu(key)
    assert detection.notes == ()


def test_measured_values_win_and_the_notes_say_so() -> None:
    table = get_gpu("4090")
    detection = detect_gpu(props_like(table, "NVIDIA GeForce RTX 4090", sm_count=120,
                                      l2_cache_bytes=64 * 1024 * 1024))
    assert detection.matched == "4090"
    assert detection.spec.sm_count == 120 and detection.spec.l2_cache_mb == 64
    assert detection.spec.memory_bandwidth_gb_s == 1008  # vendor figures the device cannot report stay
    assert len(detection.notes) == 2
    assert "SM count: table says 128, device reports 120" in detection.notes[0]
    assert "L2 cache (MB): table says 72, device reports 64" in detection.notes[1]
    header = render_gpu_header(detection.spec)
    assert "GPU Name: 4090\n" in header and "• Number of SMs: 120\n" in header and ": 64 MB\n" in header


def test_a_mig_slice_matches_its_gpu_with_its_own_sm_count() -> None:
    h100 = get_gpu("H100 SXM")
    detection = detect_gpu(props_like(h100, "NVIDIA H100 80GB HBM3 MIG 1g.10gb", sm_count=16))
    assert detection.matched == "H100 SXM" and detection.spec.sm_count == 16
    assert any("SM count" in note for note in detection.notes)


def test_changed_threads_per_sm_recomputes_warps() -> None:
    detection = detect_gpu(props_like(get_gpu("4090"), "NVIDIA GeForce RTX 4090", max_threads_per_sm=1024))
    assert detection.spec.max_warps_per_sm == 32


@pytest.mark.parametrize("device_name", ["NVIDIA GeForce RTX 4090 Laptop GPU", "NVIDIA RTX PRO 6000 Blackwell"])
def test_unknown_device_gets_a_spec_from_its_properties(device_name: str) -> None:
    props = DeviceProps(name=device_name, major=12, minor=0, sm_count=188, max_threads_per_sm=1536, warp_size=32,
                        l2_cache_bytes=128 * 1024 * 1024, shared_memory_per_sm_bytes=100 * 1024,
                        shared_memory_per_block_optin_bytes=99 * 1024, total_memory_bytes=96 * 10**9)
    detection = detect_gpu(props)
    spec = detection.spec
    assert detection.matched is None
    assert (spec.name, spec.architecture, spec.sm_count, spec.l2_cache_mb) == (device_name, "Blackwell", 188, 128)
    assert spec.max_warps_per_sm == 48 and spec.memory_gb == 96
    assert spec.memory_bandwidth_gb_s is None and spec.fp16_tflops is None
    assert "not in the GPU table" in detection.notes[0] and "memory bandwidth" in detection.notes[0]
    header = render_gpu_header(spec)
    assert "• Memory Bandwidth: unknown\n" in header and "• FP16 Tensor Core TFLOPS: unknown\n" in header


def test_unknown_device_with_few_properties_still_renders() -> None:
    detection = detect_gpu(DeviceProps(name="Mystery GPU", major=6, minor=1, sm_count=20))
    assert detection.spec.architecture == "unknown (compute capability 6.1)"
    header = render_gpu_header(detection.spec)
    assert "• Maximum threads per SM: unknown\n" in header
    assert "• TF32 Tensor Core TFLOPS: not supported\n" in header  # TF32 needs compute capability 8.0


def test_from_torch_reads_torch_attribute_names() -> None:
    torch_like = SimpleNamespace(
        name="NVIDIA H100 80GB HBM3", major=9, minor=0, multi_processor_count=132,
        max_threads_per_multi_processor=2048, warp_size=32, L2_cache_size=52428800,
        shared_memory_per_multiprocessor=233472, shared_memory_per_block_optin=232448, total_memory=85 * 10**9)
    props = DeviceProps.from_torch(torch_like)
    assert props == DeviceProps(name="NVIDIA H100 80GB HBM3", major=9, minor=0, sm_count=132,
                                max_threads_per_sm=2048, warp_size=32, l2_cache_bytes=52428800,
                                shared_memory_per_sm_bytes=233472, shared_memory_per_block_optin_bytes=232448,
                                total_memory_bytes=85 * 10**9)
    assert detect_gpu(props).notes == ()


def test_from_torch_tolerates_an_older_torch_without_some_fields() -> None:
    old = SimpleNamespace(name="Tesla T4", major=7, minor=5, multi_processor_count=40, total_memory=16 * 10**9)
    props = DeviceProps.from_torch(old)
    assert props.l2_cache_bytes is None and props.shared_memory_per_sm_bytes is None
    detection = detect_gpu(props)
    assert detection.matched == "T4" and detection.notes == ()


def test_no_visible_device_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(NoDeviceError, match="no CUDA device"):
        read_device_props()
    with pytest.raises(NoDeviceError):
        detect_gpu()
