"""Redundancy extractor: n-gram repeats, MiniLM restatements, closing vs opening, lexical diversity."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from ghostscore.document import Document
from ghostscore.features.redundancy import (
    MAX_SENTENCES,
    RedundancyExtractor,
    _ngram_repeat,
    mattr,
    mtld,
)

FIXTURES = Path(__file__).parent / "fixtures"
FREE = [n for n in RedundancyExtractor.feature_names if n not in RedundancyExtractor.layout_dependent]


def load(name: str) -> Document:
    return Document.from_path(FIXTURES / name)


def flattened(name: str) -> Document:
    return Document.from_text(" ".join((FIXTURES / name).read_text(encoding="utf-8").split()))


class HashEncoder:
    """Deterministic stand-in for MiniLM (hashed bag of words), recording every call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, zlib.crc32(w.strip('.,"').encode()) % 64] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


class FakeProvider:
    def __init__(self) -> None:
        self.enc = HashEncoder()

    def encoder(self) -> HashEncoder:
        return self.enc


@pytest.fixture(scope="module")
def minilm() -> RedundancyExtractor:
    from ghostscore.backbones import ModelProvider

    return RedundancyExtractor(models=ModelProvider())


# ---------------------------------------------------------------- model-free parts
def test_declares_registry_fields() -> None:
    assert RedundancyExtractor.name == "redundancy" and RedundancyExtractor.family == "redundancy"
    assert RedundancyExtractor.requires == ("encoder",)
    assert all(n.startswith("redundancy_") for n in RedundancyExtractor.feature_names)
    assert RedundancyExtractor.layout_dependent == {"redundancy_para_close_open"}


def test_ngram_repeat_counts_across_sentences_and_skips_stopword_ngrams() -> None:
    a = "the new plan will improve public transportation".split()
    b = "officials say it will improve public transportation soon".split()
    c = "nothing in this one matches".split()
    share = _ngram_repeat([a, b, c], 3)
    # "will improve public", "improve public transportation" occur in two sentences: 4 of 13 3-grams
    assert share == pytest.approx(4 / 13)
    # repeats inside one sentence do not count, nor do stopword-only n-grams ("of the", "in the")
    assert _ngram_repeat([["big", "red", "dog", "big", "red", "dog"], c], 3) == 0
    # only stopword n-grams: nothing to count, so undefined (NaN) rather than a fake 0 or 1
    assert math.isnan(_ngram_repeat([["it", "was", "the"], ["it", "was", "the"]], 3))
    assert math.isnan(_ngram_repeat([["one", "two"]], 3))


def test_lexical_diversity_measures() -> None:
    rng = np.random.default_rng(0)
    diverse = [f"w{i}" for i in range(300)]
    repetitive = [f"w{i}" for i in rng.integers(0, 15, 300)]
    assert mtld(diverse) > 5 * mtld(repetitive)
    assert mattr(diverse) == pytest.approx(1.0)
    assert mattr(repetitive) < 0.5
    assert math.isnan(mattr(diverse[:49])) and math.isnan(mtld(diverse[:5]))


def test_extract_many_embeds_all_docs_in_one_call() -> None:
    provider = FakeProvider()
    ex = RedundancyExtractor(models=provider)
    docs = [load("red_content_farm.txt"), load("red_human_news.txt"), load("style_uniform.txt")]
    sets = ex.extract_many(docs)
    assert len(provider.enc.calls) == 1
    assert len(provider.enc.calls[0]) == 21 + 16 + 10
    singles = [RedundancyExtractor(models=FakeProvider()).extract(d) for d in docs]
    for batched, single in zip(sets, singles, strict=True):
        for n in RedundancyExtractor.feature_names:
            x, y = batched.values[n], single.values[n]
            assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-5), n


@pytest.mark.parametrize("name", ["red_content_farm.txt", "red_human_news.txt"])
def test_layout_free_features_ignore_added_and_removed_breaks(name: str) -> None:
    from ghostscore.features.textview import flat_view

    doc = load(name)
    split = Document.from_text("\n\n".join(flat_view(doc).sentences))
    ex = RedundancyExtractor(models=FakeProvider())
    a, b, c = (fs.values for fs in ex.extract_many([doc, flattened(name), split]))
    for n in FREE:
        assert math.isfinite(a[n]), n
        assert b[n] == pytest.approx(a[n], abs=1e-6), n
        assert c[n] == pytest.approx(a[n], abs=1e-6), n


def test_huge_document_is_capped() -> None:
    provider = FakeProvider()
    sentences = [f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(500)]
    doc = Document.from_text(" ".join(sentences))
    fs = RedundancyExtractor(models=provider).extract(doc)
    assert len(provider.enc.calls[0]) == MAX_SENTENCES
    assert math.isfinite(fs.values["redundancy_sim_best_mean"])
    # the cap keeps the closing: the last sentence is embedded
    assert provider.enc.calls[0][-1].startswith("Sentence number 499")


def test_max_sentences_knob_bounds_encoder_work() -> None:
    provider = FakeProvider()
    doc = load("red_content_farm.txt")
    RedundancyExtractor(models=provider, max_sentences=6).extract(doc)
    sent = provider.enc.calls[0]
    assert len(sent) == 6
    assert sent[0].startswith("The city of Maplewood") and sent[-1].startswith("Overall, this is")


def test_degenerate_documents_give_nan_not_errors() -> None:
    ex = RedundancyExtractor(models=FakeProvider())
    no_body = Document.from_markdown("# Big News Today\n\nSubscribe to our newsletter")
    assert not no_body.flat_text
    fs = ex.extract(no_body)
    assert all(math.isnan(v) for v in fs.values.values())
    for text in ("Just one sentence that is here.", "Short. Tiny. Small.", "1234 5678 9012"):
        fs = ex.extract(Document.from_text(text))
        assert set(fs.values) == set(RedundancyExtractor.feature_names)
        assert math.isnan(fs.values["redundancy_sim_max"])
        assert fs.evidence == []
    empty = ex.extract_many([])
    assert empty == []


# ---------------------------------------------------------------- MiniLM
@pytest.mark.models
def test_restating_article_scores_higher_than_human_report(minilm: RedundancyExtractor) -> None:
    farm, human = minilm.extract_many([load("red_content_farm.txt"), load("red_human_news.txt")])
    f, h = farm.values, human.values
    for name in (
        "redundancy_ngram_repeat_3", "redundancy_ngram_repeat_4", "redundancy_sim_max",
        "redundancy_sim_best_mean", "redundancy_restated_share", "redundancy_sim_close_open_mean",
        "redundancy_lex_best_mean", "redundancy_lex_close_open_mean", "redundancy_pair_share_060",
    ):
        assert f[name] > h[name], name
    assert f["redundancy_zlib_ratio"] < h["redundancy_zlib_ratio"]
    assert f["redundancy_mtld"] < h["redundancy_mtld"]
    assert f["redundancy_sim_close_open_mean"] > 0.6 > 0.4 > h["redundancy_sim_close_open_mean"]
    assert f["redundancy_restated_count"] >= 3 and h["redundancy_restated_count"] == 0
    assert not [e for e in human.evidence if e.kind == "restatement"]


@pytest.mark.models
def test_restatement_evidence_points_at_restated_sentence(minilm: RedundancyExtractor) -> None:
    doc = load("red_content_farm.txt")
    fs = minilm.extract(doc)
    ev = [e for e in fs.evidence if e.kind == "restatement"]
    assert ev and all(e.extractor == "redundancy" for e in ev)
    for e in ev:
        assert e.text == doc.text[e.start : e.end]
        assert len(e.related) == 1
        rs, re_ = e.related[0]
        assert re_ <= e.start  # points back at an earlier sentence
        assert "cosine" in e.reason and 0 <= e.weight <= 1
    by_text = {e.text.split(",")[0]: e for e in ev}
    closing = by_text["In conclusion"]
    rs, re_ = closing.related[0]
    assert doc.text[rs:re_] == (
        "The city of Maplewood has announced a new plan to improve public transportation for residents."
    )
    assert "sentence 1 " in closing.reason
    # the strongest item is the conclusion restating the lede
    assert max(ev, key=lambda e: e.weight) is closing
    # the stock "expected to have a significant impact" line restates sentence 3
    impact = next(e for e in ev if e.text.startswith("The initiative is expected"))
    assert doc.text[slice(*impact.related[0])].startswith("Officials believe that the initiative")
    assert "sentence 3 " in impact.reason


@pytest.mark.models
@pytest.mark.parametrize("name", ["red_content_farm.txt", "red_human_news.txt"])
def test_layout_free_features_ignore_paragraph_breaks(minilm: RedundancyExtractor, name: str) -> None:
    a = minilm.extract(load(name)).values
    b = minilm.extract(flattened(name)).values
    for n in FREE:
        assert math.isfinite(a[n]), n
        assert b[n] == pytest.approx(a[n], abs=1e-6), n
    assert math.isfinite(a["redundancy_para_close_open"])
    assert math.isnan(b["redundancy_para_close_open"])  # one paragraph: no layout variant


@pytest.mark.models
def test_two_sentence_text(minilm: RedundancyExtractor) -> None:
    doc = Document.from_text(
        "The council approved the new bus plan on Tuesday. The new bus plan was approved by the council."
    )
    fs = minilm.extract(doc)
    v = fs.values
    assert v["redundancy_sim_max"] > 0.85
    assert v["redundancy_restated_share"] == 1.0
    assert math.isnan(v["redundancy_sim_close_open_mean"])  # needs three sentences
    assert math.isnan(v["redundancy_mattr_50"])
    assert [e.kind for e in fs.evidence] == ["restatement"]
    assert fs.evidence[0].text.startswith("The new bus plan was approved")
