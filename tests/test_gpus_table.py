"""The packaged GPU spec table: contents, checks on the data, lookup by name."""

from __future__ import annotations

import pytest

from tritonwright.errors import UserInputError
from tritonwright.gpus import GpuDataError, UnknownGPUError, get_gpu, gpu_names, load_table
from tritonwright.gpus.spec import parse_table

REQUIRED = ["4090", "4090D", "3090", "A6000", "Quadro RTX 6000", "T4", "A10G", "L4", "L40S", "A100 40GB",
            "A100 80GB", "H100 SXM", "H100 PCIe", "H200", "B200"]

VALID_ENTRY = """
[gpu."X1"]
architecture = "Ampere"
compute_capability = "8.0"
sm_count = 10
memory_bandwidth_gb_s = 100
tf32_tflops = 1
bf16_tflops = 2
fp16_tflops = 2
max_registers_per_thread = 255
max_threads_per_block = 1024
max_threads_per_sm = 2048
warp_size = 32
max_warps_per_sm = 64
shared_memory_per_sm_kb = 164
shared_memory_per_block_kb = 163
l2_cache_mb = 4
device_names = ["Fake X1"]
source = "test"
"""


def test_table_has_every_required_gpu_with_a_source() -> None:
    table = load_table()
    assert set(REQUIRED) <= set(table)
    for spec in table.values():
        assert spec.source.strip(), spec.name
        assert spec.device_names, spec.name


def test_4090_has_the_seed_header_values() -> None:
    s = get_gpu("4090")
    assert (s.architecture, s.compute_capability, s.sm_count, s.memory_bandwidth_gb_s) == ("Ada Lovelace", "8.9", 128,
                                                                                          1008)
    assert (s.tf32_tflops, s.bf16_tflops, s.fp16_tflops) == (82.6, 165.2, 165.2)
    assert (s.max_registers_per_thread, s.max_threads_per_block, s.max_threads_per_sm, s.warp_size,
            s.max_warps_per_sm) == (255, 1024, 1536, 32, 48)
    assert (s.shared_memory_per_sm_kb, s.shared_memory_per_block_kb, s.l2_cache_mb) == (100, 99, 72)


def test_turing_lacks_tf32_and_bf16_but_ampere_and_later_have_them() -> None:
    for spec in load_table().values():
        if spec.cc < (8, 0):
            assert spec.tf32_tflops is None and spec.bf16_tflops is None
        else:
            assert spec.tf32_tflops and spec.bf16_tflops and spec.fp16_tflops


@pytest.mark.parametrize(("name", "key"), [
    ("4090", "4090"), ("rtx 4090", "4090"), ("RTX-4090", "4090"), ("4090d", "4090D"), ("RTX 4090 D", "4090D"),
    ("h100_sxm", "H100 SXM"), ("H100 PCIe", "H100 PCIe"), ("a100 40gb", "A100 40GB"),
    ("NVIDIA A100-SXM4-80GB", "A100 80GB"), ("tesla t4", "T4"),
])
def test_lookup_ignores_case_spaces_and_dashes(name: str, key: str) -> None:
    assert get_gpu(name).name == key


@pytest.mark.parametrize("name", ["H100", "A100", "RTX 6000", "409", "40900", ""])
def test_ambiguous_or_partial_names_are_not_guessed(name: str) -> None:
    with pytest.raises(UnknownGPUError) as info:
        get_gpu(name)
    message = str(info.value)
    assert isinstance(info.value, UserInputError)
    assert "\n" not in message and "H100 SXM" in message and "B200" in message


def test_gpu_names_keep_file_order() -> None:
    assert gpu_names()[:3] == ["4090", "4090D", "3090"]


def test_a_valid_entry_parses() -> None:
    spec = parse_table(VALID_ENTRY)["X1"]
    assert spec.memory_gb is None and spec.aliases == () and spec.device_names == ("Fake X1",)


@pytest.mark.parametrize(("edit", "message"), [
    (("sm_count = 10", "sm_count = 10\nsm_cuont = 3"), "unknown keys"),
    (("l2_cache_mb = 4\n", ""), "missing keys"),
    (("tf32_tflops = 1\n", ""), "tf32_tflops missing"),
    (("max_warps_per_sm = 64", "max_warps_per_sm = 48"), "max_warps_per_sm x warp_size"),
    (("sm_count = 10", "sm_count = 0"), "positive integer"),
    (("sm_count = 10", "sm_count = 10.5"), "positive integer"),
    (('compute_capability = "8.0"', 'compute_capability = "eight"'), "compute_capability"),
    (("shared_memory_per_block_kb = 163", "shared_memory_per_block_kb = 200"), "per block exceeds"),
    (('device_names = ["Fake X1"]', "device_names = \"Fake X1\""), "list of strings"),
])
def test_malformed_entries_are_rejected(edit: tuple[str, str], message: str) -> None:
    old, new = edit
    assert old in VALID_ENTRY
    with pytest.raises(GpuDataError, match=message):
        parse_table(VALID_ENTRY.replace(old, new, 1))


def test_a_name_claimed_twice_is_rejected() -> None:
    second = VALID_ENTRY.replace('[gpu."X1"]', '[gpu."X2"]').replace('"Fake X1"', '"fake-x1"')
    with pytest.raises(GpuDataError, match="claimed by both"):
        parse_table(VALID_ENTRY + second)
