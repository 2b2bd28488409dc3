"""A memory-bounded LRU cache of prompt-prefix KV tensors, keyed by the prefix's token ids,
with a token-level radix index: :meth:`PrefixCache.longest` finds the longest cached prefix of
any token sequence, wherever the cached entry ended (a message boundary or not).

World rules and each persona open every request, every tick; an avatar's prompt log (see
``agents/session.py``) grows by one short entry per decision. Their KV is computed once and
reused: on this CPU prefill costs as much as decoding, so this is where most time is saved.

An entry whose key extends a cached one stores only its own positions (a segment) and points
at that parent, as a radix tree's nodes share their ancestors: the world rules' KV is held once,
not once per persona and once more per avatar's kept prompt. In fp32 (CPUs without native bf16)
a token's KV is 46 kB for SmolLM2-135M, so 64 avatars' kept prompts of ~800 tokens were 2.4 GB
whole; as segments past their persona they are a third of that.
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


class _Entry:
    __slots__ = ("children", "kv", "parent", "size", "start")

    def __init__(self, kv: KV, start: int, parent: tuple[int, ...] | None) -> None:
        self.kv = kv  # positions start..len(key) (all of them when parent is None)
        self.start = start
        self.parent = parent
        self.size = _nbytes(kv)
        self.children = 0


class PrefixCache:
    """LRU by bytes. ``get``/``longest`` refresh recency; ``put`` evicts the least recently used
    entry that no other entry extends (a leaf, as in SGLang's radix cache).

    The index is a trie over token ids (one dict per token, as SGLang's radix tree without the
    edge compression): ``longest(ids)`` walks it once, remembering the deepest node where an
    entry ends. ``put(key, kv)`` keeps only the positions past the longest cached entry that is
    a prefix of ``key`` (its parent); ``get`` joins the segments from the root. A KV prefix is
    valid on its own (position i's keys see only positions <= i), so the parent's positions
    are the ones the entry was computed from. Discarding a parent folds its segment into its
    children, so no entry is ever left without its past.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"prefix_cache_mb: must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[int, ...], _Entry] = OrderedDict()
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
        self.hits += 1
        chain = [entry]
        self._entries.move_to_end(key)
        while chain[-1].parent is not None:
            parent = chain[-1].parent
            self._entries.move_to_end(parent)  # an ancestor is at least as recent as its child
            chain.append(self._entries[parent])
        if len(chain) == 1:
            return entry.kv
        chain.reverse()
        return tuple(
            (
                torch.cat([e.kv[layer][0] for e in chain], dim=2),
                torch.cat([e.kv[layer][1] for e in chain], dim=2),
            )
            for layer in range(len(entry.kv))
        )

    def longest(self, ids: Sequence[int], limit: int | None = None) -> tuple[int, KV | None]:
        """``(n, kv)`` for the longest cached prefix ``ids[:n]`` with ``n <= limit``; ``(0, None)``
        when no entry is a prefix of ``ids``."""
        best = self._deepest(ids, len(ids) if limit is None else min(limit, len(ids)))
        if best == 0:
            self.misses += 1
            return 0, None
        return best, self.get(tuple(ids[:best]))

    def depth(self, ids: Sequence[int], limit: int) -> int:
        """The length :meth:`longest` would find, without joining (or counting) its KV."""
        return self._deepest(ids, min(limit, len(ids)))

    def put(self, key: tuple[int, ...], kv: KV) -> None:
        if _nbytes(kv) > self.max_bytes or not key:
            return  # larger than the whole budget: never cache
        if key in self._entries:
            self._replace(key, kv)
        else:
            node = self._trie
            for t in key:
                node = node.setdefault(t, {})
            node[_END] = True
            n = self._deepest(key, len(key) - 1)
            whole = kv[0][0].shape[2] == len(key)  # a segment only of an entry as long as its key
            if n and whole:
                parent = key[:n]
                entry = _Entry(tuple((k[:, :, n:].clone(), v[:, :, n:].clone()) for k, v in kv), n, parent)
                self._entries[parent].children += 1
            else:
                entry = _Entry(kv, 0, None)
            self._entries[key] = entry
            self.bytes += entry.size
        while self.bytes > self.max_bytes:
            leaf = next((k for k, e in self._entries.items() if not e.children and k != key), None)
            if leaf is None:
                break
            self.discard(leaf)
            self.evictions += 1

    def discard(self, key: tuple[int, ...]) -> None:
        """Drop one entry (no-op when absent), pruning its trie path; its children take over its
        segment."""
        entry = self._entries.get(key)
        if entry is None:
            return
        if entry.children:
            for child in self._entries.values():
                if child.parent == key:
                    self.bytes -= child.size
                    child.kv = tuple(
                        (torch.cat([pk, ck], dim=2), torch.cat([pv, cv], dim=2))
                        for (pk, pv), (ck, cv) in zip(entry.kv, child.kv, strict=True)
                    )
                    child.start, child.parent = entry.start, entry.parent
                    child.size = _nbytes(child.kv)
                    self.bytes += child.size
                    if entry.parent is not None:
                        self._entries[entry.parent].children += 1
        if entry.parent is not None:
            self._entries[entry.parent].children -= 1
        del self._entries[key]
        self.bytes -= entry.size
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

    def _deepest(self, ids: Sequence[int], stop: int) -> int:
        """The length of the longest entry that is a prefix of ``ids[:stop]`` (0: none)."""
        node, best = self._trie, 0
        for n in range(stop):
            child = node.get(ids[n])
            if child is None:
                break
            node = child
            if _END in node:
                best = n + 1
        return best

    def _replace(self, key: tuple[int, ...], kv: KV) -> None:
        """New KV for a cached key: kept whole if it has children (they hold only what follows)."""
        entry = self._entries.pop(key)
        self._entries[key] = entry
        self.bytes -= entry.size
        if entry.parent is not None and kv[0][0].shape[2] == len(key):
            n = entry.start
            entry.kv = tuple((k[:, :, n:].clone(), v[:, :, n:].clone()) for k, v in kv)
        elif entry.parent is None:
            entry.kv = kv
        entry.size = _nbytes(entry.kv)
        self.bytes += entry.size
