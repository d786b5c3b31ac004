"""Style extractor: rhythm, punctuation, readability, layout invariance."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ghostscore.document import Document
from ghostscore.features.style import StyleExtractor, count_syllables
from ghostscore.features.textview import flat_view

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Document:
    return Document.from_path(FIXTURES / name)


def flattened(name: str) -> Document:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return Document.from_text(" ".join(text.split()))


@pytest.fixture(scope="module")
def style() -> StyleExtractor:
    return StyleExtractor()


def test_emits_exactly_its_feature_names(style: StyleExtractor) -> None:
    fs = style.extract(load("red_human_news.txt"))
    assert set(fs.values) == set(StyleExtractor.feature_names)
    assert all(n.startswith("style_") for n in StyleExtractor.feature_names)
    assert StyleExtractor.layout_dependent <= set(StyleExtractor.feature_names)


def test_layout_free_features_finite_on_news(style: StyleExtractor) -> None:
    for name in ("red_human_news.txt", "red_content_farm.txt"):
        values = style.extract(load(name)).values
        free = [n for n in StyleExtractor.feature_names if n not in StyleExtractor.layout_dependent]
        bad = [n for n in free if not math.isfinite(values[n])]
        assert not bad, f"{name}: non-finite {bad}"


@pytest.mark.parametrize("name", ["red_human_news.txt", "red_content_farm.txt", "style_uniform.txt"])
def test_layout_free_features_ignore_paragraph_breaks(style: StyleExtractor, name: str) -> None:
    a = style.extract(load(name)).values
    b = style.extract(flattened(name)).values
    for n in StyleExtractor.feature_names:
        if n in StyleExtractor.layout_dependent:
            continue
        if math.isnan(a[n]):
            assert math.isnan(b[n]), n
        else:
            assert b[n] == pytest.approx(a[n], abs=1e-6), n


def test_layout_free_features_ignore_added_paragraph_breaks(style: StyleExtractor) -> None:
    doc = load("red_human_news.txt")
    view = flat_view(doc)
    split = Document.from_text("\n\n".join(view.sentences))  # every sentence its own paragraph
    assert len(split.paragraphs) == len(view.sentences)
    a, b = style.extract(doc).values, style.extract(split).values
    for n in StyleExtractor.feature_names:
        if n not in StyleExtractor.layout_dependent:
            assert b[n] == pytest.approx(a[n], abs=1e-6), n
    assert b["style_single_sentence_paragraph_share"] == 1.0 > a["style_single_sentence_paragraph_share"]


def test_paragraph_features_are_layout_and_do_change(style: StyleExtractor) -> None:
    a = style.extract(load("red_human_news.txt")).values
    b = style.extract(flattened("red_human_news.txt")).values
    assert a["style_paragraph_count"] == 8
    assert b["style_paragraph_count"] == 1
    assert "style_paragraph_count" in StyleExtractor.layout_dependent
    assert "style_paragraph_len_cv" in StyleExtractor.layout_dependent


def test_uniform_text_has_low_burstiness_and_evidence(style: StyleExtractor) -> None:
    uniform = style.extract(load("style_uniform.txt"))
    human = style.extract(load("red_human_news.txt"))
    assert uniform.values["style_sentence_len_cv"] < 0.15
    assert human.values["style_sentence_len_cv"] > 0.4
    assert uniform.values["style_sentence_len_local_diff"] < human.values["style_sentence_len_local_diff"]
    kinds = [e.kind for e in uniform.evidence]
    assert kinds == ["uniform_sentences"]
    ev = uniform.evidence[0]
    doc = load("style_uniform.txt")
    assert doc.text[ev.start : ev.end].startswith("The new system is designed")
    assert doc.text[ev.start : ev.end].endswith("stay well organized.")
    assert not [e for e in human.evidence if e.kind == "uniform_sentences"]


def test_news_markers_quotes_numbers_contractions_names(style: StyleExtractor) -> None:
    human = style.extract(load("red_human_news.txt")).values
    farm = style.extract(load("red_content_farm.txt")).values
    assert human["style_quote_word_share"] > 0.1 and farm["style_quote_word_share"] == 0
    assert human["style_quote_sentence_share"] > farm["style_quote_sentence_share"]
    assert human["style_number_share"] > 0.03 and farm["style_number_share"] == 0
    assert human["style_contraction_rate"] > 1.0 and farm["style_contraction_rate"] == 0
    assert human["style_capitalized_share"] > 3 * farm["style_capitalized_share"]
    assert human["style_comma_rate"] > farm["style_comma_rate"]
    assert human["style_dash_rate"] > 0 and farm["style_dash_rate"] == 0
    assert human["style_colon_rate"] > 0  # "come from:" (clock times like 6:10 are not colons)


def test_counts_punctuation_per_100_words(style: StyleExtractor) -> None:
    text = (
        "Is this working? It is; mostly. Wait! The (small) test - a quick one - has ten words here. "
        "You and I can't stop: we're sure my plan works."
    )
    v = style.extract(Document.from_text(text)).values
    n_words = 27  # "can't", "we're" are one word each
    assert v["style_question_rate"] == pytest.approx(100 / n_words)
    assert v["style_semicolon_rate"] == pytest.approx(100 / n_words)
    assert v["style_exclamation_rate"] == pytest.approx(100 / n_words)
    assert v["style_paren_rate"] == pytest.approx(100 / n_words)
    assert v["style_dash_rate"] == pytest.approx(200 / n_words)
    assert v["style_colon_rate"] == pytest.approx(100 / n_words)
    assert v["style_contraction_rate"] == pytest.approx(200 / n_words)
    assert v["style_second_person_share"] > 0
    assert v["style_first_person_share"] > v["style_second_person_share"]


def test_headings_and_lists_counted(style: StyleExtractor) -> None:
    v = style.extract(load("style_listicle.md")).values
    assert v["style_heading_count"] == 3  # the title is its own region, not body
    assert v["style_list_item_count"] == 3
    assert v["style_second_person_share"] > 0.05


def test_readability_orders_simple_and_dense_text(style: StyleExtractor) -> None:
    simple = "The cat sat on the mat. The dog ran to the park. We had fun in the sun all day."
    dense = (
        "Institutional reconfiguration of intergovernmental transportation administration necessitates "
        "comprehensive evaluation of organizational accountability mechanisms and infrastructural "
        "investment prioritization methodologies."
    )
    a = style.extract(Document.from_text(simple)).values
    b = style.extract(Document.from_text(dense)).values
    assert a["style_flesch_reading_ease"] > 90 > 0 > b["style_flesch_reading_ease"]
    assert a["style_fk_grade"] < 3 < 20 < b["style_fk_grade"]
    assert a["style_word_len_mean"] < b["style_word_len_mean"]


def test_syllable_counter() -> None:
    assert count_syllables("the") == 1
    assert count_syllables("make") == 1
    assert count_syllables("people") == 2
    assert count_syllables("transportation") == 4
    assert count_syllables("comfortable") == 4


def test_short_texts_do_not_crash(style: StyleExtractor) -> None:
    two = style.extract(Document.from_text("The council met today. It voted to spend more money.")).values
    assert two["style_sentence_count"] == 2
    assert math.isfinite(two["style_sentence_len_cv"])
    one = style.extract(Document.from_text("One sentence only here.")).values
    assert one["style_sentence_count"] == 1
    assert math.isnan(one["style_sentence_len_cv"])
    assert math.isfinite(one["style_sentence_len_mean"])
    numbers = style.extract(Document.from_text("1234 5678 9012")).values
    assert math.isnan(numbers["style_flesch_reading_ease"])


def test_flat_view_matches_document_and_maps_back() -> None:
    doc = load("red_human_news.txt")
    view = flat_view(doc)
    assert view.text == doc.flat_text
    assert len(view.spans) == len(view.doc_spans) == len(view.paragraphs)
    for (s, e), (ds, de) in zip(view.spans, view.doc_spans, strict=True):
        assert " ".join(doc.text[ds:de].split()) == view.text[s:e]
    # sentence 4 opens the third paragraph (the first quote)
    assert doc.text[view.doc_spans[3][0]] == '"'
    assert view.paragraphs[3] == 2
