"""Lexical extractor: moving-average type-token ratio of the opening, invariant to layout and length."""

from __future__ import annotations

import math

import pytest

from ghostscore.document import Document
from ghostscore.features import build_extractors
from ghostscore.features.lexical import SPAN, WINDOW, LexicalExtractor, moving_average_ttr

VARIED = ("Harbour officials confirmed on Tuesday that dredging near the northern quay will pause until spring, "
          "after divers found timber pilings older than the customs house. Archaeologists from the regional "
          "museum expect to photograph, measure and sample each post before engineers decide whether the "
          "channel can be widened without disturbing what may be a medieval landing stage. Fishermen, who "
          "lose mooring space during the works, asked for compensation at a crowded meeting.")
PLAIN = ("I think school is good because school is good for we. In school we learn many thing and we have many "
         "friend in school. My friend is good and my teacher is good too. I like school because I learn many "
         "thing and I have many friend. School is good for all student because all student can learn many "
         "thing in school and have friend in school. So I think school is very good.")


def mattr(text: str) -> float:
    return LexicalExtractor().extract(Document.from_text(text)).values["lexical_mattr"]


def test_registered_and_emits_exactly_its_feature() -> None:
    (ext,) = build_extractors(["lexical"])
    assert isinstance(ext, LexicalExtractor)
    fs = ext.extract(Document.from_text(VARIED))
    assert set(fs.values) == {"lexical_mattr"} and fs.evidence == []


def test_moving_average_ttr_by_hand() -> None:
    assert math.isnan(moving_average_ttr(["a"] * (WINDOW - 1)))
    assert moving_average_ttr([f"w{i}" for i in range(WINDOW + 7)]) == 1.0
    assert moving_average_ttr(["a", "b"] * WINDOW) == pytest.approx(2 / WINDOW)
    # windows: [a, b, a] has 2 distinct words, then one slide drops an "a" and adds a "c": [b, a, c] has 3
    assert moving_average_ttr(["a", "b", "a", "c"], window=3) == pytest.approx((2 + 3) / 6)


def test_varied_prose_scores_above_repetitive_learner_prose() -> None:
    assert mattr(VARIED) > mattr(PLAIN) + 0.15


def test_reads_only_the_opening_and_ignores_layout_and_case() -> None:
    assert mattr(VARIED) == mattr(VARIED.upper().replace(". ", ".\n\n"))
    words = VARIED.split()
    assert len(words) > WINDOW
    assert mattr(VARIED + " " + PLAIN * 3) == pytest.approx(
        moving_average_ttr([w.lower().strip(".,") for w in (VARIED + " " + PLAIN * 3).split()][:SPAN]))


def test_too_short_for_one_window_is_missing_not_zero() -> None:
    short = " ".join(VARIED.split()[: WINDOW - 10])
    assert math.isnan(mattr(short))
