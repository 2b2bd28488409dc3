"""A memory-bounded LRU cache of prompt-prefix KV tensors, keyed by the prefix's token ids.

World rules and each persona open every request, every tick. Their KV is computed once and
reused: on this CPU prefill costs as much as decoding, so this is where most time is saved.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

__all__ = ["PrefixCache"]

KV = tuple[tuple[torch.Tensor, torch.Tensor], ...]


def _nbytes(kv: KV) -> int:
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)


class PrefixCache:
    """LRU by bytes. ``get`` refreshes recency; ``put`` evicts the least recently used."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"prefix_cache_mb: must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[int, ...], tuple[KV, int]] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: tuple[int, ...]) -> bool:
        return key in self._entries

    def get(self, key: tuple[int, ...]) -> KV | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[0]

    def put(self, key: tuple[int, ...], kv: KV) -> None:
        size = _nbytes(kv)
        if size > self.max_bytes:
            return  # larger than the whole budget: never cache
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._entries[key] = (kv, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.bytes -= evicted
            self.evictions += 1

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0
