"""Redundancy: content-farm rewrites say the same thing several times.

Signals: word n-grams that recur across sentences, sentence pairs that MiniLM finds near-identical
(a claim and its restatement), a closing that restates the opening, text that compresses well and
low lexical diversity. The restated sentence becomes evidence, linked (``related``) to the sentence
it restates.

Every classifier feature reads the layout-free view (``style.flat_view``): sentences segmented on
the whitespace-folded body, and "opening"/"closing" defined as the first/last 20% of sentences, so
paragraph breaks do not move them. The paragraph-based closing feature is in ``layout_dependent``.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..document import ENGLISH_STOPWORDS, Document
from ..results import Evidence
from .base import Extractor, FeatureSet, register
from .textview import WORD_RE, FlatView, flat_view

MAX_SENTENCES = 200  # per document, for similarity; huge documents are subsampled evenly
MIN_SENTENCE_WORDS = 4  # shorter sentences ("He agreed.") match everything and are left out of similarity
RESTATE_THRESHOLD = 0.75  # cosine at which a sentence counts as restating an earlier one
PAIR_THRESHOLDS = (0.6, 0.75)
NEAR_DUPLICATE = 0.9
# Evidence uses a looser rule than the restated_* features (which stay as trained): a pair whose
# embeddings are fairly close AND that shares content words is a restated claim a reader can check.
EVIDENCE_COSINE = 0.6
EVIDENCE_LEX = 0.25
EDGE_SHARE = 0.2  # opening / closing = first / last 20% of sentences
MAX_EVIDENCE = 12
MATTR_WINDOW = 50
MTLD_THRESHOLD = 0.72


@dataclass
class _Prepared:
    view: FlatView
    sent_words: list[list[str]]
    selected: list[int]  # indices into view sentences that are embedded (long enough, capped)


def _ngram_repeat(sent_words: list[list[str]], n: int) -> float:
    """Share of n-gram occurrences whose n-gram also occurs in another sentence (stopword-only skipped)."""
    per_sentence: list[list[tuple[str, ...]]] = []
    df: Counter[tuple[str, ...]] = Counter()
    for words in sent_words:
        grams = [
            tuple(words[i : i + n]) for i in range(len(words) - n + 1)
            if not all(w in ENGLISH_STOPWORDS for w in words[i : i + n])
        ]
        per_sentence.append(grams)
        df.update(set(grams))
    total = sum(len(g) for g in per_sentence)
    if total == 0:
        return math.nan
    repeated = sum(1 for grams in per_sentence for g in grams if df[g] >= 2)
    return repeated / total


def mtld(words: list[str], threshold: float = MTLD_THRESHOLD) -> float:
    """Measure of textual lexical diversity (McCarthy & Jarvis 2010), mean of both directions.

    Unlike a plain type-token ratio it does not fall with text length, so long and short articles
    compare.
    """
    if len(words) < 10:
        return math.nan

    def one_way(seq: list[str]) -> float:
        factors = 0.0
        types: set[str] = set()
        count = 0
        for w in seq:
            types.add(w)
            count += 1
            if len(types) / count <= threshold:
                factors += 1
                types.clear()
                count = 0
        if count:
            ttr = len(types) / count
            factors += (1 - ttr) / (1 - threshold) if ttr < 1 else 0.0
        return len(seq) / factors if factors > 0 else float(len(seq))

    return (one_way(words) + one_way(words[::-1])) / 2


def mattr(words: list[str], window: int = MATTR_WINDOW) -> float:
    """Moving-average type-token ratio over a fixed window: TTR made comparable across lengths."""
    if len(words) < window:
        return math.nan
    counts: Counter[str] = Counter(words[:window])
    total = len(counts)
    for i in range(window, len(words)):
        out, new = words[i - window], words[i]
        counts[out] -= 1
        if counts[out] == 0:
            del counts[out]
        counts[new] += 1
        total += len(counts)
    return total / (len(words) - window + 1) / window


def _content_matrix(sent_words: list[list[str]]) -> np.ndarray:
    """L2-normalized idf-weighted bag of content words per sentence (lexical, model-free similarity)."""
    bags = [{w.rstrip("s") for w in ws if w not in ENGLISH_STOPWORDS and len(w) > 2} for ws in sent_words]
    vocab: dict[str, int] = {}
    for bag in bags:
        for w in bag:
            vocab.setdefault(w, len(vocab))
    m = np.zeros((len(bags), max(1, len(vocab))), dtype=np.float32)
    for i, bag in enumerate(bags):
        for w in bag:
            m[i, vocab[w]] = 1.0
    df = m.sum(0)
    m *= np.log((1 + len(bags)) / (1 + df)) + 1.0
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)


def _similarity_stats(sim: np.ndarray, prefix: str) -> dict[str, float]:
    """Summaries of a sentence-by-sentence cosine matrix (diagonal ignored)."""
    m = sim.shape[0]
    out: dict[str, float] = {}
    if m < 2:
        return out
    upper = sim[np.triu_indices(m, 1)]
    off = sim.copy()
    np.fill_diagonal(off, -np.inf)
    out[f"{prefix}_max"] = float(upper.max())
    out[f"{prefix}_mean"] = float(upper.mean())
    out[f"{prefix}_best_mean"] = float(off.max(1).mean())
    if m >= 3:
        k = max(1, int(round(EDGE_SHARE * m)))
        block = sim[m - k :, :k]
        out[f"{prefix}_close_open_max"] = float(block.max())
        out[f"{prefix}_close_open_mean"] = float(block.max(1).mean())
    return out


@register
class RedundancyExtractor(Extractor):
    """Repeated n-grams, MiniLM restatements, closing-restates-opening, compression, lexical diversity."""

    name: ClassVar[str] = "redundancy"
    family: ClassVar[str] = "redundancy"
    requires: ClassVar[tuple[str, ...]] = ("encoder",)
    feature_names: ClassVar[tuple[str, ...]] = (
        "redundancy_ngram_repeat_3",
        "redundancy_ngram_repeat_4",
        "redundancy_sim_max",
        "redundancy_sim_mean",
        "redundancy_sim_best_mean",
        "redundancy_adjacent_sim_mean",
        "redundancy_pair_share_060",
        "redundancy_pair_share_075",
        "redundancy_near_duplicate_pairs",
        "redundancy_restated_count",
        "redundancy_restated_share",
        "redundancy_sim_close_open_max",
        "redundancy_sim_close_open_mean",
        "redundancy_lex_max",
        "redundancy_lex_mean",
        "redundancy_lex_best_mean",
        "redundancy_lex_close_open_max",
        "redundancy_lex_close_open_mean",
        "redundancy_zlib_ratio",
        "redundancy_mtld",
        "redundancy_mattr_50",
        # layout: last body paragraph vs first body paragraph
        "redundancy_para_close_open",
    )
    layout_dependent: ClassVar[frozenset[str]] = frozenset({"redundancy_para_close_open"})

    def __init__(self, models: Any = None, *, max_sentences: int = MAX_SENTENCES) -> None:
        super().__init__(models)
        # The encoder dominates the cost (about 150 sentences per CPU-second for MiniLM in fp32); a lower
        # cap bounds the time per document, sampling sentences evenly so opening and closing stay in.
        self.max_sentences = max_sentences

    def _encoder(self) -> Any:
        if self.models is None:  # standalone use: a private provider, so features are never silently NaN
            from ..backbones import ModelProvider

            self.models = ModelProvider()
        return self.models.encoder()

    def extract(self, doc: Document) -> FeatureSet:
        return self.extract_many([doc])[0]

    def extract_many(self, docs: Sequence[Document]) -> list[FeatureSet]:
        """All sentences of all documents go through the encoder in one call (sorted, batched there)."""
        preps = [self._prepare(d) for d in docs]
        texts = [p.view.sentences[i] for p in preps for i in p.selected]
        emb = self._encoder().encode(texts) if texts else np.zeros((0, 384), dtype=np.float32)
        out: list[FeatureSet] = []
        pos = 0
        for doc, prep in zip(docs, preps, strict=True):
            n = len(prep.selected)
            out.append(self._features(doc, prep, emb[pos : pos + n]))
            pos += n
        return out

    # ---------------------------------------------------------------- internals
    def _prepare(self, doc: Document) -> _Prepared:
        view = flat_view(doc)
        sent_words = [[w.lower() for w in WORD_RE.findall(s)] for s in view.sentences]
        eligible = [i for i, ws in enumerate(sent_words) if len(ws) >= MIN_SENTENCE_WORDS]
        if len(eligible) > self.max_sentences:
            picks = np.unique(np.linspace(0, len(eligible) - 1, self.max_sentences).round().astype(int))
            eligible = [eligible[k] for k in picks]
        return _Prepared(view, sent_words, eligible)

    def _features(self, doc: Document, prep: _Prepared, emb: np.ndarray) -> FeatureSet:
        values = dict.fromkeys(self.feature_names, math.nan)
        view, sent_words, sel = prep.view, prep.sent_words, prep.selected
        values["redundancy_ngram_repeat_3"] = _ngram_repeat(sent_words, 3)
        values["redundancy_ngram_repeat_4"] = _ngram_repeat(sent_words, 4)
        flat = view.text.encode("utf-8")
        if flat:
            values["redundancy_zlib_ratio"] = len(zlib.compress(flat, 9)) / len(flat)
        words = [w for ws in sent_words for w in ws]
        values["redundancy_mtld"] = mtld(words)
        values["redundancy_mattr_50"] = mattr(words)

        evidence = []
        extra: dict[str, Any] = {}
        m = len(sel)
        if m >= 2:
            lex = _content_matrix([sent_words[i] for i in sel])
            values.update(_similarity_stats(lex @ lex.T, "redundancy_lex"))
            sim = np.clip(emb @ emb.T, -1.0, 1.0)
            values.update(_similarity_stats(sim, "redundancy_sim"))
            upper = sim[np.triu_indices(m, 1)]
            values["redundancy_pair_share_060"] = float((upper >= PAIR_THRESHOLDS[0]).mean())
            values["redundancy_pair_share_075"] = float((upper >= PAIR_THRESHOLDS[1]).mean())
            values["redundancy_near_duplicate_pairs"] = float((upper >= NEAR_DUPLICATE).sum())
            values["redundancy_adjacent_sim_mean"] = float(np.diag(sim, 1).mean())
            # Best earlier match of each sentence: a restatement points back at what it restates.
            lower = np.tril(sim, -1)
            lower[np.triu_indices(m)] = -np.inf
            best_prev = lower[1:].argmax(1)
            best_prev_sim = lower[1:].max(1)
            restated = best_prev_sim >= RESTATE_THRESHOLD
            values["redundancy_restated_count"] = float(restated.sum())
            values["redundancy_restated_share"] = float(restated.mean())
            evidence = self._restatement_evidence(doc, view, sel, sim, lex @ lex.T)
            values["redundancy_para_close_open"] = self._para_close_open(view, sel, sim)
            extra["redundancy_best_previous"] = [
                {
                    "span": list(view.doc_spans[sel[j + 1]]),
                    "previous": list(view.doc_spans[sel[int(best_prev[j])]]),
                    "cosine": float(best_prev_sim[j]),
                }
                for j in range(m - 1)
            ]
        return FeatureSet(values, evidence, extra)

    def _restatement_evidence(
        self, doc: Document, view: FlatView, sel: list[int], sim: np.ndarray, lex: np.ndarray,
    ) -> list[Evidence]:
        """For each sentence, its best earlier match if it restates it: cosine >= RESTATE_THRESHOLD, or
        cosine >= EVIDENCE_COSINE with shared content words (lexical cosine >= EVIDENCE_LEX)."""
        m = len(sel)
        candidates = []
        for j in range(1, m):
            prev = np.arange(j)
            close = sim[j, prev] >= EVIDENCE_COSINE
            ok = (sim[j, prev] >= RESTATE_THRESHOLD) | (close & (lex[j, prev] >= EVIDENCE_LEX))
            if not ok.any():
                continue
            k = int(prev[ok][np.argmax(sim[j, prev][ok])])
            candidates.append((float(sim[j, k]) + 0.5 * float(lex[j, k]), j, k))
        items = []
        for score, j, k in sorted(candidates, reverse=True)[:MAX_EVIDENCE]:
            later, earlier = sel[j], sel[k]
            cos = float(sim[j, k])
            start, end = view.doc_spans[later]
            kind_word = "repeats" if cos >= NEAR_DUPLICATE else "restates"
            items.append(
                self.evidence(
                    doc, start, end, "restatement",
                    f"{kind_word} sentence {earlier + 1} (cosine {cos:.2f}, shared words {float(lex[j, k]):.2f})",
                    weight=min(1.0, 0.35 + 0.6 * (score - EVIDENCE_COSINE) / (1.5 - EVIDENCE_COSINE)),
                    related=[view.doc_spans[earlier]],
                )
            )
        return items

    @staticmethod
    def _para_close_open(view: FlatView, sel: list[int], sim: np.ndarray) -> float:
        """Layout variant: how well each sentence of the last body paragraph matches the first one."""
        paras = [view.paragraphs[i] for i in sel]
        distinct = sorted(set(paras))
        if len(distinct) < 3:
            return math.nan
        first = [k for k, p in enumerate(paras) if p == distinct[0]]
        last = [k for k, p in enumerate(paras) if p == distinct[-1]]
        return float(sim[np.ix_(last, first)].max(1).mean())
