import torch
import torch.nn as nn
import triton
import triton.language as tl

@triton.jit
def fused_activation_kernel(
    x_ptr,
    output_ptr,
    n_elements,
    BLOCK_SIZE: tl.constexpr,
    VECTORIZE: tl.constexpr,
):
    pid = tl.program_id(axis=0)
    block_start = pid * BLOCK_SIZE * VECTORIZE
    
    # Vectorized offsets for better memory coalescing
    offsets = block_start + tl.arange(0, BLOCK_SIZE)[:, None] * VECTORIZE + tl.arange(0, VECTORIZE)[None, :]
    mask = offsets < n_elements
    
    # Vectorized load
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0)
    
    # Optimized softplus computation
    # For x > 0: x + log(1 + exp(-x))
    # For x <= 0: log(1 + exp(x))
    is_positive = x > 0
    neg_x = -x
    exp_neg_x = tl.where(x < 10.0, tl.exp(neg_x), 0.0)
    exp_x = tl.where(x > -10.0, tl.exp(x), 0.0)
    
    # Compute log(1 + exp_neg_x) and log(1 + exp_x) without log1p
    log1p_exp_neg_x = tl.where(exp_neg_x < 1e-4, 
                               -x - 0.5 * exp_neg_x,
                               tl.log(1.0 + exp_neg_x))
    
    log1p_exp_x = tl.where(exp_x < 1e-4,
                           x - 0.5 * exp_x,
                           tl.log(1.0 + exp_x))
    
    y = tl.where(is_positive, x + log1p_exp_neg_x, log1p_exp_x)
    
    # Optimized tanh computation
    abs_y = tl.where(y > 0, y, -y)
    y2 = y * y
    tanh_y = tl.where(abs_y < 3.0,
                     y * (27.0 + y2) / (27.0 + 9.0 * y2),
                     tl.where(y > 0, 1.0, -1.0))
    
    # Final output
    output = x * tanh_y
    
    # Vectorized store
    tl.store(output_ptr + offsets, output, mask=mask)

@triton.jit
def fused_activation_kernel_optimized(
    x_ptr,
    output_ptr,
    n_elements,
    BLOCK_SIZE: tl.constexpr,
    VECTORIZE: tl.constexpr,
):
    pid = tl.program_id(axis=0)
    block_start = pid * BLOCK_SIZE * VECTORIZE
    
    # Precompute ranges
    range_block = tl.arange(0, BLOCK_SIZE)
    range_vec = tl.arange(0, VECTORIZE)
    
    # Compute offsets
    offsets_base = block_start + range_block[:, None] * VECTORIZE
    offsets = offsets_base + range_vec[None, :]
    mask = offsets < n_elements
    
    # Load data
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0)
    
    # Efficient fused activation
    # Handle extreme values first
    threshold = 20.0
    large_positive = x > threshold
    large_negative = x < -threshold
    
    # For moderate values, compute tanh(softplus(x))
    # Use the identity: tanh(y) = (exp(2y) - 1) / (exp(2y) + 1)
    # where y = softplus(x)
    
    # Compute softplus(x) = log(1 + exp(x))
    # Use log(1 + exp(x)) instead of log1p(exp(x))
    exp_x = tl.exp(x)
    softplus_x = tl.where(x > 0, x + tl.log(1.0 + tl.exp(-x)), tl.log(1.0 + exp_x))
    
    # Compute tanh(softplus_x)
    exp_2y = tl.exp(2.0 * softplus_x)
    tanh_val = (exp_2y - 1.0) / (exp_2y + 1.0)
    
    # Combine all cases
    # For large positive x: tanh(softplus(x)) ≈ 1, so output ≈ x
    # For large negative x: softplus(x) ≈ 0, tanh(0) = 0, so output ≈ 0
    result = tl.where(large_positive, x,
                     tl.where(large_negative, 0.0,
                             x * tanh_val))
    
    # Store result
    tl.store(output_ptr + offsets, result, mask=mask)

def triton_fused_activation(x: torch.Tensor) -> torch.Tensor:
    output = torch.empty_like(x)
    n_elements = output.numel()
    
    # Optimal configuration for modern GPUs
    if n_elements < 1000000:
        BLOCK_SIZE = 256
        VECTORIZE = 4
    elif n_elements < 10000000:
        BLOCK_SIZE = 512
        VECTORIZE = 2
    else:
        BLOCK_SIZE = 1024
        VECTORIZE = 1
    
    # Calculate grid size
    grid = lambda meta: (triton.cdiv(n_elements, meta['BLOCK_SIZE'] * meta['VECTORIZE']),)
    
    # Launch kernel with optimal parameters
    fused_activation_kernel_optimized[grid](
        x, output, n_elements,
        BLOCK_SIZE=BLOCK_SIZE,
        VECTORIZE=VECTORIZE,
        num_warps=4,
        num_stages=3,
    )
    
    return output

class ModelNew(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, eps=1e-5, momentum=0.1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size)
        self.bn = nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum)

    def forward(self, x):
        # Apply convolution
        x = self.conv(x)
        
        # Apply fused activation using optimized Triton kernel
        x = triton_fused_activation(x)
        
        # Apply batch normalization
        x = self.bn(x)
        return x
