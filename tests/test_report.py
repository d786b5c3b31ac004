"""HTML report: content, escaping, self-containment, edge cases (no evidence, unsupported)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from ghostscore.document import Document
from ghostscore.report import model_context, operating_point_text, render_html, sentence_levels, write_report
from ghostscore.results import Evidence, Score

# A made-up content-farm article written for these tests: stock phrases, a restated claim, a template
# author bio with an unfilled company slot, and a chatbot leftover at the end.
ARTICLE = """Why Every Home Needs a Smart Thermostat

In today's fast-paced world, keeping your home comfortable has never been more important. A smart \
thermostat learns your daily routine and adjusts the temperature so you never have to think about it.

Smart thermostats can cut your heating bills by a noticeable margin. Many families notice lower energy \
costs within the first few months. It is worth noting that the savings depend on the climate and the \
size of the house.

Installation is usually simple. Most models connect to the existing wiring and walk you through the \
setup on your phone. If your heating system is older, a professional installer can help you avoid \
costly mistakes.

In conclusion, a smart thermostat helps you spend less money on heating and cooling. Whether you rent \
or own, it is a game-changer for any modern home.

As a passionate content writer at , I love helping readers make informed decisions about their homes \
and gardens.

I hope this helps! Let me know if you would like me to adjust the tone or length of the article.
"""

FEATURE_RANGES = {
    "stock_phrase_rate": {"human": [0.0, 0.8], "machine": [0.6, 3.0]},
    "restatement_score": {"human": [0.05, 0.3], "machine": [0.25, 0.7]},
    "lm_mean_logprob": {"human": [-4.2, -3.0], "machine": [-2.9, -1.8]},
}


def _span(doc: Document, needle: str) -> tuple[int, int]:
    start = doc.text.index(needle)
    return start, start + len(needle)


def _ev(doc: Document, needle: str, kind: str, reason: str, weight: float, extractor: str, **kw) -> Evidence:
    s, e = _span(doc, needle)
    return Evidence(s, e, extractor, kind, reason, weight, doc.text[s:e], **kw)


def fixture_doc(text: str = ARTICLE) -> Document:
    return Document.from_text(text)


def fixture_score(doc: Document, *, with_lm: bool = False) -> Score:
    """A hand-made Score for ``ARTICLE``: the kinds of evidence the extractors will emit."""
    claim = _span(doc, "Smart thermostats can cut your heating bills by a noticeable margin.")
    slot = doc.text.index("at , I") + 2
    evidence = [
        _ev(doc, "As a passionate content writer at , I love helping readers make informed decisions",
            "template_bio", "author bio follows a content-farm template", 0.9, "bio"),
        Evidence(slot, slot + 1, "bio", "unfilled_slot", "template slot for the site name left empty", 0.95,
                 doc.text[slot:slot + 1]),
        _ev(doc, "I hope this helps! Let me know if you would like me to adjust the tone or length of the "
                 "article.", "chatbot_leftover", "assistant reply left in the page", 1.0, "bio"),
        _ev(doc, "In today's fast-paced world", "stock_phrase", "stock opener common in generated text", 0.5,
            "phrasing"),
        _ev(doc, "It is worth noting that", "stock_phrase", "filler phrase", 0.4, "phrasing"),
        _ev(doc, "game-changer", "stock_phrase", "hype word", 0.4, "phrasing"),
        _ev(doc, "a smart thermostat helps you spend less money on heating and cooling", "restatement",
            "restates an earlier claim in other words (similarity 0.86)", 0.7, "redundancy",
            related=(claim,)),
        _ev(doc, "A smart thermostat learns your daily routine", "low_perplexity", "very predictable wording",
            0.3, "lm"),
    ]
    sentence_scores = []
    if with_lm:
        for k, sent in enumerate(doc.sentences):
            sentence_scores.append({"start": sent.start, "end": sent.end, "mean_logprob": -2.0 - 0.1 * k,
                                    "mean_entropy": 2.5, "crit": [3.2, 1.0, 2.4, 0.2][k % 4]})
    return Score(
        ai_probability=0.93, verdict="ai",
        features={"stock_phrase_rate": 1.7, "restatement_score": 0.52, "lm_mean_logprob": -2.3,
                  "sentence_length_std": 4.1},
        evidence=evidence, reasons=[], model="test-model", threshold=0.81, uncertain_band=(0.55, 0.81),
        sentence_scores=sentence_scores,
        contributions={"stock_phrase_rate": 1.2, "restatement_score": 0.8, "lm_mean_logprob": 0.6,
                       "sentence_length_std": -0.3},
    )


class _Collector(HTMLParser):
    """Collects tags with attributes and ids; fails on nothing (only for inspection)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def _parse(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    return c


@pytest.fixture(scope="module")
def doc() -> Document:
    return fixture_doc()


@pytest.fixture(scope="module")
def html(doc: Document) -> str:
    return render_html(fixture_score(doc), doc, feature_ranges=FEATURE_RANGES, fpr=0.01)


def test_verdict_probability_and_operating_point(html: str) -> None:
    assert "Likely machine-generated" in html
    assert 'class="verdict v-ai"' in html
    assert "P(machine) = 0.930" in html
    assert "1 in 100 human-written articles is wrongly flagged" in html
    assert "1 in 20 human-written articles reach it" in html


def test_findings_are_marked(html: str, doc: Document) -> None:
    p = _parse(html)
    marks = [a for t, a in p.tags if "mk" in (a.get("class") or "").split() and a.get("id")]
    kinds = " ".join(a.get("data-kinds") or "" for a in marks)
    for kind in ("template_bio", "unfilled_slot", "chatbot_leftover", "stock_phrase", "restatement"):
        assert kind in kinds
    assert "Key findings" in html and "Template author bio" in html
    assert 'class="r-bio"' in html  # the bio paragraph is labelled as such
    first = [(t, a) for t, a in p.tags if "mk" in (a.get("class") or "").split() and a.get("id")]
    for tag, a in first:  # every first piece of a mark is keyboard reachable and labelled
        assert a.get("aria-label")
        assert (tag == "a" and a.get("href")) or a.get("tabindex") == "0"


def test_restatement_pair_linked(html: str) -> None:
    p = _parse(html)
    ids = {a.get("id") for _, a in p.tags if a.get("id")}
    links = [(a.get("id"), a.get("href")) for t, a in p.tags if t == "a" and "mk" in (a.get("class") or "")]
    restatement = next(a for _, a in p.tags if "restatement" in (a.get("data-kinds") or "") and a.get("id"))
    restated = next(a for _, a in p.tags if "restated" in (a.get("data-kinds") or "").split() and a.get("id"))
    assert restatement["href"] == f"#{restated['id']}" and restated["href"] == f"#{restatement['id']}"
    assert restatement["data-pair"] == restated["data-pair"]
    for _, href in links:  # every in-text link points at an element that exists
        assert href and href[1:] in ids


def test_sentence_shading_from_evidence_and_lm(doc: Document) -> None:
    levels, source = sentence_levels(fixture_score(doc), doc)
    assert source == "evidence" and len(levels) == len(doc.sentences)
    assert max(lvl for lvl, _, _ in levels) >= 3 and min(lvl for lvl, _, _ in levels) == 0
    levels, source = sentence_levels(fixture_score(doc, with_lm=True), doc)
    assert source == "lm" and levels[0][0] == 4 and levels[3][0] == 0
    html = render_html(fixture_score(doc, with_lm=True), doc)
    assert 'class="s l4"' in html and "criterion 3.20" in html


def test_feature_table_with_and_without_ranges(html: str, doc: Document) -> None:
    assert "Typical human (p10&ndash;p90)" in html and "<svg" in html
    assert "stock_phrase_rate" in html
    plain = render_html(fixture_score(doc), doc)
    assert "Typical human (p10" not in plain and "not available for this model" in plain
    assert "stock_phrase_rate" in plain
    assert "How often human-written articles pass this threshold is not recorded" in plain


def test_escapes_article_text_everywhere() -> None:
    evil = (
        "Evil <script>alert('x')</script> Title\n\n"
        + "The body mentions <img src=x onerror=alert(1)> and \"quotes\" & ampersands. " * 6
        + "\n\nMore text here @@JS@@ @@BODY@@ with a </textarea> and <b>bold</b> tag in it. " * 3
    )
    d = Document.from_text(evil)
    s, e = _span(d, "<img src=x onerror=alert(1)>")
    score = Score(
        0.4, "human", evidence=[Evidence(s, e, "style", "odd<kind>", "reason <b>x</b>", 0.5, d.text[s:e])],
        model="<m>", threshold=0.8, uncertain_band=(0.6, 0.8),
    )
    html = render_html(score, d, feature_ranges={"<f>": {"human": [0, 1], "machine": [1, 2]}})
    assert "<script>alert" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    p = _parse(html)
    assert len([t for t, _ in p.tags if t == "script"]) == 2  # only the report's own data + code blocks
    assert not any(k.startswith("on") for _, a in p.tags for k in a)  # no event-handler attributes
    assert "@@JS@@" in html and "@@BODY@@" in html  # placeholders in the article are left alone


def test_no_remote_resources(html: str) -> None:
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "@import" not in html and "url(" not in html
    p = _parse(html)
    for tag, attrs in p.tags:
        for key in ("src", "href", "action"):
            value = attrs.get(key)
            assert value is None or value.startswith("#"), (tag, key, value)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_csp_hash_matches_script(html: str) -> None:
    import base64
    import hashlib

    p = _parse(html)
    code = [s for s in p.scripts if "addEventListener" in s]
    assert len(code) == 1
    digest = base64.b64encode(hashlib.sha256(code[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in html


def test_empty_evidence(doc: Document) -> None:
    score = Score(0.12, "human", features={"x": 1.0}, model="m", threshold=0.8, uncertain_band=(0.6, 0.8))
    html = render_html(score, doc)
    assert "No strong sign of machine generation" in html
    assert "No specific findings" in html
    assert "Key findings" not in html
    assert 'class="s l' in html  # sentences still rendered


def test_unsupported_verdict() -> None:
    d = Document.from_text("Too short to judge. Only a few words here.")
    score = Score(None, "unsupported", reasons=["text has 9 words; at least 40 are needed"], model="m")
    html = render_html(score, d)
    assert "Not scored" in html and "UNSUPPORTED" in html
    assert "text has 9 words; at least 40 are needed" in html
    assert "No verdict." in html and 'class="meter"' not in html
    assert "Too short to judge." in html


def test_uncertain_and_no_operating_point(doc: Document) -> None:
    score = Score(0.5, "uncertain", model="m")
    html = render_html(score, doc)
    assert "Uncertain" in html and "at least 0.50" in html
    lines = operating_point_text(Score(0.7, "ai", threshold=0.6, uncertain_band=(0.4, 0.6)), 0.001)
    assert any("1 in 1,000" in line for line in lines)


def test_write_report(tmp_path: Path, doc: Document) -> None:
    out = write_report(fixture_score(doc), doc, tmp_path / "sub" / "report.html",
                       feature_ranges=FEATURE_RANGES, fpr=0.01)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "Template author bio" in text
    # unknown model name: no ranges, no crash
    out2 = write_report(fixture_score(doc), doc, tmp_path / "r2.html")
    assert "not available for this model" in out2.read_text(encoding="utf-8")


def test_model_context_from_object_and_dir(tmp_path: Path) -> None:
    class Op:
        fpr = 0.05

    class Model:
        meta = {"feature_ranges": FEATURE_RANGES}
        operating_point = Op()

    ctx = model_context(Model())
    assert ctx["fpr"] == 0.05 and "stock_phrase_rate" in ctx["feature_ranges"]
    (tmp_path / "config.json").write_text(
        '{"meta": {"feature_ranges": {"a": {"human": [0, 1], "machine": [1, 2]}}}, '
        '"operating_point": {"fpr": 0.01, "human_quantiles": [0, 1]}}'
    )
    ctx = model_context(str(tmp_path))
    assert ctx == {"feature_ranges": {"a": {"human": [0, 1], "machine": [1, 2]}}, "fpr": 0.01}
    assert model_context("no-such-model") == {} and model_context("") == {}


def test_the_band_edge_is_described_by_what_set_it(tmp_path: Path) -> None:
    """A model whose `human` is bounded by held-out machine texts: the page states that bound, not a share of
    humans reaching the band (which the 5x-FPR threshold, the edge without a bound, would give)."""
    from ghostscore.classifiers.calibration import OperatingPoint

    rng = np.random.default_rng(0)
    op = OperatingPoint.from_scores(rng.beta(2, 6, 500), machine_probs=rng.beta(5, 3, 500),
                                    machine_groups=["g/plain"] * 250 + ["g/humanize"] * 250)
    (tmp_path / "config.json").write_text(json.dumps({"operating_point": op.to_json()}))
    bound = model_context(str(tmp_path))["human_bound"]
    assert bound == {"max_miss": 0.05, "by_group": True}

    class Model:
        meta: dict = {}
        operating_point = op

    assert model_context(Model())["human_bound"] == bound
    score = Score(0.7, "ai", threshold=0.6, uncertain_band=(0.1, 0.6))
    lines = " ".join(operating_point_text(score, 0.01, bound))
    assert "Below 0.10 it is 'human'" in lines and "at most 5% of machine texts" in lines
    assert "in every generator/attack group" in lines and "reach it" not in lines
    assert "reach it" in " ".join(operating_point_text(score, 0.01))  # no bound: the 5x-FPR edge's share


# ---------------------------------------------------------------------------------------------- web routes
class StubDetector:
    """Stands in for a loaded Detector: real Document parsing, a fixed Score."""

    fpr = None

    class model:  # noqa: N801 - mimics ``Detector.model`` (an object with ``meta`` and ``operating_point``)
        meta = {"feature_ranges": FEATURE_RANGES}

        class operating_point:  # noqa: N801
            fpr = 0.01

    def preprocess(self, item: str | bytes, *, format: str | None = None) -> Document:
        if isinstance(item, bytes):
            return Document.from_bytes(item, format=format)
        if format == "html":
            return Document.from_html(item)
        return Document.from_text(item, format=format or "text")

    def score(self, doc: Document) -> Score:
        if "Smart thermostats can cut your heating bills" in doc.text and "at , I" in doc.text:
            return fixture_score(doc)
        return Score(0.2, "human", features={"stock_phrase_rate": 0.1}, model="stub", threshold=0.81,
                     uncertain_band=(0.55, 0.81))


def make_app(detector: object | None = None):
    from fastapi import FastAPI

    from ghostscore.report.web import add_routes

    app = FastAPI()

    def get_detector() -> object:
        if detector is None:
            raise RuntimeError("model still loading")
        return detector

    add_routes(app, get_detector)
    return app


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    return TestClient(make_app(StubDetector()))


def test_web_form_page(client) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="report" enctype="multipart/form-data">' in r.text
    assert 'name="text"' in r.text and 'type="file"' in r.text
    assert "http://" not in r.text and "https://" not in r.text


def test_web_report_multipart_text(client) -> None:
    r = client.post("/report", data={"text": ARTICLE.replace("\n", "\r\n"), "format": "auto"},
                    files={"file": ("", b"", "application/octet-stream")})
    assert r.status_code == 200, r.text
    assert "Likely machine-generated" in r.text and "Template author bio" in r.text
    assert "1 in 100 human-written articles" in r.text and "Typical human (p10" in r.text
    assert r.text.count('<p class="r-') + r.text.count('<h3 class="r-') == len(fixture_doc().paragraphs)


def test_web_report_upload_urlencoded_json(client) -> None:
    r = client.post("/report", files={"file": ("a.txt", ARTICLE.encode(), "text/plain")}, data={"text": ""})
    assert r.status_code == 200 and "Template author bio" in r.text
    r = client.post("/report", content=f"text={ARTICLE[:400]}&format=text".encode(),
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "No strong sign of machine generation" in r.text
    r = client.post("/report", json={"text": "<script>alert(1)</script> " + "words and more words " * 20})
    assert r.status_code == 200 and "<script>alert(1)" not in r.text


def test_web_report_errors(client) -> None:
    assert client.post("/report", data={"text": "  "}).status_code == 400
    assert client.post("/report", json={"text": "x", "format": "pdf"}).status_code == 400
    png = {"content-type": "image/png"}
    assert client.post("/report", content=b"\x00\x01", headers=png).status_code == 415
    r = client.post("/report", files={"file": ("b.bin", b"\x00\x01\x02" * 100, "application/octet-stream")})
    assert r.status_code == 422 and "binary" in r.text
    from fastapi.testclient import TestClient

    r = TestClient(make_app(None)).post("/report", data={"text": ARTICLE})
    assert r.status_code == 503 and "model still loading" in r.text


# ---------------------------------------------------------------------------------------------- overlaps
def _assert_links_resolve(html: str) -> None:
    p = _parse(html)
    ids = [a["id"] for _, a in p.tags if a.get("id")]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for _, a in p.tags:
        href = a.get("href")
        if href and href.startswith("#"):
            assert href[1:] in ids, href


def test_overlapping_findings_merge_and_anchor(doc: Document) -> None:
    s = doc.text.index("As a passionate content writer")
    ev = [
        Evidence(s, s + 30, "bio", "template_bio", "first-person writer bio", 0.6),
        Evidence(s + 5, s + 30, "bio", "template_bio", "stock epithet", 0.6),
        Evidence(s + 16, s + 30, "bio", "template_bio", "first-person writer bio", 0.6),
        Evidence(s + 24, s + 35, "bio", "unfilled_slot", "site name missing", 0.9),
        Evidence(s + 3, s + 12, "style", "odd_word", "overlaps across kinds", 0.2),
    ]
    score = Score(0.7, "uncertain", evidence=ev, model="m", threshold=0.8, uncertain_band=(0.6, 0.8))
    html = render_html(score, doc)
    _assert_links_resolve(html)
    bio_first = [a for _, a in _parse(html).tags if a.get("id") == "ev0"]
    assert bio_first and "stock epithet" in bio_first[0]["aria-label"]
    for i in range(len(ev)):
        assert f'href="#ev{i}"' in html  # every finding reachable from the findings list
    assert "Template author bio</strong></a> (3)" in html


def test_report_with_registered_extractors(doc: Document) -> None:
    """Whatever evidence the model-free extractors emit today renders with working anchors."""
    from ghostscore.features import FeatureSet, available, build_extractors

    names = [n for n, c in available().items() if not c.requires]
    if not names:
        pytest.skip("no model-free extractors registered yet")
    fs = FeatureSet()
    for extractor in build_extractors(names):
        fs.merge(extractor.extract(doc))
    score = Score(0.9, "ai", features=fs.values, evidence=fs.evidence, model="m", threshold=0.8,
                  uncertain_band=(0.6, 0.8))
    html = render_html(score, doc)
    _assert_links_resolve(html)
    assert all(f'href="#ev{i}"' in html for i in range(len(fs.evidence)))  # each one shown in the text


def test_server_app_mounts_report_routes() -> None:
    """Contract with ``server.create_app``: it calls ``add_routes`` so / and /report are served."""
    server = pytest.importorskip("ghostscore.service")
    from fastapi.testclient import TestClient

    with TestClient(server.create_app(StubDetector())) as c:
        assert "<form" in c.get("/").text
        r = c.post("/report", data={"text": ARTICLE})
        assert r.status_code == 200 and "Template author bio" in r.text


def test_web_page_with_api_key_takes_the_key_in_the_form() -> None:
    """With GHOSTSCORE_API_KEY set, the page asks for the key (a form cannot send a header) and the
    report needs it, from the form or a header; the JSON API still needs the header."""
    from fastapi.testclient import TestClient

    from ghostscore.service import ServerSettings, create_app

    with TestClient(create_app(StubDetector(), settings=ServerSettings(api_key="s3cret"))) as c:
        page = c.get("/")
        assert page.status_code == 200 and 'name="api_key"' in page.text and 'type="password"' in page.text
        assert c.post("/report", data={"text": ARTICLE}).status_code == 401
        assert c.post("/report", data={"text": ARTICLE, "api_key": "wrong"}).status_code == 401
        ok = c.post("/report", data={"text": ARTICLE, "api_key": "s3cret"})
        assert ok.status_code == 200 and "<mark" in ok.text
        assert c.post("/report", data={"text": ARTICLE}, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/report").status_code == 401  # only the form post is let through to the page's check
        assert c.post("/v1/score", json={"text": ARTICLE, "api_key": "s3cret"}).status_code == 401
    with TestClient(create_app(StubDetector(), settings=ServerSettings())) as c:
        assert 'name="api_key"' not in c.get("/").text
