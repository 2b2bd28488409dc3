"""The dashboard in a real browser (headless Chromium via Playwright) while a run is being written.

Two sources of a live run:
- the real ``mesaverse run`` (when ``sim/runner.py`` exists), on ``configs/town.yaml`` if present,
  else ``configs/boltzmann.yaml``: the page must follow the run's ticks without a reload, and show
  new dialogue lines if the scenario speaks;
- ``tests/e2e/live_writer.py``, a writer on a timer, whose avatars speak every tick: new dialogue
  lines must appear without a reload.

Both check that no Streamlit exception is on the page and save a screenshot of every panel under
``$MESAVERSE_ARTIFACTS/dashboard/<source>/`` (``test-artifacts/dashboard/<source>/`` by default). The
overview, which opens first, must show new dialogue lines live too. A parent run and its fork (made
with the store, as ``mesaverse fork`` would) are shown side by side on the compare page. In CI (``CI=true``) a missing browser is a failure; elsewhere
the test is skipped with a message saying how to get one.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sim.errors import UserError
from sim.store import connect_readonly

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("MESAVERSE_ARTIFACTS", ROOT / "test-artifacts")) / "dashboard"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A text each panel shows once drawn, to know when to take its screenshot.
PANEL_MARKERS = {
    "Overview": "Latest dialogue",
    "World map": "Avatars",
    "Dialogue": "newest messages shown",
    "Economy": "Gini",
    "Social graph": "Ties",
    "Moderation": "Decisions",
    "Projects": "Completed",
    "LLM serving": "LLM",
    "Avatar inspector": "Persona",
    "Compare runs": "compare with",  # the picker's label, or the message when there is no other run
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _browser_or_skip() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed: pip install -e '.[dev]'"
    else:
        reason = (
            ""
            if CHROMIUM.exists()
            else "no /usr/bin/chromium: apt-get install chromium chromium-driver (or make setup)"
        )
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test must run in CI: {reason}")
        pytest.skip(reason)


def wait_for(condition: Callable[[], object], timeout: float, what: str, every: float = 0.25) -> object:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)  # polling interval of a condition, not a fixed wait


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    # Own session: stopping the dashboard also stops the streamlit child it starts.
    out = log.open("wb")
    return subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _last_tick(runs: Path) -> int | None:
    """The newest run's last committed tick, or None while there is none."""
    for db in runs.glob("*/events.db"):
        try:
            conn = connect_readonly(db)
        except UserError:
            return None
        try:
            return conn.execute("SELECT last_tick FROM runs").fetchone()[0]
        finally:
            conn.close()
    return None


def _says(runs: Path) -> int:
    for db in runs.glob("*/events.db"):
        conn = connect_readonly(db)
        try:
            return conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'say'").fetchone()[0]
        finally:
            conn.close()
    return 0


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A runs folder and the URL of ``mesaverse dashboard`` serving it (started by the test)."""
    _browser_or_skip()
    runs = tmp_path / "runs"
    runs.mkdir()
    port = _free_port()
    proc = _start(
        [
            sys.executable,
            "-c",
            "from sim.cli import main; main()",
            "dashboard",
            "--runs",
            str(runs),
            "--port",
            str(port),
        ],
        tmp_path / "dashboard.log",
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            assert proc.poll() is None, (tmp_path / "dashboard.log").read_text()
            return False

    try:
        wait_for(healthy, 90, "the dashboard server")
        yield runs, url
    finally:
        _stop(proc)


def _open(url: str):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # JavaScript errors (a chart Vega-Lite cannot draw, say) do not show as Streamlit exceptions.
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector('[data-testid="stSidebar"]', timeout=60_000)
    # A reload would wipe this: checking it at the end proves updates came without one.
    page.evaluate("window.__mesaverse_marker = 42")
    return pw, browser, page


def _show(page, panel: str) -> None:
    page.locator('[data-testid="stSidebar"] label').filter(
        has_text=re.compile(f"^{re.escape(panel)}$")
    ).click()
    page.get_by_role("heading", name=panel).wait_for(timeout=30_000)
    page.get_by_text(PANEL_MARKERS[panel]).first.wait_for(timeout=30_000)
    # Until the rerun ends, the previous panel's elements linger, marked stale: wait them out.
    page.wait_for_function(
        'document.querySelectorAll(\'[data-testid="stMain"] [data-stale="true"]\').length === 0',
        timeout=30_000,
    )


def _assert_no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]
    assert "Traceback" not in page.inner_text("body")
    assert page.js_errors == []


def _screenshots(page, source: str) -> None:
    folder = ARTIFACTS / source
    folder.mkdir(parents=True, exist_ok=True)
    for panel in PANEL_MARKERS:
        _show(page, panel)
        _assert_no_exception(page)
        page.screenshot(path=str(folder / f"{panel.lower().replace(' ', '_')}.png"), full_page=True)


def _feed_lines(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator('[data-testid="stMain"] [data-testid="stHtml"] li').all_inner_texts()


def _shown_tick(page) -> int | None:
    match = re.search(r"live at tick (\d+)", page.inner_text('[data-testid="stMain"]'))
    return int(match.group(1)) if match else None


def _check_dialogue_grows(page, panel: str = "Dialogue") -> None:
    _show(page, panel)
    before = set(wait_for(lambda: _feed_lines(page), 60, "the first dialogue lines"))
    new = wait_for(
        lambda: [line for line in _feed_lines(page) if line not in before], 60, "new dialogue lines"
    )
    assert new, "no new dialogue line appeared"


def test_dialogue_appears_live_with_the_writer_helper(dashboard: tuple[Path, str], tmp_path: Path) -> None:
    runs, url = dashboard
    writer = _start(
        [
            sys.executable,
            str(ROOT / "tests" / "e2e" / "live_writer.py"),
            str(runs),
            "--ticks",
            "400",
            "--interval",
            "0.5",
        ],
        tmp_path / "writer.log",
    )
    try:
        wait_for(lambda: (_last_tick(runs) or 0) >= 2, 60, "the writer's first ticks")
        pw, browser, page = _open(url)
        try:
            # The overview opens first, and its dialogue follows the run without a reload.
            page.get_by_role("heading", name="Overview").wait_for(timeout=30_000)
            _check_dialogue_grows(page, "Overview")
            _check_dialogue_grows(page)
            first = page.locator('[data-testid="stMain"] [data-testid="stHtml"] li').first.inner_text()
            assert re.search(r"t\d+ .+ → .+ @ .+: line \d+\.\d", first) or "rule insult" in first, first
            _assert_no_exception(page)
            _screenshots(page, "writer-helper")
            assert page.evaluate("window.__mesaverse_marker") == 42  # never reloaded
        finally:
            browser.close()
            pw.stop()
    finally:
        _stop(writer)


def test_follows_a_real_mesaverse_run_live(dashboard: tuple[Path, str], tmp_path: Path) -> None:
    if not (ROOT / "sim" / "runner.py").exists():
        pytest.skip("sim/runner.py not there yet: the writer-helper test covers live mode")
    runs, url = dashboard
    config = next(
        (
            ROOT / "configs" / name
            for name in ("town.yaml", "boltzmann.yaml")
            if (ROOT / "configs" / name).exists()
        ),
        None,
    )
    if config is None:
        pytest.skip("no scenario in configs/ to run")
    run = _start(
        [
            sys.executable,
            "-c",
            "from sim.cli import main; main()",
            "run",
            str(config),
            "--ticks",
            "100000",
            "--out",
            str(runs),
        ],
        tmp_path / "run.log",
    )
    try:
        wait_for(lambda: _last_tick(runs) is not None, 240, f"the first tick of {config.name}")
        pw, browser, page = _open(url)
        try:
            _show(page, "World map")
            # Tick 0 is a tick: wait for the caption, not for a truthy tick number.
            wait_for(lambda: _shown_tick(page) is not None, 60, "the live tick caption")
            first_tick = _shown_tick(page)
            assert first_tick is not None
            wait_for(lambda: (_shown_tick(page) or 0) > first_tick, 120, "the live tick to advance")
            if config.name == "town.yaml":  # LLM avatars: their generated speech must show up live
                wait_for(lambda: _says(runs) > 0, 240, "the first LLM say events")
                _check_dialogue_grows(page)
            _assert_no_exception(page)
            _screenshots(page, f"real-run-{config.stem}")
            assert page.evaluate("window.__mesaverse_marker") == 42  # never reloaded
        finally:
            browser.close()
            pw.stop()
    finally:
        _stop(run)
        assert run.returncode is not None


def _make_parent_and_fork(runs: Path) -> tuple[Path, Path]:
    """The fixture run of tests/unit/dashboard_run.py and its fork from tick 2 (an intervention at 3).

    Made with the store directly; ``mesaverse fork PARENT --at-tick 2 --events FILE.yaml`` can build the
    fork instead once it is on this branch.
    """
    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    from dashboard_run import make_fork, make_run

    parent = make_run(runs, "parent")
    return parent, make_fork(runs, parent, "what-if", fork_tick=2)


def test_compare_shows_a_fork_beside_its_parent(dashboard: tuple[Path, str]) -> None:
    runs, url = dashboard
    _make_parent_and_fork(runs)
    pw, browser, page = _open(url)
    try:
        # The fork is the newest run, so it opens first, on the overview, with its interventions.
        page.get_by_role("heading", name="Overview").wait_for(timeout=30_000)
        wait_for(lambda: "Bread doubles in price" in page.inner_text("body"), 60, "the fork's interventions")
        assert "fork of parent at tick 2" in page.inner_text('[data-testid="stMain"]')
        # The map is drawn on a canvas (cheap at 1,000 avatars).
        wait_for(
            lambda: (
                page.locator('[data-testid="stMain"] [data-testid="stVegaLiteChart"] canvas').count() >= 1
            ),
            60,
            "the overview map",
        )
        _show(page, "Compare runs")
        words = "They first differ at tick 3: metric gini is 0.45 in A and 0.25 in B."
        wait_for(lambda: words in page.inner_text("body"), 60, "the divergence in words")
        main = page.inner_text('[data-testid="stMain"]')
        picked = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"] input').first
        assert picked.input_value() == "parent: parent - finished - tick 4"  # the parent preselected
        assert re.search(r"Fork tick\s+2", main) and re.search(r"First difference\s+tick 3", main), main
        # One chart per preselected metric, each with both runs' lines (a legend entry per run).
        charts = page.locator('[data-testid="stMain"] [data-testid="stVegaLiteChart"]')
        wait_for(lambda: charts.count() >= 5, 60, "the compare charts")
        legend = charts.first.inner_text() or charts.first.locator("svg").inner_html()
        assert "A · what-if" in legend and "B · parent" in legend
        _assert_no_exception(page)
        _screenshots(page, "fork")
    finally:
        browser.close()
        pw.stop()


# -- run text is text -------------------------------------------------------------------------------


class _Canary:
    """A local HTTP server that records every request: rendered run text must never make one."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.requests: list[str] = []
        canary = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canary.requests.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _hostile_run(runs: Path, port: int) -> dict[str, str]:
    """A finished run whose id, scenario, names, places, memories and dialogue are Markdown and HTML."""
    from sim.store import EventStore

    url = f"http://127.0.0.1:{port}"
    texts = {
        "run_id": f"![run]({url}/run-id.png)",
        "scenario": f"<img src={url}/scenario.png>",
        "name0": f"![ada]({url}/name.png)",
        "name1": "<b>Bo</b> :material/home:",
        "place": f"[plaza]({url}/place)",
        "say": f"see {url}/link **bold** <img src={url}/say.png> :material/star: $x^2$",
        "memory": f"![mem]({url}/memory.png) <script>fetch('{url}/script')</script>",
        "fork_id": f"[fork]({url}/fork-id)",
        "announce": f"**Free bread** at {url}/announce ![a]({url}/announce.png)",
        "kind": f"<i>shock</i> :material/bolt: {url}/kind",
        "question": f"What is <img src={url}/question.png>?",
        "answer": f"It is ![ans]({url}/answer.png) and $y$ <a href={url}/a>here</a>",
    }
    folder = runs / "hostile"
    store = EventStore.create(
        folder / "events.db", run_id=texts["run_id"], scenario=texts["scenario"], seed=1, config={}
    )
    store.register_agents(
        [(0, texts["name0"], "random_give", {"role": "x"}), (1, texts["name1"], "random_give", {"role": "y"})]
    )
    for t in range(3):
        store.write_tick(
            t,
            [
                ("say", 0, 1, texts["place"], texts["say"], {}),
                ("say", 1, 0, texts["place"], texts["say"], {}),
            ],
            {"gini": 0.1},
            [
                (0, texts["place"], 1, 1, 10, {"memories": [texts["memory"]]}),
                (1, texts["place"], 2, 2, 20, {"memories": [texts["memory"]]}),
            ],
        )
    store.set_status("finished")
    store.close()
    _hostile_fork(runs, folder, texts)
    return texts


def _hostile_fork(runs: Path, parent: Path, texts: dict[str, str]) -> None:
    """A fork of the hostile run whose intervention, lineage and interviews are Markdown and HTML too."""
    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    from dashboard_run import add_interviews, mark_fork

    from sim.store import EventStore

    db = runs / "hostile-fork" / "events.db"
    store = EventStore.create(db, run_id=texts["fork_id"], scenario=texts["scenario"], seed=1, config={})
    store.register_agents(
        [(0, texts["name0"], "random_give", {"role": "x"}), (1, texts["name1"], "random_give", {"role": "y"})]
    )
    for t in range(3):
        events = [
            ("say", 0, 1, texts["place"], texts["say"], {}),
            ("say", 1, 0, texts["place"], texts["say"], {}),
        ]
        if t == 2:
            events.insert(
                0,
                (
                    "intervention",
                    None,
                    None,
                    None,
                    texts["announce"],
                    {"type": texts["kind"], "status": "applied"},
                ),
            )
        store.write_tick(
            t,
            events,
            {"gini": 0.1 if t < 2 else 0.5},
            [
                (0, texts["place"], 1, 1, 10, {"memories": [texts["memory"]]}),
                (1, texts["place"], 2, 2, 20, {"memories": [texts["memory"]]}),
            ],
        )
    store.set_status("finished")
    store.close()
    mark_fork(db, parent_run_id=texts["run_id"], parent_dir=str(parent), fork_tick=1)
    add_interviews(db, [(2, 0, texts["question"], texts["answer"], texts["kind"])])


def test_markdown_and_html_from_a_run_show_as_text_and_fetch_nothing(dashboard: tuple[Path, str]) -> None:
    runs, url = dashboard
    canary = _Canary()
    try:
        texts = _hostile_run(runs, canary.port)
        pw, browser, page = _open(url)
        try:
            # The fork is newest: its overview opens first (caption, lineage, dialogue, interventions).
            caption = wait_for(
                lambda: texts["fork_id"] in page.inner_text('[data-testid="stMain"]'), 60, "the run caption"
            )
            assert caption
            wait_for(
                lambda: (
                    texts["announce"] in page.inner_text("body") and texts["say"] in page.inner_text("body")
                ),
                60,
                "the overview's interventions and dialogue",
            )
            seen = page.inner_text("body")
            for key in ("run_id", "fork_id", "kind", "say", "name0"):
                assert texts[key] in seen, key
            _assert_text_only(page, canary)
            _show(page, "Compare runs")
            # The divergence names the intervention event: its text shown as text.
            wait_for(lambda: texts["announce"] in page.inner_text("body"), 60, "the divergence in words")
            assert "They first differ at tick 2" in page.inner_text("body")
            _assert_text_only(page, canary)
            _show(page, "Avatar inspector")
            wait_for(
                lambda: (
                    texts["question"] in page.inner_text("body")
                    and texts["answer"] in page.inner_text("body")
                ),
                60,
                "the interviews",
            )
            _assert_text_only(page, canary)
            # The original run, picked in the sidebar.
            page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
            original = re.compile("^" + re.escape(texts["run_id"] + " - finished"))  # not "... fork of <it>"
            page.get_by_role("option").filter(has_text=original).first.click()
            wait_for(
                lambda: (
                    "fork of" not in page.inner_text('[data-testid="stMain"]')
                    and texts["run_id"] in page.inner_text('[data-testid="stMain"]')
                ),
                60,
                "the original run",
            )
            _show(page, "Dialogue")
            feed = wait_for(lambda: _feed_lines(page), 60, "the dialogue feed")
            assert any(texts["say"] in line and texts["name0"] in line for line in feed), feed  # type: ignore[union-attr]
            _show(page, "Avatar inspector")
            # The inspector draws the memory list before the recent dialogue: wait for both.
            wait_for(
                lambda: (
                    texts["memory"] in page.inner_text("body") and texts["say"] in page.inner_text("body")
                ),
                60,
                "the memory list and the recent dialogue",
            )
            body = page.inner_text("body")
            for key in ("run_id", "scenario", "name0", "place", "say", "memory"):
                assert texts[key] in body, key
            _assert_text_only(page, canary)
        finally:
            browser.close()
            pw.stop()
    finally:
        canary.close()


def _assert_text_only(page, canary: _Canary) -> None:  # type: ignore[no-untyped-def]
    """Nothing of the page's run text became an element (links, images, scripts to the canary, icons,
    LaTeX), no exception is on the page, and nothing was fetched."""
    main = page.locator('[data-testid="stMain"]')
    port = str(canary.port)
    links = main.locator(f'a[href*="{port}"]')
    assert links.count() == 0, [
        links.nth(i).evaluate("a => a.closest('[data-testid]').outerHTML.slice(0, 600)")
        for i in range(links.count())
    ]
    assert main.locator(f'img[src*="{port}"]').count() == 0
    assert main.locator("script").count() == 0
    assert main.locator('[data-testid="stIconMaterial"]').count() == 0
    assert main.locator(".katex").count() == 0
    _assert_no_exception(page)
    page.wait_for_timeout(500)  # anything the page would fetch has had its chance
    assert canary.requests == []
