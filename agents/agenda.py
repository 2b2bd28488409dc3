"""What calls for an LLM avatar now: the options that serve its purpose this tick.

The world offers every legal action (walk anywhere, talk to anyone here, buy any item...), and
the 135M model spreads its probability over them almost evenly: on the behaviour suite it
walked to the workshop when hungry at the market with no food, counter-offered instead of
taking a good offer, and gathered wood as a trader. A person would not weigh all of these;
they see what calls for them first. :func:`purposeful` narrows the options the same way, in
this order, and the model chooses among what is left (which food, which place, whom to talk
to, a fair deal or not):

1. an urgent need (:func:`~agents.llm_policy.focus_on_urgent_need`); hungry with no food, the
   ways to get food: buy it, accept an offer of it, gather it, walk to where it is;
2. offers made to the avatar: answer them (accept or reject, which
   :func:`~agents.llm_policy.sensible_trades` then trims when the deal is clear-cut);
3. its role's work (:class:`RoleWork`): do it here when it can (gather, craft, sell, build),
   otherwise go where it is (the fields, the workshop once it holds a recipe's inputs, the
   market to sell a surplus; a trader buys there); beside it stay answering whoever just spoke to the
   avatar (talk, or the gift they asked for: the model weighs a scam), talk when a little lonely,
   rest when tired, turning down a bad offer;
4. otherwise every option stays.

The world's options are only ever filtered, never added to, so every pick is still legal, and a tier that
would leave nothing leaves the options as they were. A bigger model does not need this; it is
on for every model because it costs nothing and reads as the role's plan (see docs/simulation.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from world.types import Action, Observation, Offer

__all__ = [
    "CHATTY",
    "LONELY",
    "SURPLUS",
    "URGENT",
    "URGENT_BY_NEED",
    "Economy",
    "RoleWork",
    "food_options",
    "purposeful",
    "urgent_at",
    "value",
    "work_options",
    "worth",
]

#: A need at or above this level takes the avatar's whole attention (hunger sooner: an avatar
#: holding food should not go hungry because work looked likelier to a small model; the rule
#: policies eat from 0.6; from 0.5, the world's "hungry", 8 town avatars still went hungry with food).
#: Intentions (agents/intentions.py) end at the same levels.
URGENT = 0.8
URGENT_BY_NEED = {"hunger": 0.5}


def urgent_at(need: str) -> float:
    """The level from which ``need`` is urgent."""
    return URGENT_BY_NEED.get(need, URGENT)


#: Holding at least this many of an item is a surplus worth taking to the market.
SURPLUS = 4
#: Loneliness from which talking to anyone here is a reason enough ("lonely" in words).
LONELY = 0.5
#: Needs at which talking ("a little lonely") or resting stays among the work options.
CHATTY, TIRED = 0.3, 0.5
#: Tiers that narrow only for needs at least this pressing (the LLM policy's "hungry").
HUNGRY = 0.5


@dataclass(frozen=True)
class Economy:
    """What the scenario's economy says about where things are (from its config)."""

    #: item -> places where it can be gathered.
    grows: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: recipe -> its inputs.
    recipes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: recipe -> places where it is made.
    workshops: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: places with a market.
    markets: tuple[str, ...] = ()
    foods: tuple[str, ...] = ()
    currency: str = "coin"

    def food_places(self) -> tuple[str, ...]:
        """Where food can be had: the markets, then where food grows."""
        grown = [p for f in self.foods for p in self.grows.get(f, ())]
        return tuple(dict.fromkeys([*self.markets, *grown]))

    def inputs(self) -> set[str]:
        return {i for ins in self.recipes.values() for i in ins}

    def outputs(self) -> set[str]:
        return set(self.recipes)


@dataclass(frozen=True)
class RoleWork:
    """A role's work: ``gather``, ``craft``, ``trade`` or ``build`` (projects)."""

    kind: str


def value(goods: Sequence[tuple[str, int]], prices: Mapping[str, int], currency: str) -> int:
    return sum(q if i == currency else q * prices.get(i, 1) for i, q in goods)


def worth(o: Offer, prices: Mapping[str, int], currency: str) -> tuple[int, int, str]:
    """What an offer gives the avatar and asks of it at market prices, and its verdict:
    "good" (gets at least what it pays), "fair" (at least 80% of it) or "bad"."""
    gets, pays = value(o.give, prices, currency), value(o.get, prices, currency)
    return gets, pays, "good" if gets >= pays else "fair" if 10 * gets >= 8 * pays else "bad"


def _moves(options: Sequence[Action], places: Sequence[str]) -> list[Action]:
    want = set(places)
    return [o for o in options if o.kind == "move" and o.place in want]


def _sells(o: Action, items: set[str], offers: bool = False) -> bool:
    """An option that sells one of ``items`` on the market (or, with ``offers``, in a private offer)."""
    if o.kind == "order" and o.side == "sell":
        return o.item in items
    if o.kind == "offer" and offers:
        return any(i in items for i, _ in o.give)
    return False


def food_options(options: Sequence[Action], obs: Observation, eco: Economy) -> list[Action]:
    """Ways to get food for a hungry avatar with none: buy it, accept an offer giving it, gather
    it here; failing these, walk to where food is (market first)."""
    foods = set(eco.foods)
    offers = {o.id: o for o in obs.offers}
    get = []
    for o in options:
        buys = (o.kind == "order" and o.side == "buy") or o.kind == "gather"
        offered = offers.get(o.offer_id) if o.kind == "accept" and o.offer_id is not None else None
        if (buys and o.item in foods) or (offered and any(i in foods for i, _ in offered.give)):
            get.append(o)
    return get or _moves(options, eco.food_places())


def _surplus(obs: Observation) -> set[str]:
    return {i for i, q in obs.inventory.items() if q >= SURPLUS}


def _can_craft(obs: Observation, eco: Economy) -> list[str]:
    """Recipes whose inputs the avatar holds."""
    return [r for r, ins in eco.recipes.items() if all(obs.inventory.get(i, 0) >= q for i, q in ins.items())]


def work_options(options: Sequence[Action], obs: Observation, work: RoleWork, eco: Economy) -> list[Action]:
    """The options that do the role's work here, or go to where it is ([] when none)."""
    kind = work.kind
    surplus = _surplus(obs)
    held = {i for i, q in obs.inventory.items() if q > 0}
    to_market = _moves(options, eco.markets) if surplus else []
    if kind == "gather":
        here = [o for o in options if o.kind == "gather"] + [o for o in options if _sells(o, surplus)]
        if here:
            return here + to_market
        return _moves(options, sorted({p for ps in eco.grows.values() for p in ps})) + to_market
    if kind == "craft":
        crafts = [o for o in options if o.kind == "craft"]
        if crafts:
            return crafts
        ready = _can_craft(obs, eco)
        if ready:  # holding a recipe's inputs: to the workshop
            return _moves(options, sorted({p for r in ready for p in eco.workshops.get(r, ())}))
        outputs = held & eco.outputs()
        sell = [o for o in options if _sells(o, outputs)] if obs.place in eco.markets else []
        if sell:  # at the market with what it made
            return sell
        outputs &= surplus
        inputs = eco.inputs()
        get = [o for o in options if o.kind == "gather" and o.item in inputs]
        if get:
            return get
        if outputs:
            return _moves(options, eco.markets)
        # Its inputs are gathered where they grow (buying them waits on sellers at the market:
        # in the town, crafters that went to buy placed 50 orders and crafted 4 goods).
        return _moves(options, sorted({p for i in inputs for p in eco.grows.get(i, ())}))
    if kind == "trade":
        # On the market through its book; elsewhere to the people met (at the market, traders'
        # offers at market price to each other only made every trader answer offers).
        sell = [o for o in options if _sells(o, held, offers=obs.place not in eco.markets)]
        if sell:
            return sell
        if obs.place not in eco.markets:
            return _moves(options, eco.markets)
        return [o for o in options if o.kind == "order" and o.side == "buy"]
    if kind == "build":
        # Giving what a project lacks first: it is what finishes projects (joining one more, or
        # proposing another, does not).
        build = [o for o in options if o.kind == "project_contribute"]
        build = build or [o for o in options if o.kind.startswith("project_")]
        if build or not obs.projects:
            return build
        # Holding what a project lacks: take it to the site; lacking it: gather it here, or go
        # where it grows (gathering on and on, builders gathered 46 wood and gave 8).
        missing = {i for p in obs.projects for i, _ in p.missing}
        if any(obs.inventory.get(i, 0) >= 2 for i in missing):
            sites = [pl for p in obs.projects for pl in (p.place, *p.sites) if pl]
            if obs.place not in sites:
                return _moves(options, sites)
        get = [o for o in options if o.kind == "gather" and o.item in missing]
        return get or _moves(
            options, sorted({pl for p in obs.projects for i, pl in p.sources if i in missing})
        )
    return []


def _keep(o: Action, obs: Observation, spoke: set[int]) -> bool:
    """Options that stay beside the work: answering (talk to, or a gift for) someone who just
    spoke to the avatar, talk to anyone when a little lonely, resting when tired, turning down a
    (bad) offer. Not a snack: eating is for when hungry (an urgent need), and "eat" beside the
    work of everyone a little hungry with bread in hand cost a model call each tick."""
    if o.kind in ("say", "give") and o.target in spoke:
        return True
    if o.kind == "say":
        return obs.needs.get("loneliness", 0.0) >= CHATTY
    if o.kind == "reject":
        return True
    if o.kind == "rest":
        return obs.needs.get("tiredness", 0.0) >= TIRED
    return False


def purposeful(
    options: Sequence[Action], obs: Observation, work: RoleWork | None, eco: Economy | None
) -> list[Action]:
    """The options that serve what calls for the avatar now (see the module docstring); the
    options unchanged when nothing does. ``options`` should already be focused on an urgent need."""
    options = list(options)
    if eco is None:
        return options
    hungry = obs.needs.get("hunger", 0.0) >= HUNGRY and eco.foods
    if hungry and not any(obs.inventory.get(f, 0) for f in eco.foods):
        got = food_options(options, obs, eco)
        if got:
            return got
    offers = {o.id: o for o in obs.offers}
    worthwhile = {
        i for i, o in offers.items() if worth(o, obs.prices, eco.currency)[2] != "bad"
    }  # a bad offer is not worth the turn: it stays a choice beside the work (and expires)
    answers = [o for o in options if o.kind in ("accept", "reject") and o.offer_id in worthwhile]
    if answers:
        return answers
    me = obs.avatar_id
    spoke = {m.sender for m in obs.messages if m.sender != me and m.tick >= obs.tick - 1}
    if work is None:
        return options
    doing = work_options(options, obs, work, eco)
    if not doing:
        return options
    chosen = set(map(id, doing))
    return doing + [o for o in options if id(o) not in chosen and _keep(o, obs, spoke)]
