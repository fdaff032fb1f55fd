import torch
import torch.nn as nn


class Model(nn.Module):
    """C = A @ B in float32 (a projection of LLM activations, at KernelBench level 1 size)."""

    def __init__(self):
        super().__init__()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b


M = 2048
N = 2048
K = 2048
positive = 0  # 1: torch.rand inputs (as KernelBench's square matmul): positive sums hide input rounding from K


def get_inputs():
    make = torch.rand if positive else torch.randn
    return [make(M, K), make(K, N)]


def get_init_inputs():
    return []
