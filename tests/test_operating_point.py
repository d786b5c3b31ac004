"""Per-domain thresholds, the machine-bounded 'human' verdict and the domain classifier, on synthetic data."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

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


def test_domain_weighted_threshold_holds_the_fpr_over_a_mixture_of_domains() -> None:
    """A text the domain classifier splits between domains gets a threshold between theirs, at which the expected
    human FPR over those domains is the target; a sure text gets its domain's threshold; mass on a domain without
    a threshold of its own counts at the guard's rate."""
    rng = np.random.default_rng(5)
    gen = {"news": lambda n: rng.beta(2, 8, n), "review": lambda n: rng.beta(6, 4, n),
           "qa": lambda n: rng.beta(3, 6, n)}
    op = OperatingPoint.from_scores(np.r_[gen["news"](4000), gen["review"](4000), gen["qa"](60)], fpr=0.01,
                                    domains=["news"] * 4000 + ["review"] * 4000 + ["qa"] * 60)
    news, review, guard = op.threshold(domain="news"), op.threshold(domain="review"), op.threshold()
    assert news < review == guard
    assert op.threshold(domain={"news": 1.0, "review": 0.0}) == pytest.approx(news, abs=1e-6)
    half = op.threshold(domain={"news": 0.5, "review": 0.5})
    assert news < half < review
    fresh_news, fresh_review = gen["news"](200_000), gen["review"](200_000)
    expected = 0.5 * np.mean(fresh_news >= half) + 0.5 * np.mean(fresh_review >= half)
    assert 0.007 <= expected <= 0.012  # the target on average, though above it for review alone
    assert np.mean(fresh_review >= half) > 0.012
    # qa has too few humans for a threshold of its own: its mass is judged at the worst domain's rate
    assert op.threshold(domain={"qa": 1.0}) == pytest.approx(guard, abs=1e-6)
    assert op.threshold(domain={"news": 0.5, "qa": 0.5}) == pytest.approx(half, abs=1e-6)
    assert op.threshold(domain={}) == guard and op.threshold(domain={"poetry": 1.0}) == pytest.approx(guard, abs=1e-6)
    assert op.verdict(half + 1e-3, domain={"news": 0.5, "review": 0.5}) == "ai"
    assert op.verdict(half - 1e-3, domain={"news": 0.5, "review": 0.5}) != "ai"
    lo, hi = op.band(domain={"news": 0.5, "review": 0.5})
    assert hi == half and lo < hi


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


def test_human_verdict_holds_its_miss_rate_in_every_machine_group() -> None:
    """A pooled 5% can hide a group the model cannot separate (text told to sound human): the cut holds 5% in
    each group large enough to measure, and a group too small to measure does not set it."""
    rng = np.random.default_rng(2)
    humans = rng.beta(2, 6, 3000)
    easy, humanized, tiny = rng.beta(6, 2, 2700), rng.beta(2, 6, 300), np.full(20, 0.001)
    machines = np.r_[easy, humanized, tiny]
    groups = ["gpt/plain"] * 2700 + ["gpt/humanize"] * 300 + ["gpt/rare"] * 20
    op = OperatingPoint.from_scores(humans, machine_probs=machines, max_miss=0.05, machine_groups=groups)
    assert set(op.machine_group_quantiles) == {"gpt/plain", "gpt/humanize"}  # 20 texts: too few for a bound
    assert op.machine_group_counts == {"gpt/plain": 2700, "gpt/humanize": 300}
    pooled = op.human_cut(by_group=False)
    assert np.mean(humanized < pooled) > 0.3  # the pooled cut calls a third of the humanized texts human
    lo = op.band()[0]
    assert lo == op.human_cut() < pooled
    assert np.mean(humanized < lo) <= 0.06 and np.mean(easy < lo) <= 0.06
    rates = op.group_miss_rates()
    assert abs(rates["gpt/humanize"] - np.mean(humanized < lo)) < 0.01 and rates["gpt/humanize"] <= 0.051
    assert np.mean(humans < lo) < np.mean(humans < pooled)  # the price: fewer humans hear `human`
    assert op.verdict(lo - 1e-6) == "human" and op.verdict(lo + 1e-6) == "uncertain"
    back = OperatingPoint.from_json(op.to_json())
    assert back.band() == op.band() and back.machine_group_counts == op.machine_group_counts
    old = op.to_json()
    old.pop("machine_group_quantiles"), old.pop("machine_group_counts")
    assert OperatingPoint.from_json(old).band()[0] == pytest.approx(min(pooled, op.threshold(0.05)))  # older ones
    with pytest.raises(ValueError, match="one label per machine score"):
        OperatingPoint.from_scores(humans, machine_probs=machines, machine_groups=groups[:-1])


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


def test_domain_temperature_softens_an_over_confident_classifier(tmp_path: Path) -> None:
    """Held-out texts of which a quarter read as another domain's: a classifier made ten times sharper (weights
    scaled) is far too sure of them; the temperature fitted on held-out texts brings its stated confidence on
    fresh texts back near its accuracy."""
    from ghostscore.training.domain import fit_domain_model, fit_temperature

    rng = random.Random(1)
    names = list(WORDS)

    def blurred(n: int) -> tuple[list[str], list[str]]:  # a quarter of the texts read as another domain's
        out, labels = [], []
        for i, d in enumerate(names):
            other = names[(i + 1) % len(names)]
            out += _texts(rng, d, n - n // 4) + _texts(rng, other, n // 4)
            labels += [d] * n
        return out, labels

    texts, labels = [], []
    for d in WORDS:
        texts += _texts(rng, d, 60)
        labels += [d] * 60
    dm = fit_domain_model(texts, labels, n_features=512)
    sharp = DomainModel(dm.labels, dm.weight * 10, dm.bias * 10)
    val_t, val_d = blurred(60)
    T = fit_temperature(sharp, val_t, val_d)
    assert T > 3.0
    assert fit_temperature(dm, texts, labels) == 1.0  # its own clean texts would sharpen it: never below 1
    tempered = DomainModel(dm.labels, sharp.weight, sharp.bias, temperature=T)
    fresh_t, fresh_d = blurred(100)

    def gap(model: DomainModel) -> float:  # stated confidence vs accuracy
        P = model.proba(fresh_t)
        return abs(P.max(1).mean() - np.mean(np.array(model.labels)[P.argmax(1)] == np.array(fresh_d)))

    assert gap(tempered) < gap(sharp)
    assert fit_domain_model(texts, labels, n_features=512, val_texts=val_t,
                            val_domains=val_d).temperature == fit_temperature(dm, val_t, val_d)
    assert fit_temperature(dm, ["words"], ["poetry"]) == 1.0  # no known domain: left as fitted
    posts = tempered.posteriors(fresh_t[:2])
    assert set(posts[0]) == set(WORDS) and sum(posts[0].values()) == pytest.approx(1.0)
    model = LinearModel(feature_names=[], extractors=[], mean=np.zeros(0), scale=np.ones(0), coef=np.zeros(0),
                        bias=0.0, operating_point=OperatingPoint.from_scores(np.linspace(0, 1, 100)),
                        domain_model=tempered)
    model.save(tmp_path / "m")
    assert load_model(tmp_path / "m").domain_model.temperature == T


def test_detector_weighs_domain_thresholds_by_the_domain_classifier() -> None:
    """End to end through the Detector: the same probability is `ai` on a news-like text (news humans score low,
    so news has a low threshold) and not on a review-like one; the Score names the recognised domain. (Even a
    few percent of probability on review would lift the news text's threshold: review humans score that high.)"""
    from ghostscore.detector import Detector
    from ghostscore.errors import ModelError
    from ghostscore.training.domain import fit_domain_model

    rng = random.Random(2)
    texts, labels = [], []
    for d in ("news", "review"):
        texts += _texts(rng, d, 40)
        labels += [d] * 40
    dm = fit_domain_model(texts, labels, n_features=512, C=100.0)  # sure of these toy domains (> 0.99)
    g = np.random.default_rng(2)
    op = OperatingPoint.from_scores(np.r_[g.beta(2, 8, 3000), g.beta(8, 2, 3000)],
                                    domains=["news"] * 3000 + ["review"] * 3000)
    p = 0.75  # above news's 1% threshold, below review's
    assert op.threshold(domain="news") < p < op.threshold(domain="review")
    model = LinearModel(feature_names=[], extractors=[], mean=np.zeros(0), scale=np.ones(0), coef=np.zeros(0),
                        bias=float(np.log(p / (1 - p))), operating_point=op, domain_model=dm)
    det = Detector(model, explain=False)

    def prose(domain: str) -> str:  # sentences, so the Document counts as prose
        words = _texts(rng, domain, 1)[0].split()
        return " ".join(" ".join(words[i:i + 12]).capitalize() + "." for i in range(0, len(words), 12))

    news, review = det.score(prose("news")), det.score(prose("review"))
    assert news.ai_probability == pytest.approx(p) == review.ai_probability
    assert (news.verdict, news.domain) == ("ai", "news")
    assert review.verdict != "ai" and review.domain == "review"
    assert news.threshold < p <= review.threshold
    # a caller who knows the domain states it (per call, or once at load): that threshold, whatever the text
    stated = det.score(prose("news"), domain="review")
    assert stated.verdict != "ai" and stated.domain == "review"
    assert stated.threshold == pytest.approx(op.threshold(domain="review"))
    assert Detector(model, explain=False, domain="news").score(prose("review")).verdict == "ai"
    with pytest.raises(ModelError, match="unknown domain 'poetry'.*news, review"):
        det.score(prose("news"), domain="poetry")
    with pytest.raises(ModelError, match="unknown domain"):
        Detector(model, explain=False, domain="poetry")
