"""The hidden head's pair term: the direction that tells a group's machine texts from its human ones, which cannot
learn what the group is about, added to the pointwise fit as one linear model that saves and serves like any other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

try:
    from .test_feature_table import _fake_table_data
    from .test_machine_touched import _transfer_benchmark
except ImportError:  # run as loose modules
    from test_feature_table import _fake_table_data
    from test_machine_touched import _transfer_benchmark


def _confounded(n_pairs: int = 80, n_loose: int = 200, seed: int = 0):
    """Column 0 is how a text was made (machine +0.5 within every group); column 1 is its topic, shared inside a
    group and, among the unpaired texts, far higher for machine ones: a pointwise fit leans on it, pairs cannot."""
    rng = np.random.default_rng(seed)
    topic = rng.normal(size=n_pairs)
    make = rng.normal(scale=0.3, size=(n_pairs, 2))
    Z = [np.c_[make[:, 0] - 0.5, topic], np.c_[make[:, 1] + 0.5, topic]]
    y = [np.zeros(n_pairs), np.ones(n_pairs)]
    groups = [np.arange(n_pairs).astype(str)] * 2
    loose_y = rng.integers(0, 2, n_loose)
    loose_topic = 3.0 * (2 * loose_y - 1) + rng.normal(size=n_loose)
    Z.append(np.c_[rng.normal(size=n_loose) * 0.3 + (loose_y - 0.5), loose_topic])
    y.append(loose_y.astype(float))
    groups.append(np.array([f"loose-{i}" for i in range(n_loose)]))
    return np.concatenate(Z), np.concatenate(y).astype(int), np.concatenate(groups)


def test_pair_direction_reads_how_a_text_was_made_not_its_topic() -> None:
    from sklearn.linear_model import LogisticRegression

    from ghostscore.training.candidates import pair_direction

    Z, y, groups = _confounded()
    direction, n = pair_direction(Z, y, groups, C=1.0)
    assert n == 80 and direction is not None
    assert direction[0] > 0 and abs(direction[1]) < 1e-9 * abs(direction[0])  # topic never differs within a pair
    pointwise = LogisticRegression(C=1.0).fit(Z, y).coef_[0]
    assert abs(pointwise[1]) > 0.1 * abs(pointwise[0])  # the confound the pair term is there to avoid


def test_pair_direction_needs_enough_pairs_and_caps_each_group() -> None:
    from ghostscore.training.candidates import MIN_PAIRS, PAIR_CAP, pair_direction

    Z, y, groups = _confounded(n_pairs=MIN_PAIRS - 1)
    assert pair_direction(Z, y, groups, C=1.0) == (None, MIN_PAIRS - 1)
    ungrouped = np.array([None] * 60 + ["x"] * 60, dtype=object)  # rows without a group pair with nothing
    _, n = pair_direction(np.zeros((120, 2)), np.tile([0, 1], 60), ungrouped, C=1.0)
    assert n == PAIR_CAP * PAIR_CAP
    big = np.array(["g"] * 10 + ["h"] * 10)  # two groups of 5 humans and 5 machine texts each
    _, n = pair_direction(np.random.default_rng(0).normal(size=(20, 3)), np.tile([0] * 5 + [1] * 5, 2), big, C=1.0)
    assert n == 2 * PAIR_CAP * PAIR_CAP


def _paired_table(tmp_path: Path):
    """The toy table with each human text and the machine text of the same index in one group (a rewrite pair)."""

    def edit(rows: list[dict]) -> None:
        for r in rows:
            r["group"] = r["group"].rsplit("-", 1)[0]

    return _fake_table_data(tmp_path, n=150, edit=edit)


def test_hidden_head_with_pairs_is_one_linear_model_that_saves_and_reloads(tmp_path: Path) -> None:
    """``pairs=w``: the pointwise score plus ``w`` times the pair score, each in units of its spread over the
    training humans; the card states the weight and the number of pairs; the saved model reloads to the same
    scores."""
    from ghostscore.classifiers import load_model
    from ghostscore.classifiers.calibration import standardize
    from ghostscore.training import candidates
    from ghostscore.training.candidates import fit_hidden
    from ghostscore.training.config import TrainConfig
    from ghostscore.training.table_train import train_from_table

    data, td = _paired_table(tmp_path)
    train = td.subset((td.rows.split == "train").to_numpy())
    n_train_pairs = int((train.rows.y == 0).sum())
    plain = fit_hidden(train, blend=0.0, pairs=0.0)
    paired = fit_hidden(train, blend=0.0, pairs=0.5)
    assert paired.params["pair_weight"] == 0.5 and paired.params["pairs"] == n_train_pairs
    assert "pair_weight" not in plain.params
    assert type(paired.model) is type(plain.model) and paired.model.hidden_size == plain.model.hidden_size
    assert not np.allclose(plain.logits(td), paired.logits(td))
    # the combination, checked from its parts on the standardized inputs
    H = candidates._hidden(train, paired.model.layers)
    X = np.concatenate([H, train.features[paired.model.feature_names].to_numpy(float)], 1)
    Z = standardize(X, paired.model.mean, paired.model.scale)
    direction, _ = candidates.pair_direction(Z, train.rows.y.to_numpy(), train.rows.group.to_numpy(),
                                             C=candidates.HIDDEN_C)
    human = (train.rows.y == 0).to_numpy()
    pair_z = Z @ direction / np.std(Z[human] @ direction)
    plain_z = plain.logits(train) / np.std(plain.logits(train)[human])
    diff = paired.logits(train) - (plain_z + 0.5 * pair_z)
    np.testing.assert_allclose(diff, diff[0], atol=1e-6)  # equal up to the (unused) offset

    cfg = TrainConfig(data=[str(data)], out=str(tmp_path / "m"), kind="hidden",
                      features_table=str(tmp_path / "t"), cache_dir=str(tmp_path / "cache"))
    back = load_model(train_from_table(cfg, progress=False))
    params = back.meta["recipe_params"]
    if candidates.PAIR_WEIGHT:
        assert params["pair_weight"] == candidates.PAIR_WEIGHT and params["pairs"] > 0
        assert "pair" in (tmp_path / "m" / "MODEL_CARD.md").read_text()
    refit = fit_hidden(train)  # the toy corpus has no machine-touched humans: the shipped fit is on every train row
    X = td.features[back.feature_names].to_numpy(float)
    Hs = candidates._hidden(td, back.layers)
    np.testing.assert_allclose(back.logit_from(Hs, X), refit.logits(td), rtol=1e-9, atol=1e-9)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["type"] == "hidden"


def test_pairs_are_a_recipe_setting_of_the_benchmarks() -> None:
    name, budget, kw = _transfer_benchmark().parse_candidate("hidden@128:pairs=0.5")
    assert (name, budget, kw["pairs"]) == ("hidden", 128, pytest.approx(0.5))
