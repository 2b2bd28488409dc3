"""Text detectors behind moderation's layered rules: each scores one message in [0, 1] with evidence.

Every detector reads a :class:`Text`, prepared once per message: lower case, de-obfuscated
(leetspeak digits and symbols inside words, masked letters such as ``f***`` or ``sh*t`` matched
against the lexicon, spaced or dotted letters such as ``s h i t`` or ``S.T.U.P.I.D`` joined,
letter floods such as ``fuuuck`` squeezed), and split into word tokens. Detectors are pure
functions of the text (no state, no randomness), so the same message always gets the same score;
the one stateful detector, :class:`NearDuplicates`, keeps a window of recent messages.

- :func:`offensive`: profanity (always), insults aimed at someone (second person, a vocative, a
  one-word message; "I was such an idiot" and "a stupid price" are not aimed at anyone) and
  abusive phrases ("go to hell", "nobody likes you").
- :func:`threat`: an intent (I/we will, gonna, or else...) plus a harm verb plus a target in the
  second person ("I'll break your legs"), unless negated; and veiled threats ("I know where you
  live", "watch your back", "shame if something happened"), damped by friendly context.
- :func:`scam`: a request for coins, goods or credentials combined with a lure: a promise of
  returns, urgency, secrecy, claimed authority, a prize or a fee; damped when the message warns
  about scams or reports someone else's request.
- :func:`spam`: links and domains (also "x dot com"), contact solicitation ("DM me"), capital
  and punctuation floods, a word repeated over and over, and sales hype (which only adds to
  another signal).
- :class:`NearDuplicates`: the same message (word-set Jaccard similarity) from several
  different senders within a window of ticks.

Scores are calibrated so that 0.7 means "clearly this", 0.4 to 0.7 is borderline (where the
``llm`` rule may give a second opinion) and below 0.4 is a weak hint. The word lists are the
town's: small, readable and meant to be edited.
"""

from __future__ import annotations

import re
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Finding",
    "NearDuplicates",
    "Text",
    "deobfuscate",
    "offensive",
    "prepare",
    "scam",
    "spam",
    "threat",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """A detector's verdict on one message: a score in [0, 1] and what it saw."""

    score: float
    evidence: dict[str, Any] = field(default_factory=dict)


# -- preparation and de-obfuscation -----------------------------------------------------------

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "i"}
)
# A token with letters and leet characters mixed in ("m0r0n", "b!tch", "a$$hole"): translate it.
_LEETY = re.compile(r"[a-z0-9$@!|]*(?:[a-z][0-9$@!|]|[0-9$@!|][a-z])[a-z0-9$@!|]*")
# Single letters separated by spaces, dots, dashes or underscores, at least three: "s h i t", "s.t.u.p.i.d".
_SPACED = re.compile(r"(?<![\w])(?:[a-z][ .\-_]){2,}[a-z](?![a-z])")
_SEPARATORS = re.compile(r"[ .\-_]")
# A masked word: letters with '*' or '#' standing in for some of them ("f***", "sh*t", "a**hole").
_MASKED = re.compile(r"[a-z]*[*#]+[a-z*#]*")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_FLOOD = re.compile(r"([a-z])\1{2,}")
_SQUEEZE = re.compile(r"([a-z])\1+")


def _join_spaced(m: re.Match[str]) -> str:
    return _SEPARATORS.sub("", m.group(0))


def deobfuscate(text: str) -> str:
    """Lower-cased ``text`` with leetspeak inside words translated and spaced letters joined.

    Masked letters stay masked (``f***``): :func:`prepare` matches them against the lexicon.
    """
    low = text.lower()
    if any(c in low for c in "0134579@$!|"):
        low = _LEETY.sub(lambda m: m.group(0).translate(_LEET), low)
    return _SPACED.sub(_join_spaced, low)


@dataclass(slots=True)
class Text:
    """One message as the detectors read it."""

    raw: str
    clean: str  # de-obfuscated, lower case
    tokens: list[str]  # word tokens of ``clean`` (masked words resolved where the lexicon knows them)
    unmasked: list[str]  # masked words that were resolved, as written ("f***")
    vocab: frozenset[str] = frozenset()  # the set of ``tokens``: cheap pre-checks before a regex

    @property
    def joined(self) -> str:
        """The tokens joined by single spaces: what phrase patterns search."""
        return " ".join(self.tokens)


def _mask_regex(masked: str) -> re.Pattern[str]:
    return re.compile("".join("[a-z]" if c in "*#" else c for c in masked))


_mask_cache: dict[str, str | None] = {}


def _unmask(word: str) -> str | None:
    """The lexicon word a masked token stands for ("sh*t" -> "shit"), or None."""
    if word in _mask_cache:
        return _mask_cache[word]
    found = None
    if any(c.isalpha() for c in word):
        pat = _mask_regex(word)
        for w in _MASKABLE:
            if len(w) == len(word) and pat.fullmatch(w):
                found = w
                break
    elif len(word) in (3, 4):
        found = {3: "ass", 4: "fuck"}[len(word)]  # "***", "****": a bleeped swear word
    if len(_mask_cache) < 10_000:
        _mask_cache[word] = found
    return found


def prepare(text: str) -> Text:
    """De-obfuscate and tokenise ``text`` once for every detector."""
    clean = deobfuscate(text)
    unmasked: list[str] = []
    if "*" in clean or "#" in clean:

        def sub(m: re.Match[str]) -> str:
            w = _unmask(m.group(0))
            if w is None:
                return m.group(0)
            unmasked.append(m.group(0))
            return w

        clean = _MASKED.sub(sub, clean)
    tokens = _TOKEN.findall(clean)
    if _FLOOD.search(clean):
        # "fuuuck", "shiiit": a letter held down; the squeezed form is looked up as well.
        tokens = [_squeezed(t) for t in tokens]
    return Text(text, clean, tokens, unmasked, frozenset(tokens))


def _squeezed(tok: str) -> str:
    if not _FLOOD.search(tok):
        return tok
    one = _SQUEEZE.sub(r"\1", tok)
    return _SQUEEZED.get(one, one)


# -- offensive language -----------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    """A word list written as one readable string."""
    return frozenset(text.split())


#: Profanity: offensive wherever it appears.
PROFANITY = _words(
    "fuck fucking fucked fucker fuckers motherfucker shit shitty bullshit bitch bitches asshole assholes"
    " arsehole bastard bastards cunt dick dickhead whore slut wanker twat dumbass jackass retard retarded"
    " prick douchebag"
)
#: Insults that are nouns: offensive when aimed at someone ("you moron", "Moron, ..." or alone).
INSULT_NOUNS = _words(
    "idiot idiots moron morons imbecile imbeciles loser losers jerk pig pigs cow scum freak clown"
    " dimwit slob rat parasite lowlife trash garbage coward fool halfwit nitwit cretin numbskull"
    " maggot vermin swine lump oaf creep hag"
)
#: Insulting adjectives: offensive when aimed at someone ("you stupid cow", "you're so dumb").
INSULT_ADJECTIVES = _words(
    "stupid stupidest dumb dumbest pathetic ugly disgusting worthless useless filthy braindead"
    " spineless lazy fat stinking idiotic moronic"
)
#: Mild swearing: a weak hint alone ("the bloody rain"), offensive at someone ("damn you").
MILD = _words("damn damned hell crap crappy bloody piss pissed suck sucks")
#: Abusive phrases, searched in the joined tokens.
_ABUSE = re.compile(
    r"\b(?:go to hell|screw you|damn you|piss off|you suck|eat (?:dirt|shit)|nobody(?: \w+)? likes you"
    r"|nobody wants you|shut (?:up|your (?:mouth|face|trap)|it)|get lost|drop dead|go die"
    r"|your (?:mother|mom|mum) is)\b"
)
_MASKABLE = sorted(PROFANITY | INSULT_NOUNS | INSULT_ADJECTIVES | MILD)
_SQUEEZED = {_SQUEEZE.sub(r"\1", w): w for w in PROFANITY | INSULT_NOUNS | MILD}
_YOU = _words("you you're youre ur u ya yer your yourself")
_ME = _words("i i'm im me my myself i've i'd i'll")
_INTENSIFIERS = _words("absolute complete total utter such a an the so bloody stupid dumb you")
_LIKE_YOU = re.compile(r"\b(?:like you|you are|you're|that's you|thats you|is you)\b")


def _aimed(tokens: list[str], i: int) -> str | None:
    """How the insult at ``tokens[i]`` is aimed at someone, or None when it is not."""
    before = tokens[max(0, i - 3) : i]
    if any(t in _YOU for t in before):
        return "second person"
    if any(t in _ME for t in tokens[max(0, i - 4) : i]):
        return None  # "I was such an idiot", "silly me": about oneself
    after = " ".join(tokens[i + 1 : i + 3])
    if _LIKE_YOU.match(after):
        return "second person"  # "scum like you", "stupid, that's you"
    if tokens[i] in INSULT_NOUNS:
        rest = [t for t in tokens if t not in _INTENSIFIERS]
        if len(rest) <= 2:
            return "alone"  # "Moron.", "Absolute moron."
        if i <= 3 and all(t in _INTENSIFIERS for t in before):
            # Opening a message ("Moron, that's not how...", "Such a bloody idiot, honestly"):
            # a vocative, unless followed by a noun it qualifies.
            return "vocative" if i + 1 == len(tokens) or tokens[i + 1] not in _NOUN_AFTER else None
        if i == len(tokens) - 1 and len(tokens) >= 2:
            return "vocative"  # "Shut it, dimwit."
    return None


#: Words after an insulting noun that make it an ordinary noun ("pig farm", "rat trap").
_NOUN_AFTER = _words("farm farms trap traps pen pens feed escaped is was to of")


def offensive(t: Text) -> Finding | None:
    """Profanity, insults aimed at someone, abusive phrases: score and the words found."""
    best = 0.0
    words: list[str] = []
    how = None
    toks = t.tokens
    for i, tok in enumerate(toks):
        if tok in PROFANITY:
            best = max(best, 0.95)
            words.append(tok)
            how = how or "profanity"
        elif tok in INSULT_NOUNS or tok in INSULT_ADJECTIVES:
            aim = _aimed(toks, i)
            if aim is not None:
                best = max(best, 0.9)
                words.append(tok)
                how = aim
            else:
                best = max(best, 0.3)
        elif tok in MILD:
            aim = "second person" if any(x in _YOU for x in toks[max(0, i - 3) : i + 5]) else None
            best = max(best, 0.75 if aim else 0.3)
            if aim:
                words.append(tok)
                how = how or aim
    m = _ABUSE.search(t.joined) if best < 0.9 else None
    if m:
        best = max(best, 0.85)
        words.append(m.group(0))
        how = how or "abusive phrase"
    if best <= 0.0:
        return None
    ev: dict[str, Any] = {"words": words} if words else {"hint": "insult or swear word not aimed at anyone"}
    if how:
        ev["how"] = how
    if t.unmasked:
        ev["deobfuscated"] = t.unmasked
    return Finding(best, ev)


# -- threats ------------------------------------------------------------------------------------

_HARM = (
    r"hurt|harm|kill|murder|stab|shoot|beat|punch|smash|break|cut|slit|strangle|choke|drown|poison"
    r"|burn|bury|finish|end|destroy|wring|snap|kick|knock|crush|hunt|drag|slap|bash|torch|wreck|maim"
)
# intent, then within a few words a harm verb, then within a few words a second-person target.
_THREAT = re.compile(
    r"\b(?P<intent>i will|i'll|ill|i'm going to|im going to|i am going to|i'm gonna|im gonna|gonna|imma"
    r"|we will|we'll|we are going to|we're going to|i could|i would|i'd|i shall|i swear|make me|i)"
    r"(?: \w+(?:'\w+)?){0,3} (?P<harm>(?:" + _HARM + r")(?:s|es|ed|ing)?)"
    r"(?: \w+(?:'\w+)?){0,2}? (?P<target>you|your|yours|ya|u|ur|yourself)\b"
)
_BEAT_YOU_TO = re.compile(r"\bbeat (?:you|ya|u) (?:to|at|in)\b")
_NEGATED = re.compile(r"\b(?:won't|wouldn't|will not|never|don't|do not|didn't|not|can't)(?: \w+)? $")
_VEILED = re.compile(
    r"\b(?:i|we) know where (?:you|your \w+) (?:live|lives|sleep|sleeps|stay|stays)"
    r"|\bwatch (?:your back|yourself|my back)|\bsleep (?:lightly|with one eye open)"
    r"|\bshame if (?:something|anything|your)|\bif something happened to"
    r"|\byou(?:'ll| will) (?:regret|be sorry|pay for)|\bmake (?:sure )?you (?:bleed|suffer|pay|regret|sorry)"
    r"|\byou won't (?:live|wake|walk|see)|\bwon't wake up|\bnever walk again"
    r"|\byou(?:'re| are) (?:dead(?! (?:tired|serious|right|wrong|on|set|sure|certain))|done for)|\bcoming for you|\bend up in the (?:river|ground|pond)"
    r"|\byou(?:'ll| will) be (?:buried|dead|hurt)|\bwhile you still (?:have|can)|\bin pieces"
    r"|\bhappen to you|\bone way or another|\bcatch you alone|\bor else\b"
    r"|\byour \w+(?: \w+)? (?:might|could|would|will|may|goes|go) (?:catch fire|burn|go up in flames|up in flames"
    r"|have an accident|get hurt|disappear)|\bhad an accident|\bhave an accident"
    r"|\b(?:leave|get out of) (?:town|the market|the village)(?: \w+){0,3} or\b"
)
# Context that makes a veiled phrase friendly ("I know where you live, I delivered your wood").
_FRIENDLY = re.compile(
    r"\b(?:remember|haha|lol|joking|kidding|dinner|next door|neighbour|neighbor|delivered|visit"
    r"|come over|welcome|thanks|thank you)\b"
)


def threat(t: Text) -> Finding | None:
    """Intent + harm + a second-person target, or a veiled threat: score and the phrase."""
    s = t.joined
    best: Finding | None = None
    for m in _THREAT.finditer(s):
        head = s[: m.start("harm")]
        if _NEGATED.search(head) or _BEAT_YOU_TO.search(s, m.start("harm")):
            continue
        best = Finding(
            0.9,
            {"intent": m.group("intent"), "harm": m.group("harm"), "target": m.group("target")},
        )
        break
    if best is None:
        v = _VEILED.search(s)
        if v:
            score = 0.8
            friendly = _FRIENDLY.search(s)
            ev: dict[str, Any] = {"veiled": v.group(0)}
            if friendly:
                score = 0.5  # borderline: the llm rule may judge it
                ev["friendly_context"] = friendly.group(0)
            best = Finding(score, ev)
    return best


# -- scams --------------------------------------------------------------------------------------

_GOODS = r"any amount|coins?|\d+ (?:\w+ )?coins?|bread|wheat|wood|tools|harvest|savings|money|everything|it all|them|gold|loaves"
_CREDENTIALS = re.compile(
    r"\b(?:password|passcode|pin|login|login code|secret word|security (?:pin|code|word)|account details"
    r"|verify your account|verification code)\b"
)
_CREDENTIAL_WORDS = _words("password passcode pin login secret security account verify verification")
_REQUEST_VERBS = _words("send sending give giving pay paying transfer wire hand lend loan deposit invest owe")
_ASK_CREDENTIALS = re.compile(r"\b(?:tell|give|send|confirm|share|need|telling|sending|type)\b")
_REQUEST = re.compile(
    r"\b(?:send|sending|give|giving|pay|paying|transfer|wire|hand(?: over)?|lend|loan|deposit|invest"
    r")(?: me| it| them| us)?(?: \w+){0,4}? (?:" + _GOODS + r")\b"
    r"|\b(?:send|give|transfer|wire|hand|lend|loan|pay)(?: \w+){0,3} to me\b"
    r"|\b(?:pay|send) (?:a|the|your|my)(?: \w+){0,3} fee\b|\byou owe \d+\b|\bpay (?:now|up|me now)\b|\bpay(?: me)? (?:upfront|in advance|first)\b"
    r"|\binvest (?:in|with)\b"
)
_LURES: dict[str, re.Pattern[str]] = {
    "promise": re.compile(
        r"\b(?:double|doubled|triple|tripled|twice|ten times|x\d+|\d+ back|back \d+|i'll return \d+|return \d+"
        r"|guaranteed|no risk|risk free|i promise|promise|you have my word|trust me|make you rich|profits?"
        r"|will grow|get rich|returns|pay later|share of)\b"
    ),
    "urgency": re.compile(
        r"\b(?:urgent|urgently|now|today|quick|quickly|hurry|act fast|before (?:noon|sunset|tonight|dark)"
        r"|expires?|final notice|only today|ends tonight|or lose|last chance|immediately|one tick)\b"
    ),
    "secrecy": re.compile(
        r"\b(?:don't tell|do not tell|keep (?:it|this) (?:quiet|secret|between us)|between us|secret"
        r"|nobody else|keep it quiet)\b"
    ),
    "authority": re.compile(
        r"\b(?:i'm|i am) (?:the|a|from)(?: \w+)? (?:town|market|mayor|treasurer|treasury|inspector|official"
        r"|guild|bank|moderators?|moderation|clerk|tax|council)|\bas the (?:guild master|mayor|official|treasurer)"
        r"|\bthe mayor sent me|\bofficial (?:warning|notice)|\b(?:every resident|everyone) must"
        r"|\b(?:registration|processing|handling|release|stall|membership) fee|\bback taxes"
        r"|\bcollecting for|\bguild requires|\bor your (?:account|stall|coins)|\bavoid a ban|\bseized"
        r"|\baccount (?:is|will be) (?:locked|closed|frozen)"
    ),
    "prize": re.compile(
        r"\b(?:you(?:'ve| have)? won|winner|prize|inheritance|lottery|lucky draw|claim|reward|treasure"
        r"|membership|free \w+ forever|magic)\b"
    ),
    "fee": re.compile(r"\b(?:fee|fees|upfront|deposit|first)\b"),
    "safekeeping": re.compile(
        r"\b(?:safekeeping|keep (?:them|it) safe|protect them|robbers|thieves|the crash|failing)\b"
    ),
}
# Talking about scams (a warning, a report of someone else's request), not running one.
_WARNING = re.compile(
    r"\b(?:beware|watch out|don't fall for|do not fall for|sounds like a scam|is this a scam|someone (?:asked|told)"
    r"|scammers?|be careful)\b"
)


# A speaker offering to give or pay ("I can give back 10 coins", "we'll pay 5 coin") asks nobody
# for anything: the request verbs count only when the listener is the one asked.
_OFFERER = re.compile(
    r"\b(?:i|we|i'll|we'll|i will|we will|i can|we can|i could|let me|i'd|i would|happy to)\s+$"
)


def _asked(s: str) -> re.Match[str] | None:
    """The first request of the listener in ``s``, skipping the speaker's own offers."""
    for m in _REQUEST.finditer(s):
        if not _OFFERER.search(s[max(0, m.start() - 16) : m.start()]):
            return m
    return None


def scam(t: Text) -> Finding | None:
    """A request for coins, goods or credentials plus a lure: score, the request and the lures."""
    v = t.vocab
    if v.isdisjoint(_CREDENTIAL_WORDS) and v.isdisjoint(_REQUEST_VERBS):
        return None  # nobody is asked for anything: the regexes need not run
    s = t.joined
    cred = _CREDENTIALS.search(s)
    if cred and _ASK_CREDENTIALS.search(s):
        return Finding(0.95, {"request": "credentials", "asked": cred.group(0)})
    req = _asked(s) if not v.isdisjoint(_REQUEST_VERBS) else None
    if req is None:
        return None  # a lure alone ("guaranteed fresh fish", "hurry") asks nobody for anything
    lures = {name: m.group(0) for name, pat in _LURES.items() if (m := pat.search(s))}
    if not lures:
        return Finding(0.2, {"request": req.group(0)})
    score = min(0.95, 0.7 + 0.1 * (len(lures) - 1))
    ev: dict[str, Any] = {"request": req.group(0), "lures": lures}
    w = _WARNING.search(s)
    if w:
        score -= 0.5
        ev["warning"] = w.group(0)
    return Finding(round(score, 2), ev)


# -- spam ----------------------------------------------------------------------------------------

_LINK = re.compile(
    r"https?://|\bwww\.|\b[a-z0-9][a-z0-9-]*\.(?:com|net|org|biz|shop|store|io|co|gg|ly|info|xyz|example|me|app)"
    r"\b(?:/\S*)?|\b\w+ dot (?:com|net|org|biz|shop|store|io|co)\b"
)
_CONTACT = re.compile(
    r"\b(?:dm|pm|inbox|whisper|text)(?: me)? (?:for|me|now)\b|\b(?:dm|pm) me\b|\bsend me a dm\b"
    r"|\bmessage me (?:privately|for|now)|\bhit me up\b|\bcontact me (?:privately|on the side|for)"
    r"|\blink in (?:my )?(?:bio|profile)|\bclick (?:here|the link|now)|\bsubscribe\b|\bfollow (?:me|my)\b"
    r"|\blike and share\b|\bsign up\b|\bin private for\b|\bdm for\b"
)
_CONTACT_WORDS = _words(
    "dm pm inbox whisper text message hit contact link click subscribe follow like sign private"
)
_HYPE_WORDS = _words(
    "free earn get limited act don't best lowest cheapest win buy everything exclusive discount"
    " discounts wholesale bulk huge special sale"
)
_COMMERCE = _words(
    "buy sell selling sale cheap free deal deals price prices discount offer win cash coins best"
)
_HYPE = re.compile(
    r"\b(?:free coins|earn coins|get rich|limited (?:time |slots|offer)|act now|don't miss|best (?:prices?|deals?|rates?)"
    r"|lowest prices?|cheapest|win big|buy \d+ get \d+|everything must go|exclusive deals?|discount codes?"
    r"|wholesale|bulk|huge sale|special deal|sale)\b"
)
_STOPWORDS = _words("the and you for are was with that this have your not but all")
_NO_UPPER = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NO_LOWER = str.maketrans("", "", "abcdefghijklmnopqrstuvwxyz")
_PUNCT_RUN = re.compile(r"[!?$]{4,}|(?:[!?$]{3}.*){2,}")


def spam(t: Text) -> Finding | None:
    """Links, contact solicitation, floods and repetition; hype adds to another signal."""
    raw = t.raw
    signals: dict[str, Any] = {}
    if ("." in raw or " dot " in t.clean) and (m := _LINK.search(raw.lower())):
        signals["link"] = m.group(0)
    if not t.vocab.isdisjoint(_CONTACT_WORDS) and (m := _CONTACT.search(t.joined)):
        signals["contact"] = m.group(0)
    upper = len(raw) - len(raw.translate(_NO_UPPER))
    if upper >= 12:
        letters = upper + len(raw) - len(raw.translate(_NO_LOWER))
        if upper >= 0.7 * letters and len(raw.split()) >= 3:
            signals["caps"] = round(upper / letters, 2)
    if m := _PUNCT_RUN.search(raw):
        signals["punctuation"] = m.group(0)[:12]
    toks = t.tokens
    if len(toks) >= 3 and len(set(toks)) <= len(toks) - 2:
        counts: dict[str, int] = {}
        for tok in toks:
            if len(tok) >= 3 and tok not in _STOPWORDS:
                counts[tok] = counts.get(tok, 0) + 1
        if counts:
            word, n = max(counts.items(), key=lambda kv: kv[1])
            if n >= 3 and n >= 0.25 * len(toks):
                signals["repeated"] = {"word": word, "times": n}
    hype = _HYPE.search(t.joined) if not t.vocab.isdisjoint(_HYPE_WORDS) else None
    if not signals:
        return Finding(0.3, {"hype": hype.group(0)}) if hype else None
    score = 0.9 if ("link" in signals or "contact" in signals) else 0.75
    if hype:
        signals["hype"] = hype.group(0)
        score = max(score, 0.9)
    if len(signals) >= 2:
        score = max(score, 0.9)
    elif "caps" in signals or "repeated" in signals:
        # Shouting or a word said over and over alone is not spam: a garbled line of the model can be
        # all capitals, people stammer ("please, please, please") and a small model loops ("no
        # worries... no worries..."). Shouting or repeating about buying and selling is.
        selling = sorted(t.vocab & _COMMERCE)
        if selling:
            signals["selling"] = selling[:3]
        score = 0.85 if selling else 0.6
    return Finding(score, signals)


# -- near-duplicates across senders --------------------------------------------------------------

#: Candidates looked at per band: the most recent ones (bounded work per message).
_BAND_CANDIDATES = 8
_SKETCH = 3


def _band_keys(words: frozenset[str]) -> tuple[int, ...]:
    """Pairs of the three smallest CRC-32s of the message's content words (a bottom-k sketch; CRC
    is the same in every process, unlike ``hash``): two messages sharing most words share a pair."""
    content = [w for w in words if len(w) >= 3 and w not in _STOPWORDS] or list(words)
    low = sorted(zlib.crc32(w.encode()) for w in content)[:_SKETCH]
    if len(low) < _SKETCH:
        return (low[0] << 32,) if low else ()
    a, b, c = low
    # Pairs: a candidate must share two of the three (rare-ish, shared words alone say little).
    return ((a << 32) | b, (a << 32) | c, (b << 32) | c)


class NearDuplicates:
    """Recent messages indexed by a bottom-k sketch, to find the same text from other senders.

    Candidates share two of the three smallest hashes of their content words with the message;
    a candidate counts when its Jaccard similarity over all words is at least ``similarity``. At
    most the 8 most recent candidates per key are compared (bounded work per message), and
    memory is bounded by the window: entries older than ``window`` ticks go.
    """

    def __init__(self, window: int, similarity: float = 0.6, min_words: int = 6) -> None:
        self.window = window
        self.similarity = similarity
        self.min_words = min_words
        self.recent: deque[tuple[int, Any, frozenset[str], tuple[int, ...]]] = deque()
        self.bands: dict[tuple[int, int], list[int]] = {}  # (band, min-hash) -> serials in ``recent``
        self._first = 0  # serial of recent[0]

    def _expire(self, tick: int) -> None:
        while self.recent and self.recent[0][0] <= tick - self.window:
            _, _, _, keys = self.recent.popleft()
            for b, k in enumerate(keys):
                lst = self.bands.get((b, k))
                if lst and lst[0] == self._first:
                    lst.pop(0)
                    if not lst:
                        del self.bands[(b, k)]
            self._first += 1

    def add(self, sender: Any, tick: int, tokens: list[str]) -> Finding | None:
        """Record a message; return a finding naming the other senders of near-duplicates."""
        self._expire(tick)
        words = frozenset(tokens)
        if len(tokens) < self.min_words or len(words) < 3:
            return None
        keys = _band_keys(words)
        seen: set[int] = set()
        others: set[Any] = set()
        best = 0.0
        for b, k in enumerate(keys):
            for serial in self.bands.get((b, k), ())[-_BAND_CANDIDATES:]:
                if serial in seen:
                    continue
                seen.add(serial)
                _, who, other, _ = self.recent[serial - self._first]
                if who == sender:
                    continue
                j = len(words & other) / len(words | other)
                if j >= self.similarity:
                    others.add(who)
                    best = max(best, j)
        serial = self._first + len(self.recent)
        self.recent.append((tick, sender, words, keys))
        for b, k in enumerate(keys):
            self.bands.setdefault((b, k), []).append(serial)
        if not others:
            return None
        return Finding(round(best, 2), {"senders": len(others) + 1, "similarity": round(best, 2)})

    def get_state(self) -> list[list[Any]]:
        """JSON-safe: the window's messages (tick, sender, sorted words)."""
        return [[t, s, sorted(w)] for t, s, w, _ in self.recent]

    def set_state(self, rows: list[list[Any]]) -> None:
        """Rebuild the index from :meth:`get_state`'s rows."""
        self.recent.clear()
        self.bands.clear()
        self._first = 0
        for t, s, w in rows:
            words = frozenset(w)
            keys = _band_keys(words)
            serial = len(self.recent)
            self.recent.append((t, s, words, keys))
            for b, k in enumerate(keys):
                self.bands.setdefault((b, k), []).append(serial)
