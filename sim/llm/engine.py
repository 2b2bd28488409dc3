"""The in-process engine: one transformers model serving batched ``generate`` and ``choose``.

What it adds over calling ``model.generate`` per request:
- batches of mixed prompt lengths (left padding; see :mod:`sim.llm.decode`),
- shared-prefix KV reuse: every message but the last is a cacheable prefix; prefixes are
  computed level by level (world rules once, then each persona on top) and kept in a
  memory-bounded LRU (:class:`~sim.llm.prefix_cache.PrefixCache`),
- a calibrated ``choose``: every option is scored by the log-probability of its own tokens
  as the reply's continuation, all options of a request in one forward pass (a tree mask,
  :func:`~sim.llm.decode.branch_logprobs`), minus the same option's log-probability after a
  content-free prompt (the first message, then "N/A"; Zhao et al. 2021, Holtzman et al.
  2021), cached per (first message, option), token by token (``PRIOR_WEIGHT`` and ``PMI_CAP``
  are there to study other calibrations; both are neutral), averaged over the option's tokens (summed PMI made
  long options that echo the situation win almost every choice; uncapped, a name copied from
  the prompt - "talk to Bram" - carried ~10 nats on one token and won most clear cases). Letter labels ("A".."Z") were at chance level with the 135M model here
  (16/54 on a labelled set, chance 18): it picks the first letter almost whatever the
  prompt. Scored options are order-free, so no option position is favoured.

Prompts longer than the context window are cut from the left, keeping the system prompt.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch

from agents.lm import Choice, ChooseRequest, Completion, GenerateRequest, Message
from sim.llm.decode import (
    DecodeParams,
    Head,
    Row,
    branch_logprobs,
    decode_batch,
    enable_cascade,
    forward_rows,
    row_kv,
)
from sim.llm.device import parse_device
from sim.llm.models import RANDOM_CONFIGS, resolve
from sim.llm.prefix_cache import PrefixCache

__all__ = ["Engine", "pick_device", "pick_dtype"]

CONTENT_FREE = "N/A"
#: Most PMI (nats) one option token may add, and how much of the content-free prior is taken
#: off. Both are kept at plain per-token PMI (no cap, the whole prior): on the behaviour suite's
#: own log-probs (cap, weight) -> accuracy was (2, 1.0) 0.74, (5, 0.75) 0.77, (inf, 1.0) 0.74,
#: but (5, 0.75) - chosen on the suite - lost one of the 8 out-of-suite clear cases of
#: tests/integration/test_llm_engine.py ("go inside" in the rain), so it was not adopted.
PMI_CAP = float("inf")
#: Leading messages cached on their own, level by level (the rules, then each persona): many
#: requests share them. Later messages (an avatar's session log) are reused through the token
#: prefix its last decision left in the cache, not as one entry per message.
SHARED_LEVELS = 2
PRIOR_WEIGHT = 1.0
#: Cascade attention (:mod:`sim.llm.decode`) for a batch of at least this many rows whose pasts
#: open with at least this many equal cached tokens: below that, its second attention pass and
#: merge cost more than reading the head once per row.
CASCADE_MIN_ROWS = 4
CASCADE_MIN_HEAD = 64


def _cpu_has_native_bf16() -> bool:
    # AVX512-BF16 or AMX: bf16 matmul is about 2x fp32 here; without them bf16 is emulated and slow.
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_device(device: str) -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    try:
        device = parse_device(device)
    except ValueError as exc:
        raise ValueError(f"device: {exc}") from None
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device: cuda was asked for but no CUDA device is available")
    return torch.device(device)


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto``: bf16 on GPUs that have it, fp16 on older GPUs; on CPU bf16 only with native support."""
    named = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}  # fmt: skip
    if dtype != "auto":
        if dtype not in named:
            raise ValueError(f"dtype: must be auto, float32, bfloat16 or float16, got {dtype!r}")
        return named[dtype]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if _cpu_has_native_bf16() else torch.float32


def _common_prefix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    """How many leading tokens ``a`` and ``b`` share (at most ``limit``)."""
    n, stop = 0, min(len(a), len(b), limit)
    while n < stop and a[n] == b[n]:
        n += 1
    return n


@dataclass
class _Prepared:
    """A tokenized prompt and the token offsets where its cacheable prefixes end."""

    ids: list[int]
    bounds: list[int]  # increasing; the last is the full prefix (everything before the last message)


class Engine:
    """One model in this process. Not thread-safe: a replica runs one batch at a time."""

    def __init__(
        self,
        model: str = "smollm2-135m",
        *,
        device: str = "auto",
        dtype: str = "auto",
        prefix_cache: bool = True,
        prefix_cache_mb: int = 1024,
        max_batch_size: int = 64,
        token_budget: int | None = None,
        threads: int | None = None,
        random_weights: str | None = None,
        tokenizer: str | None = None,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

        if max_batch_size < 1:
            raise ValueError(f"max_batch_size: must be >= 1, got {max_batch_size}")
        if threads:
            torch.set_num_threads(threads)
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.spec = model
        if random_weights is not None:
            if random_weights not in RANDOM_CONFIGS:
                raise ValueError(
                    f"random_weights: must be one of {sorted(RANDOM_CONFIGS)}, got {random_weights!r}"
                )
            tok_src = tokenizer or resolve(model).path
            self.tokenizer = AutoTokenizer.from_pretrained(tok_src)
            torch.manual_seed(0)
            cfg = LlamaConfig(**RANDOM_CONFIGS[random_weights])
            self.model = AutoModelForCausalLM.from_config(cfg, dtype=self.dtype)
        else:
            src = resolve(model)
            kw = {"gguf_file": src.gguf_file} if src.gguf_file else {}
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer or src.path, **kw)
            self.model = AutoModelForCausalLM.from_pretrained(src.path, dtype=self.dtype, **kw)
        self.model.to(self.device).eval()
        self.cascade = enable_cascade(self.model)
        self.max_batch_size = max_batch_size
        if token_budget is not None and token_budget < 1:
            raise ValueError(f"token_budget: must be >= 1, got {token_budget}")
        # Padded tokens per choose forward pass: small on CPU (see _width_groups), large on GPUs,
        # where wide batches are what fills the device.
        self.token_budget = token_budget or (2048 if self.device.type == "cpu" else 65536)
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        eos = self.model.generation_config.eos_token_id if self.model.generation_config else None
        eos = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {e for e in [*eos, self.tokenizer.eos_token_id] if e is not None}
        self.prefix_cache = PrefixCache(prefix_cache_mb * 2**20) if prefix_cache else None
        self._prior: OrderedDict[tuple, list[float]] = OrderedDict()  # content-free per-token log-probs
        self._piece_ids: OrderedDict[str, list[int]] = OrderedDict()  # tokenized prompt pieces
        self._banned: dict[tuple[str, ...], tuple[int, ...]] = {}  # banned openers -> token ids
        self._sessions: OrderedDict[int | None, tuple[int, ...]] = OrderedDict()  # route -> cached trunk
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "prompt_tokens": 0, "cached_tokens": 0, "computed_tokens": 0,
                      "completion_tokens": 0, "batches": 0, "busy_s": 0.0}  # fmt: skip

    # ----------------------------------------------------------------------------- prompts
    def _single_token(self, text: str) -> int:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(
                f"model: tokenizer splits option label {text!r}; choose needs single-token labels"
            )
        return ids[0]

    def _render(self, messages: Sequence[Message], generation_prompt: bool) -> str:
        msgs = [{"role": m.role, "content": m.content} for m in messages]
        if self.tokenizer.chat_template:
            # cast: with tokenize=False the template returns the rendered text (its stubs give every form).
            rendered = self.tokenizer.apply_chat_template(
                msgs, tokenize=False, add_generation_prompt=generation_prompt
            )
            return cast(str, rendered)
        # Base models without a template: a plain transcript.
        text = "".join(f"{m['role']}: {m['content']}\n" for m in msgs)
        return text + ("assistant:" if generation_prompt else "")

    def _tokens(self, piece: str) -> list[int]:
        ids = self._piece_ids.get(piece)
        if ids is None:
            ids = self.tokenizer.encode(piece, add_special_tokens=False)
            self._piece_ids[piece] = ids
            if len(self._piece_ids) > 8192:
                self._piece_ids.popitem(last=False)
        else:
            self._piece_ids.move_to_end(piece)
        return ids

    def _prepare(self, messages: Sequence[Message], reserve: int, tail: str = "") -> _Prepared:
        """Tokenize piece by piece at message boundaries, so equal prefixes give equal token ids."""
        full = self._render(messages, generation_prompt=True) + tail
        ids: list[int] = []
        bounds: list[int] = []
        consumed = 0
        for level in range(1, len(messages)):
            text = self._render(messages[:level], generation_prompt=False)
            if not full.startswith(text) or len(text) <= consumed:
                break  # this template does not render prefixes consistently: stop caching here
            ids += self._tokens(text[consumed:])
            bounds.append(len(ids))
            consumed = len(text)
        ids += self._tokens(full[consumed:])
        budget = self.context_window - reserve
        if len(ids) > budget:  # cut from the left, keeping the system prompt
            keep_head = (
                bounds[0] if bounds and messages[0].role == "system" and bounds[0] < budget // 2 else 0
            )
            ids = ids[:keep_head] + ids[len(ids) - (budget - keep_head) :]
            bounds = []
        return _Prepared(ids, bounds)

    def _prepare_text(self, pieces: Sequence[str], reserve: int) -> _Prepared:
        """A plain-text prompt (no chat template): every piece but the last is a cacheable prefix."""
        ids: list[int] = []
        bounds: list[int] = []
        for piece in pieces[:-1]:
            ids += self._tokens(piece)
            bounds.append(len(ids))
        ids += self._tokens(pieces[-1])
        budget = self.context_window - reserve
        if len(ids) > budget:  # cut from the left
            ids, bounds = ids[len(ids) - budget :], []
        return _Prepared(ids, bounds)

    def banned_ids(self, openers: Sequence[str]) -> tuple[int, ...]:
        """Token ids whose text, leading whitespace aside, starts with one of ``openers``
        (computed once per set of openers: one pass over the vocabulary)."""
        key = tuple(sorted(set(openers)))
        found = self._banned.get(key)
        if found is None:
            pieces = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
            found = tuple(i for i, t in enumerate(pieces) if t.lstrip().startswith(key))
            self._banned[key] = found
        return found

    # ----------------------------------------------------------------------------- prefixes
    def _rows(self, prepared: Sequence[_Prepared], routes: Sequence[int | None] | None = None) -> list[Row]:
        """Rows whose pasts come from the prefix cache; missing shared prefixes are computed
        first, level by level and batched, each distinct prefix once. With ``routes``, a row
        also reuses what its route's last kept prompt has in common with it, token by token
        (a KV prefix is valid on its own: position i's keys see only positions <= i)."""
        cache = self.prefix_cache
        if cache is None:
            return [Row(None, 0, p.ids) for p in prepared]
        while True:
            todo: dict[tuple[int, ...], tuple[tuple[int, ...] | None, list[int]]] = {}
            for p in prepared:
                shared = p.bounds[:SHARED_LEVELS]
                if not shared:
                    continue
                have = None
                for b in reversed(shared):  # longest cached prefix first
                    if tuple(p.ids[:b]) in cache:
                        have = b
                        break
                if have == shared[-1]:
                    continue
                nxt = shared[0] if have is None else shared[shared.index(have) + 1]
                key = tuple(p.ids[:nxt])
                parent = tuple(p.ids[:have]) if have else None
                todo.setdefault(key, (parent, p.ids[have or 0 : nxt]))
            if not todo:
                break
            keys = list(todo)
            for start in range(0, len(keys), self.max_batch_size):
                chunk = keys[start : start + self.max_batch_size]
                rows = []
                for key in chunk:
                    parent, new = todo[key]
                    past = cache.get(parent) if parent else None
                    rows.append(Row(past, len(parent) if parent else 0, new))
                _, kv, valid, _ = forward_rows(self.model, rows, self.pad_id)
                self.stats["computed_tokens"] += sum(len(r.ids) for r in rows)
                for i, key in enumerate(chunk):
                    cache.put(key, row_kv(kv, valid, i))
        rows = []
        for i, p in enumerate(prepared):
            # The longest cached token prefix: a shared level (or any entry that ends inside the
            # prompt), or the part this route's last prompt has in common with this one.
            # Lengths first, then the KV of the winner only: joining an entry's segments copies it.
            limit = len(p.ids) - 1
            trail = self._sessions.get(routes[i]) if routes is not None else None
            m = _common_prefix(trail, p.ids, limit) if trail is not None and trail in cache else 0
            if trail is not None and m > cache.depth(p.ids, limit):
                kv = cache.get(trail)
                assert kv is not None  # in the cache, checked above
                n, past = m, tuple((k[:, :, :m], v[:, :, :m]) for k, v in kv)
            else:
                n, past = cache.longest(p.ids, limit)
            rows.append(Row(past, n, p.ids[n:]) if past is not None else Row(None, 0, p.ids))
        return rows

    def _head(self, prompts: Sequence[Sequence[int]], rows: Sequence[Row]) -> Head | None:
        """The cached tokens every row's past opens with, as a shared head for cascade
        attention (its KV copied once from the first row), or None when it would not pay."""
        if not self.cascade or len(rows) < CASCADE_MIN_ROWS or rows[0].past is None or rows[0].start:
            return None
        h = min(r.past_len for r in rows)
        first = prompts[0]
        for ids in prompts[1:]:
            if h < CASCADE_MIN_HEAD:
                return None
            h = _common_prefix(first, ids, h)
        if h < CASCADE_MIN_HEAD:
            return None
        return tuple((k[:, :, :h].contiguous(), v[:, :, :h].contiguous()) for k, v in rows[0].past), h

    def _keep_sessions(
        self, requests: Sequence[ChooseRequest], prompts: Sequence[_Prepared], kept: dict
    ) -> None:
        """Cache each session request's trunk (its prompt through the answer prefix) for its next
        decision, which extends it; its previous trunk is dropped (the new one supersedes it)."""
        cache = self.prefix_cache
        if cache is None:
            return
        for i, kv in kept.items():
            key = tuple(prompts[i].ids)
            route = requests[i].route
            old = self._sessions.pop(route, None)
            if old is not None and old != key:
                cache.discard(old)
            cache.put(key, kv)
            if key in cache:
                self._sessions[route] = key
            while len(self._sessions) > 65536:
                cache.discard(self._sessions.pop(next(iter(self._sessions))))

    def _account(self, prepared: Sequence[_Prepared], rows: Sequence[Row]) -> None:
        self.stats["prompt_tokens"] += sum(len(p.ids) for p in prepared)
        self.stats["cached_tokens"] += sum(r.past_len for r in rows)
        self.stats["computed_tokens"] += sum(len(r.ids) for r in rows)

    # ----------------------------------------------------------------------------- generate
    @torch.inference_mode()
    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        """Batched generation; each row stops on EOS, a stop string or its token limit."""
        return self._in_batches(requests, GenerateRequest, self._generate_batch)

    @staticmethod
    def _check(requests: Sequence, kind: type) -> None:
        for r in requests:
            if not isinstance(r, kind):
                raise ValueError(f"requests: expected {kind.__name__}, got {type(r).__name__}")

    def _in_batches(self, requests: Sequence, kind: type, run) -> list:
        """Check the request type, then run ``max_batch_size`` requests at a time, one batch at a time."""
        self._check(requests, kind)
        out: list = []
        with self._lock:
            for start in range(0, len(requests), self.max_batch_size):
                out += run(requests[start : start + self.max_batch_size])
        return out

    def _width_groups(self, widths: Sequence[int]) -> list[list[int]]:
        """Row indices sorted by width and grouped so that a batch's padded area (rows x widest
        row) stays within ``token_budget`` (and its rows within ``max_batch_size``).

        Every row of a forward pass is padded to its widest one and the tree mask grows with
        rows x width x (past + width): on this CPU the town's 61 choices of a tick took 36 s in
        one batch and 12 s in width-sorted batches of at most 2,048 padded tokens, same tokens.
        """
        groups: list[list[int]] = [[]]
        for i in sorted(range(len(widths)), key=widths.__getitem__):
            cur = groups[-1]
            if cur and (widths[i] * (len(cur) + 1) > self.token_budget or len(cur) >= self.max_batch_size):
                groups.append(cur := [])
            cur.append(i)
        return groups if groups[0] else []

    def _prefilled(
        self, rows: Sequence[Row], prompts: Sequence[Sequence[int]], head: Head | None = None
    ) -> list[Row]:
        """Each row's prompt but its last token computed ahead, in width-sorted groups of at
        most ``token_budget`` padded tokens, each distinct prompt once: the rows then enter the
        decode batch one token wide. Prefilled in the decode batch itself, every row was padded
        to the widest prompt of all (one row that missed the cache made 45 rows of speech
        compute ~700 positions each), and a line's samples, which share their prompt, computed
        it once per sample."""
        if self.prefix_cache is None:
            return list(rows)  # naive: as one batch, the way it always ran
        distinct: dict[tuple, int] = {}
        todo: list[Row] = []
        for r, ids in zip(rows, prompts, strict=True):
            key = (r.past_len, tuple(ids))
            if len(r.ids) > 1 and key not in distinct:
                distinct[key] = len(todo)
                todo.append(Row(r.past, r.past_len, r.ids[:-1], start=r.start))
        done: list = [None] * len(todo)
        for group in self._width_groups([len(r.ids) for r in todo]):
            _, kv, valid, _ = forward_rows(self.model, [todo[i] for i in group], self.pad_id, head=head)
            for j, i in enumerate(group):
                done[i] = row_kv(kv, valid, j)
        saved = sum(len(r.ids) - 1 for r in rows if len(r.ids) > 1) - sum(len(r.ids) for r in todo)
        self.stats["computed_tokens"] -= saved
        out = []
        for r, ids in zip(rows, prompts, strict=True):
            if len(r.ids) > 1:
                kv = done[distinct[(r.past_len, tuple(ids))]]  # after the head, if there is one
                out.append(Row(kv, r.past_len + len(r.ids) - 1, r.ids[-1:], start=head[1] if head else 0))
            else:
                out.append(r)
        return out

    def _generate_batch(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        t0 = time.perf_counter()
        prepared = [
            self._prepare_text(r.prompt, reserve=r.max_new_tokens)
            if r.prompt
            else self._prepare(r.messages, reserve=r.max_new_tokens)
            for r in requests
        ]
        rows = self._rows(prepared)
        self._account(prepared, rows)
        seen = [r.ids for r in rows]  # the repetition penalty's prompt tokens, as before prefill
        head = self._head([p.ids for p in prepared], rows)
        rows = self._prefilled(rows, [p.ids for p in prepared], head)
        params = [
            DecodeParams(
                r.max_new_tokens,
                r.temperature,
                r.top_p,
                r.top_k,
                r.repetition_penalty,
                r.stop,
                r.seed,
                self.banned_ids(r.banned) if r.banned else (),
            )
            for r in requests
        ]
        results = decode_batch(
            self.model, self.tokenizer, rows, params, self.eos_ids, self.pad_id, seen, head
        )
        completions = []
        for r, p, row, (ids, text, finish) in zip(requests, prepared, rows, results, strict=True):
            completions.append(Completion(text, len(p.ids), len(ids), finish, row.past_len, r.request_id))
        n_new = sum(c.completion_tokens for c in completions)
        self.stats["completion_tokens"] += n_new
        self.stats["computed_tokens"] += n_new
        self.stats["requests"] += len(requests)
        self.stats["batches"] += 1
        self.stats["busy_s"] += time.perf_counter() - t0
        return completions

    # ----------------------------------------------------------------------------- choose
    @torch.inference_mode()
    def choose(self, requests: Sequence[ChooseRequest]) -> list[Choice]:
        """A calibrated probability per option, from one forward pass per request; requests are
        batched by width (:meth:`_width_groups`), answers come back in request order."""
        self._check(requests, ChooseRequest)
        with self._lock:
            prompts = [self._prepare(r.messages, reserve=32, tail=r.answer_prefix) for r in requests]
            widths = [
                len(p.ids)
                - (p.bounds[-1] if p.bounds else 0)  # the prompt after its shared prefix
                + sum(len(self._option_ids(r.answer_prefix, o)) for o in r.options)
                for r, p in zip(requests, prompts, strict=True)
            ]
            answers: list = [None] * len(requests)
            for group in self._width_groups(widths):
                batch = self._choose_batch([requests[i] for i in group], [prompts[i] for i in group])
                for i, answer in zip(group, batch, strict=True):
                    answers[i] = answer
            return answers

    def _option_ids(self, answer_prefix: str, option: str) -> list[int]:
        sep = " " if answer_prefix and not answer_prefix[-1].isspace() else ""
        return self._tokens(sep + option.strip())

    def _choose_batch(self, requests: Sequence[ChooseRequest], prompts: Sequence[_Prepared]) -> list[Choice]:
        t0 = time.perf_counter()
        # Content-free twins: the first message only (the shared rules, by the protocol's layout),
        # then "N/A"; only options whose prior is not cached yet. Keeping the persona out of the
        # prior keeps the persona's own preferences in the calibrated score, and lets every
        # avatar share the same priors.
        twins: dict[tuple, tuple[_Prepared, list[str]]] = {}
        keys = []
        for r in requests:
            head = list(r.messages[:1]) if len(r.messages) > 1 else []
            cf = self._prepare([*head, Message("user", CONTENT_FREE)], reserve=32, tail=r.answer_prefix)
            base = (tuple(cf.ids), r.answer_prefix)
            keys.append(base)
            missing = [o for o in r.options if (*base, o) not in self._prior]
            if missing:
                twins.setdefault(base, (cf, []))
                twins[base][1].extend(o for o in missing if o not in twins[base][1])
        # One twin row per few options: a twin row carrying every new option of the batch would be
        # far wider than the requests, and every row of the batch is padded to the widest one.
        per_row = max(len(r.options) for r in requests)
        twin_list = [(base, (cf, opts[i : i + per_row])) for base, (cf, opts) in twins.items()
                     for i in range(0, len(opts), per_row)]  # fmt: skip
        routes = [r.route if r.session else None for r in requests] + [None] * len(twin_list)
        every = [*prompts, *(t for _, (t, _) in twin_list)]
        rows = self._rows(every, routes)
        shared = self._head([p.ids for p in every], rows)
        for n, r in enumerate(requests):
            rows[n].branches = tuple(self._option_ids(r.answer_prefix, o) for o in r.options)
        for m, (base, (_, opts)) in enumerate(twin_list):
            rows[len(prompts) + m].branches = tuple(self._option_ids(base[1], o) for o in opts)
        keep = [i for i, r in enumerate(requests) if r.session and r.route is not None]
        scores, kept = branch_logprobs(
            self.model, rows, self.pad_id, keep if self.prefix_cache else (), shared
        )
        self._keep_sessions(requests, prompts, kept)
        self._account(prompts, rows[: len(prompts)])
        self.stats["computed_tokens"] += sum(r.width - len(r.ids) for r in rows) + sum(
            len(r.ids) for r in rows[len(prompts) :]
        )
        for m, (base, (_, opts)) in enumerate(twin_list):
            for o, v in zip(opts, scores[len(prompts) + m], strict=True):
                self._prior[(*base, o)] = v
        while len(self._prior) > 65536:
            self._prior.popitem(last=False)
        choices = []
        for n, r in enumerate(requests):
            # Per-token PMI, each token's capped, averaged over the option's tokens: a sum would
            # reward long options that echo the situation, an uncapped one names copied from it.
            lens = [len(b) for b in rows[n].branches]
            priors = [self._prior[(*keys[n], o)] for o in r.options]
            pmi = torch.tensor(
                [
                    sum(
                        min(PMI_CAP, t - PRIOR_WEIGHT * q)
                        for t, q in zip(scores[n][j], priors[j], strict=True)
                    )
                    / lens[j]
                    for j in range(len(r.options))
                ]
            )
            probs = torch.softmax(pmi, dim=0).tolist()
            best = max(range(len(probs)), key=probs.__getitem__)
            sums = [sum(t) for t in scores[n]]
            raw = torch.softmax(torch.tensor(sums), dim=0).tolist()
            choices.append(
                Choice(
                    tuple(probs),
                    best,
                    len(prompts[n].ids),
                    rows[n].past_len,
                    r.request_id,
                    {
                        "uncalibrated": raw,
                        "logprobs": sums,
                        "prior": [sum(q) for q in priors],
                        "tokens": lens,
                        "token_logprobs": scores[n],
                        "token_prior": priors,
                    },
                )
            )
        self.stats["requests"] += len(requests)
        self.stats["batches"] += 1
        self.stats["busy_s"] += time.perf_counter() - t0
        return choices

    # ----------------------------------------------------------------------------- misc
    def parameters(self) -> int:
        """Number of parameters (tied embeddings counted once)."""
        return sum(p.numel() for p in self.model.parameters())

    def info(self) -> dict:
        return {
            "model": self.spec,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "threads": torch.get_num_threads(),
            "parameters": self.parameters(),
            "context_window": self.context_window,
            "pid": os.getpid(),
        }
