"""Shared fixtures: a real local Ray cluster and the real embedded model (no mocks on these paths)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@pytest.fixture(scope="session")
def ray_cluster():
    """A small real local cluster with fixed resources (as Ray's own tests do), shared by the session."""
    import ray

    from sim.llm.pool import ensure_ray

    if not ray.is_initialized():
        ensure_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def engine_fp32():
    """The embedded model in fp32 (exact comparisons: batch vs alone)."""
    from sim.llm.engine import Engine

    return Engine("smollm2-135m", device="cpu", dtype="float32", max_batch_size=16)
