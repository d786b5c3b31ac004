"""LinearModel persistence, calibration and operating point."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ghostscore.classifiers import OperatingPoint, load_model
from ghostscore.classifiers.linear import LinearModel
from ghostscore.errors import ModelError


def _model() -> LinearModel:
    return LinearModel(
        feature_names=["a", "b"], extractors=["style"], mean=np.array([0.0, 1.0]), scale=np.array([1.0, 2.0]),
        coef=np.array([1.5, -0.5]), bias=0.2, calibration=(0.8, -0.1),
        operating_point=OperatingPoint.from_scores(np.linspace(0, 0.5, 101)),
    )


def test_roundtrip_safetensors_json(tmp_path) -> None:
    m = _model()
    m.save(tmp_path / "m", card="# card")
    assert not list((tmp_path / "m").glob("*.pkl"))
    loaded = load_model(tmp_path / "m")
    X = np.array([[0.3, 2.0], [np.nan, -1.0]])
    np.testing.assert_allclose(loaded.predict_proba(X), m.predict_proba(X))
    assert loaded.operating_point.threshold() == pytest.approx(m.operating_point.threshold())


def test_nan_features_are_imputed_at_the_mean() -> None:
    m = _model()
    p_nan = m.predict_proba(np.array([[np.nan, 1.0]]))
    p_mean = m.predict_proba(np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(p_nan, p_mean)


def test_operating_point_threshold_matches_fpr() -> None:
    rng = np.random.default_rng(0)
    humans = rng.uniform(0, 1, 10_000)
    op = OperatingPoint.from_scores(humans, fpr=0.01)
    thr = op.threshold()
    assert np.mean(humans >= thr) == pytest.approx(0.01, abs=0.003)
    lo, hi = op.band()
    assert lo < hi
    assert op.verdict(hi + 0.001) == "ai" and op.verdict((lo + hi) / 2) == "uncertain" and op.verdict(0.0) == "human"
    assert op.threshold(0.005) > thr


def test_mismatched_shapes_are_a_clear_error(tmp_path) -> None:
    m = _model()
    m.save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["feature_names"] = ["a", "b", "c"]
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="shape"):
        load_model(tmp_path / "m")


def test_missing_model_dir(tmp_path) -> None:
    with pytest.raises(ModelError):
        load_model(tmp_path / "nope")


def test_domain_guard_raises_threshold_to_hold_fpr_in_each_domain():
    """Pooled 1% FPR can hide one domain at 5%; the per-domain guard holds 1% in that domain too."""
    rng = np.random.default_rng(0)
    news = rng.uniform(0.0, 0.3, 900)
    reviews = rng.uniform(0.2, 0.6, 200)  # a domain whose humans score higher
    probs = np.concatenate([news, reviews])
    domains = ["news"] * len(news) + ["review"] * len(reviews)
    pooled = OperatingPoint.from_scores(probs, fpr=0.01)
    guarded = OperatingPoint.from_scores(probs, fpr=0.01, domains=domains)
    assert set(guarded.domain_quantiles) == {"news", "review"}
    assert np.mean(reviews >= pooled.threshold()) > 0.02
    assert np.mean(reviews >= guarded.threshold()) <= 0.01
    assert np.mean(probs >= guarded.threshold()) <= 0.01
    # small domains are ignored (their 1% quantile is noise), and the guard survives a save/load
    tiny = OperatingPoint.from_scores(probs, fpr=0.01, domains=["news"] * 1070 + ["poetry"] * 30)
    assert set(tiny.domain_quantiles) == {"news"}
    assert OperatingPoint.from_json(guarded.to_json()) == guarded
