"""An LLM avatar's append-only prompt log (agents/session.py) and the policy that writes it."""

from __future__ import annotations

from types import SimpleNamespace

from test_agents_policies import PERSONA, _ctx, _decide, _llm_world, _obs

from agents.lm import Message
from agents.policy import PendingChoice
from agents.session import Session, delta_entry
from world.types import Action, Heard


def _avatar() -> SimpleNamespace:
    return SimpleNamespace(
        avatar_id=1, persona=PERSONA, role="trader", memory=None, intention=None, session=None
    )


def test_a_delta_entry_tells_only_what_changed_and_what_was_just_heard() -> None:
    told = {"where": "You are at the farm.", "needs": "You feel fine.", "have": "You have 3 coin."}
    now = {**told, "needs": "You are hungry."}
    entry = delta_entry(7, now, told, ['Bo said: "hi"'])
    assert entry.splitlines()[:4] == ["Tick 7.", "You are hungry.", "You heard:", 'Bo said: "hi"']
    assert "farm" not in entry and "coin" not in entry
    assert delta_entry(8, now, now, []).startswith("Tick 8. Nothing has changed.")


def test_the_log_grows_by_answered_entries_and_restarts_when_full_or_unanswered() -> None:
    s = Session()
    s.ask("full situation", {"a": "1"}, fresh=True)
    s.answered("gather wheat")
    assert s.turns == [("full situation", "gather wheat")] and s.facts == {"a": "1"}
    assert s.fits("Tick 2.", limit=1000) and not s.fits("x " * 2000, limit=1000)
    head = (Message("system", "rules"), Message("user", "persona"))
    msgs = s.messages(head, "Tick 2.", "I will")
    assert [m.role for m in msgs] == ["system", "user", "user", "assistant", "user"]
    assert msgs[3].content == "I will gather wheat"
    s.ask("Tick 2.", {"a": "2"}, fresh=False)
    pending = PendingChoice(request=None, options=(Action(1, "rest"),), session=s)  # type: ignore[arg-type]
    pending.settle(None)  # no answer came (a replica down): the log restarts
    assert s.turns == [] and s.asked is None


def test_heard_lines_already_in_the_log_are_not_told_again() -> None:
    s = Session()
    old, new = Heard(3, 2, "hello"), Heard(4, 2, "how are you?")
    s.ask("entry", {}, fresh=True, messages=(old,))
    assert s.new_lines((old, new)) == [new]


def test_with_a_session_budget_the_policy_sends_a_growing_log_and_deltas() -> None:
    from agents.llm_policy import LLMPolicy

    policy = LLMPolicy(world_name="town", session_tokens=1024)
    avatar = _avatar()
    world = _llm_world()
    first = _decide(policy, avatar, _ctx(world, tick=4))
    assert len(first.request.messages) == 3 and first.request.session
    assert "You have 10 coin" in first.request.messages[-1].content
    first.settle(first.options[0])
    world.observations[1] = _obs(tick=5, needs={"hunger": 0.55, "tiredness": 0.2, "loneliness": 0.5})
    second = _decide(policy, avatar, _ctx(world, tick=5))
    roles = [m.role for m in second.request.messages]
    assert roles == ["system", "user", "user", "assistant", "user"]
    assert second.request.messages[3].content == f"I will {first.options[0].label}"
    last = second.request.messages[-1].content
    assert last.startswith("Tick 5.") and "You are hungry" in last and "coin" not in last
    # The first three messages are the first request's: the engine reuses their KV.
    assert second.request.messages[:3] == first.request.messages


def test_without_a_session_budget_every_decision_is_a_fresh_full_prompt() -> None:
    from agents.llm_policy import LLMPolicy

    policy = LLMPolicy(world_name="town")
    avatar = _avatar()
    world = _llm_world()
    first = _decide(policy, avatar, _ctx(world, tick=4))
    first.settle(first.options[0])
    second = _decide(policy, avatar, _ctx(world, tick=5))
    assert len(second.request.messages) == 3 and avatar.session is None
    assert second.request.messages[-1].content.endswith("It is tick 5.\n\nWhat do you do now?")


def test_trade_options_that_make_no_sense_for_the_avatar_are_not_offered_to_the_model() -> None:
    from agents.llm_policy import sensible_trades
    from world.types import Offer

    good = Offer(id=7, sender=2, target=1, give=(("coin", 6),), get=(("wheat", 1),), tick=3, expires=9)
    bad = Offer(id=8, sender=3, target=1, give=(("coin", 1),), get=(("bread", 3),), tick=3, expires=9)
    obs = _obs(offers=(good, bad), inventory={"wheat": 2, "bread": 3}, prices={"wheat": 2, "bread": 5})
    opts = [
        Action(1, "accept", offer_id=7), Action(1, "reject", offer_id=7),
        Action(1, "accept", offer_id=8), Action(1, "reject", offer_id=8), Action(1, "rest"),
    ]  # fmt: skip
    kept = sensible_trades(opts, obs, foods=("bread", "wheat"))
    assert [(o.kind, o.offer_id) for o in kept] == [("accept", 7), ("reject", 8), ("rest", None)]
    hungry = _obs(inventory={}, needs={"hunger": 0.6}, prices={"bread": 5, "tools": 8})
    buys = [Action(1, "order", item=i, side="buy", qty=1, price=p) for i, p in (("bread", 5), ("tools", 8))]
    assert [o.item for o in sensible_trades(buys, hungry, foods=("bread",))] == ["bread"]
    assert sensible_trades(buys[1:], hungry, foods=("bread",)) == buys[1:]  # never leaves nothing
