"""Per-request seeds derived from (run seed, tick, agent id): a run and its resumed twin
send the same seeds, so they get the same answers for the same batch composition."""

from __future__ import annotations

import hashlib

__all__ = ["request_seed"]


def request_seed(run_seed: int, tick: int, agent_id: int, salt: str = "") -> int:
    """A stable 63-bit seed (Python's ``hash`` is salted per process, so we use blake2b)."""
    digest = hashlib.blake2b(f"{run_seed}:{tick}:{agent_id}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF
