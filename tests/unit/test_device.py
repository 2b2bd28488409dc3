"""One parser of device specs: the config and the pool accept and refuse the same ones."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sim.config import LLMConfig
from sim.llm.device import parse_device


@pytest.mark.parametrize("spec", ["auto", "cpu", "cuda", "cuda:0", "cuda:1", " CUDA:1 "])
def test_config_and_pool_accept_the_same_device_specs(spec: str) -> None:
    assert LLMConfig(device=spec).device == parse_device(spec) == spec.strip().lower()


@pytest.mark.parametrize("spec", ["tpu", "cuda:", "cuda:x", "gpu", "", "cpu:0"])
def test_bad_device_spec_is_refused_naming_what_is_accepted(spec: str) -> None:
    with pytest.raises(ValueError, match=r"must be 'auto', 'cpu', 'cuda' or 'cuda:<index>'"):
        parse_device(spec)
    with pytest.raises(ValueError, match=r"must be 'auto', 'cpu', 'cuda' or 'cuda:<index>'"):
        LLMConfig(device=spec)


def test_validating_a_device_does_not_import_torch() -> None:
    # A fresh interpreter: in this one another test may have imported torch already.
    code = (
        "import sys; from sim.config import LLMConfig; LLMConfig(device='cuda:1'); "
        "assert 'torch' not in sys.modules, 'config validation imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
