"""Which device a model runs on: the one parser of a device spec (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

Torch-free on purpose: config validation calls it without loading torch; the engine and the pool call it
before they touch a GPU, so every layer accepts and refuses the same specs with the same message.
"""

from __future__ import annotations

import re

__all__ = ["parse_device"]

_SPEC = re.compile(r"auto|cpu|cuda(:\d+)?")


def parse_device(spec: str) -> str:
    """``spec`` normalised (trimmed, lower case), or ``ValueError("must be ...")`` naming what is accepted.

    ``cuda:N`` names one GPU of an in-process engine; the pool gives each replica a whole GPU through
    Ray (which sets its ``CUDA_VISIBLE_DEVICES``), so there it means "on GPUs", like ``cuda``.
    """
    norm = spec.strip().lower() if isinstance(spec, str) else ""
    if not _SPEC.fullmatch(norm):
        raise ValueError(f"must be 'auto', 'cpu', 'cuda' or 'cuda:<index>', got {spec!r}")
    return norm
