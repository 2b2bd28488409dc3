"""Scenario schema (the models): one YAML file, validated by frozen pydantic models (``extra="forbid"``).

A scenario (Melting Pot's "substrate + population") has ten sections: ``name``,
``description``, ``world``, ``population``, ``social``, ``economy``, ``moderation``,
``projects``, ``llm`` and ``run``. Every field has a default where one makes sense, so a
small scenario stays small. docs/config.md documents every field with an example.

Errors are one line, ``path: field.path: message`` (a :class:`~sim.errors.UserError`),
for YAML syntax, unknown fields, wrong types, out-of-range values, references to unknown
places, items, recipes or roles, and bad ``--set key.path=value`` overrides.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from agents.population import POLICIES
from sim.llm.device import parse_device
from world.moderation import VIOLATOR_POLICIES

__all__ = [
    "CommonsConfig",
    "CommonsResource",
    "DistributionConfig",
    "EconomyConfig",
    "GeneratorConfig",
    "ItemConfig",
    "LLMConfig",
    "MarketConfig",
    "ModerationConfig",
    "NeedsConfig",
    "PersonaTemplates",
    "PlaceConfig",
    "PopulationConfig",
    "ProjectTemplate",
    "ProjectsConfig",
    "RecipeConfig",
    "RoleConfig",
    "RuleConfig",
    "RunConfig",
    "SanctionsConfig",
    "ScenarioConfig",
    "SocialConfig",
    "WorldConfig",
    "role_counts",
]


# -- limits: every number and text is bounded, so no config can exhaust memory or overflow SQLite --------

#: Any count, quantity, price or size not bounded more tightly below.
MAX_NUMBER = 1_000_000_000
#: Avatars in a run (the tick is linear in it; metropolis has 10,000).
MAX_POPULATION = 100_000
#: Grid side, and cells of the whole grid (each cell is a Mesa object of about 1.4 KB).
MAX_GRID_SIDE = 10_000
MAX_GRID_CELLS = 250_000
#: Ticks of a run.
MAX_TICKS = 1_000_000
#: Seeds are 64-bit signed integers in SQLite and checkpoints: 0 .. 2**63 - 1.
MAX_SEED = 2**63 - 1
#: Names (places, items, roles, persona entries, rule ids) and free texts (descriptions, questions).
MAX_NAME_CHARS = 100
MAX_TEXT_CHARS = 4_000
#: A scenario's name is a slug: it becomes the start of the run folder's name.
SCENARIO_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

# -- value checks with one-line messages --------------------------------------------------


def _between(lo: float, hi: float) -> Callable[[float], float]:
    def check(v: float) -> float:
        if not lo <= v <= hi:
            raise ValueError(f"must be between {lo:g} and {hi:g}")
        return v

    return check


def _at_least(lo: float, hi: float = MAX_NUMBER) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if v < lo:
            raise ValueError(f"must be at least {lo:g}")
        if v > hi:
            raise ValueError(f"must be at most {hi:,}")
        return v

    return check


Unit = Annotated[float, AfterValidator(_between(0, 1))]
Signed = Annotated[float, AfterValidator(_between(-1, 1))]
PosInt = Annotated[int, AfterValidator(_at_least(1))]
NonNegInt = Annotated[int, AfterValidator(_at_least(0))]
NonNegFloat = Annotated[float, AfterValidator(_at_least(0))]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]


class _Model(BaseModel):
    # allow_inf_nan=False: .inf and .nan in YAML are refused wherever a number is expected.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


# -- world --------------------------------------------------------------------------------


class PlaceConfig(_Model):
    """A named place on the grid and what it offers (market, farm, mine, forest, workshop...)."""

    x: NonNegInt = 0
    y: NonNegInt = 0
    offers: tuple[Name, ...] = ()
    description: Text = ""


class NeedsConfig(_Model):
    """Needs rise every tick (levels in [0, 1], higher is more urgent) and fall by acting."""

    hunger_per_tick: Unit = 0.02
    tiredness_per_tick: Unit = 0.01
    loneliness_per_tick: Unit = 0.01
    rest_relief: Unit = 0.3
    talk_relief: Unit = 0.1
    work_effort: Unit = 0.05  # tiredness added by gathering, crafting and project labour


def _default_places() -> dict[str, PlaceConfig]:
    return {"plaza": PlaceConfig(x=0, y=0, offers=("plaza", "market"))}


class WorldConfig(_Model):
    """The grid, its named places, movement speed, needs and what an avatar perceives."""

    width: Annotated[int, AfterValidator(_at_least(1, MAX_GRID_SIDE))] = 20
    height: Annotated[int, AfterValidator(_at_least(1, MAX_GRID_SIDE))] = 20
    places: dict[Name, PlaceConfig] = Field(default_factory=_default_places)
    start_place: str | None = None  # default: each role's home, else the first place
    speed: PosInt = 5  # grid cells walked per tick (Chebyshev distance on a Moore grid)
    needs: NeedsConfig = NeedsConfig()
    nearby_limit: NonNegInt = 8  # avatars shown as "nearby" in an observation
    inbox_size: NonNegInt = 5  # latest delivered messages kept per avatar


# -- population ---------------------------------------------------------------------------


class PersonaTemplates(_Model):
    """Lists that avatars' personas are drawn from."""

    names: tuple[Name, ...] = ("Ada", "Bruno", "Chen", "Dara", "Emil", "Fatou", "Goran", "Hana", "Ivo", "Jun")
    occupations: tuple[Name, ...] = ("farmer", "miner", "woodcutter", "smith", "merchant", "teacher")
    traits: tuple[Name, ...] = ("generous", "shrewd", "curious", "cautious", "friendly", "grumpy")
    goals: tuple[Name, ...] = ("get rich", "make friends", "build something lasting", "eat well")
    values: tuple[Name, ...] = ("fairness", "loyalty", "freedom", "honesty", "tradition")


class RoleConfig(_Model):
    """A kind of avatar: how many (``count``, or a ``share`` of the rest), its policy, its home."""

    name: Name
    share: Unit | None = None
    count: Annotated[int, AfterValidator(_at_least(0, MAX_POPULATION))] | None = None
    # valid-type: a Literal built from agents' POLICIES tuple (the one list); pydantic reads it fine.
    policy: Literal[POLICIES] = "random_give"  # type: ignore[valid-type]
    home: str | None = None
    violator: bool | None = None  # ground truth for moderation; default: policy is a violator's

    @property
    def is_violator(self) -> bool:
        """Whether this role's avatars are scripted violators (moderation ground truth)."""
        return self.policy in VIOLATOR_POLICIES if self.violator is None else self.violator


class PopulationConfig(_Model):
    """Who lives in the world. ``llm_share`` of the non-violator rule-policy avatars use the LLM policy."""

    count: Annotated[int, AfterValidator(_at_least(0, MAX_POPULATION))] = 10
    persona_templates: PersonaTemplates = PersonaTemplates()
    roles: tuple[RoleConfig, ...] = (RoleConfig(name="villager", share=1.0),)
    llm_share: Unit = 0.0


# -- social -------------------------------------------------------------------------------


class GeneratorConfig(_Model):
    """The initial social graph. Parameters apply to the generator that uses them."""

    kind: Literal["watts_strogatz", "barabasi_albert", "stochastic_block", "complete", "empty"] = "empty"
    k: PosInt = 4  # watts_strogatz: neighbours in the ring
    p: Unit = 0.1  # watts_strogatz: rewiring probability
    m: PosInt = 2  # barabasi_albert: edges per new node
    blocks: PosInt = 2  # stochastic_block: number of equal blocks
    p_in: Unit = 0.3  # stochastic_block: edge probability inside a block
    p_out: Unit = 0.02  # stochastic_block: edge probability across blocks


class SocialConfig(_Model):
    """Social graph: generator, initial tie strength, partner choice, metrics cadence."""

    generator: GeneratorConfig = GeneratorConfig()
    initial_affinity: Signed = 0.2
    initial_trust: Signed = 0.2
    explore: Unit = 0.2  # probability that partner choice picks a stranger over a friend
    gifts_create_edges: bool = False  # gifts always strengthen an existing tie
    metrics_every: PosInt = 1  # ticks between graph metric computations
    metrics_max_nodes: NonNegInt = 5000  # above: clustering, modularity, assortativity are skipped


# -- economy ------------------------------------------------------------------------------


class ItemConfig(_Model):
    """A tradeable item. ``food`` lowers hunger and ``energy`` tiredness per unit consumed."""

    food: Unit = 0.0
    energy: Unit = 0.0
    base_price: NonNegInt = 1  # reference price until the market has cleared one


class DistributionConfig(_Model):
    """How an initial endowment is drawn per avatar (rounded down to whole units, at least 0)."""

    kind: Literal["constant", "uniform", "normal", "exponential", "pareto"] = "constant"
    value: NonNegFloat = 0.0  # constant value; mean of normal and exponential; scale of pareto
    low: NonNegInt = 0  # uniform
    high: NonNegInt = 0  # uniform (inclusive)
    std: NonNegFloat = 1.0  # normal
    alpha: Annotated[float, AfterValidator(_at_least(0.01))] = 1.16  # pareto shape


def _constant_shorthand(v: Any) -> Any:
    # ``coin: 10`` is short for ``coin: {kind: constant, value: 10}``.
    if isinstance(v, int | float) and not isinstance(v, bool):
        return {"kind": "constant", "value": v}
    return v


Endowment = Annotated[DistributionConfig, BeforeValidator(_constant_shorthand)]


class RecipeConfig(_Model):
    """Crafting: ``inputs`` are consumed, ``outputs`` made, at a place offering ``place``."""

    inputs: dict[Name, PosInt]
    outputs: dict[Name, PosInt]
    place: str | None = None  # an offer kind (e.g. workshop) or a place name; None: anywhere


class MarketConfig(_Model):
    """How goods change hands: bilateral offers, a per-item order book, both or none."""

    mechanism: Literal["order_book", "offers", "both", "none"] = "both"
    offer_ttl: PosInt = 5  # default ticks before an offer expires
    order_ttl: PosInt = 5  # default ticks before an unfilled order expires


class EconomyConfig(_Model):
    """Currency, items, endowments, gathering yields, recipes, market and tax."""

    currency: Name = "coin"
    items: dict[Name, ItemConfig] = Field(default_factory=dict)
    endowment: dict[Name, Endowment] = Field(default_factory=dict)
    gathering: dict[Name, dict[Name, PosInt]] = Field(default_factory=dict)  # offer kind -> item -> yield
    recipes: dict[Name, RecipeConfig] = Field(default_factory=dict)
    market: MarketConfig = MarketConfig()
    tax_rate: Unit = 0.0
    labour_value: NonNegInt = 1  # coins one labour tick is worth when splitting project rewards


# -- moderation ---------------------------------------------------------------------------

RULE_KINDS = (
    "words",
    "patterns",
    "rate_limit",
    "repeat",
    "harassment",
    "scam_price",
    "scam_unowned",
    "scam_dishonoured",
    "reports",
    "llm",
    "offensive",
    "threat",
    "scam_request",
    "spam",
    "near_duplicate",
)
#: Rule kinds scored by a text detector (world.detectors): they flag at ``min_score``.
DETECTOR_KINDS = ("offensive", "threat", "scam_request", "spam")
Severity = Literal["low", "medium", "high"]
Ladder = tuple[Literal["warn", "mute", "ban"], ...]


class RuleConfig(_Model):
    """One moderation rule. Which parameters matter depends on ``kind`` (docs/config.md)."""

    id: Name
    # valid-type: a Literal built from the RULE_KINDS tuple (one list of kinds); pydantic reads it fine.
    kind: Literal[RULE_KINDS]  # type: ignore[valid-type]
    words: tuple[Name, ...] = ()  # words; harassment: the hostile vocabulary
    patterns: tuple[Name, ...] = ()  # patterns: regular expressions (case-insensitive)
    max_messages: PosInt = 5  # rate_limit: messages allowed per window
    window: PosInt = 10  # ticks looked back by rate_limit, repeat, harassment, reports, near_duplicate
    threshold: PosInt = 3  # repeat, harassment, reports, scam_dishonoured; near_duplicate: distinct senders
    min_score: Unit = (
        0.7  # offensive, threat, scam_request, spam: flag when the detector's score is this or more
    )
    similarity: Unit = 0.6  # near_duplicate: word-set Jaccard similarity that counts as the same message
    min_words: PosInt = 6  # near_duplicate: shorter messages ("good morning") are never duplicates
    borderline: Unit | None = (
        None  # llm: judge only messages a detector scored in [borderline, its min_score)
    )
    severity: Severity = "medium"  # which sanction ladder a flag climbs (sanctions.ladders)
    price_factor: Annotated[float, AfterValidator(_at_least(1))] = 3.0  # scam_price
    question: Text = "Is this message abusive, spam or a scam? Answer yes or no."  # llm
    probability: Unit = 0.5  # llm: flag when P(yes) is at least this
    block: bool = True  # a flagged message or offer is not delivered
    sanction: bool = True  # a flag moves the sender one step up the sanction ladder


class SanctionsConfig(_Model):
    """Escalation per avatar: the n-th sanctionable flag gets ``ladder[n]`` (the last repeats).

    A rule's ``severity`` picks ``ladders[severity]`` when given (``high: [mute, ban]`` mutes a
    threat at once); strikes are counted per avatar across severities.
    """

    ladder: Ladder = ("warn", "mute", "ban")
    ladders: dict[Severity, Ladder] = Field(default_factory=dict)  # per severity; missing: ``ladder``
    mute_ticks: PosInt = 5


class ModerationConfig(_Model):
    """The moderation policy: rules (each with an id) and escalating sanctions."""

    enabled: bool = True
    rules: tuple[RuleConfig, ...] = ()
    sanctions: SanctionsConfig = SanctionsConfig()


# -- projects, llm, run -------------------------------------------------------------------


class ProjectTemplate(_Model):
    """A collaboration: ``needs`` (currency, items, ``labour`` ticks) from ``min_contributors`` avatars."""

    needs: dict[Name, PosInt]
    min_contributors: PosInt = 2
    deadline: PosInt = 20  # ticks from proposal
    reward: NonNegInt = 0  # coins split by contribution on completion
    reward_source: Literal["treasury", "sponsors"] = "treasury"  # sponsors: the proposer pledges it
    place: str | None = None  # offer kind or place name where one proposes and contributes


class ProjectsConfig(_Model):
    """Project templates avatars may propose, and how many may run at once."""

    templates: dict[Name, ProjectTemplate] = Field(default_factory=dict)
    max_active: NonNegInt = 5


class CommonsResource(_Model):
    """A shared resource that regrows logistically (world.commons): harvested at ``place`` (a place
    name or offer kind), at most ``max_take`` a tick per avatar, from a stock that starts at ``start``
    (default: ``capacity``) and grows each tick by ``growth * stock * (1 - stock / capacity)``."""

    place: Name
    capacity: PosInt
    start: NonNegInt | None = None
    growth: Annotated[float, AfterValidator(_between(0, 2))] = 0.3
    max_take: PosInt = 3


class CommonsConfig(_Model):
    """Shared, regrowing resources avatars harvest (a fishery, a pasture), by item name."""

    resources: dict[Name, CommonsResource] = Field(default_factory=dict)


class LLMConfig(_Model):
    """The language model behind LLM avatars (and an optional moderation rule)."""

    model: Name = "smollm2-135m"
    replicas: PosInt | None = None  # None: one per GPU, else 1
    device: Annotated[str, AfterValidator(parse_device)] = "auto"  # auto, cpu, cuda or cuda:N
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    temperature: NonNegFloat = 0.7
    top_p: Annotated[float, AfterValidator(_between(0.01, 1))] = 0.95
    top_k: NonNegInt = 50
    repetition_penalty: Annotated[float, AfterValidator(_at_least(0.01))] = 1.1
    max_new_tokens: PosInt = 48
    max_batch_size: PosInt = 64
    max_wait_ms: NonNegInt = 5
    context_tokens: Annotated[int, AfterValidator(_at_least(64))] = 1024
    #: An LLM avatar's prompt is a log that grows by one short entry per decision (what changed,
    #: then its answer), so each decision computes only the new entry; past this many tokens the
    #: log is compacted (a fresh full situation). 0: a fresh full prompt every decision.
    session_tokens: NonNegInt = 0
    #: Bytes of KV (MiB) each replica keeps for shared prefixes and avatars' logs.
    prefix_cache_mb: PosInt = 2048
    conversation_turns: PosInt = 2
    #: Lines sampled for each thing an LLM avatar says; the most on-topic one is said (it shares
    #: a word with the line it answers, names something of the town, is not a repeat). 1: the first.
    speech_candidates: Annotated[int, AfterValidator(_at_least(1, 8))] = 5
    #: Seconds one batched model call may take; avatars still unanswered then act by their role's
    #: rule policy for that tick (an ``llm_fallback`` event), so a hung replica never stops a run.
    deadline_s: Annotated[float, AfterValidator(_at_least(0.1))] = 300.0


class RunConfig(_Model):
    """How long, with which seed, and how often to checkpoint (0: never)."""

    ticks: Annotated[int, AfterValidator(_at_least(0, MAX_TICKS))] = 100
    seed: Annotated[int, AfterValidator(_at_least(0, MAX_SEED))] = 0
    checkpoint_every: Annotated[int, AfterValidator(_at_least(0, MAX_TICKS))] = 10


class ScenarioConfig(_Model):
    """A whole scenario. ``world.World(cfg, rng)`` takes it as its spec."""

    name: Annotated[str, Field(pattern=SCENARIO_NAME)] = "scenario"
    description: Text = ""
    world: WorldConfig = WorldConfig()
    population: PopulationConfig = PopulationConfig()
    social: SocialConfig = SocialConfig()
    economy: EconomyConfig = EconomyConfig()
    moderation: ModerationConfig = ModerationConfig()
    projects: ProjectsConfig = ProjectsConfig()
    commons: CommonsConfig = CommonsConfig()
    llm: LLMConfig = LLMConfig()
    run: RunConfig = RunConfig()


# -- cross-references ---------------------------------------------------------------------


class _RefError(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _check_references(cfg: ScenarioConfig) -> None:
    """Checks a field-by-field model cannot: names that must refer to something that exists."""
    w, e = cfg.world, cfg.economy
    places = w.places
    if not places:
        raise _RefError("world.places", "at least one place is required")
    if w.width * w.height > MAX_GRID_CELLS:
        raise _RefError(
            "world.width",
            f"a {w.width}x{w.height} grid has {w.width * w.height:,} cells, at most {MAX_GRID_CELLS:,}",
        )
    offer_kinds = {k for p in places.values() for k in p.offers}
    for name, p in places.items():
        if p.x >= w.width or p.y >= w.height:
            raise _RefError(
                f"world.places.{name}", f"({p.x}, {p.y}) is outside the {w.width}x{w.height} grid"
            )
    if w.start_place is not None and w.start_place not in places:
        raise _RefError("world.start_place", f"unknown place {w.start_place!r}")
    if e.currency in e.items:
        raise _RefError(f"economy.items.{e.currency}", "an item cannot have the currency's name")
    if "labour" in e.items or e.currency == "labour":
        raise _RefError("economy.items.labour", "'labour' is reserved for project contributions")
    assets = set(e.items) | {e.currency}
    for key in e.endowment:
        if key not in assets:
            raise _RefError(f"economy.endowment.{key}", "unknown item")
    for kind, yields in e.gathering.items():
        if kind not in offer_kinds:
            raise _RefError(f"economy.gathering.{kind}", "no place offers this")
        for item in yields:
            if item not in e.items:
                raise _RefError(f"economy.gathering.{kind}.{item}", "unknown item")
    for rname, r in e.recipes.items():
        for part in ("inputs", "outputs"):
            for item in getattr(r, part):
                if item not in assets:
                    raise _RefError(f"economy.recipes.{rname}.{part}.{item}", "unknown item")
        if r.place is not None and r.place not in places and r.place not in offer_kinds:
            raise _RefError(f"economy.recipes.{rname}.place", f"unknown place or offer {r.place!r}")
    for tname, t in cfg.projects.templates.items():
        for item in t.needs:
            if item not in assets and item != "labour":
                raise _RefError(f"projects.templates.{tname}.needs.{item}", "unknown item")
        if t.place is not None and t.place not in places and t.place not in offer_kinds:
            raise _RefError(f"projects.templates.{tname}.place", f"unknown place or offer {t.place!r}")
    for cname, c in cfg.commons.resources.items():
        if cname not in e.items:
            raise _RefError(f"commons.resources.{cname}", "unknown item (a commons resource is an item)")
        if c.place not in places and c.place not in offer_kinds:
            raise _RefError(f"commons.resources.{cname}.place", f"unknown place or offer {c.place!r}")
        if c.start is not None and c.start > c.capacity:
            raise _RefError(f"commons.resources.{cname}.start", "must be at most capacity")
    seen: set[str] = set()
    for i, role in enumerate(cfg.population.roles):
        if role.name in seen:
            raise _RefError(f"population.roles.{i}.name", f"duplicate role {role.name!r}")
        seen.add(role.name)
        if role.home is not None and role.home not in places:
            raise _RefError(f"population.roles.{i}.home", f"unknown place {role.home!r}")
        if role.share is not None and role.count is not None:
            raise _RefError(f"population.roles.{i}", "give either share or count, not both")
    fixed = sum(r.count or 0 for r in cfg.population.roles)
    if fixed > cfg.population.count:
        raise _RefError("population.roles", f"role counts ({fixed}) exceed population.count")
    if all(r.count is not None for r in cfg.population.roles) and fixed != cfg.population.count:
        # Every role has a fixed count: population.count would be silently ignored.
        raise _RefError(
            "population.count",
            f"{cfg.population.count} disagrees with the roles' fixed counts, which add up to {fixed}"
            " (population.roles.*.count): change one, or give a role a share",
        )
    ids: set[str] = set()
    for i, rule in enumerate(cfg.moderation.rules):
        if rule.id in ids:
            raise _RefError(f"moderation.rules.{i}.id", f"duplicate rule id {rule.id!r}")
        if rule.id in ("precision", "recall", "ticks_to_action"):
            # moderation.<rule_id> metrics share a namespace with the ground-truth scores.
            raise _RefError(f"moderation.rules.{i}.id", f"{rule.id!r} is reserved for a metric")
        ids.add(rule.id)
        if rule.kind in ("words", "harassment") and not rule.words:
            raise _RefError(f"moderation.rules.{i}.words", f"a {rule.kind} rule needs words")
        if rule.kind == "patterns":
            if not rule.patterns:
                raise _RefError(f"moderation.rules.{i}.patterns", "a patterns rule needs patterns")
            for j, pat in enumerate(rule.patterns):
                try:
                    re.compile(pat)
                except re.error as exc:
                    raise _RefError(
                        f"moderation.rules.{i}.patterns.{j}", f"bad regular expression: {exc}"
                    ) from None


def role_counts(population: PopulationConfig) -> dict[str, int]:
    """Avatars per role: fixed ``count``s first, the rest split by ``share`` (largest remainder).

    Roles with neither share nor count split what no share claims. Deterministic.
    """
    roles = population.roles
    out = {r.name: (r.count or 0) for r in roles}
    rest = population.count - sum(out.values())
    shared = [r for r in roles if r.count is None]
    if rest <= 0 or not shared:
        return out
    explicit = sum(r.share or 0.0 for r in shared)
    unset = [r for r in shared if r.share is None]
    leftover = max(0.0, 1.0 - explicit)
    weights = {r.name: (r.share if r.share is not None else leftover / len(unset)) for r in shared}
    total = sum(weights.values()) or 1.0
    exact = {n: rest * w / total for n, w in weights.items()}
    floors = {n: int(v) for n, v in exact.items()}
    short = rest - sum(floors.values())
    # Largest remainder, ties by role order: the split is exact and deterministic.
    order = sorted(shared, key=lambda r: -(exact[r.name] - floors[r.name]))
    for r in order[:short]:
        floors[r.name] += 1
    out.update(floors)
    return out
