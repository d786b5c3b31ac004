"""The hidden head can weigh the newest generators' machine texts more (``CURRENT_GENERATORS``, ``current=``) and
their attacked texts (told to sound human, humanized) apart (``humanized=``; 0 = out of the fit): recipe settings
that change only which rows the fit reads and how much, are stated on the card when not 1, and do nothing to data
that names none of those generators (BENCHMARKS.md, fifteenth and sixteenth sessions)."""

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
    """The toy table with every third machine text written by ``name``, half of those told to sound human."""

    def edit(rows: list[dict]) -> None:
        machine = [r for r in rows if r["label"] == "machine"]
        for i, r in enumerate(machine[::3]):
            r["generator"] = name
            r["attack"] = "humanize-prompt" if i % 2 else None

    return _fake_table_data(tmp_path, n=90, edit=edit)


def test_current_generators_weigh_more_in_the_fit_when_asked(tmp_path: Path) -> None:
    from ghostscore.training.candidates import CURRENT_GENERATORS, CURRENT_WEIGHT, fit_hidden

    _, td = _table_with_a_current_generator(tmp_path, CURRENT_GENERATORS[0])
    train = td.subset((td.rows.split == "train").to_numpy())
    current = ((train.rows.y == 1) & train.rows.generator.isin(CURRENT_GENERATORS)).to_numpy()
    others = ((train.rows.y == 1) & ~train.rows.generator.isin(CURRENT_GENERATORS)).to_numpy()
    assert current.sum() >= 10 and others.sum() >= 10

    shipped, alike = fit_hidden(train, humanized=1), fit_hidden(train, current=1, humanized=1)
    heavy = fit_hidden(train, current=30, humanized=1)
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
    np.testing.assert_allclose(fit_hidden(train, humanized=0).logits(td), fit_hidden(train, humanized=1).logits(td))


def test_humanized_zero_fits_as_if_those_texts_were_not_in_the_data(tmp_path: Path) -> None:
    """``humanized=0`` is the recipe on the data without the current generators' attacked texts (scaler, pairs
    and blend included); their plainly prompted texts and every other row stay; a weight in between differs."""
    from ghostscore.training.candidates import CURRENT_GENERATORS, current_weights, fit_hidden

    _, td = _table_with_a_current_generator(tmp_path, CURRENT_GENERATORS[0])
    train = td.subset((td.rows.split == "train").to_numpy())
    mine = ((train.rows.y == 1) & train.rows.generator.isin(CURRENT_GENERATORS)).to_numpy()
    attacked = mine & train.rows.attack.notna().to_numpy()
    assert attacked.sum() >= 5 and (mine & ~attacked).sum() >= 5
    expected = np.where(attacked, 1.0, np.where(mine, 2.0, 1.0))  # x2 for its texts, x0.5 on top for attacked ones
    np.testing.assert_array_equal(current_weights(train.rows, 2.0, 0.5), expected)

    without = fit_hidden(train, humanized=0)
    np.testing.assert_allclose(without.logits(td), fit_hidden(train.subset(~attacked), humanized=1).logits(td))
    assert without.params["current_attacked_weight"] == {g: 0.0 for g in CURRENT_GENERATORS}
    half = fit_hidden(train, humanized=0.5)
    assert not np.allclose(half.logits(td), without.logits(td))
    assert not np.allclose(half.logits(td), fit_hidden(train, humanized=1).logits(td))


def test_the_weight_is_a_recipe_setting_of_the_benchmarks() -> None:
    name, budget, kw = benchmark_script("transfer_benchmark").parse_candidate("hidden@128:current=3,humanized=0")
    assert (name, budget, kw["current"], kw["humanized"]) == ("hidden", 128, pytest.approx(3.0), pytest.approx(0.0))


@pytest.mark.parametrize(("constant", "value", "key", "stated"), [
    ("CURRENT_WEIGHT", 3.0, "current_generator_weight", "x3"),
    ("CURRENT_ATTACKED_WEIGHT", 0.0, "current_attacked_weight", "x0"),
])
def test_the_card_states_a_weight_other_than_one(tmp_path: Path, monkeypatch, constant: str, value: float, key: str,
                                                 stated: str) -> None:
    from ghostscore.classifiers import load_model
    from ghostscore.training import candidates
    from ghostscore.training.config import TrainConfig
    from ghostscore.training.table_train import train_from_table

    for other_constant in ("CURRENT_WEIGHT", "CURRENT_ATTACKED_WEIGHT"):  # the other one at 1, whatever ships
        monkeypatch.setattr(candidates, other_constant, 1.0)
    monkeypatch.setattr(candidates, constant, value)
    name = candidates.CURRENT_GENERATORS[0]
    data, _ = _table_with_a_current_generator(tmp_path, name)
    cfg = TrainConfig(data=[str(data)], out=str(tmp_path / "m"), kind="hidden", features_table=str(tmp_path / "t"),
                      cache_dir=str(tmp_path / "cache"))
    params = load_model(train_from_table(cfg, progress=False)).meta["recipe_params"]
    assert params[key] == {name: value}
    other = ({"current_generator_weight", "current_attacked_weight"} - {key}).pop()
    assert other not in params  # a setting left at 1 is not stated
    assert f"{key} = {name} {stated}" in (tmp_path / "m" / "MODEL_CARD.md").read_text()
