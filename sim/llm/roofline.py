"""The hardware's ceiling for ``mesaverse bench llm``: measured matmul FLOP/s (torch lives in sim/llm/ only)."""

from __future__ import annotations

import time

__all__ = ["matmul_roofline"]


def matmul_roofline(dtype_name: str, device: str = "cpu", n: int = 2048, reps: int = 5) -> float:
    """Measured FLOP/s of a large square matmul in the given dtype."""
    import torch

    dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}[dtype_name]
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    a @ b  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best
