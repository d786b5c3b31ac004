"""Document: normalization with offsets, regions, sentences, bad input."""

from __future__ import annotations

import pytest

from ghostscore.document import Document, decode_bytes, sniff_format
from ghostscore.errors import InputError

ARTICLE = """Harbor Town Opens New Ferry Terminal

The new terminal opened on Tuesday after two years of work. About 1,200 people crossed on the first day, \
according to the port authority. "It is faster than the bridge," said commuter Lena Park, 41.

Officials said the terminal cost $14 million. The old dock will be removed in May.

By Tom Reyes

Tom Reyes is a staff writer covering transport.

Leave a Reply
"""


def test_regions_title_byline_bio_boilerplate() -> None:
    doc = Document.from_text(ARTICLE)
    regions = [p.region for p in doc.paragraphs]
    assert regions[0] == "title"
    assert "byline" in regions and "bio" in regions
    assert regions[-1] == "boilerplate"
    assert "Leave a Reply" not in doc.body_text
    assert "Tom Reyes is a staff writer" not in doc.body_text
    assert doc.title == "Harbor Town Opens New Ferry Terminal"


def test_sentences_are_segmented_and_offsets_point_into_raw() -> None:
    doc = Document.from_text(ARTICLE)
    body = [doc.span_text(s) for s in doc.body_sentences]
    assert body[0] == "The new terminal opened on Tuesday after two years of work."
    assert len(body) == 5
    s = doc.body_sentences[2]
    r0, r1 = doc.raw_span(s.start, s.end)
    assert ARTICLE[r0:r1] == doc.span_text(s)


def test_normalization_folds_zero_width_homoglyphs_and_quotes_and_keeps_offsets() -> None:
    raw = "The m\u200bayor s\u0430id \u201cyes\u201d  to the  plan."
    doc = Document.from_text(raw)
    assert doc.text == 'The mayor said "yes" to the plan.'
    assert doc.signals["zero_width_chars"] == 1
    assert doc.signals["homoglyph_chars"] == 1
    i = doc.text.index("said")
    r0, r1 = doc.raw_span(i, i + 4)
    assert raw[r0:r1] == "s\u0430id"


def test_flat_text_ignores_layout() -> None:
    a = Document.from_text("One sentence here.\n\nAnother one there.")
    b = Document.from_text("One sentence here. Another one there.")
    assert a.flat_text == b.flat_text
    assert len(a.paragraphs) == 2 and len(b.paragraphs) == 1


def test_markdown_markers_removed_and_headings_found() -> None:
    doc = Document.from_markdown("# Big News\n\nSome **bold** claim with a [link](https://x.org).\n\n- one\n- two\n")
    assert doc.text.startswith("Big News\n\nSome bold claim with a link.")
    assert doc.paragraphs[0].is_heading and doc.paragraphs[0].region == "title"
    assert [p.is_list_item for p in doc.paragraphs[2:]] == [True, True]


def test_html_article_extracted_without_navigation() -> None:
    html = (
        "<html><head><title>Ferry opens</title></head><body><nav>Home | Sports | Contact us</nav>"
        "<article><h1>Ferry opens</h1><p>The new terminal opened on Tuesday after two years of work, "
        "the port authority said in a statement.</p><p>About 1,200 people crossed on the first day, "
        "officials said, and more are expected.</p></article><footer>Copyright 2026</footer></body></html>"
    )
    doc = Document.from_bytes(html.encode())
    assert doc.format == "html"
    assert "Home | Sports" not in doc.text
    assert "terminal opened on Tuesday" in doc.body_text
    assert doc.title == "Ferry opens"


@pytest.mark.parametrize(
    "data, code",
    [(b"", "empty"), (b"   \n\t ", "empty"), (b"\x00\x01\x02binary\x00", "binary"), (b"caf\xe9 au lait", "encoding")],
)
def test_bad_bytes_raise_clear_errors(data: bytes, code: str) -> None:
    with pytest.raises(InputError) as info:
        Document.from_bytes(data)
    assert info.value.code == code


def test_too_long_is_refused() -> None:
    with pytest.raises(InputError) as info:
        Document.from_text("word " * 50_000, max_chars=100_000)
    assert info.value.code == "too_long"


def test_utf16_with_bom_decodes() -> None:
    assert decode_bytes("hello world".encode("utf-16")) == "hello world"


def test_support_problems() -> None:
    assert Document.from_text(ARTICLE).support_problems() == []
    short = Document.from_text("Too short to judge.")
    assert any("too short" in p for p in short.support_problems())
    german = Document.from_text(
        "Der Stadtrat hat am Dienstag einen neuen Plan beschlossen. Die Bürger sind darüber sehr froh, "
        "weil der Park endlich gebaut wird und die Kinder dort spielen können. " * 3
    )
    assert any("not English" in p for p in german.support_problems())
    russian = Document.from_text("Городской совет одобрил новый план строительства парка у реки. " * 8)
    assert any("not English" in p for p in russian.support_problems())
    code = Document.from_text("x = 1; y = 2; z = [3, 4, 5]; print(x + y) # 12345 67890 {} () [] == != <= >=\n" * 10)
    assert code.support_problems()


def test_sniff_format() -> None:
    assert sniff_format("<!DOCTYPE html><html><body>x</body></html>") == "html"
    assert sniff_format("# Title\n\ntext") == "markdown"
    assert sniff_format("Plain words here.") == "text"
