import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def bias_relu_rowsum_kernel(x_ptr, bias_ptr, out_ptr, n_cols, stride_row, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(axis=0)  # one program per row: the row sum needs no cross-program step
    acc = tl.zeros((BLOCK_SIZE,), dtype=tl.float32)
    for start in range(0, n_cols, BLOCK_SIZE):
        cols = start + tl.arange(0, BLOCK_SIZE)
        mask = cols < n_cols
        x = tl.load(x_ptr + row * stride_row + cols, mask=mask, other=0.0)
        b = tl.load(bias_ptr + cols, mask=mask, other=0.0)
        acc += tl.maximum(x + b, 0.0)  # masked lanes add relu(0 + 0) = 0
    tl.store(out_ptr + row, tl.sum(acc, axis=0))


def triton_bias_relu_rowsum(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    n_rows, n_cols = x.shape
    out = torch.empty(n_rows, device=x.device, dtype=x.dtype)
    BLOCK_SIZE = min(triton.next_power_of_2(n_cols), 2048)
    bias_relu_rowsum_kernel[(n_rows,)](x, bias, out, n_cols, x.stride(0), BLOCK_SIZE=BLOCK_SIZE, num_warps=8)
    return out


class ModelNew(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(dim))  # same name and shape: the reference weights load as-is

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return triton_bias_relu_rowsum(x, self.bias)
