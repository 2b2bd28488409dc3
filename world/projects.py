"""Collaboration projects: build a bridge, hold a festival, open a school...

A project comes from a template (``projects.templates`` in the scenario): it needs
contributions (currency, items, ``labour`` ticks) from at least ``min_contributors``
distinct avatars before its deadline. Goods contributed wait in escrow. One avatar may
give at most ``ceil(need / min_contributors)`` of each need, so a fully supplied project
always has enough hands. On completion the goods are used up (escrow to sink), the reward
(from the treasury, or pledged by the proposer when ``reward_source: sponsors``) is split
by the value of each contribution, and the world strengthens the contributors' ties. On
failure every contribution and the pledge go back through the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from world.ledger import Ledger
from world.types import ProjectView

__all__ = ["LABOUR", "Project", "Projects"]

LABOUR = "labour"


@dataclass(slots=True)
class Project:
    """An active project: what it needs, what it got and from whom, who is in."""

    id: int
    template: str
    proposer: int
    tick: int
    deadline: int
    needs: dict[str, int]
    got: dict[str, int] = field(default_factory=dict)
    by: dict[int, dict[str, int]] = field(default_factory=dict)  # contributor -> {asset: qty}
    members: list[int] = field(default_factory=list)
    pledge: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The checkpoint's form (contributor keys as strings: JSON objects)."""
        return {
            "id": self.id,
            "template": self.template,
            "proposer": self.proposer,
            "tick": self.tick,
            "deadline": self.deadline,
            "needs": dict(self.needs),
            "got": dict(self.got),
            "by": {str(a): dict(g) for a, g in self.by.items()},
            "members": list(self.members),
            "pledge": self.pledge,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Project:
        """The inverse of :meth:`as_dict`."""
        return cls(
            id=d["id"],
            template=d["template"],
            proposer=d["proposer"],
            tick=d["tick"],
            deadline=d["deadline"],
            needs=dict(d["needs"]),
            got=dict(d["got"]),
            by={int(a): dict(g) for a, g in d["by"].items()},
            members=list(d["members"]),
            pledge=d["pledge"],
        )


class Projects:
    """Active projects and the tallies of completed and failed ones."""

    def __init__(
        self, cfg: Any, ledger: Ledger, currency: str, labour_value: int, price: Callable[[str], int]
    ) -> None:
        self.cfg = cfg
        self.templates = dict(cfg.templates)
        self.ledger = ledger
        self.currency = currency
        self.labour_value = labour_value
        self.price = price
        self.active: dict[int, Project] = {}
        self.next_id = 1
        self.completed = 0
        self.failed = 0

    # -- queries ------------------------------------------------------------------------

    def cap(self, project: Project, asset: str) -> int:
        """Most of ``asset`` one avatar may contribute to ``project``."""
        k = self.templates[project.template].min_contributors
        return int(-(-project.needs[asset] // k))

    def remaining(self, project: Project, asset: str) -> int:
        """How much of ``asset`` the project still needs."""
        return project.needs[asset] - project.got.get(asset, 0)

    def given(self, project: Project, avatar: int, asset: str) -> int:
        """What ``avatar`` has contributed of ``asset`` so far."""
        return project.by.get(avatar, {}).get(asset, 0)

    def view(self, project: Project) -> ProjectView:
        """What an avatar sees of ``project``."""
        t = self.templates[project.template]
        missing = tuple(
            (asset, project.needs[asset] - project.got.get(asset, 0))
            for asset in project.needs
            if project.needs[asset] > project.got.get(asset, 0)
        )
        return ProjectView(
            id=project.id,
            template=project.template,
            place=t.place,
            proposer=project.proposer,
            deadline=project.deadline,
            missing=missing,
            contributors=len(project.by),
            min_contributors=t.min_contributors,
            members=len(project.members),
            reward=t.reward,
        )

    def escrowed(self) -> dict[str, int]:
        """What active projects hold in escrow, per asset (for the escrow invariant)."""
        out: dict[str, int] = {}
        for p in self.active.values():
            for asset, q in p.got.items():
                if asset != LABOUR:
                    out[asset] = out.get(asset, 0) + q
            if p.pledge:
                out[self.currency] = out.get(self.currency, 0) + p.pledge
        return out

    # -- changes (the world has validated the action) -------------------------------------

    def propose(self, avatar: int, template: str, tick: int) -> Project:
        """Open a project; a sponsored one takes the proposer's pledge into escrow."""
        t = self.templates[template]
        pid = self.next_id
        self.next_id += 1
        pledge = t.reward if t.reward_source == "sponsors" else 0
        if pledge:
            self.ledger.transfer(avatar, "escrow", self.currency, pledge, f"project {pid} pledge")
        p = Project(
            id=pid,
            template=template,
            proposer=avatar,
            tick=tick,
            deadline=tick + t.deadline,
            needs=dict(t.needs),
            members=[avatar],
            pledge=pledge,
        )
        self.active[pid] = p
        return p

    def join(self, avatar: int, pid: int) -> None:
        """Add a member."""
        self.active[pid].members.append(avatar)

    def contribute(self, avatar: int, pid: int, asset: str, qty: int) -> None:
        """Record a contribution; goods move into escrow."""
        p = self.active[pid]
        if asset != LABOUR:
            self.ledger.transfer(avatar, "escrow", asset, qty, f"project {pid}")
        p.got[asset] = p.got.get(asset, 0) + qty
        mine = p.by.setdefault(avatar, {})
        mine[asset] = mine.get(asset, 0) + qty
        if avatar not in p.members:
            p.members.append(avatar)

    def ready(self, pid: int) -> bool:
        """Every need met by enough distinct contributors."""
        p = self.active[pid]
        t = self.templates[p.template]
        return all(p.got.get(a, 0) >= q for a, q in p.needs.items()) and len(p.by) >= t.min_contributors

    def value(self, asset: str, qty: int) -> int:
        """Coins a contribution is worth when the reward is split."""
        if asset == LABOUR:
            return qty * self.labour_value
        if asset == self.currency:
            return qty
        return qty * max(1, self.price(asset))

    def complete(self, pid: int) -> dict[str, Any]:
        """Use up the goods, pay the reward by contribution; returns the event data."""
        p = self.active.pop(pid)
        t = self.templates[p.template]
        led = self.ledger
        memo = f"project {pid}"
        for asset, q in sorted(p.got.items()):
            if asset != LABOUR:
                led.transfer("escrow", "sink", asset, q, memo + " built")
        if p.pledge:
            led.transfer("escrow", "treasury", self.currency, p.pledge, memo + " pledge")
        # The pledge went to the treasury; the reward is paid from there either way.
        reward = min(t.reward, led.balance("treasury", self.currency))
        values = {a: sum(self.value(k, q) for k, q in g.items()) for a, g in p.by.items()}
        total = sum(values.values())
        shares = {a: (reward * v // total if total else 0) for a, v in values.items()}
        # Whole coins: the remainder goes one by one to the largest contributors (ties: lower id).
        left = reward - sum(shares.values())
        for a in sorted(values, key=lambda a: (-values[a], a))[:left]:
            shares[a] += 1
        for a, s in shares.items():
            if s:
                led.transfer("treasury", a, self.currency, s, memo + " reward")
        self.completed += 1
        return {
            "project_id": pid,
            "template": p.template,
            "contributors": sorted(values),
            "reward": reward,
            "shares": [[a, s] for a, s in sorted(shares.items())],
        }

    def fail(self, pid: int) -> dict[str, Any]:
        """Refund every contribution and the pledge; returns the event data."""
        p = self.active.pop(pid)
        led = self.ledger
        memo = f"project {pid} refund"
        for a, g in p.by.items():
            for asset, q in sorted(g.items()):
                if asset != LABOUR:
                    led.transfer("escrow", a, asset, q, memo)
        if p.pledge:
            led.transfer("escrow", p.proposer, self.currency, p.pledge, memo)
        self.failed += 1
        return {
            "project_id": pid,
            "template": p.template,
            "got": dict(p.got),
            "needs": dict(p.needs),
            "contributors": sorted(p.by),
        }

    def due(self, tick: int) -> list[int]:
        """Active projects whose deadline has come by ``tick``."""
        return [pid for pid, p in self.active.items() if p.deadline <= tick]

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state."""
        return {
            "active": [p.as_dict() for p in self.active.values()],
            "next_id": self.next_id,
            "completed": self.completed,
            "failed": self.failed,
        }

    def set_state(self, s: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output."""
        self.active = {d["id"]: Project.from_dict(d) for d in s["active"]}
        self.next_id = s["next_id"]
        self.completed = s["completed"]
        self.failed = s["failed"]
