"""What calls for an LLM avatar now (agents/agenda.py), on situations built through the real
World of configs/town.yaml (the behaviour suite's builder), and the speech scene's topic."""

from __future__ import annotations

from typing import Any

import pytest

from agents.agenda import Economy, RoleWork, purposeful, worth
from agents.speech import topic
from sim.bench.behaviour import Case, _cfg, build_case
from sim.policy_setup import economy, role_kinds
from world.types import Offer


@pytest.fixture(scope="module")
def town() -> Any:
    return _cfg()


def _labels(town: Any, **fields: Any) -> list[str]:
    case = Case(id="t", category="t", name="Ada", sensible=("*",), **fields)
    _, _, obs, options, _ = build_case(case, town)
    return [o.label for o in purposeful(options, obs, role_kinds(town).get(case.role), economy(town))]


def test_the_scenario_economy_is_read_from_its_config(town: Any) -> None:
    eco = economy(town)
    assert eco.grows == {"wheat": ("farm",), "wood": ("forest",)}
    assert eco.recipes == {"bread": {"wheat": 2}, "tools": {"wood": 2}}
    assert eco.markets == ("market",) and set(eco.foods) == {"wheat", "bread"}
    assert eco.food_places() == ("market", "farm")
    assert {r: w.kind for r, w in role_kinds(town).items()} == {
        "trader": "trade", "gatherer": "gather", "crafter": "craft", "collaborator": "build",
    }  # fmt: skip


def test_hungry_without_food_the_options_are_ways_to_get_food(town: Any) -> None:
    at_market = _labels(town, role="crafter", place="market", needs={"hunger": 0.7}, inventory={"wood": 1})
    assert at_market and all(lb.startswith(("buy 1 bread", "buy 1 wheat")) for lb in at_market)
    at_plaza = _labels(town, role="crafter", place="plaza", needs={"hunger": 0.7})
    assert set(at_plaza) == {"walk to the market", "walk to the farm"}


def test_a_worthwhile_offer_is_answered_and_a_bad_one_stays_a_choice_beside_the_work(town: Any) -> None:
    good = _labels(
        town, role="gatherer", place="farm", inventory={"wheat": 4}, others=({"name": "Otto"},),
        offers=({"from": "Otto", "give": {"coin": 12}, "get": {"wheat": 2}},),
    )  # fmt: skip
    assert good == ["accept offer 1", "reject offer 1"]
    bad = _labels(
        town, role="gatherer", place="farm", inventory={"wheat": 4}, others=({"name": "Otto"},),
        offers=({"from": "Otto", "give": {"coin": 1}, "get": {"wheat": 2}},),
    )  # fmt: skip
    assert "gather wheat" in bad and "reject offer 1" in bad and "accept offer 1" not in bad


def test_each_role_does_its_work_here_or_goes_where_it_is(town: Any) -> None:
    assert _labels(town, role="gatherer", place="farm") == ["gather wheat"]
    assert set(_labels(town, role="gatherer", place="plaza")) == {"walk to the farm", "walk to the forest"}
    assert _labels(town, role="crafter", place="workshop", inventory={"wheat": 2}) == ["craft bread"]
    # Holding a recipe's inputs away from the workshop: to the workshop; none: to the fields.
    assert _labels(town, role="crafter", place="farm", inventory={"wheat": 2}) == ["walk to the workshop"]
    assert set(_labels(town, role="crafter", place="workshop")) == {"walk to the farm", "walk to the forest"}
    assert _labels(town, role="trader", place="forest", inventory={"wood": 3}) == ["walk to the market"]
    sells = _labels(town, role="trader", place="market", inventory={"tools": 2}, others=({"name": "Nia"},))
    assert sells and all(lb.startswith(("sell ", "offer Nia")) for lb in sells)


def test_a_builder_works_on_its_project_or_goes_to_get_what_it_needs(town: Any) -> None:
    project = ({"proposer": "Bo", "template": "bridge", "member": True},)
    others = ({"name": "Bo"},)
    at_site = _labels(town, role="collaborator", place="plaza", others=others, projects=project)
    assert at_site and all(lb.startswith(("contribute ", "propose ")) for lb in at_site)
    # Away from the site, where the missing wood grows: gather it.
    assert _labels(town, role="collaborator", place="forest", others=others, projects=project) == [
        "gather wood"
    ]


def test_someone_speaking_or_loneliness_keeps_talk(town: Any) -> None:
    spoken = _labels(
        town, role="gatherer", place="farm", others=({"name": "Bo"},), heard=({"from": "Bo", "text": "hi"},)
    )
    # Answering (or the gift asked for: the model weighs a scam) stays beside the work.
    assert spoken == ["gather wheat", "talk to Bo", "give 1 coin to Bo"]
    quiet = _labels(town, role="gatherer", place="farm", others=({"name": "Bo"},))
    assert "talk to Bo" not in quiet
    lonely = _labels(
        town, role="gatherer", place="farm", needs={"loneliness": 0.35}, others=({"name": "Bo"},)
    )
    assert "gather wheat" in lonely and "talk to Bo" in lonely


def test_without_an_economy_or_a_role_nothing_is_narrowed(town: Any) -> None:
    case = Case(id="t", category="t", name="Ada", role="gatherer", place="farm", sensible=("*",))
    _, _, obs, options, _ = build_case(case, town)
    assert purposeful(options, obs, None, None) == list(options)
    assert purposeful(options, obs, None, Economy()) == list(options)
    assert purposeful(options, obs, RoleWork("unknown"), economy(town)) == list(options)


def test_an_offer_is_worth_what_it_gives_against_what_it_asks_at_market_prices() -> None:
    o = Offer(1, 2, 0, (("coin", 4),), (("wheat", 1),), 0, 5)
    assert worth(o, {"wheat": 2}, "coin") == (4, 2, "good")
    o = Offer(1, 2, 0, (("coin", 7),), (("bread", 2),), 0, 5)
    assert worth(o, {"bread": 4}, "coin")[2] == "fair"
    assert worth(o, {"bread": 5}, "coin")[2] == "bad"


def test_a_reply_is_about_what_the_line_it_answers_names() -> None:
    town = {"bread", "wheat", "market", "coin", "lena"}
    assert topic("Fresh breads at the market, Bo!", town) == "breads"
    assert topic("Could you lend me a hammer?", town) == "hammer"
    assert topic("Hi!", town) == ""
