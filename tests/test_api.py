"""Python API: one Detector shared by threads gives the sequential results; the pandas helper."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ghostscore.classifiers.calibration import OperatingPoint
from ghostscore.classifiers.linear import LinearModel
from ghostscore.detector import Detector
from ghostscore.document import Document
from ghostscore.features import REGISTRY, Extractor, FeatureSet
from ghostscore.tabular import score_dataframe

from .conftest import make_article, packaged_features_only


class TextStats(Extractor):
    """A tiny extractor for these tests only, so the API is exercised without the real extractors."""

    name = "test_textstats"
    family = "test"
    feature_names = ("ts_mean_word_len", "ts_type_token", "ts_sentences")

    def extract(self, doc: Document) -> FeatureSet:
        words = re.findall(r"[A-Za-z]+", doc.text)
        fs = FeatureSet({
            "ts_mean_word_len": sum(map(len, words)) / max(1, len(words)),
            "ts_type_token": len({w.lower() for w in words}) / max(1, len(words)),
            "ts_sentences": float(len(doc.sentences)),
        })
        if doc.sentences:
            s = doc.sentences[0]
            fs.evidence.append(self.evidence(doc, s.start, s.end, "first", "first sentence", 0.4))
        return fs


@pytest.fixture(scope="module")
def stats_detector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Detector]:
    """Registered only while this module runs, so other tests see the normal registry."""
    REGISTRY[TextStats.name] = TextStats
    model = LinearModel(
        feature_names=list(TextStats.feature_names), extractors=[TextStats.name],
        mean=np.array([4.5, 0.5, 10.0]), scale=np.array([0.5, 0.2, 5.0]), coef=np.array([1.2, -2.0, 0.3]),
        bias=0.1, operating_point=OperatingPoint.from_scores(np.linspace(0.05, 0.95, 300)), name="test-stats",
    )
    path = model.save(tmp_path_factory.mktemp("models") / "stats")
    try:
        yield Detector.load(path)
    finally:
        REGISTRY.pop(TextStats.name, None)


def varied_texts(n: int) -> list[str]:
    rng = random.Random(3)
    return [make_article(rng, rng.randint(6, 20)) for _ in range(n)]


def test_score_is_thread_safe(stats_detector: Detector) -> None:
    texts = varied_texts(48)
    sequential = [stats_detector.score(t).to_dict() for t in texts]
    assert len({d["ai_probability"] for d in sequential}) > 10  # the comparison means something
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(lambda t: stats_detector.score(t).to_dict(), texts * 3))
    assert threaded == sequential * 3


def test_score_many_from_threads(stats_detector: Detector) -> None:
    texts = varied_texts(30)
    sequential = [s.to_dict() for s in stats_detector.score_many(texts, batch_size=4)]
    chunks = [texts[i:i + 5] for i in range(0, len(texts), 5)]
    with ThreadPoolExecutor(6) as pool:
        parts = list(pool.map(lambda c: [s.to_dict() for s in stats_detector.score_many(c, batch_size=3)], chunks))
    assert [d for part in parts for d in part] == sequential


def test_score_dataframe(stats_detector: Detector) -> None:
    texts = varied_texts(5)
    df = pd.DataFrame({"body": [texts[0], None, "", texts[1], float("nan"), texts[2]], "k": range(6)},
                      index=[10, 11, 12, 13, 14, 15])
    out = score_dataframe(df, stats_detector, text_column="body")
    assert list(out.index) == list(df.index) and list(out["k"]) == list(range(6))
    assert "ai_probability" not in df.columns  # the input is not modified
    assert out["ai_probability"].dtype == np.float64
    expected = [stats_detector.score(t).ai_probability for t in (texts[0], texts[1], texts[2])]
    assert list(out["ai_probability"].iloc[[0, 3, 5]]) == expected
    assert math.isnan(out["ai_probability"].iloc[1])
    assert [e.split(":")[0] if isinstance(e, str) else None for e in out["error"]] == [
        None, "missing_field", "empty", None, "missing_field", None]
    assert "test_textstats: first sentence" in out["evidence"].iloc[0]
    assert out["verdict"].iloc[2] is None
    with pytest.raises(KeyError, match="no column 'text'"):
        score_dataframe(df, stats_detector)


def test_score_dataframe_empty(stub_detector: Any) -> None:
    out = score_dataframe(pd.DataFrame({"text": []}), stub_detector)
    assert list(out.columns) == ["text", "ai_probability", "verdict", "error", "evidence"] and len(out) == 0


def test_readme_snippet_runs(tiny_model_dir: Path) -> None:
    """The snippet given to the README (with a test model instead of the packaged one)."""
    from ghostscore import Detector as PublicDetector

    detector = PublicDetector.load(tiny_model_dir)
    text = varied_texts(1)[0]
    score = detector.score(text)
    assert score.verdict in ("ai", "human", "uncertain") and 0 <= score.ai_probability <= 1
    scores = list(detector.score_many([text, text], batch_size=16))
    assert [s.ai_probability for s in scores] == [score.ai_probability] * 2
    mixed = list(detector.score_records([text, ""]))
    assert mixed[1].code == "empty"


@pytest.mark.skipif(packaged_features_only() is None, reason="packaged features-only model not trained yet")
def test_real_packaged_model_is_thread_safe() -> None:
    detector = Detector.load(use_lm=False)
    texts = varied_texts(12)
    sequential = [detector.score(t).to_dict() for t in texts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda t: detector.score(t).to_dict(), texts)) == sequential


def test_real_extractors_are_thread_safe(tmp_path: Path) -> None:
    """The built-in model-free extractors, shared by threads, give the sequential results."""
    from ghostscore.features import available

    names = [n for n in ("style", "phrasing", "bio") if n in available()]
    reg = available()
    feats = [f for n in names for f in reg[n].feature_names]
    if not feats:
        pytest.skip("no built-in model-free extractors registered yet")
    rng = np.random.default_rng(0)
    model = LinearModel(feats, names, np.zeros(len(feats)), np.ones(len(feats)), rng.normal(0, 0.05, len(feats)),
                        0.0, name="real-extractors")
    detector = Detector.load(model.save(tmp_path / "m"))
    texts = varied_texts(24)
    sequential = [detector.score(t).to_dict() for t in texts]
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(lambda t: detector.score(t).to_dict(), texts * 2)) == sequential * 2
