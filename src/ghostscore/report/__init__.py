"""Self-contained HTML report of a Score: verdict, shaded article, linked findings, feature table.

The output is one HTML file with inline CSS and JS and no external requests of any kind (a
Content-Security-Policy in the page forbids them). Every piece of article text is escaped.

``render_html(score, doc)`` returns the page; ``write_report(score, doc, path)`` writes it, looking up
the model's ``meta.feature_ranges`` and operating point when the model directory can be found.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from ..document import Document, Paragraph
from ..score import Evidence, Score

__all__ = ["render_html", "write_report", "model_context", "operating_point_text", "sentence_levels"]

FeatureRanges = Mapping[str, Mapping[str, Sequence[float]]]

# Findings a moderator should not miss: shown boxed, flagged in the summary and listed first.
PROMINENT_KINDS = ("template_bio", "unfilled_slot", "chatbot_leftover")
KIND_LABELS = {
    "restatement": "Restated claim",
    "restated": "Claim restated later",
    "stock_phrase": "Stock phrase",
    "template_bio": "Template author bio",
    "unfilled_slot": "Unfilled template slot",
    "chatbot_leftover": "Chatbot leftover",
}
VERDICT_TEXT = {
    "ai": ("Likely machine-generated", "The score is above the model's 'ai' threshold."),
    "uncertain": ("Uncertain", "The score is in the band between 'human' and 'ai': review by hand."),
    "human": ("No strong sign of machine generation",
              "The score is below the uncertain band. This is not proof that a person wrote it."),
    "unsupported": ("Not scored", "ghostscore abstained: this text is outside what the model can judge."),
}
# Per-sentence LM criterion -> machine-likeness in [0, 1]: crit at or below CRIT_LOW reads as human,
# at or above CRIT_HIGH as machine (Fast-DetectGPT style normalised curvature; higher = more machine-like).
CRIT_LOW, CRIT_HIGH = 0.0, 3.0
LEVELS = 5  # shading levels 0 (none) .. 4 (strongest)
MAX_FEATURES = 12


# ---------------------------------------------------------------------------------------------- public API
def render_html(
    score: Score, doc: Document, *, feature_ranges: FeatureRanges | None = None, fpr: float | None = None,
) -> str:
    """The whole report as one self-contained HTML string.

    ``feature_ranges``: feature -> {"human": [p10, p90], "machine": [p10, p90]} (the model config's
    ``meta.feature_ranges``); the range columns are left out without it. ``fpr``: the false-positive rate
    the verdict threshold was chosen for, used to say what the threshold means; unknown when None.
    """
    marks = _build_marks(score.evidence)
    levels, level_source = sentence_levels(score, doc)
    article, rendered = _render_article(doc, marks, levels)
    title = doc.title or "Untitled text"
    body = "\n".join(
        [
            _render_header(score, title),
            _render_summary(score, fpr, doc.text),
            _render_legend(level_source),
            '<section class="article" aria-labelledby="h-article"><h2 id="h-article">The text</h2>'
            '<p id="detail" class="detail" aria-live="polite">Tab to or point at a marked passage to see why '
            f'it is marked.</p><div class="doc">{article}</div></section>',
            _render_findings(score, marks, rendered),
            _render_features(score, feature_ranges),
            _render_footer(score),
        ]
    )
    script = _asset("report.js")
    script_hash = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    page = _asset("template.html")
    replacements = {
        "@@TITLE@@": escape(f"ghostscore report: {title}"[:200]),
        "@@SCRIPT_HASH@@": script_hash,
        "@@CSS@@": _asset("report.css"),
        "@@BODY@@": body,
        "@@JS@@": script,
        "@@DATA@@": _json_for_script(score),
    }
    # One pass over the template only, so placeholder-like strings in the article are never expanded.
    return re.sub(r"@@([A-Z_]+)@@", lambda m: replacements.get(m.group(0), m.group(0)), page)


def write_report(
    score: Score, doc: Document, path: str | Path, *, feature_ranges: FeatureRanges | None = None,
    fpr: float | None = None,
) -> Path:
    """Write the report to ``path`` (UTF-8). Feature ranges and FPR come from the model when not given."""
    if feature_ranges is None or fpr is None:
        ctx = model_context(score.model)
        feature_ranges = feature_ranges if feature_ranges is not None else ctx.get("feature_ranges")
        fpr = fpr if fpr is not None else ctx.get("fpr")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(score, doc, feature_ranges=feature_ranges, fpr=fpr), encoding="utf-8")
    return path


def model_context(model: Any) -> dict[str, Any]:
    """``feature_ranges`` and ``fpr`` of a model: a loaded model object, a model name or a directory.

    Best effort: returns an empty dict when the model cannot be found or carries neither.
    """
    meta: Mapping[str, Any] = {}
    op_fpr: float | None = None
    if isinstance(model, str | Path):
        if not str(model):
            return {}
        try:
            from ..detector import resolve_model

            config = json.loads((resolve_model(str(model)) / "config.json").read_text())
        except Exception:  # no such model here: the report simply leaves the columns out
            return {}
        meta = config.get("meta") or {}
        op_fpr = (config.get("operating_point") or {}).get("fpr")
    elif model is not None:
        meta = getattr(model, "meta", None) or {}
        op = getattr(model, "operating_point", None)
        op_fpr = getattr(op, "fpr", None)
    out: dict[str, Any] = {}
    ranges = meta.get("feature_ranges") if isinstance(meta, Mapping) else None
    if isinstance(ranges, Mapping) and ranges:
        out["feature_ranges"] = ranges
    if isinstance(op_fpr, int | float) and 0 < op_fpr < 1:
        out["fpr"] = float(op_fpr)
    return out


def operating_point_text(score: Score, fpr: float | None) -> list[str]:
    """Plain-language sentences saying what the threshold and the uncertain band mean."""
    if score.ai_probability is None:
        return []
    band = score.uncertain_band
    hi = score.threshold if score.threshold is not None else (band[1] if band else 0.5)
    lines = [f"A text is called machine-generated when P(machine) is at least {hi:.2f}."]
    if fpr is not None and 0 < fpr < 1:
        lines.append(
            f"At this threshold about {_one_in(fpr)} human-written articles is wrongly flagged "
            "(measured on the model's validation texts)."
        )
    else:
        lines.append("How often human-written articles pass this threshold is not recorded for this model.")
    if band and band[0] < band[1]:
        lo = band[0]
        extra = ""
        if fpr is not None and 0 < fpr < 1:
            from ..classifier import UNCERTAIN_FACTOR

            extra = f"; about {_one_in(min(0.5, fpr * UNCERTAIN_FACTOR))} human-written articles reach it"
        lines.append(f"From {lo:.2f} up to the threshold the verdict is 'uncertain'{extra}.")
    lines.append(
        "The probability is calibrated on validation data with its own mix of human and machine texts; "
        "on a site where machine text is rarer, a flag is more often a false alarm."
    )
    return lines


def sentence_levels(score: Score, doc: Document) -> tuple[list[tuple[int, float, str]], str]:
    """Per ``doc.sentences`` entry: (shading level 0..LEVELS-1, machine-likeness 0..1, explanation).

    From the LM's ``sentence_scores`` (criterion ``crit``) when present, else from evidence density.
    The second value names the source: "lm" or "evidence".
    """
    sentences = doc.sentences
    usable = [s for s in score.sentence_scores if _finite(s.get("crit")) and "start" in s and "end" in s]
    out: list[tuple[int, float, str]] = []
    if usable:
        exact = {(int(s["start"]), int(s["end"])): s for s in usable}
        for sent in sentences:
            best, best_overlap = exact.get((sent.start, sent.end)), 0
            for s in usable if best is None else ():
                overlap = min(sent.end, int(s["end"])) - max(sent.start, int(s["start"]))
                if overlap > best_overlap:
                    best, best_overlap = s, overlap
            if best is None:
                out.append((0, 0.0, "no language-model score for this sentence"))
                continue
            crit = float(best["crit"])
            m = _clip01((crit - CRIT_LOW) / (CRIT_HIGH - CRIT_LOW))
            parts = [f"criterion {crit:.2f}"]
            if _finite(best.get("mean_logprob")):
                parts.append(f"mean log-prob {float(best['mean_logprob']):.2f}")
            if _finite(best.get("mean_entropy")):
                parts.append(f"mean entropy {float(best['mean_entropy']):.2f}")
            out.append((_level(m), m, "language model: " + ", ".join(parts)))
        return out, "lm"
    for sent in sentences:
        hits = [e for e in score.evidence if _overlaps(e.start, e.end, sent.start, sent.end)]
        m = _clip01(sum(e.weight for e in hits))
        out.append((_level(m), m, f"{len(hits)} finding(s) in this sentence" if hits else "no findings"))
    return out, "evidence"


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


# ---------------------------------------------------------------------------------------------- sections
def _render_header(score: Score, title: str) -> str:
    head, sub = VERDICT_TEXT[score.verdict]
    if score.ai_probability is None:
        prob = '<p class="prob"><span class="big">&mdash;</span> no probability</p>'
    else:
        prob = (
            f'<p class="prob"><span class="big">{score.ai_probability:.0%}</span> '
            f'P(machine) = {score.ai_probability:.3f}</p>'
        )
    return (
        '<header class="top">'
        '<p class="brand">ghostscore report</p>'
        f'<h1>{escape(title)}</h1>'
        f'<div class="verdict v-{score.verdict}" role="status">'
        f'<p class="vlabel"><span class="vword">{escape(score.verdict.upper())}</span> '
        f'<span class="vhead">{escape(head)}</span></p>{prob}<p class="vsub">{escape(sub)}</p>'
        f"{_render_meter(score)}</div></header>"
    )


def _render_meter(score: Score) -> str:
    """Probability scale with the human / uncertain / ai zones and a marker at the score."""
    if score.ai_probability is None:
        return ""
    band = score.uncertain_band
    hi = score.threshold if score.threshold is not None else (band[1] if band else 0.5)
    lo = band[0] if band else hi
    lo, hi = _clip01(min(lo, hi)), _clip01(hi)
    p = score.ai_probability
    desc = (
        f"Probability scale: human below {lo:.2f}, uncertain from {lo:.2f} to {hi:.2f}, "
        f"ai from {hi:.2f}; this text scores {p:.2f}."
    )
    return (
        f'<div class="meter" role="img" aria-label="{escape(desc)}">'
        f'<div class="zone z-human" style="width:{lo * 100:.1f}%"><span>human</span></div>'
        f'<div class="zone z-uncertain" style="width:{(hi - lo) * 100:.1f}%"><span>uncertain</span></div>'
        f'<div class="zone z-ai" style="width:{(1 - hi) * 100:.1f}%"><span>ai</span></div>'
        f'<div class="needle" style="left:{p * 100:.1f}%"></div></div>'
        '<div class="scale" aria-hidden="true"><span>0</span><span>0.5</span><span>1</span></div>'
    )


def _render_summary(score: Score, fpr: float | None, doc_text: str) -> str:
    parts = ['<section class="summary" aria-labelledby="h-summary"><h2 id="h-summary">What this means</h2>']
    if score.verdict == "unsupported":
        reasons = "".join(f"<li>{escape(r)}</li>" for r in score.reasons) or "<li>no reason given</li>"
        parts.append(
            '<div class="unsupported" role="alert"><p><strong>No verdict.</strong> ghostscore did not score '
            "this text because a score would not be reliable. It abstains instead of guessing when a text "
            "is too short, not English prose, or otherwise unlike what the model was validated on:</p>"
            f"<ul>{reasons}</ul><p>Any findings shown below come from the individual checks; they are "
            "listed for information and did not produce a verdict. Judge this text by hand.</p></div>"
        )
    else:
        ops = "".join(f"<li>{escape(line)}</li>" for line in operating_point_text(score, fpr))
        parts.append(f'<ul class="oppoint">{ops}</ul>')
        if score.reasons:
            parts.append("<p>Model notes:</p><ul>" + "".join(f"<li>{escape(r)}</li>" for r in score.reasons)
                         + "</ul>")
    items = []
    for kind in PROMINENT_KINDS:
        found = sorted((i for i, e in enumerate(score.evidence) if e.kind == kind),
                       key=lambda i: score.evidence[i].start)
        if not found:
            continue
        reasons = list(dict.fromkeys(score.evidence[i].reason for i in found))
        why = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
        start = min(score.evidence[i].start for i in found)
        end = max(score.evidence[i].end for i in found)
        snippet = doc_text[start:end] if end - start <= 240 else score.evidence[found[0]].text
        count = f" ({len(found)})" if len(found) > 1 else ""
        items.append(
            f'<li><a href="#ev{found[0]}"><strong>{escape(_kind_label(kind))}</strong></a>{count}: '
            f"{escape(why)}{_quote(snippet)}</li>"
        )
    if items:
        parts.append(
            '<div class="keyfindings" role="note" aria-labelledby="h-key"><h3 id="h-key">'
            '<span aria-hidden="true">&#9873;</span> Key findings</h3>'
            "<p>Strong, specific signs of a generated or templated page:</p>"
            f"<ul>{''.join(items)}</ul></div>"
        )
    parts.append(
        '<p class="caveat">A detector score is evidence, not proof. '
        "Check the marked passages before acting.</p>"
    )
    parts.append("</section>")
    return "".join(parts)


def _render_legend(level_source: str) -> str:
    src = (
        "how predictable the language model found each sentence"
        if level_source == "lm" else "how many findings fall in each sentence (no language-model scores)"
    )
    swatches = "".join(
        f'<span class="s l{k} sw" aria-hidden="true">&nbsp;&nbsp;&nbsp;</span>' for k in range(1, LEVELS)
    )
    return (
        '<section class="legend" aria-labelledby="h-legend"><h2 id="h-legend">How to read the text</h2><ul>'
        f"<li>Sentence shading {swatches} from light to strong: more machine-like, judged by {src}.</li>"
        '<li><mark class="mk c-stock">stock phrase</mark> wavy underline: a phrase generated text '
        "overuses.</li>"
        '<li><mark class="mk c-restate">restated claim</mark> dashed box: a claim said again in other words; '
        "focus, hover or follow it to see its pair.</li>"
        '<li><mark class="mk c-prominent">template / leftover</mark> thick box: template bio, '
        "unfilled slot or chatbot leftover.</li>"
        '<li><mark class="mk c-other">other finding</mark> dotted underline: language-model or '
        "style signal.</li>"
        '<li class="screen-only">Use Tab to move between marked passages; the bar above the text says why '
        "each is marked, and the findings list has them all.</li></ul></section>"
    )


def _render_findings(score: Score, marks: list[_Mark], rendered: set[str]) -> str:
    if not score.evidence:
        return (
            '<section class="findings" aria-labelledby="h-findings"><h2 id="h-findings">Findings</h2>'
            "<p>No specific findings: the checks did not mark any passage.</p></section>"
        )
    order = sorted(
        range(len(score.evidence)),
        key=lambda i: (score.evidence[i].kind not in PROMINENT_KINDS, -score.evidence[i].weight),
    )
    rows = []
    for i in order:
        e = score.evidence[i]
        mid = f"ev{i}"
        where = f'<a href="#{mid}">show in text</a>' if mid in rendered else "not in the shown text"
        if e.kind == "restatement" and e.related:
            links = ", ".join(
                f'<a href="#ev{i}r{j}">restated sentence</a>' if f"ev{i}r{j}" in rendered
                else "restated sentence" for j in range(len(e.related))
            )
            where += f" &middot; {links}"
        cls = ' class="prominent"' if e.kind in PROMINENT_KINDS else ""
        rows.append(
            f"<tr{cls}><td>{escape(_kind_label(e.kind))}</td><td>{escape(e.reason)}"
            f"{_quote(e.text)}</td><td>{escape(e.extractor)}</td>"
            f'<td class="num">{e.weight:.2f}</td><td>{where}</td></tr>'
        )
    return (
        '<section class="findings" aria-labelledby="h-findings"><h2 id="h-findings">Findings</h2>'
        '<table><caption>Every finding, strongest first (template and leftover findings at the top)</caption>'
        '<thead><tr><th scope="col">Finding</th><th scope="col">Why</th><th scope="col">Check</th>'
        '<th scope="col">Strength</th><th scope="col">Where</th></tr></thead><tbody>'
        + "".join(rows) + "</tbody></table></section>"
    )


def _render_features(score: Score, feature_ranges: FeatureRanges | None) -> str:
    ranges = _valid_ranges(feature_ranges)
    names = _main_features(score, ranges)
    if not names:
        return ""
    has_contrib = any(n in score.contributions for n in names)
    head = ['<th scope="col">Feature</th>', '<th scope="col">This text</th>']
    if has_contrib:
        head.append('<th scope="col">Pushes towards</th>')
    if ranges:
        head += ['<th scope="col">Typical human (p10&ndash;p90)</th>',
                 '<th scope="col">Typical machine (p10&ndash;p90)</th>',
                 '<th scope="col">Reads like</th>', '<th scope="col">Position</th>']
    rows = []
    for name in names:
        value = score.features.get(name, math.nan)
        cells = [f"<th scope=\"row\"><code>{escape(name)}</code></th>", f'<td class="num">{_fmt(value)}</td>']
        if has_contrib:
            c = score.contributions.get(name)
            if _finite(c):
                towards = "machine" if c > 0 else "human"
                cells.append(f'<td class="t-{towards}">{towards} ({c:+.2f})</td>')
            else:
                cells.append("<td>&mdash;</td>")
        if ranges:
            r = ranges.get(name)
            if r:
                (h0, h1), (m0, m1) = r["human"], r["machine"]
                cells += [f'<td class="num">{_fmt(h0)} &ndash; {_fmt(h1)}</td>',
                          f'<td class="num">{_fmt(m0)} &ndash; {_fmt(m1)}</td>',
                          f"<td>{_reads_like(value, r)}</td>", f"<td>{_range_svg(value, r)}</td>"]
            else:
                cells += ["<td>&mdash;</td>"] * 4
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = (
        "Ranges are the 10th to 90th percentile of each feature on the model's human and machine "
        "training texts."
        if ranges else "Typical human and machine ranges are not available for this model."
    )
    return (
        '<section class="features" aria-labelledby="h-features"><h2 id="h-features">Main features</h2>'
        f'<p>{note}</p><table><caption>Features that weigh most in this score</caption><thead><tr>'
        + "".join(head) + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>"
    )


def _render_footer(score: Score) -> str:
    model = escape(score.model or "unknown")
    return (
        f'<footer><p>Model: <code>{model}</code>. Generated by ghostscore. This page is self-contained and '
        "makes no network requests.</p></footer>"
    )


# ---------------------------------------------------------------------------------------------- helpers
def _main_features(score: Score, ranges: dict[str, dict[str, tuple[float, float]]]) -> list[str]:
    contrib = {k: v for k, v in score.contributions.items() if _finite(v)}
    if contrib:
        return sorted(contrib, key=lambda k: -abs(contrib[k]))[:MAX_FEATURES]
    with_ranges = [n for n in score.features if n in ranges]
    if with_ranges:
        return with_ranges[:MAX_FEATURES]
    return sorted(n for n, v in score.features.items() if _finite(v))[:MAX_FEATURES]


def _valid_ranges(feature_ranges: FeatureRanges | None) -> dict[str, dict[str, tuple[float, float]]]:
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for name, r in (feature_ranges or {}).items():
        try:
            h = tuple(float(x) for x in r["human"])
            m = tuple(float(x) for x in r["machine"])
        except (KeyError, TypeError, ValueError):
            continue
        if len(h) == 2 and len(m) == 2 and all(map(math.isfinite, h + m)):
            out[str(name)] = {"human": (min(h), max(h)), "machine": (min(m), max(m))}
    return out


def _reads_like(value: float, r: Mapping[str, tuple[float, float]]) -> str:
    if not _finite(value):
        return "&mdash;"
    in_h = r["human"][0] <= value <= r["human"][1]
    in_m = r["machine"][0] <= value <= r["machine"][1]
    if in_h and in_m:
        return "either"
    if in_m:
        return '<strong class="t-machine">machine</strong>'
    if in_h:
        return '<span class="t-human">human</span>'
    return "outside both"


def _range_svg(value: float, r: Mapping[str, tuple[float, float]]) -> str:
    """Tiny inline chart: human band (blue, top), machine band (orange, bottom), value as a black line."""
    lo = min(r["human"][0], r["machine"][0])
    hi = max(r["human"][1], r["machine"][1])
    if _finite(value):
        lo, hi = min(lo, value), max(hi, value)
    pad = (hi - lo) * 0.08 or 1.0
    lo, hi = lo - pad, hi + pad

    def x(v: float) -> float:
        return 4 + 152 * (v - lo) / (hi - lo)

    (h0, h1), (m0, m1) = r["human"], r["machine"]
    desc = f"human {_fmt(h0)} to {_fmt(h1)}, machine {_fmt(m0)} to {_fmt(m1)}, this text {_fmt(value)}"
    marker = (
        f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="1" y2="21" stroke="#000" stroke-width="2"/>'
        if _finite(value) else ""
    )
    return (
        '<svg class="rng" width="160" height="22" viewBox="0 0 160 22" role="img" '
        f'aria-label="{escape(desc)}">'
        f'<rect x="{x(h0):.1f}" y="3" width="{max(1.0, x(h1) - x(h0)):.1f}" height="7" fill="#0072B2"/>'
        f'<rect x="{x(m0):.1f}" y="12" width="{max(1.0, x(m1) - x(m0)):.1f}" height="7" fill="#E69F00"/>'
        f"{marker}</svg>"
    )


def _quote(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    if not text:
        return ""
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return f' <q class="snip">{escape(text)}</q>'


def _json_for_script(score: Score) -> str:
    """Score summary for scripts, safe inside <script type="application/json">."""
    data = {"verdict": score.verdict, "ai_probability": score.ai_probability, "model": score.model}
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    return (resources.files(__package__) / name).read_text(encoding="utf-8")


def _one_in(rate: float) -> str:
    return f"1 in {round(1.0 / rate):,}"


def _level(m: float) -> int:
    if m < 0.15:
        return 0
    return min(LEVELS - 1, 1 + int(m * (LEVELS - 1) * 0.999))


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1 if a1 > a0 else b0 <= a0 < b1


def _clip01(x: float) -> float:
    return 0.0 if not math.isfinite(x) else max(0.0, min(1.0, x))


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _fmt(x: Any) -> str:
    if not _finite(x):
        return "&mdash;"
    x = float(x)
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-3):
        return f"{x:.2e}"
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"
