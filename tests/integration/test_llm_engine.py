"""The real embedded model: batching, prefix reuse, sampling, stop strings, choose, context limits."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agents.lm import ChooseRequest, GenerateRequest, Message
from sim.llm.engine import Engine

pytestmark = pytest.mark.slow

RULES = "You live in a small town with a market, a farm and a plaza. Each turn you pick one action."


def _gen(persona: str, situation: str, **kw) -> GenerateRequest:
    args = {"max_new_tokens": 20, "temperature": 0.0, **kw}
    return GenerateRequest(
        (Message("system", RULES), Message("user", persona), Message("user", situation)), **args
    )


def test_embedded_model_loads_offline_from_the_installed_package():
    code = (
        "from sim.llm.engine import Engine\n"
        "e = Engine('smollm2-135m', max_batch_size=2)\n"
        "from agents.lm import GenerateRequest, Message\n"
        "print(e.generate([GenerateRequest((Message('user','Say hi'),), max_new_tokens=4, temperature=0)])[0].completion_tokens)"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip().splitlines()[-1]) >= 1


def test_greedy_output_is_the_same_alone_and_inside_a_batch_of_mixed_lengths(engine_fp32):
    reqs = [
        _gen("You are Ann, a baker.", "Say hello to Bob."),
        _gen("You are Carl, a very old miner who loves gold and long stories about the mountains.", "Plans?"),
        _gen("You are Dee.", "Hi"),
        GenerateRequest((Message("user", "Name three fruits."),), max_new_tokens=12, temperature=0.0),
    ]
    engine_fp32.prefix_cache.clear()
    alone = [engine_fp32.generate([r])[0].text for r in reqs]
    engine_fp32.prefix_cache.clear()
    batched = [c.text for c in engine_fp32.generate(reqs)]
    assert batched == alone
    assert all(t.strip() for t in alone)


def test_rows_that_finish_early_ride_along_without_changing_any_row(engine_fp32):
    # Nine rows finishing at nine different steps: finished rows stay in the batch (their tokens
    # ignored) until they are a quarter of it, then are dropped; no row's text may change.
    reqs = [
        _gen(f"You are Hal{i}, a farmer.", "Tell me about your fields.", max_new_tokens=2 + 2 * i,
             temperature=0.8, seed=i)
        for i in range(9)
    ]  # fmt: skip
    engine_fp32.prefix_cache.clear()
    alone = [engine_fp32.generate([r])[0] for r in reqs]
    engine_fp32.prefix_cache.clear()
    batched = engine_fp32.generate(reqs)
    assert [c.text for c in batched] == [c.text for c in alone]
    assert [c.completion_tokens for c in batched] == [c.completion_tokens for c in alone]
    assert sorted({c.completion_tokens for c in batched}) == [2 + 2 * i for i in range(9)]


def test_prefix_cache_changes_nothing_but_the_work_done(engine_fp32):
    reqs = [
        _gen(f"You are avatar {i}, a farmer.", f"Tick {t}: what now?") for t in range(2) for i in range(3)
    ]
    no_cache = Engine("smollm2-135m", device="cpu", dtype="float32", prefix_cache=False)
    expected = [c.text for c in no_cache.generate(reqs)]
    engine_fp32.prefix_cache.clear()
    first = engine_fp32.generate(reqs)
    again = engine_fp32.generate(reqs)
    assert [c.text for c in first] == expected == [c.text for c in again]
    assert all(c.cached_tokens > 0 for c in again)  # the second call served every prefix from cache
    assert again[0].cached_tokens == again[0].prompt_tokens - (
        again[0].prompt_tokens - again[0].cached_tokens
    )


def test_same_seed_gives_the_same_text_and_other_seeds_vary(engine_fp32):
    def sample(seed: int) -> str:
        return engine_fp32.generate(
            [_gen("You are Eve.", "Tell me about your day.", temperature=1.0, seed=seed)]
        )[0].text

    assert sample(42) == sample(42)
    assert len({sample(s) for s in range(4)}) >= 3


def test_stop_string_ends_generation_before_it(engine_fp32):
    req = _gen("You are Finn.", "Describe the weather in one long sentence.", max_new_tokens=48, stop=("e",))
    out = engine_fp32.generate([req])[0]
    assert out.finish_reason == "stop"
    assert "e" not in out.text
    assert out.completion_tokens < 48


def test_token_limit_is_respected(engine_fp32):
    out = engine_fp32.generate([_gen("You are Gil.", "Tell a long story.", max_new_tokens=5)])[0]
    assert out.completion_tokens == 5 and out.finish_reason == "length"


CLEAR_CASES = [
    ("You are starving and have bread in your bag.", ["sing a song", "go to sleep", "eat the bread"], 2),
    ("You have not slept for three days; it is midnight and you are exhausted.",
     ["sing a song", "go to sleep", "eat the bread"], 1),
    ("Your friend is celebrating her birthday at the plaza and asks you for music.",
     ["sing a song", "go to sleep", "eat the bread"], 0),
    ("It is raining heavily and you are outside getting wet.", ["go inside", "dig a hole", "sell a fish"], 0),
    ("A customer wants to buy your fish for a good price.", ["go inside", "dig a hole", "sell a fish"], 2),
    ("You have 3 apples and you are hungry.", ["eat an apple", "buy a hammer", "talk to Bob"], 0),
    ("Your roof is broken and you need a tool to fix it.", ["eat an apple", "buy a hammer", "talk to Bob"], 1),
    ("Bob, your best friend, just arrived and waves at you.", ["eat an apple", "buy a hammer", "talk to Bob"], 2),
]  # fmt: skip


def _choose(situation: str, options, **kw) -> ChooseRequest:
    msgs = (Message("system", RULES), Message("user", "You are Ann, a farmer."),
            Message("user", f"{situation} What do you do?"))  # fmt: skip
    return ChooseRequest(msgs, tuple(options), answer_prefix="I will", **kw)


def test_choose_returns_one_probability_per_option_summing_to_one(engine_fp32):
    [c] = engine_fp32.choose([_choose("You are hungry.", ["eat", "sleep", "dance", "run"])])
    assert len(c.probs) == 4
    assert sum(c.probs) == pytest.approx(1.0, abs=1e-6)
    assert c.index == max(range(4), key=c.probs.__getitem__)


def test_choose_picks_the_plainly_right_option_in_clear_cases(engine_fp32):
    choices = engine_fp32.choose([_choose(s, o) for s, o, _ in CLEAR_CASES])
    assert [c.index for c in choices] == [answer for _, _, answer in CLEAR_CASES]


def test_choice_follows_the_situation_not_the_option_order(engine_fp32):
    options = ["sing a song", "go to sleep", "eat the bread"]
    hungry = engine_fp32.choose([_choose(CLEAR_CASES[0][0], options)])[0]
    tired = engine_fp32.choose([_choose(CLEAR_CASES[1][0], options)])[0]
    assert hungry.index != tired.index
    reordered = engine_fp32.choose([_choose(CLEAR_CASES[0][0], list(reversed(options)))])[0]
    assert reordered.probs == pytest.approx(tuple(reversed(hungry.probs)), abs=1e-4)


def test_choose_is_the_same_alone_and_batched(engine_fp32):
    reqs = [_choose(s, o) for s, o, _ in CLEAR_CASES[:4]]
    alone = [engine_fp32.choose([r])[0].probs for r in reqs]
    batched = [c.probs for c in engine_fp32.choose(reqs)]
    for a, b in zip(alone, batched, strict=True):
        assert a == pytest.approx(b, abs=1e-4)


def test_prompt_longer_than_the_context_window_is_cut_from_the_left_keeping_the_system_prompt(engine_fp32):
    system = Message("system", "RULE: always be kind.")
    long_user = Message("user", "blah " * 400)
    saved = engine_fp32.context_window
    engine_fp32.context_window = 128
    try:
        prepared = engine_fp32._prepare((system, long_user, Message("user", "Now answer.")), reserve=8)
        head = engine_fp32._prepare((system, Message("user", "x")), reserve=8).ids[:5]
        assert len(prepared.ids) == 128 - 8
        assert prepared.ids[:5] == head  # the system prompt survives the cut
        out = engine_fp32.generate([GenerateRequest((system, long_user, Message("user", "Now answer.")),
                                                    max_new_tokens=8, temperature=0)])[0]  # fmt: skip
        assert out.prompt_tokens == 120 and out.completion_tokens >= 1
    finally:
        engine_fp32.context_window = saved


def test_engine_rejects_wrong_request_types(engine_fp32):
    with pytest.raises(ValueError, match=r"^requests:"):
        engine_fp32.generate([_choose("x", ["a", "b"])])


SCRIPT_HEAD = "Scenes from a market town.\n\nAt the farm. Rolf (a farmer) greets Tessa.\nRolf: Morning, Tessa!\nTessa: Morning, Rolf. Fine wheat today.\n\n"


def test_a_plain_text_prompt_in_pieces_is_continued_and_its_head_is_cached(engine_fp32):
    reqs = [
        GenerateRequest(prompt=(SCRIPT_HEAD, f"At the market. {n} (a trader) wants to sell tools.\n{n}:"),
                        max_new_tokens=12, temperature=0.0, stop=("\n",))
        for n in ("Cora", "Dov")
    ]  # fmt: skip
    alone = engine_fp32.generate(reqs[:1])[0]
    both = engine_fp32.generate(reqs)
    assert both[0].text == alone.text and alone.text.strip()
    assert both[1].cached_tokens > 0  # the shared head came from the prefix cache


def test_banned_openers_are_never_sampled_in_a_batch(engine_fp32):
    ids = engine_fp32.banned_ids(("(", "*", "["))
    tok = engine_fp32.tokenizer
    assert ids and all(tok.decode([i]).lstrip()[:1] in "(*[" for i in ids)
    assert tok.encode(" (", add_special_tokens=False)[0] in ids
    prompt = (SCRIPT_HEAD, "Stage directions follow.\nCora: (")  # a prompt that invites a bracket
    reqs = [
        GenerateRequest(prompt=prompt, max_new_tokens=16, temperature=1.0, seed=s, banned=("(", "*", "["))
        for s in range(6)
    ]
    for c in engine_fp32.generate(reqs):
        assert not any(ch in c.text for ch in "(*["), c.text


def test_choices_sorted_into_width_batches_come_back_in_request_order(engine_fp32):
    rules = Message("system", RULES)
    reqs = [
        ChooseRequest(
            (
                rules,
                Message("user", f"You are avatar {i}."),
                Message("user", "It rains. " * (1 + 7 * (i % 3))),
            ),
            options=("go inside", "dance in the rain", "sell bread")[: 2 + i % 2],
            answer_prefix="I will",
        )
        for i in range(6)
    ]
    alone = [engine_fp32.choose([r])[0].probs for r in reqs]
    budget = engine_fp32.token_budget
    engine_fp32.token_budget = 64  # several batches
    try:
        together = [c.probs for c in engine_fp32.choose(reqs)]
    finally:
        engine_fp32.token_budget = budget
    for a, b in zip(alone, together, strict=True):
        assert len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-4


def test_a_route_reuses_what_its_last_prompt_has_in_common_with_the_next_one(engine_fp32):
    rules, persona = Message("system", RULES), Message("user", "You are Ada, a farmer.")
    opts = ("gather wheat", "rest", "walk to the market")

    def req(tick: int, extra: str = "") -> ChooseRequest:
        situation = f"You are at the farm. Here you can gather wheat.{extra}\nIt is tick {tick}."
        return ChooseRequest(
            (rules, persona, Message("user", situation)), opts, "I will", route=5, session=True
        )

    engine_fp32.prefix_cache.clear()
    engine_fp32.choose([req(1)])
    base = engine_fp32.choose([req(2, " You hold 2 wheat.")])[0]  # a changed line after the place line
    plain = Engine("smollm2-135m", device="cpu", dtype="float32", prefix_cache=False).choose(
        [req(2, " You hold 2 wheat.")]
    )[0]
    persona_end = engine_fp32._prepare([rules, persona, Message("user", "x")], 32).bounds[-1]
    assert base.cached_tokens > persona_end  # the unchanged place line came from tick 1's prompt
    assert max(abs(x - y) for x, y in zip(base.probs, plain.probs, strict=True)) < 1e-4


def test_cascade_attention_matches_plain_attention_in_fp32():
    """A batch whose rows share a cached head (cascade attention) gives the same choices and the
    same greedy text as the same batch with the head copied into every row."""
    from dataclasses import replace

    from sim.bench.llm import build_workload
    from sim.llm.prefix_cache import PrefixCache

    engine = Engine("smollm2-135m", dtype="float32")
    if not engine.cascade:
        pytest.skip("cascade attention runs on CPU models only")
    work = build_workload(8, 2)
    out = {}
    for mode in (True, False):
        engine.cascade = mode
        engine.prefix_cache, engine._prior = PrefixCache(2**30), type(engine._prior)()
        got = []
        for chooses, gens in work.rounds:
            got.append([c.index for c in engine.choose(chooses)])
            got.append(
                [
                    g.text
                    for g in engine.generate([replace(r, temperature=0.0, max_new_tokens=12) for r in gens])
                ]
            )
        out[mode] = got
    assert out[True] == out[False]
