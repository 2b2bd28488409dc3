"""Golden event logs of the seeded rule-only scenarios: a refactor must keep them byte-identical.

Each scenario in ``configs/`` runs rule-only (``population.llm_share=0``) for 30 ticks with seed 1;
the digest covers every event (tick, kind, actor, target, place, text, data) and every ledger entry.
A change that is meant to alter behaviour (a bug fix) regenerates them, in that commit only:

    .venv/bin/python tests/unit/golden_logs.py --update
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_FILE = ROOT / "tests" / "data" / "golden_logs.json"
SEED = 1
TICKS = 30
#: Rule-only overrides per scenario; metropolis is cut to 1,000 avatars to keep the suite fast.
OVERRIDES: dict[str, tuple[str, ...]] = {
    "boltzmann": (),
    "commons": ("population.llm_share=0",),
    "guild": ("population.llm_share=0",),
    "market": ("population.llm_share=0",),
    "metropolis": ("population.llm_share=0", "population.count=1000"),
    "moderation": ("population.llm_share=0",),
    "town": ("population.llm_share=0",),
}


def digest(scenario: str) -> str:
    """SHA-256 over the events and ledger entries of the scenario's golden run."""
    from sim.model import MetaverseModel

    model = MetaverseModel(
        ROOT / "configs" / f"{scenario}.yaml", overrides=OVERRIDES[scenario], ticks=TICKS, seed=SEED
    )
    h = hashlib.sha256()
    while model.running:
        model.step()
        for e in model.last_events:
            row = [e.tick, e.kind, e.actor, e.target, e.place, e.text, e.data]
            h.update(json.dumps(row, sort_keys=True, default=str).encode())
            h.update(b"\n")
        # The model drains the ledger into the store; without a store, read it here.
        for entry in model.last_ledger:
            h.update(json.dumps(entry, sort_keys=True).encode())
            h.update(b"\n")
    return h.hexdigest()


def main(argv: list[str]) -> int:
    if argv[1:] != ["--update"]:
        print("usage: python tests/unit/golden_logs.py --update", file=sys.stderr)
        return 2
    out = {name: digest(name) for name in OVERRIDES}
    GOLDEN_FILE.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
