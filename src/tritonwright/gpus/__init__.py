"""GPU specs: the packaged table (`specs.toml`), lookup by name, and detection of the running device."""

from tritonwright.gpus.detect import Detection, DeviceProps, NoDeviceError, detect_gpu, read_device_props
from tritonwright.gpus.spec import (
    GpuDataError,
    GpuSpec,
    UnknownGPUError,
    find_gpu,
    get_gpu,
    gpu_names,
    load_table,
    normalize_name,
)

__all__ = [
    "Detection", "DeviceProps", "GpuDataError", "GpuSpec", "NoDeviceError", "UnknownGPUError", "detect_gpu",
    "find_gpu", "get_gpu", "gpu_names", "load_table", "normalize_name", "read_device_props",
]
