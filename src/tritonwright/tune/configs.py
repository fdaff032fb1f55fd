"""The launch settings the tuner varies: one frozen, hashable, validated value per config."""

from __future__ import annotations

from dataclasses import dataclass

# Triton's launch defaults on NVIDIA GPUs (CUDAOptions in 3.x): what a launch without the argument gets.
DEFAULT_NUM_WARPS = 4
DEFAULT_NUM_STAGES = 3
# num_warps must be a power of two; 32 warps is the 1024-threads-per-block limit of every NVIDIA GPU.
VALID_NUM_WARPS = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True, order=True)
class LaunchConfig:
    """num_warps, num_stages and the constexpr values (e.g. BLOCK_SIZE) of one kernel launch."""

    num_warps: int = DEFAULT_NUM_WARPS
    num_stages: int = DEFAULT_NUM_STAGES
    meta: tuple[tuple[str, int], ...] = ()  # (constexpr name, value), sorted by name

    def __post_init__(self) -> None:
        if self.num_warps not in VALID_NUM_WARPS:
            raise ValueError(f"num_warps={self.num_warps}: must be one of {VALID_NUM_WARPS}")
        if self.num_stages < 1:
            raise ValueError(f"num_stages={self.num_stages}: must be >= 1")
        if list(self.meta) != sorted(self.meta) or len({k for k, _ in self.meta}) != len(self.meta):
            raise ValueError(f"meta {self.meta}: names must be unique and sorted (use LaunchConfig.make)")

    @staticmethod
    def make(num_warps: int, num_stages: int, meta: dict[str, int] | None = None) -> LaunchConfig:
        return LaunchConfig(num_warps, num_stages, tuple(sorted((meta or {}).items())))

    @property
    def meta_dict(self) -> dict[str, int]:
        return dict(self.meta)

    def replace(self, num_warps: int | None = None, num_stages: int | None = None,
                meta: dict[str, int] | None = None) -> LaunchConfig:
        merged = {**self.meta_dict, **(meta or {})}
        return LaunchConfig.make(self.num_warps if num_warps is None else num_warps,
                                 self.num_stages if num_stages is None else num_stages, merged)

    def as_dict(self) -> dict[str, int]:
        """The constexprs, then num_warps and num_stages, in one flat dict (triton.Config's names; Triton
        reserves the two launch names, so no constexpr can shadow them)."""
        return {**self.meta_dict, "num_warps": self.num_warps, "num_stages": self.num_stages}

    @property
    def label(self) -> str:
        """Short human form: `BLOCK_SIZE=1024 warps=4 stages=3`."""
        parts = [f"{k}={v}" for k, v in self.meta]
        return " ".join([*parts, f"warps={self.num_warps}", f"stages={self.num_stages}"])

    def config_call(self, triton_name: str = "triton") -> str:
        """Source text of the equivalent `triton.Config(...)`."""
        meta = ", ".join(f'"{k}": {v}' for k, v in self.meta)
        return f"{triton_name}.Config({{{meta}}}, num_warps={self.num_warps}, num_stages={self.num_stages})"
