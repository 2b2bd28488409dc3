"""The batched nucleus draw picks exactly the token the row-by-row draw picks."""

from __future__ import annotations

import torch

from sim.llm.decode import CANDIDATES, DecodeParams, _pick, _sample_rows


def _row_by_row(logits, params, gens) -> list[int]:
    """The reference: every row drawn on its own with :func:`_pick` (the loop _sample_rows replaced)."""
    out = logits.argmax(dim=-1).tolist()
    for i, p in enumerate(params):
        if p.temperature == 0:
            continue
        u = float(torch.rand((), generator=gens[i]))
        scaled = logits[i] / max(p.temperature, 1e-5)
        if p.top_k > 0:
            vals, idx = torch.topk(scaled, p.top_k)
            out[i] = _pick(torch.softmax(vals, dim=0), idx, u, p.top_p)
            continue
        vals, idx = torch.topk(scaled, CANDIDATES)
        cand = torch.exp(vals - torch.logsumexp(scaled, dim=0))
        if p.top_p < 1.0 and float(cand.sum()) >= p.top_p:
            out[i] = _pick(cand, idx, u, p.top_p)
        else:
            probs, order = torch.sort(torch.softmax(scaled, dim=0), descending=True)
            out[i] = _pick(probs, order, u, p.top_p)
    return out


def _params(t: float, top_p: float, top_k: int, seed: int) -> DecodeParams:
    return DecodeParams(8, t, top_p, top_k, 1.0, (), seed)


def test_batched_draw_matches_row_by_row_draw():
    torch.manual_seed(0)
    rows, vocab = 48, 5000
    # Peaked rows (the nucleus lies in the candidates), flat rows (it does not), greedy and top-k rows.
    sharp = torch.linspace(1.0, 12.0, rows)[:, None]
    logits = torch.randn(rows, vocab) * sharp
    params = []
    for i in range(rows):
        kind = i % 6
        if kind == 0:
            params.append(_params(0.0, 1.0, 0, i))
        elif kind == 1:
            params.append(_params(0.8, 0.9, 40, i))
        elif kind == 2:
            params.append(_params(1.0, 1.0, 0, i))
        else:
            params.append(_params(0.5 + 0.1 * kind, (0.5, 0.9, 0.95)[kind - 3], 0, i))
    seen = torch.zeros(rows, vocab, dtype=torch.bool)
    for step in range(20):
        a = [torch.Generator().manual_seed(1000 * step + i) for i in range(rows)]
        b = [torch.Generator().manual_seed(1000 * step + i) for i in range(rows)]
        assert _sample_rows(logits, params, seen, a) == _row_by_row(logits, params, b)
        logits = logits.roll(step + 1, dims=1)
