"""Training rows from the stored LM feature table: LM statistics, per-token sequences, pooled hidden states
and the cheap hand features, row-aligned, without running the language model.

The LM numbers go through ``features.lm.token_features`` (what the ``lm`` extractor computes when it
serves) and the hand features through ``features.pipeline.feature_frame`` (cached), so a model trained
here reads exactly what the Detector gives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..classifiers.hidden import MID_LAYER
from ..classifiers.sequence import sequence_channels
from ..errors import InputError
from ..features import build_extractors
from ..features.cache import FeatureCache
from ..features.lm import TOKEN_FEATURES, token_features
from ..features.pipeline import default_cache_path, feature_frame, make_documents
from ..textkey import text_key
from .data import load_labeled
from .feature_table import TableSpec, read_table
from .pooled_hidden import pooled_sets, read_pooled

SEQ_CHANNELS = ("logprob", "entropy", "logrank", "surprise")  # surprise = (logprob + entropy) / sqrt(var)


@dataclass
class TableData:
    """Row-aligned views of the supported table rows."""

    rows: pd.DataFrame          # meta: key, text, y, split, group, dataset, generator, domain, attack
    features: pd.DataFrame      # LM token features + hand features (named as the extractors name them)
    sequences: np.ndarray       # (n, T, len(SEQ_CHANNELS)) float32, zero-padded
    lengths: np.ndarray         # scored tokens per row
    hidden: dict[str, np.ndarray]  # "h_mid" / "h_last" / "h_l<layer>": (n, d) float32, pooled over the budget
    tokens: pd.DataFrame | None = None  # raw per-token arrays (logprob, rank, entropy, variance) per row
    # (budget K, layer) -> that layer's state pooled over K tokens (pooled_hidden; benchmarks/pool_hidden.py)
    pooled: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    def subset(self, mask: np.ndarray) -> TableData:
        m = np.asarray(mask, bool)
        return TableData(self.rows[m].reset_index(drop=True), self.features[m].reset_index(drop=True),
                         self.sequences[m], self.lengths[m], {k: v[m] for k, v in self.hidden.items()},
                         None if self.tokens is None else self.tokens[m].reset_index(drop=True),
                         {k: v[m] for k, v in self.pooled.items()})

    def with_budget(self, k: int) -> TableData:
        """The same rows as if the LM had scored only the first ``k`` tokens (for the AUROC-vs-tokens curve):
        LM features recomputed from the truncated arrays, sequences cut, hidden states pooled over ``k`` tokens
        (``pooled``; none when they were not built for ``k``: a hidden-state model cannot be fitted then)."""
        if self.tokens is None:
            raise ValueError("no raw token arrays in this TableData")
        t = self.tokens
        lm = pd.DataFrame([token_features(lp[: k - 1], rk[: k - 1], en[: k - 1], va[: k - 1]) for lp, rk, en, va in
                           zip(t["logprob"], t["rank"], t["entropy"], t["variance"], strict=True)],
                          columns=list(TOKEN_FEATURES))
        feats = self.features.copy()
        feats[list(TOKEN_FEATURES)] = lm.to_numpy()
        lengths = np.minimum(self.lengths, k - 1)
        seqs = self.sequences[:, : k - 1].copy()
        at_k = {f"h_l{layer}": v for (kk, layer), v in self.pooled.items() if kk == k}
        if k >= TableSpec().max_tokens:
            hidden = {**at_k, **self.hidden}
        else:
            hidden = {**at_k, **({"h_mid": at_k[f"h_l{MID_LAYER}"]} if f"h_l{MID_LAYER}" in at_k else {})}
        return TableData(self.rows, feats, seqs, lengths, hidden, self.tokens, self.pooled)


def token_sequences(table: pd.DataFrame, max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-token channels of every row, padded to ``max_tokens - 1`` scored positions."""
    t = max_tokens - 1
    out = np.zeros((len(table), t, len(SEQ_CHANNELS)), np.float32)
    lengths = np.zeros(len(table), np.int64)
    for i, (lp, ent, rank, var) in enumerate(zip(table["logprob"], table["entropy"], table["rank"],
                                                 table["variance"], strict=True)):
        n = min(len(lp), t)
        lengths[i] = n
        if n == 0:
            continue
        lp = np.asarray(lp[:n], np.float32)
        ent = np.asarray(ent[:n], np.float32)
        out[i, :n] = sequence_channels(lp, ent, np.asarray(rank[:n]), np.asarray(var[:n], np.float32))
    return out, lengths


# The document features the table's models read beside the LM statistics (the Detector computes them per text).
HAND_EXTRACTORS = ("phrasing", "bio", "lexical")


def load_table_data(
    table_dir: str | Path, data: Sequence[str], *, hand_extractors: Sequence[str] = HAND_EXTRACTORS,
    cache_dir: str | None = None, progress: bool = True, min_words_ok: bool = True,
) -> TableData:
    """Join the table with the corpus texts (by text key), drop texts the Detector would not score, and
    compute the row-aligned feature views."""
    table = read_table(table_dir)
    corpus = load_labeled(list(data))
    corpus["key"] = [text_key(t) for t in corpus["text"]]
    corpus = corpus.drop_duplicates("key")
    texts = corpus.set_index("key")["text"]
    table = table[table["key"].isin(texts.index)].reset_index(drop=True)
    if table.empty:
        raise InputError("empty", f"no row of the feature table at {table_dir} matches a text of {list(data)}")
    table["text"] = texts.loc[table["key"]].to_numpy()
    docs, problems = make_documents(list(table["text"]))
    ok = np.array([not p for p in problems]) if min_words_ok else np.array([d is not None for d in docs])
    table = table[ok].reset_index(drop=True)
    docs = [d for d, k in zip(docs, ok, strict=True) if k]
    lm = pd.DataFrame([token_features(lp, rk, en, va) for lp, rk, en, va in
                       zip(table["logprob"], table["rank"], table["entropy"], table["variance"], strict=True)],
                      columns=list(TOKEN_FEATURES))
    extractors = build_extractors(list(hand_extractors))
    cache = FeatureCache(default_cache_path(cache_dir))
    hand, _ = feature_frame(list(table["text"]), extractors, cache=cache, progress=progress, desc="hand",
                            docs=docs)
    features = pd.concat([lm, hand.reset_index(drop=True)], axis=1)
    seqs, lengths = token_sequences(table, TableSpec().max_tokens)
    hidden = {k: np.stack([np.asarray(v, np.float32) for v in table[k]]) for k in ("h_mid", "h_last")}
    meta_cols = ["key", "text", "y", "split", "group", "dataset", "generator", "domain", "attack"]
    tokens = table[["logprob", "rank", "entropy", "variance"]].reset_index(drop=True)
    pooled = load_pooled(table_dir, list(table["key"]))
    own = TableSpec().max_tokens  # layers pooled over the table's own budget sit beside its h_mid / h_last
    hidden.update({f"h_l{layer}": v for (k, layer), v in pooled.items() if k == own})
    return TableData(table[meta_cols].copy(), features, seqs, lengths, hidden, tokens, pooled)


def load_pooled(table_dir: str | Path, keys: Sequence[str]) -> dict[tuple[int, int], np.ndarray]:
    """Every pooled set stored beside the table, (budget, layer) -> states aligned to ``keys``; a set missing any
    key is left out (a model fitted on part of the rows would not be the model the benchmark names)."""
    out: dict[tuple[int, int], np.ndarray] = {}
    for k, layer in pooled_sets(table_dir):
        by_key = read_pooled(table_dir, k, layer)
        if by_key and all(key in by_key for key in keys):
            out[(k, layer)] = np.stack([by_key[key] for key in keys])
    return out
