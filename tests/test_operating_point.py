"""Per-domain thresholds, the machine-bounded 'human' verdict and the domain classifier, on synthetic data."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from ghostscore.classifiers import load_model
from ghostscore.classifiers.calibration import OperatingPoint
from ghostscore.classifiers.domain import DomainModel
from ghostscore.classifiers.linear import LinearModel


def test_per_domain_thresholds_hold_their_fpr() -> None:
    rng = np.random.default_rng(0)
    # humans of three domains score differently (abstracts highest): one pooled threshold would accuse them
    dom = {"news": rng.beta(2, 8, 4000), "abstract": rng.beta(5, 4, 4000), "review": rng.beta(3, 6, 4000)}
    scores = np.concatenate(list(dom.values()))
    labels = np.concatenate([[d] * len(v) for d, v in dom.items()])
    op = OperatingPoint.from_scores(scores, fpr=0.01, domains=labels)
    fresh = {"news": rng.beta(2, 8, 20000), "abstract": rng.beta(5, 4, 20000), "review": rng.beta(3, 6, 20000)}
    for d, s in fresh.items():
        assert np.mean(s >= op.threshold(domain=d)) <= 0.013, d  # each domain at its own 1%
        assert np.mean(s >= op.threshold()) <= 0.013, d  # the guard (strictest) holds everywhere too
    assert op.threshold(domain="news") < op.threshold(domain="abstract") == op.threshold()
    assert op.threshold(domain="poetry") == op.threshold()  # an uncalibrated domain gets the guard
    pooled = OperatingPoint.from_scores(scores, fpr=0.01)
    assert np.mean(fresh["abstract"] >= pooled.threshold()) > 0.02  # what the per-domain thresholds prevent


def test_small_domains_raise_the_guard_but_get_no_threshold_of_their_own() -> None:
    """A 1% quantile of 70 humans is about their maximum: fresh texts of that source pass it more often than 1%.
    The guard (strictest calibrated threshold) is what they get instead."""
    rng = np.random.default_rng(3)
    big, small = rng.beta(4, 6, 3000), rng.beta(2, 8, 70)
    op = OperatingPoint.from_scores(np.r_[big, small], fpr=0.01, domains=["news"] * 3000 + ["wikipedia"] * 70)
    assert op.domain_counts == {"news": 3000, "wikipedia": 70}
    assert op.has_own_threshold("news") and not op.has_own_threshold("wikipedia")
    own_small = OperatingPoint._quantile_threshold(op.domain_quantiles["wikipedia"], 0.01)
    assert op.threshold(domain="wikipedia") == op.threshold() >= own_small  # the guard, which its quantile raised
    fresh = rng.beta(2, 8, 20000)
    assert np.mean(fresh >= op.threshold(domain="wikipedia")) <= 0.013
    assert np.mean(fresh >= own_small) > np.mean(fresh >= op.threshold(domain="wikipedia"))
    assert OperatingPoint.from_json(op.to_json()) == op
    legacy = op.to_json()
    del legacy["domain_counts"]  # artifacts written before the counts trust every stored domain, as trained
    assert OperatingPoint.from_json(legacy).has_own_threshold("wikipedia")


def test_human_verdict_is_bounded_by_machine_scores() -> None:
    rng = np.random.default_rng(1)
    humans, machines = rng.beta(2, 6, 3000), rng.beta(5, 3, 3000)
    op = OperatingPoint.from_scores(humans, machine_probs=machines, max_miss=0.05)
    lo, hi = op.band()
    assert np.mean(machines < lo) <= 0.051
    assert abs(op.miss_rate() - np.mean(machines < lo)) < 0.01
    assert op.verdict(hi + 1e-6) == "ai" and op.verdict(lo - 1e-6) == "human"
    assert op.verdict((lo + hi) / 2) == "uncertain"
    back = OperatingPoint.from_json(op.to_json())
    assert back.band() == op.band() and back.max_miss == op.max_miss
    plain = OperatingPoint.from_scores(humans)
    assert plain.miss_rate() is None and plain.band()[0] >= lo  # without machine scores: the old band


WORDS = {
    "news": "council mayor police reported said officials city vote budget minister court police spokesman",
    "abstract": "we propose method results dataset model experiments paper approach performance show novel",
    "review": "food service great place staff ordered delicious recommend friendly price table waited",
}


def _texts(rng: random.Random, domain: str, n: int) -> list[str]:
    vocab = WORDS[domain].split() + "the a of and to in is was it that".split()
    return [" ".join(rng.choice(vocab) for _ in range(60)) for _ in range(n)]


def test_domain_model_predicts_and_round_trips(tmp_path: Path) -> None:
    from ghostscore.training.domain import fit_domain_model

    rng = random.Random(0)
    texts, labels = [], []
    for d in WORDS:
        texts += _texts(rng, d, 40)
        labels += [d] * 40
    dm = fit_domain_model(texts, labels, n_features=512)
    test = {d: _texts(rng, d, 10) for d in WORDS}
    for d, ts in test.items():
        assert all(p == d for p, _ in dm.predict(ts)), d
    unsure = DomainModel(dm.labels, dm.weight, dm.bias, min_confidence=0.999999)
    assert all(p is None for p, _ in unsure.predict(test["news"]))
    model = LinearModel(feature_names=[], extractors=[], mean=np.zeros(0), scale=np.ones(0), coef=np.zeros(0),
                        bias=0.0, operating_point=OperatingPoint.from_scores(np.linspace(0, 1, 100)),
                        domain_model=dm)
    model.save(tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert back.domain_model is not None
    np.testing.assert_allclose(back.domain_model.proba(test["review"]), dm.proba(test["review"]), rtol=1e-6)
