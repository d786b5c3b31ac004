"""The hidden head can weigh the newest generators' machine texts more (``CURRENT_GENERATORS``, ``current=``): a
recipe setting that changes only the fit's row weights, is stated on the card when it is not 1, and does nothing to
data that names none of them. Shipped at 1 (measured, not kept: BENCHMARKS.md, fifteenth session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

try:
    from .synthetic import benchmark_script
    from .test_feature_table import _fake_table_data
except ImportError:  # run as loose modules
    from synthetic import benchmark_script
    from test_feature_table import _fake_table_data


def _table_with_a_current_generator(tmp_path: Path, name: str):
    """The toy table with every third machine text written by ``name``."""

    def edit(rows: list[dict]) -> None:
        machine = [r for r in rows if r["label"] == "machine"]
        for r in machine[::3]:
            r["generator"] = name

    return _fake_table_data(tmp_path, n=90, edit=edit)


def test_current_generators_weigh_more_in_the_fit_when_asked(tmp_path: Path) -> None:
    from ghostscore.training.candidates import CURRENT_GENERATORS, CURRENT_WEIGHT, fit_hidden

    _, td = _table_with_a_current_generator(tmp_path, CURRENT_GENERATORS[0])
    train = td.subset((td.rows.split == "train").to_numpy())
    current = ((train.rows.y == 1) & train.rows.generator.isin(CURRENT_GENERATORS)).to_numpy()
    others = ((train.rows.y == 1) & ~train.rows.generator.isin(CURRENT_GENERATORS)).to_numpy()
    assert current.sum() >= 10 and others.sum() >= 10

    shipped, alike, heavy = fit_hidden(train), fit_hidden(train, current=1), fit_hidden(train, current=30)
    assert CURRENT_WEIGHT == 1.0 and "current_generator_weight" not in shipped.params
    np.testing.assert_allclose(shipped.logits(td), alike.logits(td))
    assert heavy.params["current_generator_weight"] == {g: 30.0 for g in CURRENT_GENERATORS}
    assert not np.allclose(heavy.logits(td), alike.logits(td))

    def lead(fitted) -> float:  # how far the current generator's texts score above the other machine texts
        lg = fitted.logits(train)
        return float(lg[current].mean() - lg[others].mean())

    assert lead(alike) < lead(heavy)


def test_without_a_current_generator_in_the_data_the_weight_changes_nothing(tmp_path: Path) -> None:
    """A user's own corpus that names no current generator trains exactly the unweighted recipe."""
    from ghostscore.training.candidates import fit_hidden

    _, td = _table_with_a_current_generator(tmp_path, "some-other-llm")
    train = td.subset((td.rows.split == "train").to_numpy())
    np.testing.assert_allclose(fit_hidden(train, current=3).logits(td), fit_hidden(train, current=1).logits(td))


def test_the_weight_is_a_recipe_setting_of_the_benchmarks() -> None:
    name, budget, kw = benchmark_script("transfer_benchmark").parse_candidate("hidden@128:current=3")
    assert (name, budget, kw["current"]) == ("hidden", 128, pytest.approx(3.0))


def test_the_card_states_a_weight_other_than_one(tmp_path: Path, monkeypatch) -> None:
    from ghostscore.classifiers import load_model
    from ghostscore.training import candidates
    from ghostscore.training.config import TrainConfig
    from ghostscore.training.table_train import train_from_table

    monkeypatch.setattr(candidates, "CURRENT_WEIGHT", 3.0)
    name = candidates.CURRENT_GENERATORS[0]
    data, _ = _table_with_a_current_generator(tmp_path, name)
    cfg = TrainConfig(data=[str(data)], out=str(tmp_path / "m"), kind="hidden", features_table=str(tmp_path / "t"),
                      cache_dir=str(tmp_path / "cache"))
    model = load_model(train_from_table(cfg, progress=False))
    assert model.meta["recipe_params"]["current_generator_weight"] == {name: 3.0}
    assert f"current_generator_weight = {name} x3" in (tmp_path / "m" / "MODEL_CARD.md").read_text()
