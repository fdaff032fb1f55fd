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


def get_inputs():
    return [torch.randn(M, K), torch.randn(K, N)]


def get_init_inputs():
    return []
