"""The LLM policy: choose among the world's legal actions, and speak in conversations.

Deciding is one ``ChooseRequest`` per avatar per tick: the persona, needs, memories and
situation in the prompt, the world's legal actions as the options. The model gathers these
from every avatar and sends them in one batched call; the answer is a distribution over the
options, so the avatar can only ever pick an action the world offered (a prompt injection can
sway the pick, never add an option). Trade talk turns into trades the same way: "offer ..."
and "accept offer ..." are options, never parsed out of what someone said.

Speaking is a ``GenerateRequest`` for an avatar that chose to ``say`` (agents/speech.py: the
conversation so far in a dialogue script; a few samples, the most on-topic said).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from agents.agenda import CHATTY, LONELY, URGENT, Economy, RoleWork, purposeful, urgent_at, worth
from agents.intentions import carry_on, intend
from agents.lm import MAX_OPTIONS, ChooseRequest, Message, request_seed
from agents.policy import Decision, PendingChoice, TickContext
from agents.prompts import (
    ANSWER_PREFIX,
    choose_prompt,
    needs_text,
    persona_prompt,
    quote,
    rules_prompt,
)
from agents.session import Session, delta_entry
from agents.speech import Speaker, SpeechSettings, clean_speech, where
from world.types import Action, Observation, Offer, ProjectView

if TYPE_CHECKING:
    from agents.avatar import Avatar

__all__ = [
    "RELIEF",
    "URGENT",
    "LLMPolicy",
    "SpeechSettings",
    "clean_speech",
    "focus_on_urgent_need",
    "talk_with_reason",
]


#: The options that relieve each need.
RELIEF = {"hunger": ("consume",), "tiredness": ("rest",), "loneliness": ("say",)}


def focus_on_urgent_need(options: Sequence[Action], needs: Mapping[str, float]) -> list[Action]:
    """Needs drive behaviour: when a need is urgent, only the options that relieve it are offered
    to the model (the most urgent need first; unchanged when none relieves it).

    The model still chooses among them (whom to talk to, which food to eat). It also keeps a
    small model from starving next to its bread because a trade looked more interesting.
    """
    for need in sorted(needs, key=lambda n: -needs[n] / urgent_at(n)):
        if needs[need] < urgent_at(need):
            break
        focused = [o for o in options if o.kind in RELIEF.get(need, ())]
        if focused:
            return focused
    return list(options)


#: Loneliness from which talking to anyone here is a reason enough: LONELY ("lonely" in words),
#: or CHATTY ("a little lonely") when nobody spoke to the avatar (agents.agenda).
#: Hunger from which eating is offered to the model at all ("a little hungry" in words).
SNACK = 0.3
#: Hunger (with food in hand) and tiredness at which a conversation no longer holds an avatar.
CALLED_AWAY = {"hunger": 0.5, "tiredness": 0.7}


#: A trader holding goods may start a conversation when its last one is at least this many ticks old.
TRADER_TALK_EVERY = 4


def talked_lately(avatar: Avatar, tick: int, within: int = TRADER_TALK_EVERY) -> bool:
    """Whether the avatar remembers a conversation of the last ``within`` ticks."""
    memory = getattr(avatar, "memory", None)
    if memory is None:
        return False
    return any(m.kind == "conversation" and m.tick > tick - within for m in memory.items)


def talk_with_reason(options: Sequence[Action], obs: Observation, sells: bool = False) -> list[Action]:
    """Talk and gift options only where there is a reason for them.

    Talk: to the people who spoke to us; to anyone offered when we are lonely (or a little
    lonely and nobody spoke to us), or when ``sells``
    (a trader holding goods whose last conversation is a few ticks old: see
    :data:`TRADER_TALK_EVERY`; talking whenever they held goods, traders answered each other every
    tick, 86 of their 91 actions; never, the town had no dialogue at all). Gifts: only to someone who spoke to us (a request, or a scam:
    the model weighs it). Eating: only when at least a little hungry (a snack wastes the food
    the avatar will need later).

    The world offers "talk to X" and "give 1 coin to X" for the first few people here; the 135M
    model finds a name from the prompt the likeliest continuation in almost any situation (it
    picked talk in 81 of the 125 clear cases), and a town that talks every tick is muted by
    the flood rule.
    """
    spoke = {m.sender for m in obs.messages}
    lonely = obs.needs.get("loneliness", 0.0)
    # A little lonely: anyone here, unless someone spoke to us (then them); lonely: anyone.
    reason = lonely >= LONELY or sells or (lonely >= CHATTY and not spoke)
    peckish = obs.needs.get("hunger", 0.0) >= SNACK or obs.needs.get("tiredness", 0.0) >= URGENT
    out: list[Action] = []
    for o in options:
        if o.kind == "consume" and not peckish:
            continue
        if o.kind == "say" and o.target is not None and o.target not in spoke and not reason:
            continue
        if o.kind == "give" and o.target not in spoke:
            continue
        out.append(o)
    return out or list(options)


def sensible_trades(
    options: Sequence[Action], obs: Observation, foods: Sequence[str], currency: str = "coin"
) -> list[Action]:
    """Trade options that make sense for the avatar's own position, by the numbers the prompt
    already states in words: a good deal is not rejected and a bad one not accepted (worth at
    market prices, as :func:`_deal` words it), an offer that would take all of the avatar's food
    is not accepted, and a hungry avatar with no food buys food, not tools.

    The 135M model reads "a good deal for you" and still rejects about as often as it accepts,
    and with no food it bought tools or wood from the eight near-identical "buy 1 X" branches.
    """
    offers = {o.id: o for o in obs.offers}
    food = set(foods)
    starving = bool(food) and obs.needs.get("hunger", 0.0) >= CALLED_AWAY["hunger"]
    starving = starving and not any(obs.inventory.get(f, 0) for f in food)
    out: list[Action] = []
    for o in options:
        offer = offers.get(o.offer_id) if o.offer_id is not None else None
        if offer is not None and o.kind in ("accept", "reject"):
            gets, pays, verdict = worth(offer, obs.prices, currency)
            takes_food = any(i in food and obs.inventory.get(i, 0) <= q for i, q in offer.get)
            if o.kind == "reject" and gets > pays and not takes_food:
                continue
            if o.kind == "accept" and (verdict == "bad" or takes_food):
                continue
        if starving and o.kind == "order" and o.side == "buy" and o.item not in food:
            continue
        out.append(o)
    return out or list(options)


def called_away(obs: Observation) -> bool:
    """A need that should take the avatar out of a conversation (hungry with food, or tired)."""
    needs = obs.needs
    if needs.get("tiredness", 0.0) >= CALLED_AWAY["tiredness"]:
        return True
    return needs.get("hunger", 0.0) >= CALLED_AWAY["hunger"] and bool(obs.inventory)


class LLMPolicy:
    """Decides with ``choose`` over legal actions; speaks with ``generate``.

    One instance serves a whole group of avatars (it keeps no per-avatar state: memory lives
    on the avatar, conversations in the model's :class:`~agents.conversation.ConversationBook`).
    """

    name = "llm"
    uses_llm = True
    observes = True

    def __init__(
        self,
        *,
        world_name: str,
        description: str = "",
        prompt_tokens: int = 700,
        speech: SpeechSettings | None = None,
        sample: bool = True,
        memories_k: int = 6,
        role_work: Mapping[str, str] | None = None,
        work_places: Mapping[str, Sequence[str]] | None = None,
        foods: Sequence[str] = (),
        session_tokens: int = 0,
        work: Mapping[str, RoleWork] | None = None,
        economy: Economy | None = None,
    ) -> None:
        self.rules = rules_prompt(world_name, description)
        self.description = description or f"{world_name}, a small town."
        self.role_work = dict(role_work or {})
        self.work_places = {r: tuple(p) for r, p in (work_places or {}).items()}
        self.foods = tuple(foods)
        self.prompt_tokens = prompt_tokens
        self.speech = speech or SpeechSettings()
        self.sample = sample
        self.memories_k = memories_k
        self.session_tokens = session_tokens  # 0: a fresh full prompt every decision
        self.work = dict(work or {})  # role -> its work (agents.agenda); none: no narrowing
        self.economy = economy
        self.speaker = Speaker(self.description, self.speech, economy, self.work_places)
        self._persona_cache: dict[int, str] = {}

    # -- deciding --------------------------------------------------------------------------------

    def decide(
        self, avatar: Avatar, obs: Observation | None, options: Sequence[Action], ctx: TickContext
    ) -> Decision:
        """A :class:`PendingChoice` over the legal actions (or the only one, without asking)."""
        if not options or obs is None:
            return None
        kept = carry_on(avatar.intention, obs, options)  # work in progress asks no model
        if kept is not None:
            return kept
        avatar.intention = None
        sells = "trad" in avatar.role.lower() and any(obs.inventory.values())
        sells = sells and not talked_lately(avatar, ctx.tick)
        options = talk_with_reason(focus_on_urgent_need(options[:MAX_OPTIONS], obs.needs), obs, sells)
        options = purposeful(options, obs, self.work.get(avatar.role), self.economy)
        options = sensible_trades(options, obs, self.foods, ctx.currency)
        if len(options) == 1:
            avatar.intention = intend(options[0], ctx.tick)  # work it was left to do carries on
            return options[0]
        reply = self._reply(avatar.avatar_id, obs, options, ctx)
        if reply is not None:
            return reply
        here = (_here(options) + self._away(avatar.role, obs)).strip()
        session = None
        if self.session_tokens:
            session = avatar.session = avatar.session or Session()
        facts = _facts(obs, ctx, here)
        fresh = True
        if session is not None and session.turns:
            heard = [f"{ctx.names.get(m.sender, f'#{m.sender}')} said: {quote(m.text)}"
                     for m in session.new_lines(obs.messages)]  # fmt: skip
            situation = delta_entry(ctx.tick, facts, session.facts, heard)
            fresh = not session.fits(situation, self.session_tokens)
        if fresh:
            told = _relevant(options, self.work.get(avatar.role))
            situation = choose_prompt(
                tick=ctx.tick,
                place=where(obs),
                needs=obs.needs,
                status=" ".join(
                    facts[k] for k in ("have", "offers", "muted") if k in told and not _gone(facts, k)
                ),
                context=" ".join(
                    facts[k] for k in ("prices", "projects") if k in told and not _gone(facts, k)
                ),
                nearby=[ctx.names.get(i, f"#{i}") for i in obs.nearby] if "people" in told else None,
                heard=[(ctx.names.get(m.sender, f"#{m.sender}"), m.text) for m in obs.messages],
                memories=self._memories(avatar, obs, ctx),
                n_options=len(options),
                budget_tokens=self.prompt_tokens,
                here=here,
            )
        if session is not None:
            session.ask(situation, facts, fresh, obs.messages)
            messages = session.messages(self._head(avatar), situation, ANSWER_PREFIX)
        else:
            messages = self.messages(avatar, situation)
        request = ChooseRequest(
            messages=messages,
            options=option_texts(options),
            answer_prefix=ANSWER_PREFIX,
            seed=request_seed(ctx.run_seed, ctx.tick, avatar.avatar_id, "choose"),
            request_id=f"{ctx.tick}:{avatar.avatar_id}:choose",
            route=avatar.avatar_id,
            session=True,  # keep this prompt's KV: the avatar's next prompt shares its first lines
        )
        return PendingChoice(request, tuple(options), self.sample, session=session)

    @staticmethod
    def _reply(me: int, obs: Observation, options: Sequence[Action], ctx: TickContext) -> Action | None:
        """Answer the conversation we are in when the last turn was someone else's.

        A conversation is a mode, as in Generative Agents: when someone spoke to us last tick,
        we answer (its text is generated with the conversation so far) - no ``choose`` call
        needed. It does not hold us when a need calls (hungry with food, tired: the model
        chooses, and may still talk), once we have had our two turns in it, or when the
        last line is older than a tick. Only a ``say`` the world offers is used.
        """
        book = ctx.conversations
        if book is None or called_away(obs):
            return None
        for conv in book.active:
            if me not in conv.participants or conv.place != obs.place or not conv.turns:
                continue
            speaker = conv.turns[-1][0]
            if speaker == me or conv.last_tick < ctx.tick - 1:
                continue
            if sum(1 for s, _ in conv.turns if s == me) >= 2:
                continue
            for option in options:
                if option.kind == "say" and option.target == speaker:
                    return option
        return None

    def _away(self, role: str, obs: Observation) -> str:
        """Plain words for an avatar away from its work, or hungry without food."""
        out = ""
        places = self.work_places.get(role, ())
        if places and obs.place is not None and obs.place not in places:
            out += f" Your work is at the {' or the '.join(places)}, not here."
        hungry = obs.needs.get("hunger", 0.0) >= CALLED_AWAY["hunger"]
        if self.foods and hungry and not any(obs.inventory.get(f, 0) for f in self.foods):
            out += f" You have no food ({' and '.join(self.foods)} are food)."
        return out

    def _head(self, avatar: Avatar) -> tuple[Message, Message]:
        """Rules (shared) and persona (stable per avatar): the cached head of every request."""
        persona = self._persona_cache.get(avatar.avatar_id)
        if persona is None:
            persona = persona_prompt(
                avatar.persona.describe(), avatar.role, self.role_work.get(avatar.role, "")
            )
            self._persona_cache[avatar.avatar_id] = persona
        return Message("system", self.rules), Message("user", persona)

    def messages(self, avatar: Avatar, situation: str) -> tuple[Message, ...]:
        """Rules (shared), persona (stable per avatar), then the situation (changes)."""
        return (*self._head(avatar), Message("user", situation))

    # -- speaking --------------------------------------------------------------------------------

    # -- helpers ---------------------------------------------------------------------------------

    def _memories(self, avatar: Avatar, obs: Observation, ctx: TickContext, k: int | None = None) -> str:
        if avatar.memory is None or not len(avatar.memory):
            return ""
        heard = " ".join(m.text for m in obs.messages[-2:])
        nearby = " ".join(ctx.names.get(i, "") for i in obs.nearby[:4])
        urgent = max(obs.needs, key=obs.needs.__getitem__) if obs.needs else ""
        query = f"{heard} {nearby} {obs.place or ''} {urgent}"
        return avatar.memory.render(query, ctx.tick, self.prompt_tokens // 3, k or self.memories_k)


_DETAIL = re.compile(r" \([^()]*\)$")


def option_texts(options: Sequence[Action]) -> tuple[str, ...]:
    """What the model scores for each option: its label without a trailing parenthetical
    ("join project 1" for "join project 1 (a bridge: needs 6 wood, 4 labour; pays 12)"). The
    prompt already tells the project, and every option token is computed for every avatar that
    has it: project options were three quarters of the town's option tokens. The full labels
    where two texts would coincide."""
    texts = tuple(_DETAIL.sub("", o.label) for o in options)
    return texts if len(set(texts)) == len(texts) else tuple(o.label for o in options)


def _relevant(options: Sequence[Action], work: RoleWork | None) -> set[str]:
    """The situation's facts that bear on a choice among ``options``: holdings and sanctions
    always; prices for a trade, the offers for an answer to one, projects for project work,
    the people here for talk, a gift or an offer to someone. The rest is left out of the prompt: it
    costs tokens on every decision, and a prompt that changes early (prices move every tick)
    leaves less of the avatar's last prompt to reuse."""
    kinds = {o.kind for o in options}
    told = {"have", "muted"}
    if kinds & {"order", "offer", "accept", "reject"}:
        told.add("prices")
    if kinds & {"accept", "reject"}:
        told.add("offers")
    if any(k.startswith("project_") for k in kinds) or (work is not None and work.kind == "build"):
        told.add("projects")
    if kinds & {"say", "give", "offer"}:
        told.add("people")
    return told


def _here(options: Sequence[Action]) -> str:
    """What the place lets the avatar do, in plain words ("Here you can gather wheat.")."""
    can = []
    for o in options:
        if o.kind == "gather" and o.item:
            can.append(f"gather {o.item}")
        elif o.kind == "craft" and o.recipe:
            can.append(f"craft {o.recipe}")
    if any(o.kind == "order" for o in options):
        can.append("buy and sell on the market")
    if not can:
        return ""
    return "Here you can " + (", ".join(can[:-1]) + " and " + can[-1] if len(can) > 1 else can[0]) + "."


def _deal(o: Offer, obs: Observation, currency: str) -> str:
    """An offer's worth to the avatar at market prices, in words (the arithmetic a small model
    cannot do), and whether it would take the last food."""
    gets, pays, verdict = worth(o, obs.prices, currency)
    word = f"a {verdict} deal"
    text = f"worth {gets} {currency} to you for {pays} {currency} of yours: {word} for you"
    food = {i for i, q in o.get if i != currency}
    if food and all(obs.inventory.get(i, 0) <= q for i, q in o.get if i in food):
        text += f"; it would take all your {', '.join(sorted(food))}"
    return text


def _goods(goods: Sequence[tuple[str, int]]) -> str:
    return " and ".join(f"{q} {i}" for i, q in goods) or "nothing"


def _project(p: ProjectView, tick: int, currency: str) -> str:
    """``project 3, a bridge at the plaza: still needs 2 wood and 1 labour; 1 of 2 contributors; due in 5 ticks; reward 10 coin``."""
    where = f" at the {p.place}" if p.place else ""
    # The due tick, not the ticks left: the line then stays the same from tick to tick (the
    # engine reuses an avatar's unchanged prompt prefix); the tick is told at the end.
    crew = (
        f"{p.contributors} of {p.min_contributors}"
        if p.contributors < p.min_contributors
        else str(p.contributors)
    )
    return (
        f"project {p.id}, a {p.template}{where}: still needs {_goods(p.missing)}; "
        f"{crew} contributors; due at tick {p.deadline}; reward {p.reward} {currency}"
    )


def _status_parts(obs: Observation, ctx: TickContext) -> dict[str, str]:
    """Holdings, offers, prices, projects and sanctions, each a short sentence ("" when none)."""
    inv = ", ".join(f"{q} {i}" for i, q in sorted(obs.inventory.items()) if q)
    parts = {"have": f"You have {obs.coins} {ctx.currency}" + (f" and {inv}." if inv else ".")}
    parts["offers"] = parts["prices"] = parts["projects"] = parts["muted"] = ""
    if obs.offers:
        offers = "; ".join(
            f"offer {o.id} from {ctx.names.get(o.sender, f'#{o.sender}')}: gives {_goods(o.give)} for "
            f"{_goods(o.get)} ({_deal(o, obs, ctx.currency)})"
            for o in obs.offers[:4]
        )
        parts["offers"] = f"Offers to you: {offers}."
    if obs.prices:
        parts["prices"] = (
            "Market prices: " + ", ".join(f"{i} {p}" for i, p in sorted(obs.prices.items())) + "."
        )
    if obs.projects:
        parts["projects"] = (
            "Projects: " + "; ".join(_project(p, obs.tick, ctx.currency) for p in obs.projects[:3]) + "."
        )
    if obs.muted_until is not None and obs.muted_until > obs.tick:
        parts["muted"] = f"You are muted until tick {obs.muted_until}."
    return parts


def _status(obs: Observation, ctx: TickContext) -> str:
    """Holdings, offers, prices, projects and sanctions in a few short sentences."""
    return " ".join(p for p in _status_parts(obs, ctx).values() if p)


#: What a delta entry says when a fact it told before is gone.
_GONE = {
    "offers": "No offers to you now.",
    "projects": "No open projects now.",
    "muted": "You may speak again.",
}


def _gone(facts: Mapping[str, str], key: str) -> bool:
    """Whether ``facts[key]`` only says the fact is absent (a full situation leaves it out)."""
    return not facts.get(key) or facts[key] == _GONE.get(key)


def _facts(obs: Observation, ctx: TickContext, here: str) -> dict[str, str]:
    """The situation's facts one by one, for a session's delta entries (see agents/session.py)."""
    facts = _status_parts(obs, ctx)
    for key, gone in _GONE.items():
        facts[key] = facts[key] or gone
    facts["where"] = f"You are at {where(obs)}." + (f" {here}" if here else "")
    facts["needs"] = needs_text(obs.needs)
    nearby = [ctx.names.get(i, f"#{i}") for i in obs.nearby]
    facts["people"] = f"People here: {', '.join(nearby)}." if nearby else "Nobody else is here."
    return facts
