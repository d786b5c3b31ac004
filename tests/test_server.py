"""HTTP service: happy paths, limits, overload, auth, malformed JSON, readiness and logs (no text in them)."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from ghostscore.service import ServerSettings, create_app  # noqa: E402

from .conftest import StubDetector, packaged_features_only  # noqa: E402

TEXT = "The council said the new plan would help families over the next year. " * 8


def client_for(detector: Any = None, **settings: Any) -> TestClient:
    return TestClient(create_app(detector, settings=ServerSettings(**settings)))


def test_single_and_list_happy_path(stub_detector: StubDetector) -> None:
    with client_for(stub_detector) as c:
        r = c.post("/v1/score", json={"text": TEXT})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["verdict"] == "human" and body["ai_probability"] == (len(TEXT) % 100) / 100
        assert len(r.headers["x-request-id"]) == 16
        assert "features" in body and "contributions" not in body  # detail adds contributions
        assert "contributions" in c.post("/v1/score", json={"text": TEXT, "detail": True}).json()
        r = c.post("/v1/score", json={"texts": [TEXT, "", TEXT + "x"]})
        assert r.status_code == 200
        results = r.json()["results"]
        assert len(results) == 3 and results[0]["verdict"] == "human"
        assert results[1] == {"error": {"code": "empty", "message": "input is empty or whitespace only",
                                        "index": 1}}
        assert results[2]["ai_probability"] == (len(TEXT) + 1) % 100 / 100  # order kept


def test_real_detector_path_with_fpr(tiny_model_dir: Path) -> None:
    from ghostscore.detector import Detector

    with client_for(Detector.load(tiny_model_dir)) as c:
        base = c.post("/v1/score", json={"text": TEXT}).json()
        strict = c.post("/v1/score", json={"text": TEXT, "fpr": 0.001}).json()
        assert base["ai_probability"] == strict["ai_probability"]
        assert strict["threshold"] >= base["threshold"]
        info = c.get("/v1/model").json()
        assert info["name"] == "tiny-test" and info["version"] == "test-1"
        assert info["metrics"] == {"auroc": 0.5} and 0 < info["operating_point"]["threshold"] <= 1
        assert c.post("/v1/score", json={"text": TEXT, "fpr": 2}).status_code == 422


def test_a_request_may_state_its_domain(tmp_path: Path) -> None:
    """``domain`` in a request picks that domain's threshold; /v1/model lists them; an unknown one is a 422 that
    names the known ones."""
    import numpy as np

    from ghostscore.classifiers.calibration import OperatingPoint
    from ghostscore.classifiers.linear import LinearModel
    from ghostscore.detector import Detector

    g = np.random.default_rng(0)
    op = OperatingPoint.from_scores(np.r_[g.beta(2, 8, 400), g.beta(8, 2, 400)],
                                    domains=["news"] * 400 + ["review"] * 400)
    model = LinearModel(feature_names=[], extractors=[], mean=np.zeros(0), scale=np.ones(0), coef=np.zeros(0),
                        bias=0.0, operating_point=op, name="two-domains")
    with client_for(Detector.load(model.save(tmp_path / "m"))) as c:
        news = c.post("/v1/score", json={"text": TEXT, "domain": "news"}).json()
        review = c.post("/v1/score", json={"texts": [TEXT], "domain": "review"}).json()["results"][0]
        assert news["threshold"] == pytest.approx(op.threshold(domain="news"))
        assert news["threshold"] < review["threshold"]
        assert review["threshold"] == pytest.approx(op.threshold(domain="review"))
        assert set(c.get("/v1/model").json()["operating_point"]["domain_thresholds"]) == {"news", "review"}
        r = c.post("/v1/score", json={"text": TEXT, "domain": "poetry"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_domain"
        assert "news, review" in r.json()["error"]["message"]


def test_explain_switch_reaches_the_detector(stub_detector: StubDetector) -> None:
    with client_for(stub_detector) as c:
        assert c.post("/v1/score", json={"text": TEXT}).status_code == 200
        assert c.post("/v1/score", json={"text": TEXT, "explain": False}).status_code == 200
        assert c.post("/v1/score", json={"text": TEXT, "explain": "maybe"}).status_code == 422
    assert stub_detector.explain_seen == [True, False]


def test_single_bad_text_is_422_with_input_error_code(stub_detector: StubDetector) -> None:
    with client_for(stub_detector) as c:
        r = c.post("/v1/score", json={"text": "   "})
        assert r.status_code == 422 and r.json()["error"]["code"] == "empty"


def test_limits(stub_detector: StubDetector) -> None:
    with client_for(stub_detector, max_body_bytes=5_000, max_texts=3, max_chars=1_000) as c:
        r = c.post("/v1/score", json={"text": "x" * 6_000})
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
        r = c.post("/v1/score", json={"texts": ["a b c"] * 4})
        assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_texts"
        r = c.post("/v1/score", json={"texts": ["ok", "y" * 1_001]})
        assert r.status_code == 422 and r.json()["error"] == {
            "code": "too_long", "message": "text 1 has 1,001 characters; the limit is 1,000", "index": 1}
        assert stub_detector.calls == 0  # rejected before any scoring


def test_body_limit_without_content_length(stub_detector: StubDetector) -> None:
    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1_000
        yield json.dumps({"text": TEXT}).encode()

    with client_for(stub_detector, max_body_bytes=5_000) as c:
        r = c.post("/v1/score", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_malformed_requests(stub_detector: StubDetector) -> None:
    with client_for(stub_detector) as c:
        r = c.post("/v1/score", content=b'{"text": "abc', headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
        assert "not valid JSON" in r.json()["error"]["message"]
        r = c.post("/v1/score", json={"text": 42})
        assert r.status_code == 422 and "text" in r.json()["error"]["message"]
        assert "42" not in r.text  # the input is not echoed back
        assert c.post("/v1/score", json={"text": "a", "texts": ["b"]}).status_code == 422
        assert c.post("/v1/score", json={}).status_code == 422
        assert c.post("/v1/score", json={"texts": []}).status_code == 422
        assert c.post("/v1/score", json={"text": TEXT, "format": "pdf"}).status_code == 422


def test_overload_answers_503_at_once(make_stub_detector: Any) -> None:
    gate = threading.Event()
    slow = make_stub_detector(gate=gate)
    with client_for(slow, max_concurrency=1, max_queue=1, retry_after_s=3) as c, ThreadPoolExecutor(2) as pool:
        running = pool.submit(c.post, "/v1/score", json={"text": TEXT})
        assert slow.started.wait(10)
        waiting = pool.submit(c.post, "/v1/score", json={"text": TEXT})
        deadline = time.monotonic() + 10
        while c.app.state.ghostscore.admission.held < 2 and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.01)
        t0 = time.monotonic()
        r = c.post("/v1/score", json={"text": TEXT})
        assert r.status_code == 503 and r.headers["retry-after"] == "3"
        assert r.json()["error"]["code"] == "overloaded" and time.monotonic() - t0 < 2
        gate.set()
        assert running.result(10).status_code == 200 and waiting.result(10).status_code == 200
        assert c.post("/v1/score", json={"text": TEXT}).status_code == 200  # capacity is back


def test_timeout_is_504_and_slot_is_held_until_work_ends(make_stub_detector: Any) -> None:
    slow = make_stub_detector(delay=1.0)
    with client_for(slow, request_timeout_s=0.2, max_concurrency=1, max_queue=0) as c:
        r = c.post("/v1/score", json={"text": TEXT})
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
        assert c.post("/v1/score", json={"text": TEXT}).status_code == 503  # still busy: no pile-up
        time.sleep(1.2)
        slow.delay = 0
        assert c.post("/v1/score", json={"text": TEXT}).status_code == 200


@pytest.mark.parametrize("header", [{"Authorization": "Bearer s3cret"}, {"X-API-Key": "s3cret"}])
def test_api_key(stub_detector: StubDetector, header: dict[str, str]) -> None:
    with client_for(stub_detector, api_key="s3cret") as c:
        assert c.get("/healthz").status_code == 200  # always open
        r = c.post("/v1/score", json={"text": TEXT})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.post("/v1/score", json={"text": TEXT}, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/v1/model").status_code == 401
        assert c.post("/v1/score", json={"text": TEXT}, headers=header).status_code == 200


def test_no_api_key_means_open(stub_detector: StubDetector, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GHOSTSCORE_API_KEY", raising=False)
    with TestClient(create_app(stub_detector)) as c:
        assert c.post("/v1/score", json={"text": TEXT}).status_code == 200


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GHOSTSCORE_MAX_TEXTS", "5")
    monkeypatch.setenv("GHOSTSCORE_REQUEST_TIMEOUT_S", "2.5")
    monkeypatch.setenv("GHOSTSCORE_API_KEY", "k")
    s = ServerSettings.from_env(max_queue=3)
    assert (s.max_texts, s.request_timeout_s, s.api_key, s.max_queue) == (5, 2.5, "k", 3)
    monkeypatch.setenv("GHOSTSCORE_MAX_TEXTS", "many")
    with pytest.raises(ValueError, match="GHOSTSCORE_MAX_TEXTS"):
        ServerSettings.from_env()


def test_readyz_before_and_after_background_load(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ghostscore.detector as detector_mod

    release = threading.Event()
    real_load = detector_mod.Detector.load.__func__  # type: ignore[attr-defined]

    def slow_load(cls: Any, *args: Any, **kwargs: Any) -> Any:
        release.wait(10)
        return real_load(cls, tiny_model_dir)

    monkeypatch.setattr(detector_mod.Detector, "load", classmethod(slow_load))
    with TestClient(create_app(model="whatever", settings=ServerSettings())) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        r = c.post("/v1/score", json={"text": TEXT})
        assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready" and "retry-after" in r.headers
        release.set()
        deadline = time.monotonic() + 10
        while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert c.get("/readyz").json() == {"status": "ready", "model": "tiny-test"}
        assert c.post("/v1/score", json={"text": TEXT}).status_code == 200


def test_failed_model_load_is_reported(tmp_path: Path) -> None:
    with TestClient(create_app(model=str(tmp_path / "missing"), settings=ServerSettings())) as c:
        deadline = time.monotonic() + 10
        while c.get("/readyz").json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.02)
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "failed" and "no model found" in r.json()["error"]
        assert c.post("/v1/score", json={"text": TEXT}).json()["error"]["code"] == "model_unavailable"


def test_json_logs_never_contain_the_text(stub_detector: StubDetector, caplog: pytest.LogCaptureFixture) -> None:
    secret = "Zanzibarian marmalade secret sentence. " * 5
    with caplog.at_level(logging.INFO, logger="ghostscore.server"), client_for(stub_detector) as c:
        c.post("/v1/score", json={"texts": [secret, TEXT]})
        c.post("/v1/score", content=b"{broken " + secret.encode(), headers={"content-type": "application/json"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ghostscore.server"]
    requests = [x for x in lines if x.get("event") == "request"]
    assert requests[0]["method"] == "POST" and requests[0]["path"] == "/v1/score"
    assert requests[0]["status"] == 200 and requests[0]["n_texts"] == 2
    assert requests[0]["chars"] == len(secret) + len(TEXT) and requests[0]["duration_ms"] >= 0
    assert requests[1]["status"] == 400
    assert len({r["request_id"] for r in requests}) == 2 and all(r["request_id"] for r in requests)
    assert "Zanzibarian" not in caplog.text


def test_openapi_and_docs(stub_detector: StubDetector) -> None:
    with client_for(stub_detector) as c:
        spec = c.get("/openapi.json").json()
        assert "/v1/score" in spec["paths"] and "/readyz" in spec["paths"]
        assert spec["openapi"].startswith("3.1")  # what FastAPI emits: the docs page must be able to draw it
        docs = c.get("/docs")
        assert docs.status_code == 200
        # served by the service from the installed fastapi-offline package, not a CDN: works offline
        assert 'src="docs-assets/swagger-ui-bundle.js"' in docs.text, "no Swagger UI: pip install 'ghostscore[serve]'"
        assert 'href="docs-assets/swagger-ui.css"' in docs.text
        assert "http:" not in docs.text and "https:" not in docs.text and "cdn." not in docs.text
        assert '"url": "openapi.json"' in docs.text and '"validatorUrl": null' in docs.text
        js = c.get("/docs-assets/swagger-ui-bundle.js")
        assert js.status_code == 200
        # Swagger UI 5's OpenAPI 3.1 support; 4.x shows "Unable to render this definition" for FastAPI's spec
        assert "isOAS31" in js.text
        assert c.get("/docs-assets/swagger-ui.css").status_code == 200
        assert "/docs" not in spec["paths"] and not any(p.startswith("/docs-assets") for p in spec["paths"])
        assert c.get("/redoc").status_code == 404  # FastAPI's own pages (CDN scripts) are off


def test_docs_csp_allows_its_own_script_and_nothing_else(stub_detector: StubDetector) -> None:
    import base64
    import hashlib
    import re

    with client_for(stub_detector) as c:
        docs = c.get("/docs")
    csp = docs.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'" and directives["connect-src"] == "'self'"
    assert "http" not in csp and "*" not in csp and "unsafe-eval" not in csp
    inline = re.findall(r"<script>(.*?)</script>", docs.text, flags=re.S)
    assert len(inline) == 1  # the initializer; the bundle itself comes from 'self'
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert directives["script-src"] == f"'self' 'sha256-{digest}'"
    assert docs.headers["x-content-type-options"] == "nosniff"


def test_docs_without_swagger_files_list_the_operations(
    stub_detector: StubDetector, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ghostscore.service.docs as apidocs

    monkeypatch.setattr(apidocs, "swagger_assets", lambda: None)
    with client_for(stub_detector) as c:
        docs = c.get("/docs")
        assert docs.status_code == 200 and "<script" not in docs.text and "http" not in docs.text
        for op in ("POST /v1/score", "GET /healthz", "GET /readyz", "GET /v1/model"):
            assert op in docs.text
        assert "fastapi-offline" in docs.text and 'href="openapi.json"' in docs.text
        assert c.get("/docs-assets/swagger-ui-bundle.js").status_code == 404


def test_docs_urls_are_relative_to_the_page() -> None:
    from ghostscore.service.docs import plain_page, swagger_page

    html, _ = swagger_page("/openapi.json", "t", page="/api/docs")
    assert '"url": "../openapi.json"' in html and 'src="../docs-assets/swagger-ui-bundle.js"' in html
    assert 'href="../openapi.json"' in plain_page({"paths": {}}, "/openapi.json", "t", page="/api/docs")


def test_unknown_route_uses_error_shape(stub_detector: StubDetector) -> None:
    with client_for(stub_detector) as c:
        r = c.get("/v1/nope")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


@pytest.mark.skipif(packaged_features_only() is None, reason="packaged features-only model not trained yet")
def test_real_packaged_model_served() -> None:
    with TestClient(create_app(model="features-only", use_lm=False, settings=ServerSettings())) as c:
        deadline = time.monotonic() + 120
        while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        r = c.post("/v1/score", json={"texts": [TEXT, ""]})
        assert r.status_code == 200 and r.json()["results"][0]["verdict"] in ("ai", "human", "uncertain",
                                                                               "unsupported")


def test_report_routes_hook(stub_detector: StubDetector, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report engineer's module gets the app and a get_detector that is 503 until the model is ready."""
    import sys
    import types

    seen: dict[str, Any] = {}

    def add_routes(app: Any, get_detector: Any, api_key: str | None = None) -> None:
        seen["get_detector"] = get_detector

        @app.get("/")
        async def page() -> dict[str, str]:
            return {"model": get_detector().model.name}

    fake = types.ModuleType("ghostscore.report.web")
    fake.add_routes = add_routes  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ghostscore.report.web", fake)
    with client_for(stub_detector) as c:
        assert c.get("/").json() == {"model": "stub"}
    with TestClient(create_app(model="/nonexistent", settings=ServerSettings())) as c:
        deadline = time.monotonic() + 10
        while c.get("/readyz").json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.02)
        r = c.get("/")
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable"


def test_overload_by_expected_wait_answers_503_before_the_queue_is_full(make_stub_detector: Any) -> None:
    """Admitted requests keep their latency: once the measured seconds per text say a new request would wait
    longer than max_wait_s, it gets 503 at once, though the queue has room."""
    slow = make_stub_detector(delay=1.0)
    with client_for(slow, max_concurrency=1, max_queue=10, max_wait_s=1.5) as c, ThreadPoolExecutor(2) as pool:
        assert c.post("/v1/score", json={"text": TEXT}).status_code == 200  # measures ~1 s per text
        adm = c.app.state.ghostscore.admission  # type: ignore[attr-defined]
        assert adm.s_per_text is not None and 0.8 < adm.s_per_text < 5
        first = pool.submit(c.post, "/v1/score", json={"text": TEXT})
        deadline = time.monotonic() + 10
        while adm.held < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        second = pool.submit(c.post, "/v1/score", json={"text": TEXT})  # would wait ~1 s: admitted
        while adm.held < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        t0 = time.monotonic()
        r = c.post("/v1/score", json={"text": TEXT})  # would wait ~2 s: refused
        assert r.status_code == 503 and r.json()["error"]["code"] == "overloaded"
        assert time.monotonic() - t0 < 0.5 and "retry-after" in r.headers
        assert first.result(10).status_code == 200 and second.result(10).status_code == 200
