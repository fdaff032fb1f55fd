import torch
import torch.nn as nn


class Model(nn.Module):
    """Adds a learned bias, applies ReLU, then sums each row."""

    def __init__(self, dim: int):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.bias
        x = torch.relu(x)
        return x.sum(dim=1)


batch_size = 256
dim = 4096


def get_inputs():
    return [torch.randn(batch_size, dim)]


def get_init_inputs():
    return [dim]
