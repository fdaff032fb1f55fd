"""tritonwright: write, check and tune Triton kernels for PyTorch models."""

__version__ = "0.1.0"
