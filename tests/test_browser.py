"""The HTML report and the report web page in real headless Chromium (Debian's /usr/bin/chromium).

Checks what a moderator sees: shaded sentences and the bio finding visible, restated pairs linked, no
console errors (a CSP violation would be one), and not a single request leaving the page.
Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:  # tests/ is a package (tests/__init__.py)
    from .test_report import ARTICLE, FEATURE_RANGES, StubDetector, fixture_doc, fixture_score, make_app
except ImportError:  # run as loose modules
    sys.path.insert(0, str(Path(__file__).parent))
    from test_report import ARTICLE, FEATURE_RANGES, StubDetector, fixture_doc, fixture_score, make_app

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip(
        "Debian chromium is not installed (/usr/bin/chromium); run `make browser-deps` as root "
        "or `apt-get install chromium`",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


class Watch:
    """Console errors, page errors and every request that is not the page itself."""

    def __init__(self, allowed_origin: str | None = None) -> None:
        self.allowed_origin = allowed_origin
        self.errors: list[str] = []
        self.external: list[str] = []

    def attach(self, context: Any, page: Any) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://", "https://")) and not (
            self.allowed_origin and url.startswith(self.allowed_origin)
        ):
            self.external.append(url)
            route.abort()
        else:
            route.continue_()


@pytest.fixture()
def browser_context(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile per test."""
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=ARGS, headless=True,
            viewport={"width": 1100, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def test_report_renders_in_chromium(browser_context: Any, tmp_path: Path) -> None:
    from ghostscore.report import write_report

    doc = fixture_doc()
    path = write_report(fixture_score(doc), doc, tmp_path / "report.html", feature_ranges=FEATURE_RANGES,
                        fpr=0.01)
    page = browser_context.new_page()
    watch = Watch()
    watch.attach(browser_context, page)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")

    assert page.locator(".verdict").inner_text().startswith("AI")
    shaded = page.locator(".doc .s.l3, .doc .s.l4")
    assert shaded.count() >= 3 and shaded.first.is_visible()
    bio = page.locator('.doc [data-kinds~="template_bio"][id]')
    assert bio.count() == 1 and bio.is_visible()
    assert page.locator(".keyfindings").is_visible()
    assert "Template author bio" in page.locator(".keyfindings").inner_text()
    assert page.locator('.doc [data-kinds~="unfilled_slot"]').first.is_visible()

    # Keyboard: Tab reaches the marks; focusing a restatement lights up its pair and explains itself.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('.doc .mk')"):
            break
    else:
        pytest.fail("no marked passage reachable with Tab")
    page.focus('.doc [data-kinds="restatement"][id]')
    assert page.locator(".doc .pair-on").count() >= 2
    assert "Restated claim" in page.locator("#detail").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-focus.png"))
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)

    # Following the link of the restatement jumps to the restated sentence.
    page.locator('.doc [data-kinds="restatement"][id]').click()
    assert page.evaluate("location.hash") == "#ev6r0"

    assert watch.errors == [], watch.errors
    assert watch.external == [], watch.external


@pytest.fixture()
def live_server() -> Iterator[str]:
    """Uvicorn serving a minimal app (``add_routes`` + a stub detector) on a free loopback port."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_app(StubDetector()), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_web_form_without_javascript(tmp_path: Path, live_server: str) -> None:
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=ARGS, headless=True,
            java_script_enabled=False, viewport={"width": 1100, "height": 900},
        )
        try:
            page = context.new_page()
            watch = Watch(allowed_origin=live_server + "/")
            watch.attach(context, page)
            page.goto(live_server + "/")
            page.fill("#text", ARTICLE)
            with page.expect_navigation():
                page.click("button[type=submit]")
            assert page.url == live_server + "/report"
            assert page.locator(".verdict").is_visible()
            assert "Likely machine-generated" in page.locator(".verdict").inner_text()
            assert page.locator('.doc [data-kinds~="template_bio"][id]').is_visible()
            assert page.locator(".doc .s.l4").count() >= 1
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "web-report.png"))
            assert watch.errors == [], watch.errors
            assert watch.external == [], watch.external
        finally:
            context.close()
