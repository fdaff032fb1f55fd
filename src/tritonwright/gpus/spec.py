"""The GPU spec table: typed records read from the packaged `specs.toml`, and lookup by name.

    load_table(text=None) -> dict[str, GpuSpec]   # the packaged table, or a TOML text (tests)
    get_gpu(name, table=None) -> GpuSpec           # table key, alias or device name; UnknownGPUError if none
    gpu_names(table=None) -> list[str]             # table keys in file order

Names match after `normalize_name` (case, spaces, '-', '_' ignored) and only exactly: a substring
match would send "RTX 4090 D" or a 4090 laptop part to the 4090's numbers.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

from tritonwright.errors import UserInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

TENSOR_FORMATS = ("tf32", "bf16", "fp16")
# TF32 and BF16 tensor cores arrived with Ampere (8.0); FP16 tensor cores with Volta (7.0).
TENSOR_FORMAT_MIN_CC: dict[str, tuple[int, int]] = {"tf32": (8, 0), "bf16": (8, 0), "fp16": (7, 0)}


class UnknownGPUError(UserInputError):
    """A GPU name that is not in the table."""


class GpuDataError(Exception):
    """The spec table itself is malformed: a bug in our package data, not a user mistake."""


@dataclass(frozen=True)
class GpuSpec:
    """One GPU's figures as the prompts print them. None means unknown (or, for a tensor format the
    compute capability lacks, not supported)."""

    name: str
    architecture: str
    compute_capability: str
    sm_count: int
    memory_bandwidth_gb_s: float | None
    tf32_tflops: float | None
    bf16_tflops: float | None
    fp16_tflops: float | None
    max_registers_per_thread: int
    max_threads_per_block: int
    max_threads_per_sm: int | None
    warp_size: int
    max_warps_per_sm: int | None
    shared_memory_per_sm_kb: float | None
    shared_memory_per_block_kb: float | None
    l2_cache_mb: float | None
    memory_gb: float | None = None
    aliases: tuple[str, ...] = ()
    device_names: tuple[str, ...] = ()
    source: str = ""
    note: str = ""  # why this spec stands for the target when none was detected (a CPU run); shown in prompts

    @property
    def cc(self) -> tuple[int, int]:
        major, _, minor = self.compute_capability.partition(".")
        return int(major), int(minor or 0)

    def supports(self, fmt: str) -> bool:
        """Whether the architecture has tensor cores for `fmt` (one of TENSOR_FORMATS)."""
        return self.cc >= TENSOR_FORMAT_MIN_CC[fmt]

    def tensor_tflops(self, fmt: str) -> float | None:
        if fmt not in TENSOR_FORMATS:
            raise ValueError(f"unknown tensor format {fmt!r}; expected one of {', '.join(TENSOR_FORMATS)}")
        value: float | None = getattr(self, f"{fmt}_tflops")
        return value

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def normalize_name(name: str) -> str:
    """Lower case without spaces, '-' and '_': "NVIDIA A100-SXM4-40GB" and "nvidia a100 sxm4 40gb" agree."""
    return "".join(ch for ch in name.lower() if ch not in " -_\t")


_INT_FIELDS = {"sm_count", "max_registers_per_thread", "max_threads_per_block", "max_threads_per_sm",
               "warp_size", "max_warps_per_sm"}
_NUMBER_FIELDS = {"memory_bandwidth_gb_s", "tf32_tflops", "bf16_tflops", "fp16_tflops",
                  "shared_memory_per_sm_kb", "shared_memory_per_block_kb", "l2_cache_mb", "memory_gb"}
_STR_FIELDS = {"architecture", "compute_capability", "source"}
_LIST_FIELDS = {"aliases", "device_names"}
_OPTIONAL = {"tf32_tflops", "bf16_tflops", "memory_gb", "aliases"}


def _check_value(gpu: str, key: str, value: object) -> None:
    bad = None
    if key in _INT_FIELDS and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        bad = "a positive integer"
    elif key in _NUMBER_FIELDS and (isinstance(value, bool) or not isinstance(value, int | float)
                                    or value <= 0):
        bad = "a positive number"
    elif key in _STR_FIELDS and (not isinstance(value, str) or not value.strip()):
        bad = "a non-empty string"
    elif key in _LIST_FIELDS and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        bad = "a list of strings"
    if bad:
        raise GpuDataError(f"specs.toml [gpu.{gpu!r}]: {key} must be {bad}, got {value!r}")


def _build(name: str, raw: dict[str, Any]) -> GpuSpec:
    known = _INT_FIELDS | _NUMBER_FIELDS | _STR_FIELDS | _LIST_FIELDS
    unknown = sorted(set(raw) - known)
    if unknown:  # a typo would otherwise silently leave a field at its default
        raise GpuDataError(f"specs.toml [gpu.{name!r}]: unknown keys {unknown}")
    missing = sorted(known - _OPTIONAL - set(raw))
    if missing:
        raise GpuDataError(f"specs.toml [gpu.{name!r}]: missing keys {missing}")
    for key, value in raw.items():
        _check_value(name, key, value)
    values: dict[str, Any] = {k: (tuple(v) if k in _LIST_FIELDS else v) for k, v in raw.items()}  # checked above
    values.setdefault("tf32_tflops", None)
    values.setdefault("bf16_tflops", None)
    spec = GpuSpec(name=name, **values)
    try:
        spec.cc  # noqa: B018 - parses "major.minor"
    except ValueError:
        raise GpuDataError(f"specs.toml [gpu.{name!r}]: compute_capability must look like '8.9', "
                           f"got {spec.compute_capability!r}") from None
    for fmt in TENSOR_FORMATS:
        if spec.supports(fmt) and spec.tensor_tflops(fmt) is None:
            raise GpuDataError(f"specs.toml [gpu.{name!r}]: {fmt}_tflops missing although compute "
                               f"capability {spec.compute_capability} has {fmt} tensor cores")
    assert spec.max_warps_per_sm and spec.shared_memory_per_sm_kb and spec.shared_memory_per_block_kb
    if spec.max_warps_per_sm * spec.warp_size != spec.max_threads_per_sm:
        raise GpuDataError(f"specs.toml [gpu.{name!r}]: max_warps_per_sm x warp_size "
                           f"({spec.max_warps_per_sm} x {spec.warp_size}) != max_threads_per_sm "
                           f"({spec.max_threads_per_sm})")
    if spec.shared_memory_per_block_kb > spec.shared_memory_per_sm_kb:
        raise GpuDataError(f"specs.toml [gpu.{name!r}]: shared memory per block exceeds per SM")
    return spec


def parse_table(text: str) -> dict[str, GpuSpec]:
    """Parse and check a spec table in the specs.toml format; every name must be unambiguous."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GpuDataError(f"specs.toml: {exc}") from None
    gpus = data.get("gpu")
    if not isinstance(gpus, dict) or not gpus or set(data) != {"gpu"}:
        raise GpuDataError("specs.toml: expected only [gpu.\"NAME\"] tables")
    table = {name: _build(name, raw) for name, raw in gpus.items()}
    owner: dict[str, str] = {}
    for spec in table.values():
        for label in (spec.name, *spec.aliases, *spec.device_names):
            key = normalize_name(label)
            if owner.setdefault(key, spec.name) != spec.name:
                raise GpuDataError(f"specs.toml: name {label!r} is claimed by both {owner[key]!r} and "
                                   f"{spec.name!r}")
    return table


@functools.cache
def _packaged_table() -> dict[str, GpuSpec]:
    text = resources.files("tritonwright.gpus").joinpath("specs.toml").read_text(encoding="utf-8")
    return parse_table(text)


def load_table(text: str | None = None) -> dict[str, GpuSpec]:
    """The packaged table (cached; a copy of the mapping is returned) or one parsed from `text`."""
    return dict(_packaged_table()) if text is None else parse_table(text)


def gpu_names(table: dict[str, GpuSpec] | None = None) -> list[str]:
    return list((table or load_table()).keys())


def find_gpu(name: str, table: dict[str, GpuSpec] | None = None) -> GpuSpec | None:
    """The spec whose key, alias or device name equals `name` after normalization, else None."""
    wanted = normalize_name(name)
    for spec in (table or load_table()).values():
        if any(normalize_name(label) == wanted for label in (spec.name, *spec.aliases, *spec.device_names)):
            return spec
    return None


def get_gpu(name: str, table: dict[str, GpuSpec] | None = None) -> GpuSpec:
    """Look a GPU up by name; an unknown name is a user error that lists the valid names."""
    table = table or load_table()
    spec = find_gpu(name, table)
    if spec is None:
        raise UnknownGPUError(f"unknown GPU {name!r}; known GPUs: {', '.join(table)}")
    return spec
