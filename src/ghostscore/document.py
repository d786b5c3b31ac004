"""Document: raw input turned into what every extractor reads.

Normalization (NFKC, zero-width removal, homoglyph folding, whitespace folding, Markdown markers
dropped) is done character by character so that every character of ``Document.text`` keeps the
index of the character of ``Document.raw`` it came from (``Document.raw_span``). Evidence spans are
offsets into ``text``; ``raw_span`` maps them back to the input.

Layout (paragraph breaks) is kept in ``text`` for display and for the regions, but features that feed
the classifier must not depend on it: several training corpora flattened human texts and not machine
ones (see the shortcut cues in the data notes). ``Document.sentences`` is computed per paragraph, and
``Document.flat_text`` gives the whitespace-folded text for layout-free features.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import blingfire

from .errors import InputError

DEFAULT_MAX_CHARS = 200_000
MIN_WORDS = 40

ZERO_WIDTH = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e"}
# Latin look-alikes from Cyrillic and Greek that are used to dodge filters. NFKC leaves them alone.
HOMOGLYPHS = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "ɡ": "g", "һ": "h", "ӏ": "l", "А": "A", "В": "B", "Е": "E", "К": "K",
    "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X", "У": "Y", "І": "I",
    "Ј": "J", "Ѕ": "S", "ο": "o", "α": "a", "ν": "v", "Α": "A", "Β": "B", "Ε": "E", "Η": "H",
    "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Χ": "X", "Υ": "Y",
    "Ζ": "Z",
}
# Typographic variants folded to ASCII so that quote style (a corpus label cue) carries no signal.
TYPOGRAPHY = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"', "\u2013": "-", "\u2014": " - ", "\u2212": "-", "\u2026": "...",
}

_MD_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+", re.M)
_MD_EMPHASIS = re.compile(r"(\*\*|__|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*]))")
_MD_LINK = re.compile(r"\[([^\]\n]{1,200})\]\((?:[^)\s]{1,500})\)")
_MD_LIST = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+", re.M)

_BYLINE = re.compile(r"^(?:by|written by|author:|posted by|story by)\s+\S", re.I)
_BIO_START = re.compile(
    r"^(?:about the author|about me|author bio|as an? [\w ,-]{0,60}(?:writer|journalist|author|editor|"
    r"blogger|contributor|reporter|creator|enthusiast|expert|specialist)|i am an? [\w ,-]{0,60}(?:writer|"
    r"journalist|author|editor|blogger)|[A-Z][a-z]+ [A-Z][a-z]+ is an? [\w ,-]{0,60}(?:writer|journalist|"
    r"author|editor|blogger|contributor|reporter))",
    re.I,
)
_BOILERPLATE = re.compile(
    r"^(?:leave a (?:reply|comment)|share (?:this|on)|related (?:posts|articles|stories)|subscribe|"
    r"follow us|sign up|all rights reserved|copyright|©|tags?:|filed under|read more|you may also like|"
    r"cookie|advertisement|click here|comments?\b|posted in|categories?:|previous (?:post|article)|"
    r"next (?:post|article))",
    re.I,
)
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+(?:[.,]\d+)*")
ENGLISH_STOPWORDS = frozenset(
    "the of and to a in is that it was for on are as with his they at be this from have or by one had "
    "not but what all were when we there can an your which their said if do will each about how up out "
    "them then she many some so these would other into has more her two like him see time could no make "
    "than first been its who now people my made over did down only way find use may water long little "
    "very after words called just where most know i you he our me also any because been being such "
    "should those while".split()
)


@dataclass(frozen=True)
class Span:
    """Half-open character range [start, end) in ``Document.text``."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Sentence(Span):
    paragraph: int = 0
    region: str = "body"


@dataclass(frozen=True)
class Paragraph(Span):
    region: str = "body"
    is_heading: bool = False
    is_list_item: bool = False


@dataclass
class Document:
    """Normalized text with offsets, paragraphs, sentences and regions.

    Build it with ``Document.from_text`` / ``from_html`` / ``from_markdown`` / ``from_bytes`` /
    ``from_path``; do not call the constructor with hand-made fields.
    """

    raw: str
    text: str
    offsets: list[int]
    format: str = "text"
    paragraphs: list[Paragraph] = field(default_factory=list)
    signals: dict[str, float] = field(default_factory=dict)
    html_title: str | None = None

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_text(cls, text: str, *, format: str = "text", max_chars: int = DEFAULT_MAX_CHARS) -> Document:
        if not isinstance(text, str):
            raise InputError("not_text", f"expected a string, got {type(text).__name__}")
        if len(text) > max_chars:
            raise InputError(
                "too_long", f"text has {len(text):,} characters; the limit is {max_chars:,} (max_chars)"
            )
        if _looks_binary(text):
            raise InputError("binary", "input looks binary (control characters), not text")
        if not text.strip():
            raise InputError("empty", "input is empty or whitespace only")
        if format in ("markdown", "html"):  # trafilatura hands HTML over as Markdown
            deletions = _markdown_deletions(text)
        else:
            deletions = set()
        norm, offsets, signals = _normalize(text, deletions)
        if not norm.strip():
            raise InputError("empty", "input has no text after normalization")
        doc = cls(raw=text, text=norm, offsets=offsets, format=format, signals=signals)
        doc.paragraphs = _paragraphs(doc.text, text, offsets, markdown=format in ("markdown", "html"))
        return doc

    @classmethod
    def from_markdown(cls, text: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> Document:
        return cls.from_text(text, format="markdown", max_chars=max_chars)

    @classmethod
    def from_html(cls, html: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> Document:
        """Extract the article with trafilatura (boilerplate, navigation and scripts dropped)."""
        import trafilatura

        if len(html) > max_chars * 10:
            raise InputError("too_long", f"HTML has {len(html):,} characters; limit is {max_chars * 10:,}")
        extracted = trafilatura.extract(
            html, output_format="markdown", include_comments=False, include_tables=False,
            include_links=False, include_images=False, favor_recall=True,
        )
        if not extracted or not extracted.strip():
            raise InputError("empty", "no article text found in the HTML")
        title = None
        try:
            meta = trafilatura.extract_metadata(html)
            title = meta.title if meta is not None else None
        except Exception:  # metadata is optional; the body is what matters
            title = None
        if title and not extracted.lstrip().startswith("#") and title.strip() not in extracted[:300]:
            extracted = f"# {title.strip()}\n\n{extracted}"
        doc = cls.from_text(extracted, format="html", max_chars=max_chars)
        doc.html_title = title
        return doc

    @classmethod
    def from_bytes(
        cls, data: bytes, *, format: str | None = None, encoding: str | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> Document:
        text = decode_bytes(data, encoding=encoding, max_bytes=max_chars * 4)
        fmt = format or sniff_format(text)
        if fmt == "html":
            return cls.from_html(text, max_chars=max_chars)
        return cls.from_text(text, format=fmt, max_chars=max_chars)

    @classmethod
    def from_path(
        cls, path: str | Path, *, format: str | None = None, encoding: str | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> Document:
        path = Path(path)
        if not path.exists():
            raise InputError("not_found", f"no such file: {path}")
        if path.is_dir():
            raise InputError("not_a_file", f"{path} is a directory")
        size = path.stat().st_size
        if size > max_chars * 4 * (10 if (format or _format_from_suffix(path)) == "html" else 1):
            raise InputError("too_long", f"{path} is {size:,} bytes; the limit is about {max_chars * 4:,}")
        return cls.from_bytes(
            path.read_bytes(), format=format or _format_from_suffix(path), encoding=encoding,
            max_chars=max_chars,
        )

    # ---------------------------------------------------------------- views
    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of ``text`` to the corresponding span of ``raw``."""
        if start >= len(self.offsets):
            return len(self.raw), len(self.raw)
        raw_start = self.offsets[start]
        raw_end = self.offsets[end - 1] + 1 if end > start else raw_start
        return raw_start, raw_end

    def span_text(self, span: Span) -> str:
        return self.text[span.start : span.end]

    @cached_property
    def sentences(self) -> list[Sentence]:
        """Sentences of every paragraph, segmented by Bling Fire (a trained segmenter, not a regex)."""
        out: list[Sentence] = []
        for p_index, para in enumerate(self.paragraphs):
            chunk = self.text[para.start : para.end]
            if para.is_heading or para.is_list_item or len(chunk) < 3:
                out.append(Sentence(para.start, para.end, p_index, para.region))
                continue
            _, offs = blingfire.text_to_sentences_and_offsets(chunk)
            for s, e in offs:
                if e > s and chunk[s:e].strip():
                    out.append(Sentence(para.start + s, para.start + e, p_index, para.region))
        return out

    def region_paragraphs(self, *regions: str) -> list[Paragraph]:
        return [p for p in self.paragraphs if p.region in regions]

    def region_sentences(self, *regions: str) -> list[Sentence]:
        return [s for s in self.sentences if s.region in regions]

    @property
    def body_sentences(self) -> list[Sentence]:
        return self.region_sentences("body")

    @cached_property
    def body_text(self) -> str:
        """Body paragraphs joined by blank lines (title, byline, bio and boilerplate removed)."""
        return "\n\n".join(self.span_text(p) for p in self.region_paragraphs("body"))

    @cached_property
    def flat_text(self) -> str:
        """Body text with all whitespace folded to single spaces: the layout-free view."""
        return " ".join(self.body_text.split())

    @cached_property
    def words(self) -> list[str]:
        return _WORD.findall(self.body_text)

    @property
    def word_count(self) -> int:
        return len(self.words)

    @cached_property
    def title(self) -> str | None:
        paras = self.region_paragraphs("title")
        return self.span_text(paras[0]) if paras else self.html_title

    def english_score(self) -> float:
        """Share of word tokens that are common English function words (about 0.3-0.5 in English prose)."""
        words = [w.lower() for w in _WORD.findall(self.text) if not w[0].isdigit()]
        if not words:
            return 0.0
        return sum(w in ENGLISH_STOPWORDS for w in words) / len(words)

    def support_problems(self, *, min_words: int = MIN_WORDS) -> list[str]:
        """Why this text is outside what the detector was built for; empty when it is supported."""
        problems = []
        letters = sum(ch.isalpha() for ch in self.text)
        latin = sum(ch.isascii() and ch.isalpha() for ch in self.text)
        if letters and latin / letters < 0.8:
            problems.append("not English: most letters are not Latin script")
        elif self.english_score() < 0.12:
            problems.append("not English: too few English function words")
        if self.word_count < min_words:
            problems.append(f"too short: {self.word_count} words in the body, at least {min_words} needed")
        if letters / max(1, len(self.text)) < 0.55:
            problems.append("not prose: too few letters (code, tables or numbers?)")
        elif self.sentences and len(self.body_sentences) < 2:
            problems.append("not prose: fewer than two sentences")
        return problems


# -------------------------------------------------------------------- helpers
def decode_bytes(data: bytes, *, encoding: str | None = None, max_bytes: int = DEFAULT_MAX_CHARS * 4) -> str:
    """Decode input bytes, refusing binary data and undecodable text with a clear error."""
    if len(data) > max_bytes:
        raise InputError("too_long", f"input is {len(data):,} bytes; the limit is {max_bytes:,}")
    if not data.strip():
        raise InputError("empty", "input is empty")
    if encoding:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputError("encoding", f"cannot decode input as {encoding}: {exc}") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:8192]:
        raise InputError("binary", "input contains NUL bytes: it is binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            "encoding",
            f"input is not valid UTF-8 (byte {exc.start}); re-encode it or pass an explicit encoding",
        ) from exc


def sniff_format(text: str) -> str:
    head = text.lstrip()[:2000].lower()
    if head.startswith(("<!doctype html", "<html")) or ("<body" in head and "</" in head):
        return "html"
    if re.search(r"^#{1,6} \S", text[:5000], re.M) or re.search(r"\*\*\S", text[:5000]):
        return "markdown"
    return "text"


def _format_from_suffix(path: Path) -> str | None:
    return {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown"}.get(
        path.suffix.lower()
    )


def _looks_binary(text: str) -> bool:
    sample = text[:20000]
    if "\x00" in sample:
        return True
    control = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f\v")
    return control > max(8, len(sample) * 0.01)


def _markdown_deletions(text: str) -> set[int]:
    """Indices of Markdown syntax characters to drop (heading hashes, emphasis, link targets)."""
    drop: set[int] = set()
    for m in _MD_HEADING.finditer(text):
        drop.update(range(m.start(1), m.end()))
    for m in _MD_EMPHASIS.finditer(text):
        drop.update(range(m.start(), m.end()))
    for m in _MD_LINK.finditer(text):
        drop.add(m.start())
        drop.update(range(m.end(1), m.end()))
    return drop


def _normalize(text: str, deletions: set[int]) -> tuple[str, list[int], dict[str, float]]:
    """NFKC + folding, char by char, keeping for each output char the index of its source char.

    Whitespace: runs without a newline become one space; runs with one newline become "\n"; runs with
    two or more become "\n\n" (a paragraph break). Leading/trailing whitespace is dropped.
    """
    out: list[str] = []
    offsets: list[int] = []
    zero_width = homoglyphs = odd_space = 0
    pending_ws: list[tuple[str, int]] = []

    def flush_ws() -> None:
        if not pending_ws:
            return
        if out:
            newlines = sum(1 for ch, _ in pending_ws if ch == "\n")
            sep = " " if newlines == 0 else ("\n" if newlines == 1 else "\n\n")
            for ch in sep:
                out.append(ch)
                offsets.append(pending_ws[0][1])
        pending_ws.clear()

    for i, ch in enumerate(text):
        if i in deletions:
            continue
        if ch in ZERO_WIDTH:
            zero_width += 1
            continue
        if ch == "\r":
            if text[i + 1 : i + 2] == "\n":  # CRLF is one line break, not two
                continue
            ch = "\n"
        if ch.isspace():
            if ch not in (" ", "\n", "\t"):
                odd_space += 1
            pending_ws.append(("\n" if ch in "\n\v\f\u2028\u2029" else " ", i))
            continue
        if ch in HOMOGLYPHS and _has_latin_neighbour(text, i):
            homoglyphs += 1
            mapped = HOMOGLYPHS[ch]
        elif ch in TYPOGRAPHY:
            mapped = TYPOGRAPHY[ch]
        else:
            mapped = unicodedata.normalize("NFKC", ch) if ord(ch) > 127 else ch
        flush_ws()
        for m in mapped:
            if m == " ":
                if out and out[-1] != " ":
                    out.append(" ")
                    offsets.append(i)
                continue
            out.append(m)
            offsets.append(i)
    # trailing whitespace is dropped
    while out and out[-1].isspace():
        out.pop()
        offsets.pop()
    signals = {
        "zero_width_chars": float(zero_width),
        "homoglyph_chars": float(homoglyphs),
        "odd_space_chars": float(odd_space),
    }
    return "".join(out), offsets, signals


def _has_latin_neighbour(text: str, i: int) -> bool:
    window = text[max(0, i - 3) : i] + text[i + 1 : i + 4]
    return any("a" <= c.lower() <= "z" for c in window)


def _paragraphs(norm: str, raw: str, offsets: list[int], *, markdown: bool) -> list[Paragraph]:
    """Split on blank lines (single newlines too, when they separate headings, list items or short lines)
    and assign regions: title, body, byline, bio, boilerplate."""
    spans: list[tuple[int, int]] = []
    for block in re.finditer(r"[^\n]+(?:\n[^\n]+)*", norm):
        lines = list(re.finditer(r"[^\n]+", block.group()))
        # A single newline inside a block is a paragraph break when lines look like separate units.
        current_start = block.start() + lines[0].start()
        for a, b in zip(lines, lines[1:], strict=False):
            if _line_is_unit(a.group()) or _line_is_unit(b.group()) or a.group().rstrip()[-1:] in ".!?:\"'":
                spans.append((current_start, block.start() + a.end()))
                current_start = block.start() + b.start()
        spans.append((current_start, block.start() + lines[-1].end()))
    paras: list[Paragraph] = []
    raw_heading_lines = set()
    if markdown:
        for m in _MD_HEADING.finditer(raw):
            raw_heading_lines.add(m.start())
    raw_list_lines = {m.start() for m in _MD_LIST.finditer(raw)}
    n = len(spans)
    regions = ["body"] * n
    headings = [False] * n
    list_items = [False] * n
    for k, (s, e) in enumerate(spans):
        chunk = norm[s:e]
        raw_start = offsets[s]
        line_start = raw.rfind("\n", 0, raw_start) + 1
        headings[k] = (line_start in raw_heading_lines) or _looks_like_heading(chunk)
        list_items[k] = line_start in raw_list_lines or bool(re.match(r"^(?:[-*•]|\d{1,3}[.)])\s", chunk))
    # title: a first short heading-like paragraph
    if n > 1 and headings[0] and len(norm[spans[0][0] : spans[0][1]].split()) <= 25:
        regions[0] = "title"
    # boilerplate and bio: scan from the end
    byline_at = None
    for k in range(n):
        chunk = norm[spans[k][0] : spans[k][1]]
        if k > 0 and _BYLINE.match(chunk) and len(chunk.split()) <= 12:
            regions[k] = "byline"
            if k >= n // 2:
                byline_at = k
    for k in range(n - 1, 0, -1):
        chunk = norm[spans[k][0] : spans[k][1]]
        if _BOILERPLATE.match(chunk) and len(chunk.split()) <= 40:
            regions[k] = "boilerplate"
        elif regions[k] == "body":
            break
    for k in range(n):
        if regions[k] != "body":
            continue
        chunk = norm[spans[k][0] : spans[k][1]]
        after_byline = byline_at is not None and k > byline_at
        if _BIO_START.match(chunk) or (after_byline and k >= n - 4):
            if k >= n // 2 or after_byline:
                regions[k] = "bio"
    for k, (s, e) in enumerate(spans):
        paras.append(Paragraph(s, e, regions[k], headings[k], list_items[k]))
    return paras


def _line_is_unit(line: str) -> bool:
    return _looks_like_heading(line) or bool(re.match(r"^\s*(?:[-*•]|\d{1,3}[.)])\s", line))


def _looks_like_heading(chunk: str) -> bool:
    words = chunk.split()
    if not words or len(words) > 14:
        return False
    if chunk.rstrip()[-1:] in ".!?,;\"'":
        return False
    if chunk.endswith(":") and len(words) <= 8:
        return True
    capitalized = sum(w[:1].isupper() for w in words)
    return capitalized >= max(1, len(words) * 0.5) and len(words) <= 12
