"""Request validation, model specs, prefix cache and seeds: pure logic, no model loaded."""

from __future__ import annotations

import pytest
import torch

from agents.lm import ChooseRequest, GenerateRequest, Message, request_seed
from sim.llm.models import resolve
from sim.llm.prefix_cache import PrefixCache

MSGS = (Message("user", "hi"),)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"messages": ()}, "messages"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": -3}, "max_new_tokens"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
        ({"stop": ("",)}, "stop"),
    ],
)
def test_generate_request_rejects_bad_field_by_name(kwargs, field):
    args = {"messages": MSGS, **kwargs}
    with pytest.raises(ValueError, match=rf"^{field}:"):
        GenerateRequest(**args)


def test_message_role_is_checked():
    with pytest.raises(ValueError, match=r"^messages.role:"):
        Message("narrator", "x")


def test_dict_messages_are_accepted():
    r = GenerateRequest(messages=[{"role": "user", "content": "hi"}])
    assert r.messages == (Message("user", "hi"),)


@pytest.mark.parametrize("options", [(), ("only one",), tuple(f"o{i}" for i in range(27)), ("a", " ")])
def test_choose_request_needs_2_to_26_nonempty_options(options):
    with pytest.raises(ValueError, match=r"^options:"):
        ChooseRequest(messages=MSGS, options=options)


def test_choose_request_needs_messages():
    with pytest.raises(ValueError, match=r"^messages:"):
        ChooseRequest(messages=(), options=("a", "b"))


@pytest.mark.parametrize("spec", ["no-such-model", "", "a b/c", "./does/not/exist"])
def test_unknown_model_spec_names_the_model_field(spec):
    with pytest.raises(ValueError, match=r"^model:"):
        resolve(spec)


def test_hub_id_and_embedded_spec_resolve_without_network():
    assert resolve("HuggingFaceTB/SmolLM2-1.7B-Instruct").path == "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    assert resolve("smollm2-135m").spec == "smollm2-135m"


def _kv(n_tokens: int) -> tuple:
    t = torch.zeros(1, 1, n_tokens, 4, dtype=torch.float32)  # 16 bytes a token, keys and values each
    return ((t, t.clone()),)


def test_prefix_cache_evicts_least_recently_used_within_its_byte_budget():
    cache = PrefixCache(max_bytes=3 * 320)  # room for three 10-token entries
    for key in [(1,), (2,), (3,)]:
        cache.put(key, _kv(10))
    assert cache.get((1,)) is not None  # (1,) is now the most recent
    cache.put((4,), _kv(10))
    assert (2,) not in cache and (1,) in cache and (3,) in cache and (4,) in cache
    assert cache.bytes == 3 * 320 and cache.evictions == 1


def test_prefix_cache_never_stores_an_entry_larger_than_the_budget():
    cache = PrefixCache(max_bytes=100)
    cache.put((1,), _kv(10))
    assert len(cache) == 0 and cache.bytes == 0


def test_request_seed_is_stable_and_distinct():
    assert request_seed(7, 3, 11) == request_seed(7, 3, 11)
    seeds = {request_seed(7, t, a, s) for t in range(5) for a in range(20) for s in ("", "talk")}
    assert len(seeds) == 200
    assert 0 <= request_seed(1, 2, 3) < 2**63


def test_a_generate_request_takes_a_plain_prompt_or_messages_not_both() -> None:
    r = GenerateRequest(prompt="Ada: hi\nBo:")
    assert r.prompt == ("Ada: hi\nBo:",) and r.messages == ()
    assert GenerateRequest(prompt=("head\n", "Bo:"), banned=("(",)).banned == ("(",)
    with pytest.raises(ValueError, match=r"^prompt:"):
        GenerateRequest(messages=MSGS, prompt="x")
    with pytest.raises(ValueError, match=r"^messages:"):
        GenerateRequest()
    with pytest.raises(ValueError, match=r"^banned:"):
        GenerateRequest(prompt="x", banned=("",))


def test_prefix_cache_finds_the_longest_cached_token_prefix_wherever_an_entry_ends():
    cache = PrefixCache(max_bytes=10**6)
    cache.put((1, 2), _kv(2))
    cache.put((1, 2, 3, 4), _kv(4))
    cache.put((9,), _kv(1))
    assert cache.longest([1, 2, 3, 4, 5])[0] == 4
    assert cache.longest([1, 2, 3, 7])[0] == 2  # (1, 2, 3, 4) does not fit; (1, 2) does
    assert cache.longest([1, 2, 3, 4], limit=3)[0] == 2  # at least one token left to compute
    assert cache.longest([5, 1, 2]) == (0, None)
    cache.discard((1, 2, 3, 4))
    assert cache.longest([1, 2, 3, 4, 5])[0] == 2 and len(cache) == 2
    cache.discard((1, 2))
    assert cache.longest([1, 2, 3]) == (0, None) and cache._trie == {9: {-1: True}}


def test_prefix_cache_eviction_unindexes_the_evicted_entry():
    cache = PrefixCache(max_bytes=2 * 32)  # two one-token entries
    cache.put((1,), _kv(1))
    cache.put((1, 2), _kv(1))
    cache.put((3,), _kv(1))  # evicts (1,)
    assert cache.longest([1, 2, 5])[0] == 2
    assert cache.longest([1, 5]) == (0, None)


def _ramp(n_tokens: int) -> tuple:
    k = torch.arange(n_tokens * 4, dtype=torch.float32).reshape(1, 1, n_tokens, 4)
    return ((k, -k),)  # position i's values are the same in every entry that holds it


def test_an_entry_that_extends_another_stores_only_its_own_positions():
    cache = PrefixCache(max_bytes=10**6)
    cache.put((1, 2), _ramp(2))
    cache.put((1, 2, 3, 4), _ramp(4))
    cache.put((1, 2, 3, 4, 5, 6), _ramp(6))
    assert cache.bytes == 6 * 32  # six positions held once, not 2 + 4 + 6
    for n in (2, 4, 6):
        kv = cache.longest([*range(1, n + 1), 9])[1]
        assert torch.equal(kv[0][0], _ramp(n)[0][0]) and torch.equal(kv[0][1], _ramp(n)[0][1])
    # A discarded parent's positions pass to what extends it; nothing is lost.
    cache.discard((1, 2, 3, 4))
    assert cache.bytes == 6 * 32 and torch.equal(cache.get((1, 2, 3, 4, 5, 6))[0][0], _ramp(6)[0][0])
    cache.discard((1, 2))
    assert torch.equal(cache.get((1, 2, 3, 4, 5, 6))[0][1], _ramp(6)[0][1]) and cache.bytes == 6 * 32


def test_only_entries_nothing_extends_are_evicted():
    cache = PrefixCache(max_bytes=5 * 32)
    cache.put((1, 2), _ramp(2))  # the oldest, but (1, 2, 3) extends it
    cache.put((1, 2, 3), _ramp(3))
    cache.put((7, 8), _ramp(2))
    cache.put((9,), _ramp(1))  # over budget: the least recent leaf goes, (1, 2, 3), not (1, 2)
    assert (1, 2, 3) not in cache and {(1, 2), (7, 8), (9,)} == set(cache._entries)
    assert cache.bytes == 5 * 32 and cache.evictions == 1
    assert torch.equal(cache.get((1, 2))[0][0], _ramp(2)[0][0])
