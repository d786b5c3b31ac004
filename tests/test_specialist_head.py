"""The newest generators' own head (``SpecialistHead``, recipe setting ``specialist=``): fitted on humans and those
generators' texts only, placed ``specialist_shift`` human spreads below the main head, served as the larger of the
two logits; saved and loaded with the model; absent where the data has too few of those texts; stated on the card;
explanations come from the head that gave the logit (BENCHMARKS.md, seventeenth session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

try:
    from .synthetic import benchmark_script
    from .test_current_generators import _table_with_a_current_generator
except ImportError:  # run as loose modules
    from synthetic import benchmark_script
    from test_current_generators import _table_with_a_current_generator


@pytest.fixture
def few_rows_enough(monkeypatch):
    """The toy table holds ~15 texts of the current generator: let that be enough for a specialist."""
    from ghostscore.training import candidates

    monkeypatch.setattr(candidates, "SPECIALIST_MIN_ROWS", 5)


def _train(tmp_path: Path, name: str | None = None):
    from ghostscore.training.candidates import CURRENT_GENERATORS

    _, td = _table_with_a_current_generator(tmp_path, name or CURRENT_GENERATORS[0])
    return td.subset((td.rows.split == "train").to_numpy()), td


def test_the_logit_is_the_larger_of_the_main_head_and_the_specialist(tmp_path: Path, few_rows_enough) -> None:
    from ghostscore.training.candidates import _X, CURRENT_GENERATORS, _hidden, fit_hidden

    train, td = _train(tmp_path)
    # on the toy table both heads read nearly the same rows, so a small shift lets each give some logits
    with_it, without = fit_hidden(train, specialist=1, specialist_shift=0.1), fit_hidden(train, specialist=0)
    spec = with_it.model.specialist
    assert spec is not None and without.model.specialist is None
    assert spec.generators == [CURRENT_GENERATORS[0]] and spec.shift == 0.1
    assert with_it.params["specialist_generators"] == [CURRENT_GENERATORS[0]]
    assert with_it.params["specialist_rows"] == int(((train.rows.y == 1) & train.rows.generator.isin(
        CURRENT_GENERATORS)).sum())
    main = without.logits(td)  # the specialist changes nothing in the main head
    R = np.concatenate([_hidden(td, with_it.model.layers), _X(td, with_it.names)], axis=1)
    np.testing.assert_allclose(with_it.logits(td), np.maximum(main, spec.logit(R)))
    wins = with_it.model.specialist_wins(_hidden(td, with_it.model.layers), _X(td, with_it.names))
    assert 0 < wins.sum() < len(wins)  # each head gives some of the toy rows' logits


def test_the_specialist_sits_shift_spreads_below_the_main_head_over_training_humans(tmp_path: Path,
                                                                                    few_rows_enough) -> None:
    from ghostscore.training.candidates import _X, _hidden, fit_hidden

    train, _ = _train(tmp_path)
    humans = train.subset((train.rows.y == 0).to_numpy())
    fitted = fit_hidden(train)
    R = np.concatenate([_hidden(humans, fitted.model.layers), _X(humans, fitted.names)], axis=1)
    main = fit_hidden(train, specialist=0).logits(humans)
    for shift in (0.0, 1.0):
        spec = fit_hidden(train, specialist=1, specialist_shift=shift).model.specialist.logit(R)
        assert spec.std() == pytest.approx(main.std())
        assert spec.mean() == pytest.approx(main.mean() - shift * main.std())


def test_no_specialist_without_enough_texts_of_a_current_generator(tmp_path: Path, few_rows_enough,
                                                                    monkeypatch) -> None:
    """A user's corpus that names no current generator trains exactly the recipe without one, and says so."""
    from ghostscore.training import candidates
    from ghostscore.training.candidates import fit_hidden

    train, td = _train(tmp_path, "some-other-llm")
    fitted = fit_hidden(train, specialist=1)
    assert fitted.model.specialist is None
    assert fitted.params["specialist_generators"] == [] and fitted.params["specialist_rows"] == 0
    np.testing.assert_allclose(fitted.logits(td), fit_hidden(train, specialist=0).logits(td))
    monkeypatch.setattr(candidates, "SPECIALIST_MIN_ROWS", 10_000)
    (tmp_path / "again").mkdir()
    train, _ = _train(tmp_path / "again")
    assert fit_hidden(train, specialist=1).model.specialist is None


def test_the_specialist_is_saved_and_loaded_with_the_model(tmp_path: Path, few_rows_enough) -> None:
    from ghostscore.classifiers import load_model
    from ghostscore.training.candidates import _X, _hidden, fit_hidden

    train, td = _train(tmp_path)
    fitted = fit_hidden(train, specialist=1, specialist_shift=0.1)
    loaded = load_model(fitted.model.save(tmp_path / "m"))
    assert loaded.specialist is not None and loaded.specialist.shift == 0.1
    H, X = _hidden(td, loaded.layers), _X(td, loaded.feature_names)
    np.testing.assert_allclose(loaded.logit_from(H, X), fitted.logits(td))
    # explanations come from the head that gave the logit
    wins = loaded.specialist_wins(H, X)
    i, j = int(np.flatnonzero(wins)[0]), int(np.flatnonzero(~wins)[0])
    by_spec = loaded.contributions(X[i], {"lm_hidden": H[i]})  # the model's layers, side by side
    by_main = loaded.contributions(X[j], {"lm_hidden": H[j]})
    k = loaded.hidden_size
    assert by_spec != loaded.contributions(X[i])  # without the hidden state: the main head's
    z = (X[i] - loaded.specialist.mean[k:]) / loaded.specialist.scale[k:]
    np.testing.assert_allclose(list(by_spec.values()), np.clip(np.nan_to_num(z), -6, 6) * loaded.specialist.coef[k:])
    assert by_main == loaded.contributions(X[j])


def test_a_damaged_specialist_is_refused(tmp_path: Path, few_rows_enough) -> None:
    from safetensors.numpy import load_file, save_file

    from ghostscore.classifiers import load_model
    from ghostscore.errors import ModelError
    from ghostscore.training.candidates import fit_hidden

    train, _ = _train(tmp_path)
    path = fit_hidden(train, specialist=1).model.save(tmp_path / "m")
    tensors = load_file(str(path / "weights.safetensors"))
    del tensors["specialist_coef"]
    save_file(tensors, str(path / "weights.safetensors"))
    with pytest.raises(ModelError, match="specialist"):
        load_model(path)


def test_the_specialist_is_a_recipe_setting_of_the_benchmarks() -> None:
    name, budget, kw = benchmark_script("transfer_benchmark").parse_candidate(
        "hidden@128:specialist=1,specialist_shift=0.75")
    assert (name, budget, kw["specialist"], kw["specialist_shift"]) == ("hidden", 128, 1.0, 0.75)


def test_the_card_states_the_specialist(tmp_path: Path, few_rows_enough) -> None:
    from ghostscore.classifiers import load_model
    from ghostscore.training.candidates import CURRENT_GENERATORS, PARAM_NAMES, SPECIALIST_OWN, SPECIALIST_SHIFT
    from ghostscore.training.config import TrainConfig
    from ghostscore.training.table_train import train_from_table

    data, _ = _table_with_a_current_generator(tmp_path, CURRENT_GENERATORS[0])
    cfg = TrainConfig(data=[str(data)], out=str(tmp_path / "m"), kind="hidden", features_table=str(tmp_path / "t"),
                      cache_dir=str(tmp_path / "cache"))
    model = load_model(train_from_table(cfg, progress=False))
    assert model.specialist is not None
    assert model.meta["recipe_params"]["specialist_generators"] == [CURRENT_GENERATORS[0]]
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    assert f"specialist_generators = {CURRENT_GENERATORS[0]}" in card
    assert f"specialist_shift = {SPECIALIST_SHIFT:g}" in card
    assert "the larger of the two heads' logits" in card
    line = card.split("A second head of the same recipe")[1].split(" was fitted")[0]
    for key, value in SPECIALIST_OWN.items():  # the specialist's own settings are stated beside it
        assert f"{PARAM_NAMES[key]} = {value:g}" in line


def test_the_specialist_takes_its_own_settings(tmp_path: Path, few_rows_enough) -> None:
    """``SPECIALIST_OWN`` / ``specialist_blend=`` etc. change the specialist only: without the zero-shot blend it
    is the recipe (with ``SPECIALIST_OWN``'s other settings) fitted on humans and the current generator's texts,
    rescaled; the main head is untouched."""
    from ghostscore.training.candidates import (
        _X,
        CURRENT_GENERATORS,
        PARAM_NAMES,
        SPECIALIST_OWN,
        _hidden,
        current_machine_rows,
        fit_hidden,
    )

    train, td = _train(tmp_path)
    blended = fit_hidden(train, specialist=1, specialist_blend=0.25)
    plain = fit_hidden(train, specialist=1, specialist_blend=0)
    np.testing.assert_allclose(blended.model.coef, plain.model.coef)  # same main head
    assert plain.params["specialist_zeroshot_blend"] == 0 and blended.params["specialist_zeroshot_blend"] == 0.25
    mine = train.subset((train.rows.y == 0).to_numpy() | current_machine_rows(train.rows))
    own = fit_hidden(mine, **{**SPECIALIST_OWN, "blend": 0}, specialist=0, current=1.0, humanized=1.0).model
    assert plain.model.specialist.generators == [CURRENT_GENERATORS[0]]

    def scaled(coef: np.ndarray) -> np.ndarray:  # own.coef times the factor that fits ``coef`` best
        return own.coef * float(coef @ own.coef / (own.coef @ own.coef))

    spec = plain.model.specialist.coef
    np.testing.assert_allclose(spec, scaled(spec), atol=1e-9)  # the same direction, rescaled
    assert not np.allclose(blended.model.specialist.coef, scaled(blended.model.specialist.coef), atol=1e-6)
    R = np.concatenate([_hidden(td, plain.model.layers), _X(td, plain.names)], axis=1)
    assert not np.allclose(plain.model.specialist.logit(R), blended.model.specialist.logit(R))
    default = fit_hidden(train, specialist=1)
    for key, value in SPECIALIST_OWN.items():  # the shipped settings are what a bare recipe gets
        assert default.params[f"specialist_{PARAM_NAMES[key]}"] == value
