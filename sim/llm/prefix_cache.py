"""A memory-bounded LRU cache of prompt-prefix KV tensors, keyed by the prefix's token ids,
with a token-level radix index: :meth:`PrefixCache.longest` finds the longest cached prefix of
any token sequence, wherever the cached entry ended (a message boundary or not).

World rules and each persona open every request, every tick; an avatar's prompt log (see
``agents/session.py``) grows by one short entry per decision. Their KV is computed once and
reused: on this CPU prefill costs as much as decoding, so this is where most time is saved.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch

__all__ = ["PrefixCache"]

KV = tuple[tuple[torch.Tensor, torch.Tensor], ...]

_END = -1  # a trie node's key for "a cached entry ends here" (token ids are >= 0)


def _nbytes(kv: KV) -> int:
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)


class PrefixCache:
    """LRU by bytes. ``get``/``longest`` refresh recency; ``put`` evicts the least recently used.

    The index is a trie over token ids (one dict per token, as SGLang's radix tree without the
    edge compression): ``longest(ids)`` walks it once, remembering the deepest node where an
    entry ends. Entries are whole prefixes (their KV is self-contained), so evicting one never
    invalidates another.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"prefix_cache_mb: must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[int, ...], tuple[KV, int]] = OrderedDict()
        self._trie: dict = {}
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

    def longest(self, ids: Sequence[int], limit: int | None = None) -> tuple[int, KV | None]:
        """``(n, kv)`` for the longest cached prefix ``ids[:n]`` with ``n <= limit``; ``(0, None)``
        when no entry is a prefix of ``ids``."""
        stop = len(ids) if limit is None else min(limit, len(ids))
        node, best = self._trie, 0
        for n in range(stop):
            child = node.get(ids[n])
            if child is None:
                break
            node = child
            if _END in node:
                best = n + 1
        if best == 0:
            self.misses += 1
            return 0, None
        return best, self.get(tuple(ids[:best]))

    def put(self, key: tuple[int, ...], kv: KV) -> None:
        size = _nbytes(kv)
        if size > self.max_bytes or not key:
            return  # larger than the whole budget: never cache
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        else:
            node = self._trie
            for t in key:
                node = node.setdefault(t, {})
            node[_END] = True
        self._entries[key] = (kv, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            evicted, _ = next(iter(self._entries.items()))
            self.discard(evicted)
            self.evictions += 1

    def discard(self, key: tuple[int, ...]) -> None:
        """Drop one entry (no-op when absent), pruning its trie path."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.bytes -= entry[1]
        path = [self._trie]
        for t in key:
            path.append(path[-1][t])
        del path[-1][_END]
        for depth in range(len(key), 0, -1):  # prune nodes left with nothing below them
            if path[depth]:
                break
            del path[depth - 1][key[depth - 1]]

    def clear(self) -> None:
        self._entries.clear()
        self._trie = {}
        self.bytes = 0
