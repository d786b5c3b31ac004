"""Language-model evidence from SmolLM2: how predictable each token of the article is.

Machine text sits in the model's high-probability region: high mean log-prob, low ranks (GLTR), and a
positive Fast-DetectGPT analytic criterion (observed log-prob above what the model itself expects, in
units of its own standard deviation). Scored on ``doc.flat_text`` (whitespace folded) so paragraph
layout, which some corpora destroyed for one label only, cannot leak in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..document import Document
from .base import Extractor, FeatureSet, register

# GLTR buckets are disjoint: rank 1, 2-10, 11-100, 101-1000 (the remainder is implied).
_BUCKETS = ((1, 1), (2, 10), (11, 100), (101, 1000))
# The verdict reads the first LM_TOKEN_BUDGET tokens of the flat text (BENCHMARKS.md: AUROC vs tokens);
# the feature table is built with the same budget, so what is trained is what is served.
LM_TOKEN_BUDGET = 256
MIN_SENTENCE_TOKENS = 3
EVIDENCE_CRIT = 2.0  # a sentence at or above this criterion is shown as evidence
MAX_EVIDENCE = 5


def _flat_to_text(doc: Document) -> np.ndarray | None:
    """Index into ``doc.text`` of every character of ``doc.flat_text`` (None if they disagree)."""
    chars: list[str] = []
    index: list[int] = []
    for para in doc.region_paragraphs("body"):
        i, end = para.start, para.end
        while i < end:
            if doc.text[i].isspace():
                i += 1
                continue
            j = i
            while j < end and not doc.text[j].isspace():
                j += 1
            if chars:
                chars.append(" ")
                index.append(i - 1 if i > 0 else i)
            chars.extend(doc.text[i:j])
            index.extend(range(i, j))
            i = j
    if "".join(chars) != doc.flat_text:
        return None
    return np.asarray(index, dtype=np.int64)


def token_features(logprob: np.ndarray, rank: np.ndarray, entropy: np.ndarray,
                   variance: np.ndarray) -> dict[str, float]:
    """The document-level LM features from per-token statistics: the one function that serving
    (``LMExtractor``) and training from the feature table both call."""
    lp = np.asarray(logprob, np.float64)
    ok = np.isfinite(lp)
    v = {n: math.nan for n in TOKEN_FEATURES}
    if ok.sum() < 2:  # empty or one-word text: nothing to say
        return v
    lp, ent, var = lp[ok], np.asarray(entropy, np.float64)[ok], np.asarray(variance, np.float64)[ok]
    rank = np.asarray(rank)[ok].astype(np.float64)
    n = len(lp)
    v["lm_logprob_mean"] = float(lp.mean())
    v["lm_logprob_std"] = float(lp.std())
    v["lm_logrank_mean"] = float(np.log(rank).mean())
    v["lm_entropy_mean"] = float(ent.mean())
    for (lo, hi), name in zip(_BUCKETS, ("top1", "top10", "top100", "top1000"), strict=True):
        v[f"lm_gltr_{name}"] = float(np.mean((rank >= lo) & (rank <= hi)))
    crit = criterion(lp, ent, var)
    v["lm_fdg_crit"] = crit
    v["lm_fdg_crit_norm"] = crit / math.sqrt(n) if math.isfinite(crit) else math.nan
    v["lm_logprob_entropy_ratio"] = float(-lp.mean() / ent.mean()) if ent.mean() > 0 else math.nan
    return v


TOKEN_FEATURES = (
    "lm_logprob_mean", "lm_logprob_std", "lm_logrank_mean", "lm_entropy_mean",
    "lm_gltr_top1", "lm_gltr_top10", "lm_gltr_top100", "lm_gltr_top1000",
    "lm_fdg_crit", "lm_fdg_crit_norm", "lm_logprob_entropy_ratio",
)


def criterion(logprob: np.ndarray, entropy: np.ndarray, variance: np.ndarray) -> float:
    """Fast-DetectGPT analytic criterion: (sum log p - sum E[log p]) / sqrt(sum Var[log p])."""
    var = float(np.sum(variance))
    if len(logprob) == 0 or var <= 0:
        return math.nan
    return float((np.sum(logprob) + np.sum(entropy)) / math.sqrt(var))


@register
class LMExtractor(Extractor):
    """Per-document and per-sentence token-predictability statistics from SmolLM2."""

    name = "lm"
    family = "lm"
    requires = ("lm",)
    version = "2"  # features from the first LM_TOKEN_BUDGET tokens (v1: whole text)
    feature_names = (*TOKEN_FEATURES, "lm_sentence_logprob_std", "lm_tokens")
    # lm_sentence_logprob_std depends on how much of the text was scored (budget vs full): evidence only.
    layout_dependent = frozenset({"lm_tokens", "lm_sentence_logprob_std"})

    def __init__(self, models: Any = None, budget: int | None = LM_TOKEN_BUDGET, hidden: bool = False) -> None:
        super().__init__(models)
        self.budget = budget
        self.hidden = hidden  # also pool the middle layer's hidden state (FeatureSet.extra["lm_hidden"])

    @property
    def cache_version(self) -> str:
        return f"{self.version}-budget{self.budget}"

    def _scorer(self) -> Any:
        if self.models is None:
            from ..backbones import ModelProvider

            self.models = ModelProvider()
        return self.models.language_model(hidden=True) if self.hidden else self.models.language_model()

    def extract(self, doc: Document) -> FeatureSet:
        return self.extract_many([doc])[0]

    def extract_many(self, docs: Sequence[Document], *, full: bool = False) -> list[FeatureSet]:
        """All documents go through one scorer call, so windows of every document share batches.

        The features always read the first ``budget`` tokens; ``full=True`` (reports) scores the whole
        text so every sentence can be highlighted, which leaves those features unchanged.
        """
        if not docs:
            return []
        texts = [d.flat_text for d in docs]
        scorer = self._scorer()
        if self.hidden and not full:
            stats = scorer.score_tokens(texts, max_tokens=self.budget, hidden=True)
        else:
            stats = scorer.score_tokens(texts, max_tokens=None if full else self.budget)
        sets = [self._features(d, s) for d, s in zip(docs, stats, strict=True)]
        if self.hidden:  # pooled over the budget, as trained; a full (report) pass scores the budget once more
            pooled = stats if not full else scorer.score_tokens(texts, max_tokens=self.budget, hidden=True)
            for fs, st in zip(sets, pooled, strict=True):
                fs.extra["lm_hidden"] = st.hidden
        return sets

    def _features(self, doc: Document, st: Any) -> FeatureSet:
        fs = self.empty()
        fs.extra["sentence_scores"] = []
        fs.values["lm_tokens"] = float(st.n_tokens)
        k = max(0, (self.budget or st.n_scored + 1) - 1)
        budget = {"logprob": st.logprob[:k], "rank": st.rank[:k], "entropy": st.entropy[:k],
                  "variance": st.variance[:k]}
        fs.values.update(token_features(**budget))
        fs.extra["lm_token_stats"] = budget  # what the sequence classifier reads
        ok = np.isfinite(np.asarray(st.logprob, np.float64))
        if ok.sum() < 2:
            return fs
        sentences = self._sentence_scores(doc, st, ok)
        fs.extra["sentence_scores"] = sentences
        means = [s["mean_logprob"] for s in sentences if s["n_tokens"] >= MIN_SENTENCE_TOKENS]
        if len(means) >= 2:
            fs.values["lm_sentence_logprob_std"] = float(np.std(means))
        fs.evidence.extend(self._evidence(doc, sentences))
        return fs

    def _sentence_scores(self, doc: Document, st: Any, ok: np.ndarray) -> list[dict[str, Any]]:
        """Token stats grouped by body sentence (offsets into ``doc.text``) for highlighting."""
        index = _flat_to_text(doc)
        sents = doc.body_sentences
        if index is None or not sents or len(index) == 0:
            return []
        offs = np.asarray(st.scored_offsets)[ok]
        last = np.clip(offs[:, 1] - 1, 0, len(index) - 1)  # last char of a token is never the space
        pos = index[last]
        starts = np.asarray([s.start for s in sents])
        which = np.searchsorted(starts, pos, side="right") - 1
        lp = np.asarray(st.logprob)[ok]
        ent = np.asarray(st.entropy)[ok]
        var = np.asarray(st.variance)[ok]
        out = []
        for k, sent in enumerate(sents):
            m = (which == k) & (pos < sent.end)
            cnt = int(m.sum())
            if cnt == 0:
                continue
            out.append({
                "start": sent.start, "end": sent.end, "n_tokens": cnt,
                "mean_logprob": float(lp[m].mean()), "mean_entropy": float(ent[m].mean()),
                "crit": criterion(lp[m], ent[m], var[m]),
            })
        return out

    def _evidence(self, doc: Document, sentences: list[dict[str, Any]]) -> list[Any]:
        strong = [s for s in sentences if s["n_tokens"] >= 8 and math.isfinite(s["crit"])
                  and s["crit"] >= EVIDENCE_CRIT]
        strong.sort(key=lambda s: s["crit"], reverse=True)
        return [
            self.evidence(
                doc, s["start"], s["end"], "predictable_sentence",
                f"the language model found this sentence unusually predictable (criterion {s['crit']:.1f}, "
                f"mean log-prob {s['mean_logprob']:.2f})",
                weight=min(1.0, s["crit"] / 6.0),
            )
            for s in strong[:MAX_EVIDENCE]
        ]
