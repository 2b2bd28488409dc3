"""Batched forward and decode loop: rows with different cached prefixes, one batch.

Every row is ``[cached past KV][new token ids]``. Pasts and new ids have different lengths,
so both are left-padded into one rectangle::

    row 0:  [pad pad P P P P][pad N N]     P = cached prefix (KV only), N = new tokens
    row 1:  [P P P P P P P P][N N N N]

Padding holes sit in the middle, so we pass our own 4D additive attention mask and explicit
``position_ids`` (a row's positions count only its real tokens; RoPE is already baked into
the cached keys at those positions). A pad query attends to itself only: a query with no
allowed key would turn its softmax into NaN, and NaN in a pad's value vector would leak
into real rows through 0 * NaN.

A row may also carry *branches* (``choose``'s options): token runs that all continue the
row's own tokens but do not see each other, so every option of a request is scored in the
same forward pass (a tree mask; each branch's positions restart after the trunk).

The decode loop then feeds one token per row and drops finished rows a quarter of the batch
at a time (each drop copies the KV kept), so a batch never pays for its longest member.

*Cascade attention* (on CPU): when every row of a batch opens with the same cached tokens (the
world rules, speech's example scenes), that *head* is held once, not copied into every row,
and each layer attends to it in one pass for all the batch's queries, then to each row's own
past and new tokens, merging the two by their log-sum-exp (as FlashInfer's cascade and
Hydragen do on GPUs). Decode attention reads the KV from memory at every step: at batch 32 over
~450 cached tokens it was a third of a speech step here, and the head is most of those tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
from transformers import AttentionInterface, DynamicCache
from transformers.cache_utils import DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward

__all__ = [
    "CASCADE",
    "DecodeParams",
    "Row",
    "branch_logprobs",
    "cascade_attention",
    "decode_batch",
    "enable_cascade",
    "forward_rows",
    "row_kv",
]

KV = tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per layer (keys, values), each (1, H, L, D)


@dataclass
class Row:
    """One sequence of a batch: an optional cached past and the tokens to run now."""

    past: KV | None
    past_len: int
    ids: list[int]
    branches: tuple[list[int], ...] = ()
    start: int = 0  # the first position ``past`` holds (> 0: the batch's shared head holds the rest)

    @property
    def width(self) -> int:
        return len(self.ids) + sum(len(b) for b in self.branches)


@dataclass(frozen=True)
class DecodeParams:
    """Per-row sampling parameters (a subset of GenerateRequest, kept torch-side)."""

    max_new_tokens: int
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    stop: tuple[str, ...]
    seed: int
    banned: tuple[int, ...] = ()  # token ids never sampled


#: The attention implementation name under which :func:`cascade_attention` is registered.
CASCADE = "mesaverse_cascade"
_FLASH_CPU = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
Head = tuple[KV, int]  # the shared head's KV (each (1, H, h, D)) and its length h


def cascade_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """transformers attention with an optional shared head (``cascade_head=``, the head's KV per
    layer): attention over the head for all rows at once, over each row's own keys with its
    mask, merged by log-sum-exp. Without a head: transformers' SDPA attention, unchanged."""
    head = kwargs.pop("cascade_head", None)
    if head is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)  # fmt: skip
    hk, hv = head[module.layer_idx]
    B, Hq, S, D = query.shape
    Hkv = key.shape[1]
    rep = Hq // Hkv  # grouped-query attention: rep query heads share a key/value head
    q = query.reshape(B, Hkv, rep * S, D)  # query index r * S + s
    mask = attention_mask
    if mask is not None and rep > 1 and S > 1:
        mask = mask.repeat(1, 1, rep, 1)
    o_own, l_own = _FLASH_CPU(q, key, value, 0.0, False, attn_mask=mask, scale=scaling)
    qh = q.transpose(0, 1).reshape(1, Hkv, B * rep * S, D)  # every query of the batch, one pass
    o_head, l_head = _FLASH_CPU(qh, hk, hv, 0.0, False, scale=scaling)
    o_head = o_head.reshape(Hkv, B, rep * S, D).transpose(0, 1).float()
    l_head = l_head.reshape(Hkv, B, rep * S).transpose(0, 1)
    w = torch.sigmoid(l_own - l_head)[..., None]  # the own part's share of the softmax mass
    out = torch.lerp(o_head, o_own.float(), w).to(query.dtype)
    return out.reshape(B, Hq, S, D).transpose(1, 2).contiguous(), None


def enable_cascade(model) -> bool:
    """Switch ``model`` to :func:`cascade_attention` where it can run (a CPU model on SDPA
    attention, with torch's CPU flash kernel); returns whether it did."""
    if _FLASH_CPU is None or model.device.type != "cpu":
        return False
    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(CASCADE, cascade_attention)
    try:
        model.set_attn_implementation(CASCADE)
    except (ValueError, TypeError, AttributeError):
        return False
    return getattr(model.config, "_attn_implementation", None) == CASCADE


class _GrowingLayer(DynamicLayer):
    """A KV layer with spare room: appending a token copies that token only.

    transformers' DynamicLayer concatenates the whole cache at every decode step (about a
    fifth of a step's time here at batch 32 over 500 cached tokens); this keeps a buffer with
    room for the tokens still to come and hands out views of its filled part.
    """

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room
        self._n = 0

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            b, h, n, d = key_states.shape
            self._kb = key_states.new_empty((b, h, n + self.room, d))
            self._vb = value_states.new_empty((b, h, n + self.room, d))
        n = self._n + key_states.shape[-2]
        if n > self._kb.shape[-2]:  # out of room: grow geometrically (amortised O(1) per token)
            kb = self._kb.new_empty((*self._kb.shape[:2], max(n, 2 * self._kb.shape[-2]), self._kb.shape[3]))
            vb = torch.empty_like(kb)
            kb[..., : self._n, :] = self._kb[..., : self._n, :]
            vb[..., : self._n, :] = self._vb[..., : self._n, :]
            self._kb, self._vb = kb, vb
        self._kb[..., self._n : n, :] = key_states
        self._vb[..., self._n : n, :] = value_states
        self._n = n
        self.keys, self.values = self._kb[..., :n, :], self._vb[..., :n, :]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self._kb, self._vb = self._kb[indices], self._vb[indices]
            self.keys, self.values = self._kb[..., : self._n, :], self._vb[..., : self._n, :]


def _new_cache(model, room: int) -> DynamicCache:
    cache = DynamicCache(config=model.config)
    if cache.layers and all(type(layer) is DynamicLayer for layer in cache.layers):
        # Plain full-attention layers only; sliding-window or hybrid models keep their own.
        cache.layers = [_GrowingLayer(room) for _ in cache.layers]
    return cache


def _additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # 0 where attention is allowed, the dtype's minimum elsewhere (HF's convention for 4D masks).
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)


def _own_past(r: Row, h: int) -> KV | None:
    """The part of a row's past after the shared head (views, no copy)."""
    if r.past is None or r.start == h:
        return r.past
    if r.start != 0:
        raise ValueError(f"row past starts at {r.start}, the batch head is {h} tokens")
    return tuple((k[:, :, h:], v[:, :, h:]) for k, v in r.past)


def forward_rows(
    model, rows: Sequence[Row], pad_id: int, hidden: bool = False, room: int = 0, head: Head | None = None
):
    """Run every row's new tokens (and branches) over its past in one forward pass.

    Returns ``(out, cache, valid (B, P+S) bool, next_pos (B,))`` where ``out`` is the last
    position's logits (B, V) in float32, or with ``hidden=True`` the final hidden states
    (B, S, H) of every new position (branch scoring picks the positions it needs).
    ``room``: tokens the cache should have space for after this pass (the decode budget).
    ``head``: the KV of the first ``h`` positions, shared by every row (cascade attention; the
    model must run :func:`cascade_attention`): the cache and ``valid`` then hold each row's own
    positions only, after the head.
    """
    device, dtype = model.device, model.dtype
    B = len(rows)
    h = head[1] if head is not None else 0
    if any(r.past_len < h for r in rows):
        raise ValueError(f"a row's past is shorter than the batch head ({h} tokens)")
    own = [_own_past(r, h) for r in rows]
    P = max(r.past_len - h for r in rows)
    S = max(r.width for r in rows)
    ids = torch.full((B, S), pad_id, dtype=torch.long)
    pos = torch.zeros((B, S), dtype=torch.long)
    branch = torch.full((B, S), -1, dtype=torch.long)  # -1: trunk; j: option j's tokens
    valid = torch.zeros((B, P + S), dtype=torch.bool)
    for i, r in enumerate(rows):
        start, s = S - r.width, len(r.ids)
        ids[i, start : start + s] = torch.tensor(r.ids, dtype=torch.long)
        pos[i, start : start + s] = torch.arange(r.past_len, r.past_len + s)
        at = start + s
        for j, b in enumerate(r.branches):
            ids[i, at : at + len(b)] = torch.tensor(b, dtype=torch.long)
            pos[i, at : at + len(b)] = torch.arange(r.past_len + s, r.past_len + s + len(b))
            branch[i, at : at + len(b)] = j
            at += len(b)
        valid[i, P - (r.past_len - h) : P] = True
        valid[i, P + start :] = True

    cache = _new_cache(model, room + S)
    if P > 0:
        ref = next(p for p in own if p is not None and p[0][0].shape[2])  # shapes for rows without a past
        for layer in range(len(ref)):
            ks, vs = [], []
            for r, past in zip(rows, own, strict=True):
                n = r.past_len - h
                if past is None or n == 0:  # no own cached prefix: an all-pad past (masked out)
                    k0, v0 = ref[layer]
                    k = k0.new_zeros(1, k0.shape[1], P, k0.shape[3])
                    v = v0.new_zeros(1, v0.shape[1], P, v0.shape[3])
                else:
                    k, v = past[layer]
                    if n < P:  # left-pad the past so every row's past ends at P
                        k = torch.nn.functional.pad(k, (0, 0, P - n, 0))
                        v = torch.nn.functional.pad(v, (0, 0, P - n, 0))
                ks.append(k)
                vs.append(v)
            # cast: attention layers (DynamicLayer and kin) take key/value updates; the list is typed as the
            # union of every layer kind, linear-attention ones included, which this decoder never meets.
            cast(DynamicLayer, cache.layers[layer]).update(torch.cat(ks).to(device), torch.cat(vs).to(device))

    # Query q (absolute index P+q) may see key k if k is real and k <= P+q; a pad query sees itself.
    q_abs = torch.arange(P, P + S)[:, None]
    k_idx = torch.arange(P + S)[None, :]
    causal = k_idx <= q_abs  # (S, P+S)
    allowed = causal[None] & valid[:, None, :]
    if any(r.branches for r in rows):  # a branch token sees the trunk and its own branch only
        kb = torch.cat([torch.full((B, P), -1, dtype=torch.long), branch], dim=1)[:, None, :]
        allowed &= (kb == -1) | (kb == branch[:, :, None])
    allowed |= (k_idx == q_abs)[None] & ~valid[:, P:, None]
    mask = _additive(allowed[:, None].to(device), dtype)

    # `cache=`, not `past_key_values=` (deprecated in transformers 5.x, removed in 5.40).
    args = dict(input_ids=ids.to(device), attention_mask=mask, position_ids=pos.to(device),
                cache=cache, use_cache=True)  # fmt: skip
    if head is not None:
        args["cascade_head"] = head[0]
    next_pos = torch.tensor([r.past_len + len(r.ids) for r in rows], dtype=torch.long)
    if hidden:
        out = model.base_model(**args)
        return out.last_hidden_state, out.cache, valid, next_pos
    # Only the last position's logits: the vocab projection over every position is costly.
    out = model(**args, logits_to_keep=1)
    return out.logits[:, -1].float(), out.cache, valid, next_pos


def branch_logprobs(
    model, rows: Sequence[Row], pad_id: int, keep: Sequence[int] = (), head: Head | None = None
) -> tuple[list[list[list[float]]], dict[int, KV]]:
    """Log-probability of every token of each row's branches given its past and trunk, one
    forward pass: ``out[row][branch][token]``; and for the rows in ``keep``, the KV of their
    past and trunk (without the branches: what a prompt that extends the trunk can reuse;
    whole, the shared ``head`` included)."""
    hidden, cache, valid, _ = forward_rows(model, rows, pad_id, hidden=True, head=head)
    h = head[1] if head is not None else 0
    kept = {i: row_kv(cache, valid, i, rows[i].past_len - h + len(rows[i].ids)) for i in keep}
    if head is not None:
        kept = {
            i: tuple(
                (torch.cat([hk, k], dim=2), torch.cat([hv, v], dim=2))
                for (hk, hv), (k, v) in zip(head[0], kv, strict=True)
            )
            for i, kv in kept.items()
        }
    S = hidden.shape[1]
    where_b, where_s, targets, owner = [], [], [], []
    for i, r in enumerate(rows):
        start = S - r.width
        trunk_end = start + len(r.ids) - 1  # predicts each branch's first token
        at = start + len(r.ids)
        for j, b in enumerate(r.branches):
            for t, tok in enumerate(b):
                where_b.append(i)
                where_s.append(trunk_end if t == 0 else at + t - 1)
                targets.append(tok)
                owner.append((i, j))
            at += len(b)
    lm_head = model.get_output_embeddings()
    scores: list[list[list[float]]] = [[[] for _ in r.branches] for r in rows]
    wb, ws, tg = torch.tensor(where_b), torch.tensor(where_s), torch.tensor(targets)
    for c in range(0, len(targets), 512):  # chunks: (512, vocab) float32 logits at most
        h = hidden[wb[c : c + 512].to(hidden.device), ws[c : c + 512].to(hidden.device)]
        lp = torch.log_softmax(lm_head(h).float(), dim=-1)
        picked = lp.gather(1, tg[c : c + 512, None].to(lp.device))[:, 0].cpu().tolist()
        for (i, j), v in zip(owner[c : c + 512], picked, strict=True):
            scores[i][j].append(v)  # tokens of a branch come in order
    return scores, kept


def row_kv(cache, valid: torch.Tensor, i: int, first: int | None = None) -> KV:
    """The unpadded KV of row ``i`` (a copy, safe to keep in the prefix cache); with ``first``,
    only its first ``first`` real positions (past, then trunk, then branches, in that order)."""
    keep = valid[i].nonzero()[:, 0]
    if first is not None:
        keep = keep[:first]
    keep = keep.to(cache.layers[0].keys.device)
    return tuple(
        (layer.keys[i : i + 1, :, keep].contiguous(), layer.values[i : i + 1, :, keep].contiguous())
        for layer in cache.layers
    )


CANDIDATES = 256  # tokens considered before falling back to the whole vocabulary


def _pick(probs: torch.Tensor, tokens: torch.Tensor, u: float, top_p: float) -> int:
    """Inverse-CDF draw from ``probs`` (sorted descending, over ``tokens``), nucleus applied."""
    if top_p < 1.0:
        probs = probs[(torch.cumsum(probs, 0) - probs) < top_p]  # smallest prefix reaching top_p
    cdf = torch.cumsum(probs, 0)
    k = int(torch.searchsorted(cdf, torch.tensor([u * float(cdf[-1])]))[0])
    return int(tokens[min(k, len(probs) - 1)])


def _pick_rows(
    probs: torch.Tensor, tokens: torch.Tensor, us: Sequence[float], top_p: torch.Tensor
) -> list[int]:
    """:func:`_pick` for many rows at once (each row's probabilities sorted descending): the same
    nucleus, the same cumulative sums and the same draw, so the same token as row by row."""
    keep = (torch.cumsum(probs, 1) - probs) < top_p[:, None]  # a prefix of each row
    cdf = torch.cumsum(torch.where(keep, probs, torch.zeros((), dtype=probs.dtype)), 1)
    n = keep.sum(dim=1)
    total = cdf.gather(1, (n - 1).clamp_min(0)[:, None])[:, 0]
    target = torch.tensor(us, dtype=torch.float64) * total.double()
    k = torch.searchsorted(cdf, target.to(cdf.dtype)[:, None])[:, 0]
    k = torch.minimum(k, n - 1)
    return tokens.gather(1, k[:, None])[:, 0].tolist()


def _sample_rows(logits: torch.Tensor, params: Sequence[DecodeParams], seen: torch.Tensor, gens) -> list[int]:
    """One token per row. The heavy work (penalty, top-k candidates, normalisers) is batched;
    each row then draws with one uniform number from its own generator, so a row's token does
    not depend on the other rows of the batch. (A full-vocabulary sort and ``multinomial`` per
    row per step was half of all decode time at batch 32 here.)"""
    pen = torch.tensor([p.repetition_penalty for p in params])
    if (pen != 1.0).any():  # CTRL-style penalty on prompt and generated tokens, as transformers does
        pen = pen[:, None]
        logits = torch.where(seen, torch.where(logits > 0, logits / pen, logits * pen), logits)
    temps = torch.tensor([p.temperature for p in params])
    out = logits.argmax(dim=-1).tolist()
    if bool((temps == 0).all()):
        return out
    scaled = logits / temps.clamp_min(1e-5)[:, None]
    k = min(scaled.shape[1], max(CANDIDATES, max(p.top_k for p in params)))
    vals, idx = torch.topk(scaled, k, dim=-1)  # sorted descending
    log_z = torch.logsumexp(scaled, dim=-1, keepdim=True)
    cand = torch.exp(vals - log_z)  # candidates' share of the full distribution
    us = [
        float(torch.rand((), generator=g)) if p.temperature != 0 else 0.0
        for p, g in zip(params, gens, strict=True)
    ]
    # Rows whose nucleus lies in the candidates (most speech), all at once: the same draw as
    # :func:`_pick` row by row (its test made in float64, as a Python float comparison made it).
    nucleus = [i for i, p in enumerate(params) if p.temperature != 0 and p.top_k == 0 and p.top_p < 1.0]
    if nucleus:
        top_p = torch.tensor([params[i].top_p for i in nucleus], dtype=torch.float64)
        fits = (cand[nucleus].sum(dim=1).double() >= top_p).tolist()
        nucleus = [i for i, ok in zip(nucleus, fits, strict=True) if ok]
    if nucleus:
        top_p = torch.tensor([params[i].top_p for i in nucleus])
        for i, tok in zip(nucleus, _pick_rows(cand[nucleus], idx[nucleus], [us[i] for i in nucleus], top_p),
                          strict=True):  # fmt: skip
            out[i] = tok
    done = set(nucleus)
    for i, p in enumerate(params):
        if p.temperature == 0 or i in done:
            continue
        if p.top_k > 0:  # the distribution is the top-k set, renormalised
            probs = torch.softmax(vals[i, : p.top_k], dim=0)
            out[i] = _pick(probs, idx[i, : p.top_k], us[i], p.top_p)
        else:  # the whole vocabulary (plain temperature sampling, or a very flat distribution)
            probs, order = torch.sort(torch.softmax(scaled[i], dim=0), descending=True)
            out[i] = _pick(probs, order, us[i], p.top_p)
    return out


def _compact(finished: int, rows: int) -> bool:
    """Whether to drop the finished rows from the batch now. Dropping copies every layer's KV
    of the rows kept; a finished row left in costs one token's compute per step, about
    ``1/rows`` of a step. So finished rows ride along (their tokens ignored) until they are a
    quarter of the batch: one copy per quarter, not one per finishing row."""
    return finished > 0 and 4 * finished >= rows


def decode_batch(
    model,
    tokenizer,
    rows: Sequence[Row],
    params: Sequence[DecodeParams],
    eos_ids: set[int],
    pad_id: int,
    seen_ids: Sequence[Sequence[int]] | None = None,
    head: Head | None = None,
) -> list[tuple[list[int], str, str]]:
    """Generate for every row; returns ``(token_ids, text, finish_reason)`` per row.
    ``seen_ids``: each row's prompt tokens for the repetition penalty (default: its ``ids``).
    ``head``: a cached head shared by every row (see :func:`forward_rows`)."""
    room = max(p.max_new_tokens for p in params)
    logits, cache, valid, pos = forward_rows(model, rows, pad_id, room=room, head=head)
    extra = {"cascade_head": head[0]} if head is not None else {}
    B, V = logits.shape
    device, dtype = model.device, model.dtype
    gens = [torch.Generator().manual_seed(p.seed & 0x7FFF_FFFF_FFFF_FFFF) for p in params]
    # Repetition penalty looks at prompt and generated tokens, as transformers does.
    seen = torch.zeros((B, V), dtype=torch.bool)
    for i, r in enumerate(rows):
        if params[i].repetition_penalty != 1.0:
            seen[i, torch.tensor(r.ids if seen_ids is None else seen_ids[i], dtype=torch.long)] = True
    # Banned tokens (stage-direction openers...) get -inf logits at every step, all rows at once.
    ban = torch.zeros((B, V), dtype=torch.bool)
    for i, p in enumerate(params):
        if p.banned:
            ban[i, torch.tensor(p.banned, dtype=torch.long)] = True
    any_ban = bool(ban.any())
    out_ids: list[list[int]] = [[] for _ in range(B)]
    texts = [""] * B
    finish = ["length"] * B
    active = list(range(B))  # original row index of each batch position
    live = [True] * B  # by batch position: False once that row has finished
    logits = logits.cpu()

    while True:
        next_tokens = []
        if any_ban:
            logits = logits.masked_fill(ban[active], float("-inf"))
        at = [b for b in range(len(active)) if live[b]]
        rows_now = [active[b] for b in at]
        picked = dict(zip(at, _sample_rows(logits[at], [params[i] for i in rows_now], seen[rows_now],
                                           [gens[i] for i in rows_now]), strict=True))  # fmt: skip
        for b, i in enumerate(active):
            tok = picked.get(b, pad_id)
            next_tokens.append(tok)
            if not live[b]:
                continue
            done = tok in eos_ids
            if not done:
                out_ids[i].append(tok)
                seen[i, tok] = True
                if params[i].stop:
                    text = tokenizer.decode(out_ids[i], skip_special_tokens=True)
                    cut = min((text.find(s) for s in params[i].stop if s in text), default=-1)
                    if cut >= 0:
                        texts[i], done = text[:cut], True
            if done:
                finish[i] = "stop"
                live[b] = False
            elif len(out_ids[i]) >= params[i].max_new_tokens:
                live[b] = False  # finish stays "length"
        keep = [b for b in range(len(active)) if live[b]]
        if not keep:
            break
        if _compact(len(active) - len(keep), len(active)):  # drop finished rows from the KV cache
            idx = torch.tensor(keep, dtype=torch.long)
            cache.batch_select_indices(idx.to(device))
            valid, pos = valid[idx], pos[idx]
            active, live = [active[b] for b in keep], [True] * len(keep)
            next_tokens = [next_tokens[b] for b in keep]
        valid = torch.cat([valid, torch.ones((len(active), 1), dtype=torch.bool)], dim=1)
        out = model(
            input_ids=torch.tensor(next_tokens, dtype=torch.long)[:, None].to(device),
            attention_mask=_additive(valid[:, None, None, :].to(device), dtype),
            position_ids=pos[:, None].to(device),
            cache=cache,
            use_cache=True,
            **extra,
        )
        cache = out.cache
        pos = pos + 1
        logits = out.logits[:, -1].float().cpu()

    results = []
    for i in range(B):
        text = (
            texts[i]
            if finish[i] == "stop" and texts[i]
            else tokenizer.decode(out_ids[i], skip_special_tokens=True)
        )
        results.append((out_ids[i], text, finish[i]))
    return results
