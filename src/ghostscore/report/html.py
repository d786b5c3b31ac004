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
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from ..classifiers.calibration import OperatingPoint
from ..document import Document
from ..results import Score
from .format import (
    CRIT_HIGH,
    CRIT_LOW,
    LEVELS,
    PROMINENT_KINDS,
    VERDICT_TEXT,
    FeatureRanges,
    _asset,
    _clip01,
    _finite,
    _fmt,
    _json_for_script,
    _level,
    _main_features,
    _one_in,
    _overlaps,
    _quote,
    _range_svg,
    _reads_like,
    _valid_ranges,
)
from .marks import _build_marks, _kind_label, _Mark, _render_article


# ---------------------------------------------------------------------------------------------- public API
def render_html(
    score: Score, doc: Document, *, feature_ranges: FeatureRanges | None = None, fpr: float | None = None,
    human_bound: Mapping[str, Any] | None = None,
) -> str:
    """The whole report as one self-contained HTML string.

    ``feature_ranges``: feature -> {"human": [p10, p90], "machine": [p10, p90]} (the model config's
    ``meta.feature_ranges``); the range columns are left out without it. ``fpr``: the false-positive rate
    the verdict threshold was chosen for, used to say what the threshold means; unknown when None.
    ``human_bound``: the model's bound on ``human`` from held-out machine texts (``model_context``), so the page
    says what the band's lower edge means.
    """
    marks = _build_marks(score.evidence)
    levels, level_source = sentence_levels(score, doc)
    article, rendered = _render_article(doc, marks, levels)
    title = doc.title or "Untitled text"
    body = "\n".join(
        [
            _render_header(score, title),
            _render_summary(score, fpr, doc.text, human_bound),
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
    fpr: float | None = None, human_bound: Mapping[str, Any] | None = None,
) -> Path:
    """Write the report to ``path`` (UTF-8). Feature ranges, FPR and the bound on ``human`` come from the model
    when not given (``model_context``)."""
    if feature_ranges is None or fpr is None or human_bound is None:
        ctx = model_context(score.model)
        feature_ranges = feature_ranges if feature_ranges is not None else ctx.get("feature_ranges")
        fpr = fpr if fpr is not None else ctx.get("fpr")
        human_bound = human_bound if human_bound is not None else ctx.get("human_bound")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(score, doc, feature_ranges=feature_ranges, fpr=fpr, human_bound=human_bound),
                    encoding="utf-8")
    return path


def model_context(model: Any) -> dict[str, Any]:
    """``feature_ranges``, ``fpr`` and ``human_bound`` (``max_miss`` and whether it holds per machine group, for
    a model whose ``human`` is bounded by held-out machine texts) of a model: a loaded model object, a model name
    or a directory.

    Best effort: returns an empty dict when the model cannot be found or carries neither.
    """
    meta: Mapping[str, Any] = {}
    op: Any = None
    if isinstance(model, str | Path):
        if not str(model):
            return {}
        try:
            from ..classifiers import resolve_model

            config = json.loads((resolve_model(str(model)) / "config.json").read_text())
        except Exception:  # no such model here: the report simply leaves the columns out
            return {}
        meta = config.get("meta") or {}
        try:
            op = OperatingPoint.from_json(config.get("operating_point"))
        except (KeyError, TypeError, ValueError):  # a partial operating point: say nothing about it
            op = None
    elif model is not None:
        meta = getattr(model, "meta", None) or {}
        op = getattr(model, "operating_point", None)
    op_fpr = getattr(op, "fpr", None)
    out: dict[str, Any] = {}
    if getattr(op, "machine_quantiles", None):
        out["human_bound"] = {"max_miss": float(op.max_miss), "by_group": bool(op.machine_group_quantiles)}
    ranges = meta.get("feature_ranges") if isinstance(meta, Mapping) else None
    if isinstance(ranges, Mapping) and ranges:
        out["feature_ranges"] = ranges
    if isinstance(op_fpr, int | float) and 0 < op_fpr < 1:
        out["fpr"] = float(op_fpr)
    return out


def operating_point_text(score: Score, fpr: float | None, human_bound: Mapping[str, Any] | None = None) -> list[str]:
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
        if human_bound:  # the band's edge is the machine bound: it says nothing about a share of humans
            where = " in every generator/attack group it was calibrated on with enough texts to tell" \
                if human_bound.get("by_group") else ""
            extra = (f". Below {lo:.2f} it is 'human', which the model says only where at most "
                     f"{human_bound['max_miss']:.0%} of machine texts by generators it never saw fall{where}")
        elif fpr is not None and 0 < fpr < 1:
            from ..classifiers.calibration import UNCERTAIN_FACTOR

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


def _render_summary(score: Score, fpr: float | None, doc_text: str,
                    human_bound: Mapping[str, Any] | None = None) -> str:
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
        ops = "".join(f"<li>{escape(line)}</li>" for line in operating_point_text(score, fpr, human_bound))
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
