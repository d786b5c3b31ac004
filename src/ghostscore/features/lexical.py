"""Lexical diversity of the text's opening: the context in which the language model's likelihood is read.

Why: among human texts, the more distinct words a passage uses, the less predictable SmolLM2 finds it (over the
training humans, mean log-prob falls by about 0.4 nats per token for each 0.1 of moving-average type-token ratio).
Recent chat models write text that is both lexically varied and predictable, which the bare likelihood misses and
the likelihood read relative to this diversity catches (the zero-shot share of the hidden head,
``training.candidates.blend_zeroshot``; BENCHMARKS.md, twelfth session). Plain learner prose, low on both, is not
pushed up by it. The figure describes a whole passage, so no span justifies it: the extractor reports no evidence.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import ClassVar

from ..document import Document
from .base import Extractor, FeatureSet, register

WINDOW = 50  # words per moving window: MATTR does not grow or shrink with the text's length
SPAN = 100  # words read from the start: about the 128 tokens the language model reads by default
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def moving_average_ttr(words: list[str], window: int = WINDOW) -> float:
    """Mean share of distinct words over every ``window``-word stretch (Covington & McFall's MATTR); NaN when
    the text is shorter than one window."""
    if len(words) < window:
        return math.nan
    counts = Counter(words[:window])
    distinct = [len(counts)]
    for i in range(window, len(words)):
        counts[words[i]] += 1
        gone = words[i - window]
        counts[gone] -= 1
        if not counts[gone]:
            del counts[gone]
        distinct.append(len(counts))
    return sum(distinct) / (len(distinct) * window)


@register
class LexicalExtractor(Extractor):
    """Moving-average type-token ratio of the first ``SPAN`` words of the flat text; pure Python, no models."""

    name: ClassVar[str] = "lexical"
    family: ClassVar[str] = "lexical"
    feature_names: ClassVar[tuple[str, ...]] = ("lexical_mattr",)

    def extract(self, doc: Document) -> FeatureSet:
        words = WORD.findall(doc.flat_text.lower())[:SPAN]
        return FeatureSet({"lexical_mattr": moving_average_ttr(words)})
