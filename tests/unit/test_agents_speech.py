"""Speech (agents/speech.py): the samples drawn for a line and the one said; and the choose
prompt telling only the facts that bear on the options left."""

from __future__ import annotations

from test_agents_policies import _avatar, _ctx, _llm_world

from agents.conversation import ConversationBook
from agents.llm_policy import LLMPolicy, _relevant
from agents.speech import SpeechSettings
from world.types import Action


def _policy(candidates: int = 3) -> LLMPolicy:
    return LLMPolicy(world_name="town", speech=SpeechSettings(candidates=candidates))


def _requests(policy: LLMPolicy, text: str = "Fresh bread, Ada?"):
    book = ConversationBook(max_turns=4)
    conv, _ = book.record(3, 2, 1, "market", text)
    scene = _ctx(_llm_world())
    obs = scene.world.observation_for(1)
    first = policy.speaker.request(
        _avatar(1), Action(1, "say", target=2), obs, scene.ctx, conv, book.turns_left(1, 2, "market")
    )
    reqs = policy.speaker.samples(first, 1, scene.ctx)
    return reqs, scene.ctx


def test_a_line_is_sampled_several_times_from_one_prompt_with_its_own_seeds() -> None:
    reqs, _ = _requests(_policy(3))
    assert len(reqs) == 3
    assert len({r.prompt for r in reqs}) == 1  # one prompt: its KV is shared
    assert len({r.seed for r in reqs}) == 3
    assert [r.request_id for r in reqs] == ["4:1:say", "4:1:say#1", "4:1:say#2"]
    assert len(_requests(_policy(1))[0]) == 1


def test_the_line_said_answers_what_it_was_asked_then_names_the_town() -> None:
    policy = _policy(3)
    _, ctx = _requests(policy, "Fresh bread, Ada? Five coin a loaf.")
    avatar = _avatar(1)
    texts = ["What a lovely morning!", "Chen Sato told me you were here.", "Two loaves of bread, please."]
    assert policy.speaker.pick(avatar, texts, ctx) == 2  # shares "bread" with the line it answers
    assert policy.speaker.pick(avatar, texts[:2], ctx) == 1  # names a person of the town
    assert policy.speaker.pick(avatar, ["Hello.", "Hi there."], ctx) == 0  # a tie: the first sample
    # The speaker's own name is not grounding.
    assert policy.speaker.pick(avatar, ["Nice day.", "I am Ada Brook."], ctx) == 0
    # A line said in this conversation already loses to any fresh one, case and punctuation aside.
    assert policy.speaker.pick(avatar, ["fresh BREAD, Ada? five coin a loaf", "Good day."], ctx) == 1


def test_more_samples_are_drawn_only_when_the_first_can_be_bettered() -> None:
    policy = _policy(5)
    _, ctx = _requests(policy, "Fresh bread, Ada? Five coin a loaf.")
    avatar = _avatar(1)
    best = "Two loaves of bread, please, Chen Sato."  # fresh, on "bread", names the town
    assert policy.speaker.settled(avatar, ["Hello.", best], ctx)
    assert not policy.speaker.settled(avatar, ["Hello.", "Chen Sato told me you were here."], ctx)
    assert not policy.speaker.settled(avatar, [], ctx)
    # Settled means picking over more samples says the same line: a later one never beats it.
    for later in (["Bread? Yes, bread at the market."], ["Hi."], [best]):
        assert policy.speaker.pick(avatar, ["Hello.", best, *later], ctx) == 1
    # An opener answers nobody: the best it can be is fresh, grounded and saying something.
    book = ConversationBook(max_turns=4)
    scene = _ctx(_llm_world())
    obs = scene.world.observation_for(1)
    policy.speaker.request(
        _avatar(1), Action(1, "say", target=2), obs, scene.ctx, None, book.turns_left(1, 2, "market")
    )
    assert policy.speaker.settled(avatar, ["Chen Sato, the bread is fresh today."], scene.ctx)
    assert not policy.speaker.settled(avatar, ["Lovely weather."], scene.ctx)


def test_the_choose_prompt_tells_only_the_facts_that_bear_on_the_options() -> None:
    walk = [Action(1, "move", place="farm"), Action(1, "move", place="forest")]
    assert _relevant(walk, None) == {"have", "muted"}
    trade = [*walk, Action(1, "order", item="bread", side="sell", price=5)]
    assert "prices" in _relevant(trade, None) and "people" not in _relevant(trade, None)
    talk = [*walk, Action(1, "say", target=2)]
    assert "people" in _relevant(talk, None)
    answer = [Action(1, "accept", offer_id=3), Action(1, "reject", offer_id=3)]
    assert {"offers", "prices"} <= _relevant(answer, None)
