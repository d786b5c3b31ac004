"""The HTML report and the report web page in real headless Chromium (Debian's /usr/bin/chromium).

Checks what a moderator sees: shaded sentences and the bio finding visible, restated pairs linked, no
console errors (a CSP violation would be one), and not a single request leaving the page. The same for
every page the service serves: the API docs at /docs render every operation, the paste-or-upload page
at / gives the report.
Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


class ServiceStub(StubDetector):
    """The report page's stub detector plus what the JSON API reads (``score_records``, a model with a name,
    metrics and an operating point), so the real service app (``create_app``) answers on every route."""

    class model(StubDetector.model):  # noqa: N801
        name = "stub"
        type = "stub"
        extractors: list[str] = []
        feature_names: list[str] = []
        metrics = {"auroc": 0.5}

        class operating_point:  # noqa: N801
            fpr = 0.01

            @staticmethod
            def band(fpr: float | None = None) -> tuple[float, float]:
                return (0.55, 0.81)

            @staticmethod
            def verdict(p: float, fpr: float | None = None) -> str:
                return "ai" if p >= 0.81 else "uncertain" if p >= 0.55 else "human"

    def known_domains(self) -> list[str]:
        return []

    def check_domain(self, domain: str | None) -> str | None:
        return domain

    def score_records(self, texts: Any, *, format: str | None = None, explain: bool | None = None,
                      **_: Any) -> Iterator[Any]:
        for text in texts:
            yield self.score(self.preprocess(text, format=format))


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Uvicorn serving ``app`` on a free loopback port; yields its origin."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
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


@pytest.fixture()
def live_server() -> Iterator[str]:
    """A minimal app (``add_routes`` + a stub detector)."""
    with serving(make_app(StubDetector())) as origin:
        yield origin


@pytest.fixture()
def service() -> Iterator[tuple[str, Any]]:
    """The real service app (``create_app``: API, /docs, report page) with a stub detector; (origin, app)."""
    from ghostscore.service import ServerSettings, create_app

    app = create_app(ServiceStub(), settings=ServerSettings())
    with serving(app) as origin:
        yield origin, app


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


OPERATIONS = [("post", "/v1/score"), ("get", "/healthz"), ("get", "/readyz"), ("get", "/v1/model")]


def _page(context: Any, origin: str) -> tuple[Any, Watch]:
    page = context.new_page()
    watch = Watch(allowed_origin=origin + "/")
    watch.attach(context, page)
    return page, watch


def test_docs_render_in_chromium(browser_context: Any, service: tuple[str, Any]) -> None:
    """Swagger UI draws the OpenAPI document FastAPI emits (3.1), from local files only, and can call the API."""
    origin, _ = service
    page, watch = _page(browser_context, origin)
    response = page.goto(origin + "/docs")
    assert response is not None and response.ok
    # operations, or Swagger UI's "Unable to render this definition" / "Failed to load API definition"
    page.locator(".opblock, .version-pragma, .errors-wrapper").first.wait_for(timeout=20_000)
    problems = page.locator(".version-pragma, .errors-wrapper")
    assert problems.count() == 0, problems.first.inner_text()
    assert "OAS 3.1" in page.locator(".information-container").inner_text()
    for method, path in OPERATIONS:
        op = page.locator(f'.opblock-{method} .opblock-summary-path[data-path="{path}"]')
        assert op.count() == 1 and op.is_visible(), f"{method.upper()} {path} not shown"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs.png"), full_page=True)

    # Interactive: expand GET /healthz, "Try it out", "Execute": the answer comes from the service itself.
    block = page.locator(".opblock-get", has=page.locator('[data-path="/healthz"]'))
    block.locator(".opblock-summary").first.click()
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    body = block.locator(".live-responses-table .response-col_description pre").first
    body.wait_for(timeout=10_000)
    assert '"status": "ok"' in body.inner_text()

    assert watch.errors == [], watch.errors
    assert watch.external == [], watch.external


def test_service_form_gives_the_report(browser_context: Any, service: tuple[str, Any]) -> None:
    """/ on the real service, JavaScript on: paste an article, submit, the report appears and works."""
    origin, _ = service
    page, watch = _page(browser_context, origin)
    page.goto(origin + "/")
    page.fill("#text", ARTICLE)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == origin + "/report"
    assert "Likely machine-generated" in page.locator(".verdict").inner_text()
    assert page.locator('.doc [data-kinds~="template_bio"][id]').is_visible()
    page.focus('.doc [data-kinds="restatement"][id]')  # the report's script runs under its CSP
    assert "Restated claim" in page.locator("#detail").inner_text()
    assert watch.errors == [], watch.errors
    assert watch.external == [], watch.external


def test_every_service_page_loads_cleanly(browser_context: Any, service: tuple[str, Any]) -> None:
    """Every GET route of the service (pages, JSON, docs assets) and the form's error page open in Chromium
    with a 2xx answer, no console errors and no request leaving the machine."""
    from starlette.routing import Mount

    origin, app = service
    paths = []
    for route in app.routes:
        if isinstance(route, Mount):
            continue  # static files: loaded by the pages that use them
        if "GET" in (getattr(route, "methods", None) or ()) and "{" not in route.path:
            paths.append(route.path)
    assert {"/", "/docs", "/openapi.json", "/healthz", "/readyz", "/v1/model"} <= set(paths), paths
    page, watch = _page(browser_context, origin)
    for path in paths:
        response = page.goto(origin + path)
        assert response is not None and response.ok, (path, response and response.status)
        page.wait_for_load_state("networkidle")
    # the form's error page (nothing pasted): a 400 page that must still render cleanly
    page.goto(origin + "/")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "Paste some text" in page.locator("[role=alert]").inner_text()
    watch.errors = [e for e in watch.errors if "status of 400" not in e]  # the page's own status line
    assert watch.errors == [], watch.errors
    assert watch.external == [], watch.external
