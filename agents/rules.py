"""Rule policies: baselines, scale, and scripted violators with ground truth.

Each answers at once (no LLM). Apart from random-give, which must be as cheap as Mesa's own
Boltzmann agent, a rule policy scores the world's legal options and takes the best one
(ties broken by the model's RNG): like the LLM policy, it can only pick what the world
offers. Options are legal when offered, but every avatar decides on the same world before
anything resolves, so several could race for the last unit a project needs or one offer: rule
policies skip options the tick's :class:`~agents.claims.Claims` says are taken, and claim what
they choose, so their actions are not refused.

- ``random_give``: Mesa's Boltzmann wealth model - each tick give 1 coin to a random other
  avatar if you have one.
- ``trader``: buys below and sells above the market price (order book), accepts offers that
  pay more than market value.
- ``gatherer_crafter``: eat when hungry, rest when tired, craft when it can, gather
  otherwise, sell surplus (and buy food) across the traders' spread.
- ``collaborator``: works a plan towards the most urgent project it can still give to (fetch a
  missing item where it grows or at the market, carry it to the project's place, give labour),
  and proposes a project only when none needs it and the project looks reachable in time.
- ``harvester`` and ``greedy_harvester``: fishers of a commons (world.commons). The first takes
  its share of what the resource regrows (keeping the stock above the point of fastest regrowth),
  the second as much as it may every tick.
- ``spammer``, ``scammer``, ``harasser``: scripted violators for the moderation scenario.
  Their avatars have that role in the world, which labels their messages' ground truth
  (``violation``) with it; ordinary avatars' messages carry no violation.
- ``idle``: rests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from agents.policy import Decision, TickContext
from agents.rule_base import RulePolicy
from agents.violators import HARASS, SCAM, SPAM, HarasserPolicy, ScammerPolicy, SpammerPolicy
from world.commons import regrowth
from world.types import Action, CommonsView, Observation, TemplateView

if TYPE_CHECKING:
    from agents.avatar import Avatar

__all__ = [
    "HARASS",
    "RULE_POLICIES",
    "SCAM",
    "SPAM",
    "CollaboratorPolicy",
    "GathererCrafterPolicy",
    "GreedyHarvesterPolicy",
    "HarasserPolicy",
    "HarvesterPolicy",
    "IdlePolicy",
    "RandomGivePolicy",
    "RulePolicy",
    "ScammerPolicy",
    "SpammerPolicy",
    "TraderPolicy",
    "make_rule_policy",
]


def _needs_score(option: Action, obs: Observation) -> float:
    """Urgent needs come first for everyone: eat when hungry, rest when tired."""
    needs = obs.needs
    if option.kind == "consume" and needs.get("hunger", 0.0) >= 0.6:
        return 10.0 + needs["hunger"]
    if option.kind == "rest" and needs.get("tiredness", 0.0) >= 0.8:
        return 9.0 + needs["tiredness"]
    return 0.0


def _market_price(option: Action, obs: Observation) -> int:
    """The last clearing price of the option's item, else the price the world quoted."""
    return obs.prices.get(option.item or "", option.price or 1)


def _reprice(action: Action, obs: Observation, factor: float) -> Action:
    """An order at ``factor`` x market price, strictly below (factor < 1) or above it."""
    market = _market_price(action, obs)
    if factor < 1:
        price = min(int(market * factor), market - 1)
    else:
        price = max(int(market * factor + 0.999), market + 1)
    return replace(action, price=max(1, price))


class RandomGivePolicy:
    """Mesa's Boltzmann wealth model on our ledger: give 1 coin to a random avatar if you have one.

    The hot path of ``bench sim``: no Observation, no option list - one O(1) balance read and
    one ``Action`` per avatar per tick.
    """

    name = "random_give"
    uses_llm = False
    observes = False

    def decide(
        self, avatar: Avatar, obs: Observation | None, options: Sequence[Action], ctx: TickContext
    ) -> Decision:
        """``give 1 coin`` to a uniformly drawn other avatar, or nothing when broke."""
        me = avatar.avatar_id
        if ctx.balance(me) < 1:
            return None
        ids = ctx.avatar_ids
        n = len(ids)
        if n < 2:
            return None
        # Draw among the n-1 others without building a list: skip over our own slot.
        i = int(ctx.random.random() * (n - 1))
        target = ids[i]
        if target == me:
            target = ids[n - 1]
        return Action(me, "give", target=target, item=ctx.currency, qty=1)

    def decide_batch(self, avatars: Sequence[Avatar], ctx: TickContext) -> list[Decision]:
        """:meth:`decide` for a run of avatars in one loop (same draws, same order).

        The model calls this for consecutive avatars sharing this policy: at 100,000 avatars
        a method call and a few attribute reads per avatar are most of the policy's cost.
        """
        coins, ids, draw, currency = ctx.balance, ctx.avatar_ids, ctx.random.random, ctx.currency
        n = len(ids)
        last = ids[n - 1] if n else None
        out: list[Decision] = []
        append = out.append
        for avatar in avatars:
            me = avatar.unique_id
            if n < 2 or coins(me) < 1:
                append(None)
                continue
            target = ids[int(draw() * (n - 1))]
            append(Action(me, "give", target=last if target == me else target, item=currency, qty=1))
        return out


class TraderPolicy(RulePolicy):
    """Buys below and sells above the market price; takes offers worth more than they cost."""

    name = "trader"
    margin = 0.1

    def score(self, option: Action, obs: Observation, ctx: TickContext) -> float:
        """Orders (sell what it holds, else buy), good offers, then going to the market."""
        need = _needs_score(option, obs)
        if need:
            return need
        k = option.kind
        if k == "order":
            if option.side == "sell":
                return 5.5
            return 5.0 if obs.coins >= _market_price(option, obs) else 0.0
        if k == "accept":
            return 4.0 + _offer_gain(option, obs, ctx)
        if k == "move" and option.place and "market" in option.place:
            return 2.0
        if k == "gather":
            return 0.5
        return 0.0

    def finish(self, action: Action, obs: Observation, ctx: TickContext) -> Action:
        """Price an order ``margin`` below (buy) or above (sell) the market price."""
        if action.kind != "order":
            return action
        return _reprice(action, obs, 1 - self.margin if action.side == "buy" else 1 + self.margin)


def _offer_gain(option: Action, obs: Observation, ctx: TickContext) -> float:
    """Market value got minus given for an accept option (0 when the offer is unknown)."""
    for offer in obs.offers:
        if offer.id == option.offer_id:

            def value(goods: Sequence[tuple[str, int]]) -> float:
                return sum(q * (1 if i == ctx.currency else obs.prices.get(i, 1)) for i, q in goods)

            gain = value(offer.give) - value(offer.get)  # the sender gives ``give``: that is what we get
            return gain if gain > 0 else -10.0
    return 0.0


class GathererCrafterPolicy(RulePolicy):
    """Eat when hungry, rest when tired, craft when it can, gather otherwise; sell surplus a
    little below market and buy food a little above it when hungry with none (the other side
    of the traders' spread)."""

    name = "gatherer_crafter"
    surplus = 3  # items above this are sold
    discount = 0.1

    def score(self, option: Action, obs: Observation, ctx: TickContext) -> float:
        """Needs, food, surplus, craft, gather, then wander."""
        need = _needs_score(option, obs)
        if need:
            return need
        k = option.kind
        hungry = obs.needs.get("hunger", 0.0) >= 0.5
        has_food = any(q > 0 for q in obs.inventory.values()) if hungry else True
        if k == "order" and option.side == "buy" and hungry and not has_food:
            return 6.0
        if k == "order" and option.side == "sell" and obs.inventory.get(option.item or "", 0) > self.surplus:
            return 4.5
        if k == "craft":
            return 4.0
        if k == "gather":
            return 3.0
        if k == "project_contribute":
            return 2.0
        if k == "move":
            want_market = (hungry and not has_food) or any(q > self.surplus for q in obs.inventory.values())
            return 3.2 if want_market and option.place and "market" in option.place else 1.0
        if k == "rest":
            return 0.5
        return 0.0

    def finish(self, action: Action, obs: Observation, ctx: TickContext) -> Action:
        """Sell ``discount`` below market, buy ``discount`` above it."""
        if action.kind != "order":
            return action
        return _reprice(action, obs, 1 - self.discount if action.side == "sell" else 1 + self.discount)


LABOUR = "labour"


class CollaboratorPolicy(RulePolicy):
    """Finishes projects: each tick it works a plan for the most urgent project it can give to.

    The plan is read afresh from every observation (nothing to checkpoint, and it survives
    interruptions: a meal, a rest, a trip), and lasts as long as the project needs it. For the
    project due first whose ``room`` (what this avatar may still give) is not empty:

    1. give here and now what it can: an item it holds, else a tick of labour;
    2. carry what it holds (or its labour) to the project's place;
    3. fetch a missing item: gather it where it grows until it holds what it may give, walking to
       the nearest listed source, or buy it at the market when nothing grows it.

    With nothing to give anywhere it may propose a project (a seeded draw, one proposal a tick in
    the whole population): only one that looks reachable, with enough people here to reach the
    template's ``min_contributors`` and its work (items and labour ticks, spread over those people
    at ``effort`` of their time) fitting before the deadline.
    """

    name = "collaborator"
    # Chance per tick to propose when it has nothing to give: proposals are spread out, and the
    # tick's claims allow one at most.
    propose_rate = 0.1
    #: Share of a helper's ticks assumed to go to a project (the rest: travel, rest, meals).
    effort = 0.25

    def decide(
        self, avatar: Avatar, obs: Observation | None, options: Sequence[Action], ctx: TickContext
    ) -> Decision:
        """Urgent needs, else the next step of the plan, else propose, else ordinary work."""
        self._propose = ctx.random.random() < self.propose_rate
        if not options or obs is None:
            return None
        urgent = max(options, key=lambda o: _needs_score(o, obs))
        if _needs_score(urgent, obs) > 0:
            return urgent
        step = self.plan(obs, options, ctx)
        if step is None and self._propose:
            step = self.proposal(obs, options, ctx)
        if step is None:
            step = self.prepare(obs, options, ctx)
        if step is not None:
            ctx.claims.record(step)
            return step
        return super().decide(avatar, obs, options, ctx)

    def plan(self, obs: Observation, options: Sequence[Action], ctx: TickContext) -> Action | None:
        """The next step towards the most urgent project this avatar can still give to (or None)."""
        claims = ctx.claims
        give: dict[tuple[int | None, str | None], list[Action]] = {}
        moves: dict[str, Action] = {}  # the options list the nearest places first
        gathers: dict[str, Action] = {}
        buys: dict[str, Action] = {}
        rest: Action | None = None
        for o in options:
            k = o.kind
            if k == "project_contribute":
                give.setdefault((o.project_id, o.item), []).append(o)
            elif k == "move" and o.place is not None:
                moves.setdefault(o.place, o)
            elif k == "gather" and o.item is not None:
                gathers.setdefault(o.item, o)
            elif k == "order" and o.side == "buy" and o.item is not None:
                buys.setdefault(o.item, o)
            elif k == "rest":
                rest = o
        tired = obs.needs.get("tiredness", 0.0) >= 0.8
        for p in sorted(obs.projects, key=lambda p: (p.deadline, p.id)):
            room = dict(p.room)
            if not room:
                continue
            held = [i for i in room if i != LABOUR and obs.inventory.get(i, 0) > 0]
            here = not p.sites or obs.place in p.sites
            # 1. give what it holds, then labour, where the project is built
            for item in [*held, LABOUR]:
                for o in sorted(give.get((p.id, item), ()), key=lambda o: -o.qty):
                    if claims.allows(o, obs):
                        return o
            # 2. carry what it holds, or bring its labour, to the project's place
            if held or LABOUR in room:
                if not here:
                    for place in p.sites:
                        if place in moves:
                            return moves[place]
                elif LABOUR in room and tired and rest is not None and not held:
                    return rest  # labour is wanted here: recover, do not wander off
            # 3. fetch a missing item
            for item in room:
                if item == LABOUR or item == ctx.currency:
                    continue
                have = obs.inventory.get(item, 0)
                if item in gathers and have < room[item]:
                    return gathers[item]
                for asset, place in p.sources:
                    if asset == item and place in moves and have < room[item]:
                        return moves[place]
                buy = buys.get(item)
                if buy is not None and obs.coins >= _market_price(buy, obs) and have < room[item]:
                    return buy
        return None

    def prepare(self, obs: Observation, options: Sequence[Action], ctx: TickContext) -> Action | None:
        """With no project to give to: get ready for the next one (or None when no project needs
        anything of it and ready). Fetch this avatar's share of the first template's items (its
        need over ``min_contributors``), then wait at its site, where proposals are made."""
        if any(p.room for p in obs.projects) or not obs.templates:
            return None
        t = obs.templates[0]
        moves = {o.place: o for o in options if o.kind == "move" and o.place is not None}
        gathers = {o.item: o for o in options if o.kind == "gather" and o.item is not None}
        here = not t.sites or obs.place in t.sites
        for item, q in t.needs:
            if item == LABOUR or item == ctx.currency:
                continue
            if obs.inventory.get(item, 0) < -(-q // t.min_contributors):
                if item in gathers:
                    return gathers[item]
                for asset, place in t.sources:
                    if asset == item and place in moves:
                        return moves[place]
        if not here:
            for place in t.sites:
                if place in moves:
                    return moves[place]
            return None
        return next((o for o in options if o.kind == "rest"), None)  # wait where projects start

    def proposal(self, obs: Observation, options: Sequence[Action], ctx: TickContext) -> Action | None:
        """A reachable project to propose here (a seeded choice among them), if the claims allow one."""
        if any(p.room for p in obs.projects):
            return None
        templates = {t.name: t for t in obs.templates}
        ok = [
            o
            for o in options
            if o.kind == "project_propose"
            and o.text in templates
            and self.reachable(templates[o.text], obs, ctx)
            and ctx.claims.allows(o, obs)
        ]
        if not ok:
            return None
        return ok[0] if len(ok) == 1 else ctx.random.choice(ok)

    def reachable(self, t: TemplateView, obs: Observation, ctx: TickContext) -> bool:
        """Whether ``t`` looks completable before its deadline by the people here (and coins at hand)."""
        helpers = len(obs.nearby) + 1
        if helpers < t.min_contributors:
            return False
        work = 0
        for asset, q in t.needs:
            if asset == ctx.currency:
                if obs.coins * helpers < q:
                    return False
            else:
                work += q  # a unit of an item or a tick of labour: about a tick of someone's work
        return work <= t.deadline * helpers * self.effort

    def score(self, option: Action, obs: Observation, ctx: TickContext) -> float:
        """Ordinary work when no project needs this avatar: gather, wander, rest."""
        return {"gather": 2.0, "move": 1.0, "rest": 0.5}.get(option.kind, 0.0)


class HarvesterPolicy(RulePolicy):
    """A cooperative fisher: the whole group takes no more than the commons regrows.

    Its quota for the tick is what the stock regrows at its current size (plus a tenth of what is
    above ``target`` of capacity, so a full stock is fished down towards the point of fastest
    regrowth, and half of it below half capacity, so a low stock rebuilds); it takes its share
    (the quota over the avatars at the place, rounded up) of what the tick's earlier harvesters left
    of the quota. Otherwise (and on a tenth of its days) it eats when hungry and rests.
    """

    name = "harvester"
    #: Stock (share of capacity) above which it also fishes the surplus down.
    target = 0.6
    #: Chance a tick that it stays ashore (a seeded draw): fishing days differ between seeds.
    ashore = 0.1

    def quota(self, c: CommonsView) -> int:
        """What the whole group may take from ``c`` this tick."""
        grow = regrowth(c.stock, c.capacity, c.growth)
        if c.stock < c.capacity / 2:
            return grow // 2
        return grow + max(0, c.stock - int(self.target * c.capacity)) // 10

    def allowance(self, c: CommonsView, ctx: TickContext) -> int:
        """What this avatar takes from ``c`` now, after the claims of the tick's earlier harvesters."""
        quota = self.quota(c)
        share = -(-quota // max(1, c.present))
        return max(0, min(share, quota - ctx.claims.taken(("commons", c.resource)), c.max_take))

    def decide(
        self, avatar: Avatar, obs: Observation | None, options: Sequence[Action], ctx: TickContext
    ) -> Decision:
        """Urgent needs, else its harvest (the largest offered amount within its allowance), else rest."""
        stay = ctx.random.random() < self.ashore
        if not options or obs is None:
            return None
        urgent = max(options, key=lambda o: _needs_score(o, obs))
        if _needs_score(urgent, obs) > 0:
            return urgent
        views = {} if stay else {c.resource: c for c in obs.commons}
        best: Action | None = None
        for o in options:
            c = views.get(o.item or "") if o.kind == "harvest" else None
            if c is not None and o.qty <= self.allowance(c, ctx) and (best is None or o.qty > best.qty):
                best = o
        if best is not None:
            ctx.claims.record(best)
            return best
        return super().decide(avatar, obs, options, ctx)

    def score(self, option: Action, obs: Observation, ctx: TickContext) -> float:
        """Nothing to harvest now: rest."""
        return 0.5 if option.kind == "rest" else 0.0


class GreedyHarvesterPolicy(HarvesterPolicy):
    """A greedy fisher: takes as much as it may every tick while anything is left."""

    name = "greedy_harvester"

    def allowance(self, c: CommonsView, ctx: TickContext) -> int:
        """All it may take, while the tick's earlier harvesters left anything."""
        left = c.stock - ctx.claims.taken(("commons", c.resource))
        return c.max_take if left > 0 else 0


class IdlePolicy:
    """Rests every tick (a placeholder population, and the cheapest possible avatar)."""

    name = "idle"
    uses_llm = False
    observes = False

    def decide(
        self, avatar: Avatar, obs: Observation | None, options: Sequence[Action], ctx: TickContext
    ) -> Decision:
        """Always ``rest``."""
        return Action(avatar.avatar_id, "rest")


#: Policy name -> factory. ``llm`` is not here: it needs a language model (see agents.llm_policy).
RULE_POLICIES: dict[str, Callable[[], object]] = {
    "random_give": RandomGivePolicy,
    "trader": TraderPolicy,
    "gatherer_crafter": GathererCrafterPolicy,
    "collaborator": CollaboratorPolicy,
    "harvester": HarvesterPolicy,
    "greedy_harvester": GreedyHarvesterPolicy,
    "spammer": SpammerPolicy,
    "scammer": ScammerPolicy,
    "harasser": HarasserPolicy,
    "idle": IdlePolicy,
}


def make_rule_policy(name: str) -> object:
    """A fresh rule policy by name; ``KeyError`` names the known ones."""
    try:
        return RULE_POLICIES[name]()
    except KeyError:
        raise KeyError(f"unknown rule policy {name!r}; known: {', '.join(sorted(RULE_POLICIES))}") from None
