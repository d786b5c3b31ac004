"""Small formatting helpers and constants shared by the report's sections and marks."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from typing import Any

from ..results import Score

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
