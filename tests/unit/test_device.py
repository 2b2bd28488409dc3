"""One parser of device specs: the config and the pool accept and refuse the same ones."""

from __future__ import annotations

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


def test_parsing_a_device_does_not_import_torch() -> None:
    # Config validation stays torch-free (checked in-process only when torch is not loaded yet).
    if "torch" in sys.modules:
        pytest.skip("torch already imported by another test")
    parse_device("cuda:1")
    assert "torch" not in sys.modules
