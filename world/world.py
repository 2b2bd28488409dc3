"""The game master: avatars propose actions, the world decides what happens.

:class:`World` ties the parts together: places and travel (world.places), needs
(world.needs), the ledger (world.ledger), offers and the order book (world.offers,
world.market), the social graph (world.social), moderation (world.moderation) and
projects (world.projects). Its public API is the one in docs/CONTRACTS.md.

Every action kind is one spec (world.actions): its label, its check, its effect and the options
it offers. ``resolve`` runs the kind's check, then its effect: an illegal action (unknown
target, not enough goods, muted or banned avatar, wrong place, bad quantity) is refused with
one ``invalid_action`` event naming the reason, and changes nothing. The options an avatar is
offered are filtered by the same checks, so offered and legal cannot disagree.

Speed: ``resolve`` of a gift is a few dict lookups and one ledger entry (the Boltzmann
benchmark gives 100,000 coins a tick); needs rise lazily; graph metrics are cached for
``social.metrics_every`` ticks and the costly ones skipped above ``social.metrics_max_nodes``.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Sequence
from typing import Any

from world.actions import MAX_OPEN_ORDERS, MAX_TEXT, SPECS, legal_actions
from world.commons import Commons
from world.endowment import draw_endowment
from world.ledger import InvariantError, Ledger
from world.market import OrderBook
from world.moderation import VIOLATOR_POLICIES, Decision, Judge, Moderator
from world.needs import TIREDNESS, Needs
from world.offers import Offers
from world.places import Places
from world.projects import Projects
from world.social import SocialGraph
from world.stats import inequality
from world.types import Action, CommonsView, Event, Heard, Observation

__all__ = ["MAX_OPEN_ORDERS", "MAX_TEXT", "World"]


class World:
    """The world of one scenario.

    ``spec`` is the scenario (``sim.config.ScenarioConfig`` or anything with the same
    attributes); ``rng`` is the only source of randomness. ``judge`` (optional) answers the
    moderation rule of kind ``llm`` (the port :data:`world.moderation.Judge`).
    """

    def __init__(self, spec: Any, rng: random.Random, *, judge: Judge | None = None) -> None:
        self.spec = spec
        self.rng = rng
        self.tick = 0
        eco = spec.economy
        self.currency: str = eco.currency
        self.item_cfg = dict(eco.items)
        self.item_names: tuple[str, ...] = tuple(self.item_cfg)
        self.assets = frozenset(self.item_names) | {self.currency}
        self.recipes = dict(eco.recipes)
        self.gathering = {k: dict(v) for k, v in eco.gathering.items()}
        self.mechanism: str = eco.market.mechanism
        self.needs_cfg = spec.world.needs
        self.roles_cfg = {r.name: r for r in spec.population.roles}
        self.ledger = Ledger()
        self.places = Places(spec.world, rng)
        n = self.needs_cfg
        self.needs = Needs((n.hunger_per_tick, n.tiredness_per_tick, n.loneliness_per_tick))
        self.social = SocialGraph(spec.social)
        self.offers = Offers(self.ledger, self.currency, eco.tax_rate)
        self.book = OrderBook(self.ledger, self.currency, eco.tax_rate)
        self.projects = Projects(
            spec.projects,
            self.ledger,
            self.currency,
            eco.labour_value,
            self.price_of,
            sources=self._sources(),
            sites={
                name: ()
                if t.place is None
                else tuple(p for p in self.places.names if self.places.matches(p, t.place))
                for name, t in spec.projects.templates.items()
            },
        )
        self.moderator = Moderator(spec.moderation, judge=judge)
        self.commons = Commons(getattr(spec, "commons", None))
        self.names: dict[int, str] = {}
        self.roles: dict[int, str] = {}
        self.ids: list[int] = []
        self.inbox: dict[int, deque[Heard]] = {}
        self.inbox_size: int = spec.world.inbox_size
        self._nearby_limit = spec.world.nearby_limit
        self.gifts_create_edges: bool = spec.social.gifts_create_edges
        self._started = False
        self._graph_cache: dict[str, float] = {}
        self._graph_tick = -(10**9)
        self._graph_version = -1
        self._counts = self._zero_counts()
        self._last_counts = self._zero_counts()
        self._last_mod: dict[str, float] = {}
        self._judged: dict[int, float | None] = {}  # id(say action) -> the judge's P(yes), this resolve
        self._listeners: dict[
            int, tuple[int, ...]
        ] = {}  # broadcasting speaker -> its listeners, this resolve
        self._departed: dict[int, str | None] = {}  # mover -> the place it left, this resolve
        self.specs = SPECS

    # -- avatars ----------------------------------------------------------------------

    def add_avatar(self, avatar_id: int, name: str, role: str = "", place: str | None = None) -> None:
        """Register an avatar at ``place`` (default: its role's home, else ``world.start_place``,
        else the first place) and mint its initial endowment."""
        if avatar_id in self.names:
            raise ValueError(f"avatar {avatar_id} already exists")
        if not isinstance(avatar_id, int) or isinstance(avatar_id, bool):
            raise ValueError(f"avatar id must be an int, got {avatar_id!r}")
        role_cfg = self.roles_cfg.get(role)
        if place is None:
            place = (
                (role_cfg.home if role_cfg else None) or self.spec.world.start_place or self.places.names[0]
            )
        if place not in self.places.coords:
            raise ValueError(f"unknown place {place!r}")
        self.names[avatar_id] = name
        self.roles[avatar_id] = role
        self.ids.append(avatar_id)
        self.places.add(avatar_id, place)
        self.needs.add(avatar_id, self.tick)
        self.social.add_node(avatar_id)
        if role_cfg is not None and self._is_violator(role_cfg):
            self.moderator.violators.add(avatar_id)
        for asset, dist in self.spec.economy.endowment.items():
            q = draw_endowment(dist, self.rng)
            if q:
                self.ledger.transfer("mint", avatar_id, asset, q, "endowment")

    def _sources(self) -> dict[str, tuple[str, ...]]:
        """item -> the places where gathering yields it (in place order)."""
        out: dict[str, list[str]] = {}
        for place in self.places.names:
            for kind in self.places.offers[place]:
                for item in self.gathering.get(kind, {}):
                    if place not in out.setdefault(item, []):
                        out[item].append(place)
        return {item: tuple(ps) for item, ps in out.items()}

    @staticmethod
    def _is_violator(role_cfg: Any) -> bool:
        v = getattr(role_cfg, "violator", None)
        return role_cfg.policy in VIOLATOR_POLICIES if v is None else bool(v)

    def _start(self) -> None:
        # The initial graph needs the whole starting population, so it is laid down at the
        # first tick's first call rather than in add_avatar (a call before any avatar exists
        # does not count: the graph would be laid over nobody).
        if not self.ids:
            return
        self._started = True
        self.social.generate(self.ids, self.rng)

    # -- reading ----------------------------------------------------------------------

    def price_of(self, item: str) -> int:
        """Last clearing price of ``item``, else its configured base price."""
        p = self.book.prices.get(item)
        if p is not None:
            return p
        cfg = self.item_cfg.get(item)
        return cfg.base_price if cfg is not None else 1

    def coins(self, avatar: int) -> int:
        """What ``avatar`` holds of the currency."""
        return self.ledger.balance(avatar, self.currency)

    def inventory(self, avatar: int) -> dict[str, int]:
        """The items (not the currency) ``avatar`` holds."""
        out = {}
        hold = self.ledger.holdings
        for item in self.item_names:
            h = hold.get(item)
            if h:
                q = h.get(avatar, 0)
                if q:
                    out[item] = q
        return out

    def avatar_state(self, avatar_id: int) -> dict[str, Any]:
        """One ``agent_state`` row's worth: place, x, y (None while travelling), coins,
        inventory, needs, travelling_to, muted, banned."""
        a = avatar_id
        place = self.places.at.get(a)
        x, y = self.places.coords[place] if place is not None else (None, None)
        trip = self.places.trips.get(a)
        return {
            "place": place,
            "x": x,
            "y": y,
            "coins": self.ledger.balance(a, self.currency),
            "inventory": self.inventory(a),
            "needs": self.needs.as_dict(a, self.tick),
            "travelling_to": trip[0] if trip else None,
            "muted": self.moderator.is_muted(a, self.tick),
            "banned": a in self.moderator.banned,
        }

    def choose_partner(
        self, avatar_id: int, rng: random.Random, candidates: Sequence[int] | None = None
    ) -> int | None:
        """Someone for ``avatar_id`` to interact with: friends first, strangers sometimes
        (``social.explore``). ``candidates`` default to the avatars nearby; ``rng`` is the
        caller's (a policy's), so choosing never disturbs the world's stream."""
        if not self._started:
            self._start()
        pool = list(candidates) if candidates is not None else list(self._nearby(avatar_id))
        return self.social.choose_partner(avatar_id, pool, rng)

    def observation_for(self, avatar_id: int) -> Observation:
        """What ``avatar_id`` perceives now (cheap: no copies of world state beyond its own)."""
        if not self._started:
            self._start()
        a = avatar_id
        place = self.places.at.get(a)
        trip = self.places.trips.get(a)
        box = self.inbox.get(a)
        mod = self.moderator
        return Observation(
            avatar_id=a,
            tick=self.tick,
            name=self.names[a],
            place=place,
            travelling_to=trip[0] if trip else None,
            coins=self.ledger.balance(a, self.currency),
            inventory=self.inventory(a),
            needs=self.needs.as_dict(a, self.tick),
            nearby=self._nearby(a),
            messages=tuple(box) if box else (),
            offers=tuple(self.offers.visible_to(a)),
            prices={item: self.price_of(item) for item in self.item_names},
            place_offers=self.places.offers[place] if place is not None else (),
            projects=tuple(self.projects.view(p, a) for p in self.projects.active.values()),
            templates=self.projects.template_views,
            commons=self._commons_seen(),
            muted_until=mod.muted_until.get(a) if mod.is_muted(a, self.tick) else None,
            banned=a in mod.banned,
            role=self.roles[a],
        )

    def _commons_seen(self) -> tuple[CommonsView, ...]:
        """The commons as avatars see them now (nothing to compute in a world without any)."""
        if not self.commons:
            return ()
        places = self.places
        return self.commons.views(
            lambda where: sum(places.count(p) for p in places.names if places.matches(p, where))
        )

    def legal_actions(self, avatar_id: int, limit: int = 26) -> list[Action]:
        """Options ``avatar_id`` may choose from now, most pressing first (see world.actions)."""
        if not self._started:
            self._start()
        return legal_actions(self, avatar_id, limit)

    def observe(self, avatar_id: int, limit: int = 26) -> tuple[Observation, list[Action]]:
        """The avatar's observation and its legal options, computed once for the tick."""
        obs = self.observation_for(avatar_id)
        return obs, legal_actions(self, avatar_id, limit, obs)

    # -- what the action specs read and call ---------------------------------------------

    def yields_here(self, place: str | None) -> dict[str, int]:
        """What gathering at ``place`` yields, per item."""
        out: dict[str, int] = {}
        if place is None:
            return out
        for kind in self.places.offers[place]:
            for item, q in self.gathering.get(kind, {}).items():
                out[item] = out.get(item, 0) + q
        return out

    def tired(self, actor: int) -> bool:
        """Too tired to work."""
        return self.needs.level(actor, TIREDNESS, self.tick) >= 1.0

    def judged(self, a: Action) -> float | None:
        """The moderation judge's P(yes) for the text of ``a`` (None when no judge asked)."""
        return self._judged.get(id(a))

    def listeners(self, actor: int) -> tuple[int, ...]:
        """Who hears a broadcast ``say`` of ``actor``: the ``nearby`` of its observation this tick
        (noted before anyone moved in this resolve, so the listeners a prompt named are the ones
        who hear)."""
        heard_by = self._listeners.get(actor)
        return heard_by if heard_by is not None else self._nearby(actor)

    def place_at_start(self, avatar: int) -> str | None:
        """Where ``avatar`` was when this tick's actions began to resolve (before anyone moved):
        an avatar spoken to as it walks off still hears it, as the broadcast listeners do."""
        departed = self._departed
        return departed[avatar] if avatar in departed else self.places.at.get(avatar)

    def _nearby(self, a: int) -> tuple[int, ...]:
        # The one definition of whom an avatar notices: observations and broadcasts share it.
        return self.places.nearby(a, self._nearby_limit, self.tick + a)

    def count(self, name: str, n: int = 1) -> None:
        """Add to one of the tick's counters (trades, gifts, ...)."""
        self._counts[name] += n

    def count_trade(self, tr: dict[str, Any]) -> None:
        """Count an executed trade."""
        c = self._counts
        c["trades"] += 1
        c["trade_volume"] += tr["price"] * tr["qty"]

    # -- acting -----------------------------------------------------------------------

    def resolve(self, actions: Sequence[Action]) -> list[Event]:
        """Apply ``actions`` in the given order and return what happened.

        An illegal action yields one ``invalid_action`` event ``{reason, action}`` and
        changes nothing. Messages for an ``llm`` moderation rule are judged in one batch first.
        """
        if not self._started:
            self._start()
        out: list[Event] = []
        if self.moderator.wants_judge:
            says = [a for a in actions if a.kind == "say" and a.text]
            scores = self.moderator.judge(
                [a.text for a in says], seed=self.spec.run.seed * 1_000_003 + self.tick
            )
            self._judged = {id(a): p for a, p in zip(says, scores, strict=True)}
        # Who hears each broadcast is fixed before any action moves anyone.
        self._listeners = {
            a.actor: self._nearby(a.actor)
            for a in actions
            if a.kind == "say" and a.target is None and a.actor in self.places.at
        }
        specs = self.specs
        names = self.names
        banned = self.moderator.banned
        trips = self.places.trips
        try:
            for a in actions:
                actor = a.actor
                if actor not in names:
                    self._refuse(a, f"unknown avatar {actor}", out)
                    continue
                if actor in banned:
                    self._refuse(a, "banned", out)
                    continue
                spec = specs.get(a.kind)
                if spec is None:
                    self._refuse(a, f"unknown action kind {a.kind!r}", out)
                    continue
                if actor in trips and a.kind != "rest":
                    self._refuse(a, f"travelling to {trips[actor][0]} until tick {trips[actor][1]}", out)
                    continue
                reason = spec.check(self, a)
                if reason is not None:
                    self._refuse(a, reason, out)
                else:
                    if a.kind == "move":
                        self._departed.setdefault(actor, self.places.at.get(actor))
                    spec.apply(self, a, out)
        finally:
            self._judged = {}
            self._listeners = {}
            self._departed = {}
        return out

    def _refuse(self, a: Action, reason: str, out: list[Event]) -> None:
        self._counts["invalid_actions"] += 1
        out.append(
            Event(
                self.tick,
                "invalid_action",
                a.actor,
                a.target,
                self.places.at.get(a.actor),
                reason,
                {"reason": reason, "action": a.as_dict()},
            )
        )

    def moderate(self, avatar: int, d: Decision, out: list[Event], subject: str = "") -> str:
        """Record a decision and its sanction as events; returns the sanction."""
        tick = self.tick
        mod = self.moderator
        sanction, until = mod.decide(avatar, d, tick)
        place = self.places.at.get(avatar)
        truth = (avatar in mod.violators) if mod.violators else None
        out.append(
            Event(
                tick,
                "moderation",
                avatar,
                None,
                place,
                subject,
                {"rule": d.rule, "evidence": d.evidence, "sanction": sanction, "ground_truth": truth},
            )
        )
        if sanction != "none":
            out.append(
                Event(
                    tick,
                    "sanction",
                    avatar,
                    None,
                    place,
                    sanction,
                    {"sanction": sanction, "until": until, "rule": d.rule},
                )
            )
        if sanction == "ban":
            self._on_ban(avatar)
        return sanction

    def _on_ban(self, avatar: int) -> None:
        # A banned avatar's open orders and offers go away (orders refund their escrow).
        for oid in [oid for oid, o in self.book.orders.items() if o.avatar == avatar]:
            self.book.cancel(oid, "banned")
        for oid in [oid for oid, o in self.offers.open.items() if o.sender == avatar]:
            self.offers.close(oid)

    # -- the end of a tick --------------------------------------------------------------

    def end_tick(self) -> list[Event]:
        """Close the tick: order books clear, offers and orders expire, project deadlines
        pass, travellers arrive, the ledger's invariants are checked, ``tick += 1``.

        Raises :class:`~world.ledger.InvariantError` (naming the entry) if the books do not
        balance: the run must stop there.
        """
        if not self._started:
            self._start()
        t = self.tick
        out: list[Event] = []
        if self.mechanism in ("order_book", "both"):
            for tr in self.book.clear():
                goods, pay = tr.pop("goods_entry"), tr.pop("pay_entry")
                self.ledger.record_trade(goods, pay, tr["buyer"], tr["seller"])
                self.count_trade(tr)
                self.social.interact(tr["buyer"], tr["seller"], "fair_trade", t)
                out.append(Event(t, "trade", tr["buyer"], tr["seller"], None, "", tr))
        for o in self.offers.expire(t + 1):
            out.append(
                Event(
                    t, "reject", o.sender, o.target, None, "expired", {"offer_id": o.id, "reason": "expired"}
                )
            )
        for order in self.book.expire(t + 1):
            out.append(
                Event(
                    t,
                    "order",
                    order.avatar,
                    None,
                    None,
                    "expired",
                    {
                        "order_id": order.id,
                        "item": order.item,
                        "side": order.side,
                        "status": "expired",
                        "qty_left": order.qty,
                    },
                )
            )
        for pid in self.projects.due(t + 1):
            data = self.projects.fail(pid)
            out.append(Event(t, "project_fail", None, None, None, data["template"], data))
        self.commons.regrow()
        self.places.arrivals(t + 1)
        self._check_escrow()
        self.ledger.end_tick()
        self._last_mod = self.moderator.metrics()
        self.moderator.end_tick()
        self._last_counts = self._counts
        self._counts = self._zero_counts()
        self.tick = t + 1
        return out

    def _check_escrow(self) -> None:
        expected: dict[str, int] = {}
        for part in (self.book.escrowed(), self.projects.escrowed()):
            for k, v in part.items():
                expected[k] = expected.get(k, 0) + v
        for asset, h in self.ledger.holdings.items():
            held = h.get("escrow", 0)
            if held != expected.get(asset, 0):
                raise InvariantError(
                    f"tick {self.tick}: {asset}: escrow holds {held} but open orders and projects "
                    f"account for {expected.get(asset, 0)}; last {self.ledger._describe(self.ledger._last_entry(asset, 'escrow'))}"
                )

    # -- metrics ----------------------------------------------------------------------

    @staticmethod
    def _zero_counts() -> dict[str, int]:
        return {"trades": 0, "trade_volume": 0, "invalid_actions": 0, "gifts": 0}

    def metrics(self) -> dict[str, float]:
        """World metrics. Per-tick counts (trades, trade_volume, invalid_actions, moderation
        decisions, sanctions) describe the last ended tick: call it after :meth:`end_tick`."""
        if not self._started:
            self._start()
        out: dict[str, float] = {"population": float(len(self.ids))}
        for k, v in self._last_counts.items():
            out[k] = float(v)
        cur = self.ledger.holdings.get(self.currency, {})
        wealth = [cur.get(a, 0) for a in self.ids]
        out["gini"], out["top10_share"] = inequality(wealth)
        out["coins_total"] = float(self.ledger.supply(self.currency))
        out["treasury"] = float(cur.get("treasury", 0))
        for item in self.item_names:
            out[f"price.{item}"] = float(self.price_of(item))
        out.update(self._last_mod)
        out.update(self.projects.metrics())
        out.update(self.commons.metrics())
        out.update(self.graph_metrics())
        return out

    def graph_metrics(self) -> dict[str, float]:
        """Social-graph metrics, recomputed every ``social.metrics_every`` ticks (cached between)."""
        every = self.spec.social.metrics_every
        if self.tick - self._graph_tick >= every and self.social.version != self._graph_version:
            self._graph_cache = self.social.metrics(self.spec.social.metrics_max_nodes)
            self._graph_tick = self.tick
            self._graph_version = self.social.version
        return dict(self._graph_cache)

    def drain_ledger(self) -> list[dict[str, Any]]:
        """Ledger entries since the last drain (``{id, tick, asset, src, dst, qty, memo}``)."""
        return self.ledger.drain()

    # -- state ------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """The whole world as JSON-safe data (a detached copy)."""
        state = {
            "version": 1,
            "tick": self.tick,
            "started": self._started,
            "avatars": [[a, self.names[a], self.roles[a]] for a in self.ids],
            "ledger": self.ledger.get_state(),
            "places": self.places.get_state(),
            "needs": self.needs.get_state(),
            "social": self.social.get_state(),
            "offers": self.offers.get_state(),
            "book": self.book.get_state(),
            "projects": self.projects.get_state(),
            "moderation": self.moderator.get_state(),
            "commons": self.commons.get_state(),
            "inbox": [[a, [list(m) for m in box]] for a, box in self.inbox.items()],
            "counts": dict(self._counts),
            "last_counts": dict(self._last_counts),
            "last_moderation": dict(self._last_mod),
            "graph_cache": dict(self._graph_cache),
            "graph_tick": self._graph_tick,
            # Whether the cache describes the current ties (the version counter is not saved).
            "graph_fresh": self._graph_version == self.social.version,
        }
        # A JSON round trip detaches the copy from live objects and proves it is JSON-safe.
        detached: dict[str, Any] = json.loads(json.dumps(state))
        return detached

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output (the input is not kept or modified)."""
        s = json.loads(json.dumps(state))
        self.tick = s["tick"]
        self._started = s["started"]
        self.ids = [a for a, _, _ in s["avatars"]]
        self.names = {a: n for a, n, _ in s["avatars"]}
        self.roles = {a: r for a, _, r in s["avatars"]}
        self.ledger.set_state(s["ledger"])
        self.places.set_state(s["places"])
        self.needs.set_state(s["needs"])
        self.social.set_state(s["social"])
        self.offers.set_state(s["offers"])
        self.book.set_state(s["book"])
        self.projects.set_state(s["projects"])
        self.moderator.set_state(s["moderation"])
        if "commons" in s:
            self.commons.set_state(s["commons"])
        self.inbox = {a: deque((Heard(*m) for m in box), maxlen=self.inbox_size) for a, box in s["inbox"]}
        self._counts = s["counts"]
        self._last_counts = s["last_counts"]
        self._last_mod = s["last_moderation"]
        self._graph_cache = s["graph_cache"]
        self._graph_tick = s["graph_tick"]
        self._graph_version = self.social.version if s["graph_fresh"] else -1
