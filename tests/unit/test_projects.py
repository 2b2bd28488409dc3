"""Collaboration projects: proposing, joining, contributing, completion and failure."""

from __future__ import annotations

from world_fakes import make_world

from world import Action


def contribute(pid: int, avatar: int, item: str, qty: int = 1) -> Action:
    return Action(avatar, "project_contribute", project_id=pid, item=item, qty=qty)


def treasury_world(**kw):
    w = make_world(3, economy={"endowment": {"coin": 10, "bread": 0, "wood": 4}}, **kw)
    w.ledger.transfer("mint", "treasury", "coin", 100, "test: public funds")
    return w


def test_completed_project_pays_the_reward_by_contribution_and_ties_the_contributors():
    w = treasury_world()
    ev = w.resolve([Action(1, "project_propose", text="bridge")])
    assert ev[0].kind == "project_propose"
    pid = ev[0].data["project_id"]
    assert ev[0].data["needs"] == {"wood": 4, "labour": 2, "coin": 4}
    ev = w.resolve(
        [
            Action(2, "project_join", project_id=pid),
            contribute(pid, 1, "wood", 2),
            contribute(pid, 2, "wood", 2),
            contribute(pid, 1, "labour"),
            contribute(pid, 2, "labour"),
            contribute(pid, 1, "coin", 2),
            contribute(pid, 2, "coin", 2),
        ]
    )
    assert [e.kind for e in ev] == ["project_join"] + ["project_contribute"] * 6 + ["project_complete"]
    done = ev[-1].data
    # Both gave wood 2 x price 2, labour 1 x 1, coins 2: equal value, equal halves of 10.
    assert (done["contributors"], done["reward"], done["shares"]) == ([1, 2], 10, [[1, 5], [2, 5]])
    assert (w.coins(1), w.coins(2)) == (13, 13)
    assert w.ledger.burned["wood"] == 4 and w.ledger.balance("escrow", "wood") == 0
    assert w.social.tie(1, 2)[2] >= 1 and w.social.tie(2, 1)[0] > 0
    w.end_tick()
    m = w.metrics()
    assert (m["projects_completed"], m["projects_active"]) == (1.0, 0.0)


def test_failed_project_refunds_every_contribution_through_the_ledger():
    w = treasury_world()
    pid = w.resolve([Action(1, "project_propose", text="bridge")])[0].data["project_id"]
    w.resolve([contribute(pid, 1, "wood", 2), contribute(pid, 2, "coin", 2)])
    assert (w.inventory(1)["wood"], w.coins(2)) == (2, 8)
    events = []
    for _ in range(5):
        events += w.end_tick()
    fail = [e for e in events if e.kind == "project_fail"]
    assert len(fail) == 1 and fail[0].data["contributors"] == [1, 2]
    assert (w.inventory(1)["wood"], w.coins(2)) == (4, 10)
    assert w.ledger.balance("escrow", "coin") == 0
    assert w.metrics()["projects_failed"] == 1.0


def test_one_avatar_cannot_supply_more_than_its_share():
    w = treasury_world()
    pid = w.resolve([Action(1, "project_propose", text="bridge")])[0].data["project_id"]
    ev = w.resolve([contribute(pid, 1, "wood", 3)])
    assert ev[0].data["reason"] == "one avatar may give at most 2 more wood"
    ev = w.resolve(
        [contribute(pid, 1, "wood", 2), contribute(pid, 2, "wood", 2), contribute(pid, 3, "wood", 1)]
    )
    assert ev[-1].data["reason"] == "the project needs only 0 more wood"


def test_sponsored_project_takes_the_pledge_and_returns_it_on_failure():
    w = treasury_world()
    ev = w.resolve([Action(1, "project_propose", text="festival")])
    assert ev[0].data["pledge"] == 6 and w.coins(1) == 4
    for _ in range(3):
        w.end_tick()
    assert w.coins(1) == 10


def test_sponsored_project_pays_the_pledge_to_its_contributors():
    w = treasury_world()
    w.ledger.transfer("treasury", "sink", "coin", 100, "test: empty the treasury")
    pid = w.resolve([Action(1, "project_propose", text="festival")])[0].data["project_id"]
    ev = w.resolve(
        [contribute(pid, 1, "coin", 2), contribute(pid, 2, "coin", 2), contribute(pid, 3, "coin", 2)]
    )
    done = ev[-1]
    assert done.kind == "project_complete" and done.data["shares"] == [[1, 2], [2, 2], [3, 2]]
    assert (w.coins(1), w.coins(2), w.coins(3)) == (4, 10, 10)


def test_proposing_refused_without_the_pledge_or_beyond_max_active():
    w = make_world(2, economy={"endowment": {"coin": 2}}, projects={"max_active": 1})
    ev = w.resolve([Action(1, "project_propose", text="festival")])
    assert ev[0].data["reason"] == "holds only 2 coin, the pledge is 6"
    w.resolve([Action(1, "project_propose", text="bridge")])
    assert (
        w.resolve([Action(2, "project_propose", text="bridge")])[0].data["reason"]
        == "too many projects under way"
    )


def test_labour_is_one_tick_at_a_time_and_joining_twice_is_refused():
    w = treasury_world()
    pid = w.resolve([Action(1, "project_propose", text="bridge")])[0].data["project_id"]
    assert (
        w.resolve([contribute(pid, 2, "labour", 2)])[0].data["reason"]
        == "one avatar may give at most 1 more labour"
    )
    assert (
        w.resolve([Action(1, "project_join", project_id=pid)])[0].data["reason"]
        == f"already in project {pid}"
    )
    assert (
        w.resolve([contribute(pid, 2, "bread")])[0].data["reason"] == f"project {pid} does not need 'bread'"
    )
