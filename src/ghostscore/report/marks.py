"""Evidence marks over the article text: overlapping spans merged, each sentence rendered with its shading."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from ..document import Document, Paragraph
from ..results import Evidence
from .format import KIND_LABELS, PROMINENT_KINDS


# ---------------------------------------------------------------------------------------------- marks
@dataclass
class _Mark:
    """A span to mark in the article: an evidence item or the restated sentence of a restatement."""

    start: int
    end: int
    kind: str
    label: str
    reason: str
    id: str
    evidence_index: int
    href: str | None = None
    groups: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)  # ids of findings merged into this mark

    @property
    def category(self) -> str:
        if self.kind in PROMINENT_KINDS:
            return "prominent"
        if self.kind in ("restatement", "restated"):
            return "restate"
        if self.kind == "stock_phrase":
            return "stock"
        return "other"


def _build_marks(evidence: Sequence[Evidence]) -> list[_Mark]:
    marks: list[_Mark] = []
    for i, e in enumerate(evidence):
        label = _kind_label(e.kind)
        start, end = e.start, e.end
        if e.kind == "unfilled_slot" and not any(c.isalnum() for c in e.text):
            # The slot is a gap (" ," where a name belongs): show an explicit placeholder at the gap.
            stripped = len(e.text) - len(e.text.lstrip())
            start = end = e.start + stripped if stripped < len(e.text) else e.end
        mark = _Mark(start, end, e.kind, label, e.reason, f"ev{i}", i)
        marks.append(mark)
        if e.related:
            group = f"p{i}"
            mark.groups.append(group)
            for j, (rs, re_) in enumerate(e.related):
                rel = _Mark(
                    int(rs), int(re_), "restated" if e.kind == "restatement" else "related",
                    "Claim restated later" if e.kind == "restatement" else f"Related to: {label}",
                    f"Restated by another sentence: {e.reason}" if e.kind == "restatement" else e.reason,
                    f"ev{i}r{j}", i, href=f"#ev{i}", groups=[group],
                )
                marks.append(rel)
            mark.href = f"#ev{i}r0"
    return _merge_overlapping(marks)


def _merge_overlapping(marks: list[_Mark]) -> list[_Mark]:
    """Overlapping findings of the same kind (e.g. three template-bio cues in one phrase) become one mark
    that lists every reason, so the text is not chopped into many small boxes. Linked marks stay apart."""
    out: list[_Mark] = []
    open_by_kind: dict[str, _Mark] = {}
    for m in sorted(marks, key=lambda m: (m.start, -m.end)):
        if m.href or m.groups or m.end <= m.start:
            out.append(m)
            continue
        cur = open_by_kind.get(m.kind)
        if cur is not None and m.start < cur.end:
            cur.end = max(cur.end, m.end)
            if m.reason not in cur.reason.split("; "):
                cur.reason = f"{cur.reason}; {m.reason}"
            cur.aliases.append(m.id)
            continue
        open_by_kind[m.kind] = m
        out.append(m)
    return out


def _describe(m: _Mark) -> str:
    """"Label: reason", without repeating the label when the reason already starts with it."""
    if m.reason.lower().startswith(m.label.lower()[:8]):
        return m.reason[:1].upper() + m.reason[1:]
    return f"{m.label}: {m.reason}"


def _kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize() or "Finding")


# ---------------------------------------------------------------------------------------------- article
def _render_article(
    doc: Document, marks: list[_Mark], levels: list[tuple[int, float, str]],
) -> tuple[str, set[str]]:
    """The article as HTML and the ids of the marks that were rendered (others have no anchor)."""
    rendered: set[str] = set()
    sentences = doc.sentences
    paras_html: list[str] = []
    level_of = {(s.start, s.end): levels[k] for k, s in enumerate(sentences)} if levels else {}
    sentence_no = {(s.start, s.end): k + 1 for k, s in enumerate(sentences)}
    for p_index, para in enumerate(doc.paragraphs):
        units = _units(para, [s for s in sentences if s.paragraph == p_index])
        inner: list[str] = []
        for a, b, is_sentence in units:
            content = _render_range(doc.text, a, b, marks, rendered, at_end=(b == para.end))
            if is_sentence and (a, b) in level_of:
                lvl, m, why = level_of[(a, b)]
                n = sentence_no[(a, b)]
                tip = f"Sentence {n}: machine-likeness {m:.2f} ({why})"
                inner.append(
                    f'<span class="s l{lvl}" data-m="{m:.2f}" title="{escape(tip)}">{content}</span>'
                )
            else:
                inner.append(content)
        html = "".join(inner)
        region = para.region
        tag = "p"
        classes = [f"r-{escape(region)}"]
        if region == "title":
            tag = "h3"
            classes.append("art-title")
        elif para.is_heading:
            tag = "h4"
        elif para.is_list_item:
            classes.append("li")
        badge = ""
        if region in ("bio", "byline", "boilerplate"):
            names = {"bio": "author bio", "byline": "byline", "boilerplate": "page boilerplate"}
            badge = f'<span class="region-tag">{names[region]}</span>'
        paras_html.append(f'<{tag} class="{" ".join(classes)}">{badge}{html}</{tag}>')
    if not doc.paragraphs:  # defensive: should not happen for a Document built by its constructors
        paras_html.append(f"<p>{escape(doc.text)}</p>")
    return "\n".join(paras_html), rendered


def _units(para: Paragraph, sentences: Sequence[Any]) -> list[tuple[int, int, bool]]:
    """Contiguous pieces covering the paragraph: sentences and the gaps between them."""
    units: list[tuple[int, int, bool]] = []
    pos = para.start
    for s in sorted(sentences, key=lambda s: s.start):
        start, end = max(s.start, pos), min(s.end, para.end)
        if end <= start:
            continue
        if start > pos:
            units.append((pos, start, False))
        units.append((start, end, True))
        pos = end
    if pos < para.end:
        units.append((pos, para.end, False))
    return units


def _render_range(
    text: str, a: int, b: int, marks: list[_Mark], rendered: set[str], *, at_end: bool,
) -> str:
    """Text [a, b) with the marks that cover it; overlapping marks split into elementary segments."""
    spans = [m for m in marks if m.end > m.start and m.start < b and m.end > a]
    points = [m for m in marks if m.end <= m.start and (a <= m.start < b or (at_end and m.start == b))]
    inner = {m.start for m in spans} | {m.end for m in spans} | {m.start for m in points}
    cuts = sorted({a, b} | {c for c in inner if a < c < b})
    out: list[str] = []
    for x, y in zip(cuts, cuts[1:], strict=False):
        out.extend(_render_point(m, rendered) for m in points if m.start == x)
        active = [m for m in spans if m.start <= x and m.end >= y]
        piece = escape(text[x:y])
        if active and not piece.strip() and all(m.id in rendered for m in active):
            active = []  # whitespace between two sentences of one mark: no separate box
        out.append(_render_segment(piece, active, rendered) if active else piece)
    if at_end:
        out.extend(_render_point(m, rendered) for m in points if m.start == b)
    return "".join(out)


def _render_segment(piece: str, active: list[_Mark], rendered: set[str]) -> str:
    """One elementary piece of text under one or more marks. The first piece of each mark carries its
    id, is focusable and names every finding on it; later pieces only repeat the styling."""
    starting = [m for m in active if m.id not in rendered]
    classes = ["mk"] + [f"c-{c}" for c in sorted({m.category for m in active})]
    groups = sorted({g for m in active for g in m.groups})
    label = "; ".join(_describe(m) for m in active)
    href = next((m.href for m in active if m.href), None)
    attrs = [f'class="{" ".join(classes)}"', f'title="{escape(label)}"']
    anchors = ""
    if starting:
        attrs.insert(0, f'id="{starting[0].id}"')
        extra = [m.id for m in starting[1:]] + [a for m in starting for a in m.aliases]
        anchors = "".join(f'<span class="anchor" id="{a}"></span>' for a in extra)
        rendered.update(m.id for m in starting)
        rendered.update(extra)
        attrs.append(f'aria-label="{escape(label)}"')
        if not href:
            attrs.append('tabindex="0"')
    elif href:
        attrs.append('tabindex="-1"')  # a continuation of a link already in the tab order
    if groups:
        attrs.append(f'data-pair="{" ".join(groups)}"')
    attrs.append(f'data-kinds="{escape(" ".join(sorted({m.kind for m in active})))}"')
    if href:
        return f'{anchors}<a href="{escape(href)}" {" ".join(attrs)}>{piece}</a>'
    return f'{anchors}<mark {" ".join(attrs)}>{piece}</mark>'


def _render_point(m: _Mark, rendered: set[str]) -> str:
    """A zero-width finding (e.g. an empty template slot) as a visible, focusable placeholder."""
    label = _describe(m)
    ident = "" if m.id in rendered else f'id="{m.id}" '
    rendered.add(m.id)
    return (
        f'<mark {ident}class="mk c-{m.category} point" tabindex="0" title="{escape(label)}" '
        f'aria-label="{escape(label)}" data-kinds="{escape(m.kind)}">[empty]</mark>'
    )
