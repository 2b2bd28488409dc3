"""The compare page on a fork made the real way: ``mesaverse run`` then ``mesaverse fork``, in a real
Streamlit server and headless Chromium (helpers and the ``dashboard`` fixture from
test_dashboard_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_dashboard_browser import ROOT, _assert_no_exception, _open, _screenshots, _show, dashboard, wait_for

__all__ = ["dashboard"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_compare_shows_a_fork_made_by_the_cli_beside_its_parent(
    dashboard: tuple[Path, str], tmp_path: Path
) -> None:
    """The real path: ``mesaverse run`` a rule-only scenario, ``mesaverse fork`` it with an events
    file, and the compare page finds the parent, the fork tick and where they part."""
    from sim.cli import invoke

    runs, url = dashboard
    assert invoke(["run", str(ROOT / "configs/commons.yaml"), "--ticks", "12", "--out", str(runs)]) == 0
    (parent,) = [p for p in runs.iterdir() if p.is_dir()]
    events = tmp_path / "events.yaml"
    events.write_text(
        "- {tick: 6, type: announcement, text: The lake is closed for repairs.}\n"
        "- {tick: 6, type: item_drop, item: fish, qty: 5, to: all}\n",
        encoding="utf-8",
    )
    assert invoke(["fork", str(parent), "--at-tick", "5", "--events", str(events), "--out", str(runs)]) == 0
    pw, browser, page = _open(url)
    try:
        page.get_by_role("heading", name="Overview").wait_for(timeout=30_000)
        wait_for(
            lambda: "The lake is closed for repairs." in page.inner_text("body"),
            60,
            "the fork's interventions",
        )
        _show(page, "Compare runs")
        wait_for(lambda: "first differ at tick" in page.inner_text("body"), 60, "the divergence in words")
        # Streamlit sends the page element by element: the metrics may land after the words.
        wait_for(lambda: "Fork tick" in page.inner_text('[data-testid="stMain"]'), 60, "the fork's metrics")
        main = page.inner_text('[data-testid="stMain"]')
        picked = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"] input').first
        assert picked.input_value().startswith(f"parent: {parent.name}")
        assert re.search(r"Fork tick\s+5", main), main
        # The fork shares ticks 0..5 with its parent: they part at tick 6, where the events apply.
        assert re.search(r"First difference\s+tick 6", main), main
        _assert_no_exception(page)
        _screenshots(page, "cli-fork")
    finally:
        browser.close()
        pw.stop()
