"""The web app in a real browser: Playwright driving Debian's chromium against one
``userseg serve`` (uvicorn) per module on a free loopback port.

The journey (sign in, open a run, a segment, rename it, compare two runs, sign out),
creating an audience from a run's segments and downloading its export,
injection names, a read-only key, the keyboard, a phone-width screen, and axe-core on
every page (no serious or critical violation). Screenshots of each page go to
build/screenshots/ (not committed).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("uvicorn", reason="uvicorn (the serve extra) is needed")
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright (the dev extra) is needed for the browser tests"
)

from web_shop import INJECTIONS, build_shop  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "build" / "screenshots"
AXE = REPO / "build" / "axe" / "package" / "axe.min.js"
CHROMIUM = os.environ.get("USERSEG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.slow

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"no chromium at {CHROMIUM}: `make browser` installs Debian's (apt-get install chromium)",
        allow_module_level=True,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _measured_campaign(path: Path, run: int) -> None:
    """A campaign on segments 0 and 1 of ``run``, measured from a file with a planted lift,
    so that the segment pages show campaign results."""
    import numpy as np
    import pandas as pd

    from userseg.jobs import activation, pipeline
    from userseg.store.activation import load_arms

    db = pipeline.open_db(path)
    try:
        activation.create_audience(db, "spring", run=run, segments=[0, 1])
        campaign, _ = activation.create_campaign(db, "spring sale", "spring", "20%")
        arms = load_arms(db, campaign.campaign_id)
        rng = np.random.default_rng(11)
        conv = rng.random(len(arms)) < np.where(arms["arm"] == "treatment", 0.3, 0.1)
        outcomes = path.parent / "outcomes.csv"
        pd.DataFrame(
            {"user_id": arms["user_id"], "converted": conv.astype(int), "revenue": conv * 25.0}
        ).to_csv(outcomes, index=False)
        activation.measure_campaign(db, "spring sale", outcomes=outcomes)
    finally:
        db.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_files) -> dict[str, Any]:
    shop = build_shop(tmp_path_factory.mktemp("browser") / "shop.duckdb", demo_files)
    _measured_campaign(shop["path"], shop["runs"][1])
    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "userseg", "serve", "--db", str(shop["path"]), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"userseg serve did not start: {proc.stderr.read()[-2000:]}")
        time.sleep(0.3)
    yield shop | {"base": base}
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.skip(f"axe-core is not at {AXE}: run `make browser` (npm pack axe-core)")
    return AXE.read_text(encoding="utf-8")


class Tab:
    """One browser context and page, collecting script errors, failing on any dialog."""

    def __init__(self, browser, base: str, width: int = 1280, height: int = 900) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def go(self, path: str):
        response = self.page.goto(self.base + path)
        self.settle()
        return response

    def settle(self) -> None:
        self.page.wait_for_load_state("load")
        if self.page.locator("[data-chart]").count():
            self.page.wait_for_selector("[data-chart] .main-svg", timeout=20_000)

    def sign_in(self, secret: str) -> None:
        self.go("/web/signin")
        self.page.get_by_label("API key").fill(secret)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Sign in").click()
        self.settle()

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        assert not self.dialogs, f"a script ran: {self.dialogs}"
        assert not self.errors, f"script errors: {self.errors}"
        self.context.close()


def check_axe(tab: Tab, axe_source: str, where: str) -> None:
    if not tab.page.evaluate("typeof axe !== 'undefined'"):
        tab.page.evaluate(axe_source)  # evaluated through the DevTools protocol, past the CSP
    # Inside a chart (role="img", labelled, its numbers in a table beside it) Plotly's SVG
    # is presentational; thousands of map points there would only slow axe down.
    result = tab.page.evaluate(
        "async () => await axe.run({include: [document], exclude: [['.plot .svg-container']]})"
    )
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{where}: {bad}"


@pytest.fixture
def tab(browser, server):
    t = Tab(browser, server["base"])
    yield t
    t.close()


def test_journey_sign_in_run_segment_rename_compare_sign_out(tab, server, axe_source):
    a, b = server["runs"]
    page = tab.page
    tab.go("/web/runs")
    assert page.url.endswith("/web/signin?next=/web/runs")
    check_axe(tab, axe_source, "sign-in")
    tab.shot("signin")
    tab.sign_in(server["keys"]["admin"])
    assert page.url.endswith("/web/runs")
    assert page.get_by_role("heading", name="Runs", exact=True).is_visible()
    check_axe(tab, axe_source, "runs")
    tab.shot("runs")

    page.get_by_role("link", name=f"Run {b}", exact=True).first.click()
    tab.settle()
    assert page.get_by_role("heading", level=1).inner_text().startswith(f"Run {b}")
    assert page.locator("[data-chart].js-plotly-plot").count() >= 2  # sizes, map (and k) drawn
    check_axe(tab, axe_source, "run")
    tab.shot("run")

    page.locator("table").first.get_by_role("link").first.click()
    tab.settle()
    assert "/segments/" in page.url
    # segment 0 of the later run is in the measured campaign "spring sale"
    assert page.get_by_role("heading", name="Campaign results").is_visible()
    assert page.get_by_role("table", name="spring sale").count() == 1
    check_axe(tab, axe_source, "segment")
    tab.shot("segment")
    page.get_by_label("New name").fill("Loyal weekday shoppers")
    page.get_by_role("button", name="Rename").click()
    tab.settle()
    assert page.get_by_role("status").inner_text() == "The segment was renamed."
    assert "Loyal weekday shoppers" in page.get_by_role("heading", level=1).inner_text()

    page.get_by_role("link", name="Compare", exact=True).click()
    tab.settle()
    page.get_by_label("Earlier run").select_option(str(a))
    page.get_by_label("Later run").select_option(str(b))
    page.get_by_role("button", name="Show").click()
    tab.settle()
    assert page.get_by_role("heading", name="Kept, appeared, gone").is_visible()
    assert page.locator("[data-chart].js-plotly-plot").count() == 1  # the migration matrix
    check_axe(tab, axe_source, "compare")
    tab.shot("compare")

    for path, name in (("/web/drift", "drift"), ("/web/refresh", "refresh"), ("/web/keys", "keys")):
        tab.go(path)
        check_axe(tab, axe_source, name)
        tab.shot(name)

    page.get_by_role("button", name="Sign out").click()
    tab.settle()
    assert "/web/signin" in page.url
    assert page.get_by_role("status").inner_text() == "You are signed out."
    tab.go("/web/runs")
    assert "/web/signin" in page.url


@pytest.mark.parametrize("name", INJECTIONS)
def test_injected_names_render_as_text(tab, server, name):
    b = server["runs"][1]
    tab.sign_in(server["keys"]["write"])
    tab.go(f"/web/runs/{b}/segments/1")
    tab.page.get_by_label("New name").fill(name)
    tab.page.get_by_role("button", name="Rename").click()
    tab.settle()
    assert name in tab.page.get_by_role("heading", level=1).inner_text()
    tab.go(f"/web/runs/{b}")
    assert tab.page.get_by_role("link", name=name).count() == 1  # the link's text is the name
    assert tab.page.locator("img[src=x]").count() == 0
    tab.shot(f"injection-{INJECTIONS.index(name)}")
    # close() asserts that no dialog opened and no script failed


def test_a_read_only_key_cannot_rename(tab, server):
    b = server["runs"][1]
    tab.sign_in(server["keys"]["read"])
    tab.go(f"/web/runs/{b}/segments/0")
    assert tab.page.get_by_label("New name").count() == 0
    assert tab.page.get_by_role("link", name="API keys").count() == 0
    status = tab.page.evaluate(
        """async (url) => {
            const csrf = document.querySelector('input[name=csrf]').value;  // sign-out form's
            const r = await fetch(url, {method: 'POST', body: new URLSearchParams(
                {csrf: csrf, name: 'mine'})});
            return r.status;
        }""",
        f"/web/runs/{b}/segments/0/rename",
    )
    assert status == 403
    tab.errors.clear()  # the browser logs the refused fetch as a console error
    tab.shot("segment-read-only")


def test_create_an_audience_and_export_it(tab, server, axe_source):
    """From the run page: tick two segments, name the audience, create it; on its page
    choose a format and download the export; the export is then listed. axe on each state."""
    b = server["runs"][1]
    page = tab.page
    tab.sign_in(server["keys"]["write"])
    tab.go(f"/web/runs/{b}")
    form = page.locator(f"form[action='/web/runs/{b}/audiences']")
    form.locator("input[name=segment_0]").check()
    form.locator("input[name=segment_2]").check()
    page.get_by_label("Audience name").fill("June newsletter")
    tab.shot("run-audience-form")
    page.get_by_role("button", name="Create the audience").click()
    tab.settle()
    assert "/web/audiences/" in page.url
    assert page.get_by_role("status").inner_text() == "The audience was created."
    assert page.get_by_role("heading", level=1).inner_text() == "Audience June newsletter"
    rows = page.locator("table").first.locator("tbody tr")
    assert rows.count() == 2  # segments 0 and 2
    size = sum(int(rows.nth(i).locator("td").last.inner_text().replace(",", "")) for i in (0, 1))
    check_axe(tab, axe_source, "audience")
    tab.shot("audience")

    page.get_by_label("Format").select_option("csv")
    with page.expect_download() as info:
        page.get_by_role("button", name="Export and download").click()
    download = info.value
    assert download.suggested_filename == "June-newsletter-v1.csv"
    lines = Path(download.path()).read_text().strip().splitlines()
    assert lines[0] == "user_id,segment" and len(lines) == size + 1
    assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {"0", "2"}
    page.goto(page.url.split("?")[0])
    tab.settle()
    assert page.get_by_text("download:June-newsletter-v1.csv").count() == 1
    check_axe(tab, axe_source, "audience exported")
    tab.shot("audience-exported")
    tab.go("/web/audiences")
    assert page.get_by_role("link", name="June newsletter").count() == 1
    check_axe(tab, axe_source, "audiences")
    tab.shot("audiences")


def test_keyboard_only(tab, server):
    page = tab.page
    tab.go("/web/signin")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") in ("key", "")  # the brand link or the key
    page.get_by_label("API key").focus()
    page.keyboard.type(server["keys"]["read"])
    with page.expect_navigation():
        page.keyboard.press("Enter")  # submits the form
    tab.settle()
    assert page.url.endswith("/web/runs")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link
    assert page.evaluate("document.activeElement.id") == "main"
    for _ in range(40):  # every run link is reachable by Tab
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").startswith("Run "):
            break
    else:
        pytest.fail("no run link reached with Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab.settle()
    assert "/web/runs/" in page.url


def test_phone_width(browser, server, axe_source):
    a, b = server["runs"]
    t = Tab(browser, server["base"], width=375, height=740)
    try:
        t.sign_in(server["keys"]["write"])
        for path, name in (
            ("/web/runs", "runs"),
            (f"/web/runs/{b}", "run"),
            (f"/web/runs/{b}/segments/0", "segment"),
            (f"/web/compare?a={a}&b={b}", "compare"),
            ("/web/drift", "drift"),
            ("/web/audiences", "audiences"),
        ):
            t.go(path)
            # the page itself never scrolls sideways (wide tables scroll in their own box)
            width = t.page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{name}: {width}px wide at 375px"
            check_axe(t, axe_source, f"{name} at 375px")
            t.shot(f"phone-{name}")
    finally:
        t.close()
