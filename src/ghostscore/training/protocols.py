"""Held-out protocols shared by the benchmarks: grouped split sampling, cached featurization, fit + calibrate +
predict on masked rows, and the leave-one-generator-out / leave-one-domain-out folds with their summaries."""

from __future__ import annotations

import glob
import math
import re
import sys
import time
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from ..backbones import ModelProvider
from ..features import build_extractors
from ..features.cache import FeatureCache
from ..features.pipeline import default_cache_path, feature_frame, make_documents
from . import metrics
from .data import is_instruction_tuned, load_labeled, stratified_sample
from .linear import calibrate, fit_linear
from .selection import human_reference, sign_consistent_features

MIN_GEN_TEST = 15


def load_splits(data: Sequence[str], *, cap: int | None, test_cap: int | None = None, seed: int = 0,
                base_model_factor: float = 0.5, human_factor: float = 5.0,
                generator_factors: dict[str, float] | None = None) -> dict[str, pd.DataFrame]:
    """English train/validation/test samples (stratified caps; ``generator_factors`` for train/validation)."""
    paths = sorted(p for pat in data for p in glob.glob(pat))
    df = load_labeled(paths)
    df = df[df["lang"].fillna("en") == "en"]
    out = {}
    for split, c in (("train", cap), ("validation", cap), ("test", test_cap or cap)):
        sub = df[df["split"] == split]
        out[split] = stratified_sample(
            sub, max_per_stratum=c, seed=seed, base_model_factor=base_model_factor, human_factor=human_factor,
            generator_factors=None if split == "test" else generator_factors or None,
        ).reset_index(drop=True)
    return out


def featurize(frames: dict[str, pd.DataFrame], extractor_names: Sequence[str], cache_dir: str | None,
              ) -> dict[str, pd.DataFrame]:
    """Cached feature frames per split; unsupported texts are dropped from both the frame and the features."""
    provider = ModelProvider(cache_dir=cache_dir)
    extractors = build_extractors(extractor_names, models=provider)
    cache = FeatureCache(default_cache_path(cache_dir))
    out = {}
    for split, df in frames.items():
        t0 = time.time()
        F, problems = feature_frame(list(df["text"]), extractors, cache=cache, desc=split)
        ok = np.array([not p for p in problems])
        out[split] = F[ok].reset_index(drop=True)
        frames[split] = df[ok].reset_index(drop=True)
        print(f"[{split}] {ok.sum()} supported of {len(ok)} in {time.time() - t0:.0f}s", file=sys.stderr)
    return out


def fit_eval(F, frames, names, extractors, *, C, train_mask=None, val_mask=None, test_mask=None,
             sign_consistent: Sequence[str] = ()):
    """Fit a linear model on the masked train rows (sign filter inside the fit), calibrate on the masked
    validation rows with the per-domain guard, and predict the masked test rows."""
    tr, va, te = frames["train"], frames["validation"], frames["test"]
    tm = np.ones(len(tr), bool) if train_mask is None else train_mask
    vm = np.ones(len(va), bool) if val_mask is None else val_mask
    em = np.ones(len(te), bool) if test_mask is None else test_mask
    if sign_consistent:
        names = sign_consistent_features(F["train"][tm], tr[tm], names, list(sign_consistent))
    Xt = F["train"].reindex(columns=names).to_numpy(float)[tm]
    model = fit_linear(Xt, tr.y.to_numpy()[tm], feature_names=names, extractors=extractors, C=C)
    domains = va.domain.to_numpy()[vm] if "domain" in va.columns else None
    calibrate(model, F["validation"].reindex(columns=names).to_numpy(float)[vm], va.y.to_numpy()[vm], domains=domains)
    p = model.predict_proba(F["test"].reindex(columns=names).to_numpy(float)[em])
    return model, p, te[em].reset_index(drop=True)


def logo_folds(frames, min_gen_test: int = MIN_GEN_TEST) -> Iterator[tuple]:
    """(generator, train mask, validation mask, test mask) for each held-out generator with enough test
    texts and something else left to train on; the test mask is its texts plus the matching humans."""
    tr, va, te = frames["train"], frames["validation"], frames["test"]
    for gen, n in te[te.y == 1].generator.value_counts().items():
        if n < min_gen_test:
            continue
        tm = ~((tr.y == 1) & (tr.generator == gen)).to_numpy()
        vm = ~((va.y == 1) & (va.generator == gen)).to_numpy()
        if tr[tm].y.nunique() < 2 or va[vm].y.nunique() < 2:
            continue  # no other generator left to train on
        gm = (te.y == 1) & (te.generator == gen)
        yield gen, tm, vm, (gm | human_reference(te, te[gm])).to_numpy()


def lodo_folds(frames) -> Iterator[tuple]:
    """(domain, train mask, validation mask, test mask) for each test domain with both labels."""
    tr, va, te = frames["train"], frames["validation"], frames["test"]
    for dom in sorted(te.domain.dropna().unique()):
        em = (te.domain == dom).to_numpy()
        if te[em].y.nunique() < 2:
            continue
        yield dom, (tr.domain != dom).to_numpy(), (va.domain != dom).to_numpy(), em


def logo_entry(gen, y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    return {"auroc": metrics.auroc(y, p), "tpr_at_1fpr": metrics.tpr_at_fpr(y, p, 0.01),
            "tpr_at_threshold": float(np.mean(p[y == 1] >= threshold)),
            "n_machine": int(y.sum()), "instruction_tuned": is_instruction_tuned(gen)}


def logo_summary(out: dict) -> dict:
    inst = [v["auroc"] for v in out.values() if v["instruction_tuned"] and not math.isnan(v["auroc"])]
    allv = [v["auroc"] for v in out.values() if not math.isnan(v["auroc"])]
    return {"per_generator": out, "mean_instruction_tuned": float(np.mean(inst)) if inst else math.nan,
            "mean_all": float(np.mean(allv)) if allv else math.nan}


def lodo_entry(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    return {"auroc": metrics.auroc(y, p), "n": int(len(y)),
            "human_fpr_at_threshold": float(np.mean(p[y == 0] >= threshold))}


def lodo_summary(out: dict) -> dict:
    vals = [v["auroc"] for v in out.values()]
    return {"per_domain": out, "mean": float(np.mean(vals)) if vals else math.nan}


def reading_grade(text: str) -> float:
    """Flesch-Kincaid grade level (syllables by vowel groups): low for short words and short sentences."""
    words = re.findall(r"[A-Za-z']+", text)
    if not words:
        return math.nan
    sentences = max(1, len(re.findall(r"[.!?]+(?:\s|$)", text)))
    syllables = sum(max(1, len(re.findall(r"[aeiouy]+", w.lower()))) for w in words)
    return 0.39 * len(words) / sentences + 11.8 * syllables / len(words) - 15.59


def model_proba(model, F: pd.DataFrame, texts) -> np.ndarray:
    """Calibrated P(machine) of a fitted or saved model; a model that reads the text gets the documents, one
    that reads per-token LM statistics gets them from the Detector's own featurization."""
    X = F.reindex(columns=model.feature_names).to_numpy(float)
    if model.needs_token_stats:
        from ..features.pipeline import featurize, model_extractors

        docs, _ = make_documents(list(texts))
        extractors = model_extractors(model.extractors, models=ModelProvider(),
                                      lm_budget=(model.meta or {}).get("lm_token_budget"),
                                      lm_hidden=model.needs_hidden_states)
        sets = featurize(docs, extractors)
        return model.predict_proba(np.stack([model.vectorize(fs.values) for fs in sets]),
                                   extras=[fs.extra for fs in sets])
    if model.needs_docs:
        docs, _ = make_documents(list(texts))
        return model.predict_proba(X, docs)
    return model.predict_proba(X)
