"""Collaboration that completes: what avatars see of projects, the tick's claims, the collaborator's plan."""

from __future__ import annotations

import random

from world_fakes import make_world

from agents.claims import Claims
from agents.policy import TickContext
from agents.rules import CollaboratorPolicy, GathererCrafterPolicy
from world import Action

# A dock built at the plaza from wood grown in the forest (beside the test town's own templates).
FOREST = {
    "world": {
        "places": {
            "plaza": {"x": 0, "y": 0, "offers": ["plaza", "market"]},
            "farm": {"x": 6, "y": 0, "offers": ["farm"]},
            "workshop": {"x": 0, "y": 3, "offers": ["workshop"]},
            "forest": {"x": 3, "y": 3, "offers": ["forest"]},
        }
    },
    "economy": {"gathering": {"farm": {"wheat": 2}, "forest": {"wood": 2}}},
    "projects": {
        "templates": {
            "dock": {
                "needs": {"wood": 4, "labour": 2},
                "min_contributors": 2,
                "deadline": 20,
                "reward": 10,
                "place": "plaza",
            }
        }
    },
}


def _world(n: int = 4, place: str | None = None, wood: int = 0):
    w = make_world(n, place=place, economy={**FOREST["economy"], "endowment": {"coin": 10, "wood": wood}}, **{
        k: v for k, v in FOREST.items() if k != "economy"
    })  # fmt: skip
    return w


def _ctx(w, seed: int = 0) -> TickContext:
    return TickContext(
        tick=w.tick, random=random.Random(seed), avatar_ids=w.ids, names=w.names, balance=w.coins
    )


def _propose(w, avatar: int = 1) -> int:
    ev = w.resolve([Action(avatar, "project_propose", text="dock")])
    return ev[0].data["project_id"]


def test_a_project_view_says_what_the_viewer_may_still_give_and_where_the_items_grow() -> None:
    w = _world(wood=4)
    pid = _propose(w)
    w.resolve([Action(1, "project_contribute", project_id=pid, item="wood", qty=2)])
    view = w.observation_for(1).projects[0]
    assert view.missing == (("wood", 2), ("labour", 2))
    assert view.room == (("labour", 1),)  # it gave its share of wood (4 / 2 contributors)
    assert w.observation_for(2).projects[0].room == (("wood", 2), ("labour", 1))
    assert (view.sources, view.sites) == ((("wood", "forest"),), ("plaza",))
    (t,) = [t for t in w.observation_for(1).templates if t.name == "dock"]
    assert (t.name, t.needs, t.min_contributors, t.deadline, t.sources) == (
        "dock", (("wood", 4), ("labour", 2)), 2, 20, (("wood", "forest"),),
    )  # fmt: skip


def test_project_options_say_what_is_missing_and_the_reward() -> None:
    w = _world(wood=3)
    labels = {o.label for o in w.legal_actions(1) if o.kind == "project_propose"}
    assert "propose a dock project (needs 4 wood, 2 labour; pays 10)" in labels
    pid = _propose(w)
    labels = {o.label for o in w.legal_actions(2) if o.kind == "project_contribute"}
    note = "a dock: needs 4 wood, 2 labour; pays 10"
    assert labels == {
        f"contribute 1 wood to project {pid} ({note})",
        f"contribute 2 wood to project {pid} ({note})",  # its whole share at once
        f"contribute 1 labour to project {pid} ({note})",
    }


def test_claims_keep_later_deciders_from_racing_for_the_last_unit() -> None:
    w = _world(wood=4)
    pid = _propose(w)
    for a in (2, 3):
        w.resolve([Action(a, "project_contribute", project_id=pid, item="wood", qty=2)])
    w.resolve([Action(2, "project_contribute", project_id=pid, item="labour")])
    # One labour left: three gatherer-crafters at the plaza would each give it.
    ctx = _ctx(w)
    policy = GathererCrafterPolicy()
    actions = []
    for a in (1, 3, 4):
        obs, opts = w.observe(a)
        d = policy.decide(None, obs, opts, ctx)  # type: ignore[arg-type]
        if d is not None:
            actions.append(d)
    gives = [a for a in actions if a.kind == "project_contribute"]
    assert len(gives) == 1
    events = w.resolve(actions)
    assert not [e for e in events if e.kind == "invalid_action"]
    assert [e.kind for e in events if e.kind.startswith("project")][-1] == "project_complete"


def test_the_world_tallies_its_completed_projects_as_metrics() -> None:
    w = _world(wood=4)
    w.ledger.transfer("mint", "treasury", "coin", 100, "test: public funds")
    assert "projects.ticks_to_complete" not in w.metrics()  # nothing completed: no made-up 0
    pid = _propose(w)
    w.end_tick()
    w.end_tick()
    w.resolve(
        [
            Action(a, "project_contribute", project_id=pid, item=i, qty=q)
            for a in (1, 2)
            for i, q in (("wood", 2), ("labour", 1))
        ]
    )
    m = w.metrics()
    assert (m["projects_proposed"], m["projects_completed"]) == (1.0, 1.0)
    assert (m["projects.ticks_to_complete"], m["projects.contributors"]) == (2.0, 2.0)
    assert m["projects.reward_to_non_contributors"] == 0.0  # rewards go to contributors only


def test_claims_allow_one_proposal_and_one_answer_per_offer_a_tick() -> None:
    w = _world()
    obs = w.observation_for(1)
    claims = Claims()
    propose = Action(1, "project_propose", text="dock")
    assert claims.allows(propose, obs)
    claims.record(propose)
    assert not claims.allows(Action(2, "project_propose", text="dock"), obs)
    claims.record(Action(1, "accept", offer_id=7))
    assert not claims.allows(Action(2, "accept", offer_id=7), obs)
    assert claims.allows(Action(2, "accept", offer_id=8), obs)


def test_the_collaborator_fetches_carries_and_gives_what_the_project_misses() -> None:
    w = _world(place="plaza")
    pid = _propose(w, avatar=2)
    policy = CollaboratorPolicy()
    policy.propose_rate = 0.0

    def step(a: int = 1) -> Action:
        obs, opts = w.observe(a)
        d = policy.decide(None, obs, opts, _ctx(w))  # type: ignore[arg-type]
        assert isinstance(d, Action)
        return d

    assert step() == Action(1, "project_contribute", project_id=pid, item="labour", qty=1)
    w.resolve([step()])
    assert step() == Action(1, "move", place="forest")  # its labour is given: fetch wood
    w.places.at[1] = "forest"  # (arrived)
    w.places._present["plaza"].remove(1)
    w.places._present["forest"].append(1)
    assert step() == Action(1, "gather", item="wood")
    w.resolve([step()])  # 2 wood: its share
    assert step() == Action(1, "move", place="plaza")
    w.places.at[1] = "plaza"
    w.places._present["forest"].remove(1)
    w.places._present["plaza"].append(1)
    assert step() == Action(1, "project_contribute", project_id=pid, item="wood", qty=2)


def test_the_collaborator_proposes_only_what_the_people_here_can_finish() -> None:
    w = _world(n=1, place="plaza")  # alone: a dock needs two contributors (a festival three)
    policy = CollaboratorPolicy()
    policy.propose_rate = 1.0
    obs, opts = w.observe(1)
    assert policy.proposal(obs, opts, _ctx(w)) is None
    w = _world(n=2, place="plaza")
    obs, opts = w.observe(1)
    assert policy.proposal(obs, opts, _ctx(w)) == Action(1, "project_propose", text="dock")


def test_someone_spoken_to_as_they_walk_off_still_hears_it() -> None:
    w = _world(n=2, place="plaza")
    events = w.resolve([Action(2, "move", place="farm"), Action(1, "say", target=2, text="wait for me")])
    assert [e.kind for e in events] == ["move", "say"]
    assert [h.text for h in w.inbox[2]] == ["wait for me"]


def _log_after(config: str, ticks: int, *, cut: int | None = None) -> list[tuple]:
    """The events of a rule-only run; with ``cut``, checkpointed there through JSON into a fresh model."""
    import json

    from sim.model import MetaverseModel

    def model() -> MetaverseModel:
        return MetaverseModel(config, overrides=["population.llm_share=0"], ticks=ticks, seed=5)

    m = model()
    log = []
    while m.running:
        if cut is not None and m.tick == cut:
            state = json.loads(json.dumps(m.get_state()))
            m = model()
            m.set_state(state)
        m.step()
        log += [
            (e.tick, e.kind, e.actor, e.target, json.dumps(e.data, sort_keys=True)) for e in m.last_events
        ]
    return log


def test_a_guild_resumed_from_a_checkpoint_mid_project_runs_on_identically() -> None:
    # The collaborators' plans are read from each observation: nothing else to checkpoint.
    straight = _log_after("configs/guild.yaml", 30)
    assert any(e[1] == "project_complete" for e in straight)
    assert _log_after("configs/guild.yaml", 30, cut=12) == straight
