"""bench sim's LLM parts on a scripted model (the real pool is the bench itself): the scaling
runs, the talking window carried on from the largest, and what each keeps."""

from __future__ import annotations

from agents_fakes import ScriptedLanguageModel

from sim.bench.sim import llm_scaling, llm_talking


class Recorded(ScriptedLanguageModel):
    def telemetry(self) -> dict:
        return {}


def test_the_talking_window_carries_the_largest_town_on_and_keeps_the_early_requests_apart() -> None:
    lm = Recorded(prefer=("talk", "gather"), lines=("Fresh bread here.", "Goodbye!"))
    runs = llm_scaling(lm, (4, 8), ticks=1)
    assert set(runs) == {4, 8} and runs[8]["avatar_ticks"] == 8
    early = list(runs[8]["chooses"])
    talking = llm_talking(runs[8], from_tick=4, ticks=2)
    assert runs[8]["model"].steps == 6  # carried on to tick 4, then 2 timed ticks
    assert talking["avatar_ticks"] == 16 and talking["ticks"] == 2 and talking["tick_s"] > 0
    assert runs[8]["chooses"] == early  # the early window's sample is not the talking one's
    assert all(int(r.request_id.split(":")[0]) >= 4 for r in talking["chooses"])
    # One line is one first sample; the others are its "#k" twins.
    assert talking["lines"] == sum(1 for r in talking["generates"] if "#" not in r.request_id)
