"""Style: surface statistics of the prose (sentence rhythm, punctuation, readability, person, contractions).

Machine rewrites tend to have even sentence lengths (low burstiness), few quotes, numbers and names,
no contractions and a flat punctuation profile. Everything the classifier uses is computed on the
layout-free view (``flat_view``: body text with whitespace folded, re-segmented into sentences), so
adding or removing paragraph breaks does not move those features; the paragraph, heading and list
features read layout and are listed in ``layout_dependent``.
"""

from __future__ import annotations

import math
import re
from typing import ClassVar

import numpy as np

from ..document import Document
from .base import Extractor, FeatureSet, register
from .textview import WORD_RE, FlatView, flat_view

_VOWEL_GROUPS = re.compile(r"[aeiouy]+")
_QUOTED = re.compile(r'"[^"]{1,2000}"')
_DASH = re.compile(r"(?:(?<=\s)|^)-{1,3}(?=\s)|--")
_CONTRACTION = re.compile(
    r"\b(?:[A-Za-z]+n't|(?:i|you|we|they|he|she|it|that|there|what|who|here|let)'(?:m|re|ve|ll|d|s))\b",
    re.I,
)
FIRST_PERSON = frozenset("i me my mine myself we us our ours ourselves".split())
SECOND_PERSON = frozenset("you your yours yourself yourselves".split())

SHORT_SENTENCE = 8  # words; at most this many is "very short"
LONG_SENTENCE = 30  # words; at least this many is "very long"
LOW_BURSTINESS = 0.30  # sentence-length CV below this, over enough sentences, is flagged as evidence
MIN_SENTENCES_FOR_EVIDENCE = 8


def count_syllables(word: str) -> int:
    """Vowel-group syllable estimate (silent final e dropped); good enough for Flesch scores."""
    w = word.lower()
    if len(w) <= 3:
        return 1
    if w.endswith("e") and not w.endswith(("le", "ee", "ye")):
        w = w[:-1]
    return max(1, len(_VOWEL_GROUPS.findall(w)))


def _cv(values: np.ndarray) -> float:
    if len(values) < 2 or values.mean() <= 0:
        return math.nan
    return float(values.std() / values.mean())


# Layout (paragraph breaks, headings, lists): reported, not used by the default classifiers.
LAYOUT_FEATURES = (
    "style_paragraph_count",
    "style_paragraph_len_mean",
    "style_paragraph_len_cv",
    "style_single_sentence_paragraph_share",
    "style_heading_count",
    "style_list_item_count",
)


@register
class StyleExtractor(Extractor):
    """Sentence rhythm, punctuation, readability and voice; pure Python, no models."""

    name: ClassVar[str] = "style"
    family: ClassVar[str] = "style"
    feature_names: ClassVar[tuple[str, ...]] = (
        "style_sentence_count",
        "style_sentence_len_mean",
        "style_sentence_len_std",
        "style_sentence_len_cv",
        "style_sentence_len_local_diff",
        "style_short_sentence_share",
        "style_long_sentence_share",
        "style_comma_rate",
        "style_semicolon_rate",
        "style_colon_rate",
        "style_dash_rate",
        "style_exclamation_rate",
        "style_question_rate",
        "style_paren_rate",
        "style_quote_word_share",
        "style_quote_sentence_share",
        "style_flesch_reading_ease",
        "style_fk_grade",
        "style_word_len_mean",
        "style_long_word_share",
        "style_number_share",
        "style_capitalized_share",
        "style_first_person_share",
        "style_second_person_share",
        "style_contraction_rate",
    ) + LAYOUT_FEATURES
    layout_dependent: ClassVar[frozenset[str]] = frozenset(LAYOUT_FEATURES)

    def extract(self, doc: Document) -> FeatureSet:
        view = flat_view(doc)
        values = dict.fromkeys(self.feature_names, math.nan)
        values.update(self._layout_features(doc, view))
        sentences = view.sentences
        words = WORD_RE.findall(view.text)
        n_words = len(words)
        values["style_sentence_count"] = float(len(sentences))
        if not sentences or n_words == 0:
            return FeatureSet(values)

        lengths = np.array([len(WORD_RE.findall(s)) for s in sentences], dtype=float)
        values["style_sentence_len_mean"] = float(lengths.mean())
        values["style_sentence_len_std"] = float(lengths.std()) if len(lengths) >= 2 else math.nan
        cv = _cv(lengths)
        values["style_sentence_len_cv"] = cv
        if len(lengths) >= 3 and lengths.mean() > 0:
            # Local burstiness: how much each sentence differs from the next, relative to the mean.
            values["style_sentence_len_local_diff"] = float(np.abs(np.diff(lengths)).mean() / lengths.mean())
        values["style_short_sentence_share"] = float((lengths <= SHORT_SENTENCE).mean())
        values["style_long_sentence_share"] = float((lengths >= LONG_SENTENCE).mean())

        text = view.text
        per100 = 100.0 / n_words
        values["style_comma_rate"] = text.count(",") * per100
        values["style_semicolon_rate"] = text.count(";") * per100
        values["style_colon_rate"] = len(re.findall(r":(?!\d)", text)) * per100
        values["style_dash_rate"] = len(_DASH.findall(text)) * per100
        values["style_exclamation_rate"] = text.count("!") * per100
        values["style_question_rate"] = text.count("?") * per100
        values["style_paren_rate"] = text.count("(") * per100
        quoted_words = sum(len(WORD_RE.findall(m.group())) for m in _QUOTED.finditer(text))
        values["style_quote_word_share"] = min(1.0, quoted_words / n_words)
        values["style_quote_sentence_share"] = sum('"' in s for s in sentences) / len(sentences)

        alpha = [w for w in words if w[0].isalpha()]
        if alpha:
            syllables = sum(count_syllables(w) for w in alpha)
            wps = n_words / len(sentences)
            spw = syllables / len(alpha)
            values["style_flesch_reading_ease"] = 206.835 - 1.015 * wps - 84.6 * spw
            values["style_fk_grade"] = 0.39 * wps + 11.8 * spw - 15.59
            word_lens = np.array([len(w) for w in alpha], dtype=float)
            values["style_word_len_mean"] = float(word_lens.mean())
            values["style_long_word_share"] = float((word_lens >= 7).mean())
            lower = [w.lower() for w in alpha]
            values["style_first_person_share"] = sum(w in FIRST_PERSON for w in lower) / len(lower)
            values["style_second_person_share"] = sum(w in SECOND_PERSON for w in lower) / len(lower)
        values["style_number_share"] = sum(w[0].isdigit() for w in words) / n_words
        values["style_capitalized_share"] = _capitalized_share(sentences)
        values["style_contraction_rate"] = len(_CONTRACTION.findall(text)) * per100

        evidence = []
        if (
            len(lengths) >= MIN_SENTENCES_FOR_EVIDENCE and math.isfinite(cv) and cv < LOW_BURSTINESS
            and view.doc_spans
        ):
            start, end = view.doc_spans[0][0], view.doc_spans[-1][1]
            evidence.append(
                self.evidence(
                    doc, start, end, "uniform_sentences",
                    f"sentence lengths are very uniform (CV {cv:.2f} over {len(lengths)} sentences, "
                    f"mean {lengths.mean():.1f} words); human writing usually varies more",
                    weight=0.3 + 0.5 * (LOW_BURSTINESS - cv) / LOW_BURSTINESS,
                )
            )
        return FeatureSet(values, evidence)

    def _layout_features(self, doc: Document, view: FlatView) -> dict[str, float]:
        body = doc.region_paragraphs("body")
        out: dict[str, float] = {
            "style_heading_count": float(sum(p.is_heading for p in body)),
            "style_list_item_count": float(sum(p.is_list_item for p in body)),
        }
        prose = [p for p in body if not p.is_heading and not p.is_list_item]
        out["style_paragraph_count"] = float(len(prose))
        if prose:
            plens = np.array([len(WORD_RE.findall(doc.span_text(p))) for p in prose], dtype=float)
            out["style_paragraph_len_mean"] = float(plens.mean())
            out["style_paragraph_len_cv"] = _cv(plens)
            index = {id(p): k for k, p in enumerate(doc.paragraphs)}
            counts = {index[id(p)]: 0 for p in prose}
            for k in view.paragraphs:
                if k in counts:
                    counts[k] += 1
            out["style_single_sentence_paragraph_share"] = sum(c <= 1 for c in counts.values()) / len(counts)
        return out


def _capitalized_share(sentences: list[str]) -> float:
    """Share of non-initial words that are capitalized: names, places and organisations in reporting."""
    total = caps = 0
    for s in sentences:
        toks = WORD_RE.findall(s)
        for w in toks[1:]:
            if w[0].isalpha():
                total += 1
                caps += w[0].isupper() and w != "I"
    return caps / total if total else math.nan
