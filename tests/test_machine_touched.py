"""Human-labelled texts a machine rewrote in part (LLM-polished, back-translated, mixed): left out of training and
calibration, reported on their own, and kept out of the benchmarks' training folds the same way. Calibration
scores from models that never saw the text's source (leave-one-dataset-out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

try:
    from .synthetic import benchmark_script
    from .test_feature_table import _fake_table_data
except ImportError:  # run as loose modules
    from synthetic import benchmark_script
    from test_feature_table import _fake_table_data


def _touched_table(tmp_path: Path, n: int = 40, every: int = 3, sources: int = 1):
    """The toy table of test_feature_table with every ``every``-th human row marked LLM-polished or mixed (in its
    metadata only) and the rows spread over ``sources`` datasets; returns the corpus path, the table data and the
    number of touched train+validation rows."""

    def edit(rows: list[dict]) -> None:
        for i, r in enumerate(r for r in rows if r["label"] == "human"):
            if every and i % every == 0:
                r["attack"] = "paraphrase-polish" if i % 2 == 0 else "data-mixing"
        if sources > 1:
            for i, r in enumerate(rows):
                r["dataset"] = f"source-{(i // 2) % sources}"

    data, td = _fake_table_data(tmp_path, n=n, edit=edit)
    fit_rows = td.rows.split.isin(["train", "validation"]) & td.rows.attack.notna()
    return data, td, int(fit_rows.sum())


def test_machine_touched_humans_are_human_rows_with_a_machine_rewrite_attack() -> None:
    from ghostscore.training.data import machine_touched_humans

    rows = pd.DataFrame({"y": [0, 0, 0, 0, 1, 0],
                         "attack": ["paraphrase-polish", "back-translation", "data-mixing", "perturbation-char",
                                    "paraphrase-polish", None]})
    assert machine_touched_humans(rows).tolist() == [True, True, True, False, False, False]
    assert not machine_touched_humans(rows.drop(columns="attack")).any()  # a user's data without attacks


@pytest.mark.parametrize("rule", ["leave-out", "keep"])
def test_train_from_table_leaves_touched_humans_out_of_training_and_calibration(tmp_path: Path, rule: str) -> None:
    from ghostscore.classifiers import load_model
    from ghostscore.training.config import TrainConfig
    from ghostscore.training.table_train import train_from_table

    data, td, n_touched = _touched_table(tmp_path)
    assert n_touched > 0
    cfg = TrainConfig(data=[str(data)], out=str(tmp_path / "m"), kind="hidden", features_table=str(tmp_path / "t"),
                      cache_dir=str(tmp_path / "cache"), machine_touched_humans=rule)
    model = load_model(train_from_table(cfg, progress=False))
    fit = td.rows.split.isin(["train", "validation"])
    humans = int((fit & (td.rows.y == 0)).sum())
    left_out = n_touched if rule == "leave-out" else 0
    cal = model.meta["calibration_rows"]
    assert cal["human"] == humans - left_out and cal["machine_touched_humans_left_out"] == left_out
    assert model.meta["n_train"] == int((td.rows.split == "train").sum()) - int(
        ((td.rows.split == "train") & td.rows.attack.notna()).sum() if rule == "leave-out" else 0)
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    if rule == "leave-out":
        m = model.metrics["machine_touched_humans"]
        assert m["n"] == n_touched and 0 <= m["flagged_at_guard"] <= m["flagged_at_own_domain"] <= 1
        assert set(m["by_attack_own_domain"]) == {"paraphrase-polish", "data-mixing"}
        assert f"Left out of training and calibration: {n_touched} texts" in card
    else:
        assert "machine_touched_humans" not in model.metrics and "Left out of training" not in card


def test_bad_rule_is_a_usage_error(tmp_path: Path) -> None:
    from ghostscore.errors import InputError
    from ghostscore.training.config import TrainConfig
    from ghostscore.training.table_train import train_from_table

    cfg = TrainConfig(data=["x"], out=str(tmp_path / "m"), kind="hidden", features_table="t",
                      machine_touched_humans="maybe")
    with pytest.raises(InputError, match="machine_touched_humans"):
        train_from_table(cfg, progress=False)


def _transfer_benchmark():
    return benchmark_script("transfer_benchmark")


def test_benchmark_folds_follow_the_rule_and_report_auroc_against_human_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tb = _transfer_benchmark()
    assert tb.parse_candidate("hidden@128:touched=keep") == ("hidden", 128, {"touched": "keep"})
    with pytest.raises(SystemExit, match="touched"):
        tb.parse_candidate("hidden@128:touched=sometimes")
    _, td, _ = _touched_table(tmp_path)
    seen: list[pd.DataFrame] = []
    real = tb.CANDIDATES["zeroshot"]

    def probe(part, **kw):
        seen.append(part.rows)
        return real(part, **kw)

    monkeypatch.setitem(tb.CANDIDATES, "probe", probe)
    splits = {s: (td.rows.split == s).to_numpy() for s in ("train", "validation", "test")}
    tr, va, te = (td.subset(splits[s]) for s in ("train", "validation", "test"))
    tb.run_fold("probe", tr, va, te)
    assert seen[-1].attack.isna().all()  # left out (the shipped rule)
    tb.run_fold("probe", tr, va, te, touched="keep")
    assert seen[-1].attack.notna().any()
    # a touched human scored like machine text lowers the AUROC against all references, not against human writing
    rows = pd.DataFrame({"y": [1, 1, 0, 0, 0], "attack": [None, None, None, None, "paraphrase-polish"]})
    s = tb.scores(rows.y.to_numpy(), np.array([0.9, 0.8, 0.1, 0.2, 0.95]), 0.5, rows)
    assert s["auroc"] < 1.0 and s["auroc_written"] == 1.0 and s["n_human_written"] == 2


def test_source_held_out_scores_never_come_from_a_model_that_saw_the_rows_dataset(tmp_path: Path) -> None:
    from ghostscore.training.candidates import Fitted
    from ghostscore.training.table_train import held_out_source_logits

    _, td, _ = _touched_table(tmp_path, every=0, sources=4)
    tr, va = (td.subset((td.rows.split == s).to_numpy()) for s in ("train", "validation"))

    def fit(part):  # its "logit" says whether a row's dataset was among the rows it was fitted on
        seen = set(part.rows.dataset)
        return Fitted("probe", lambda d: d.rows.dataset.isin(seen).to_numpy(float))

    out = held_out_source_logits(fit, tr, va, progress=False)
    assert out is not None
    for logits in out:
        assert np.isfinite(logits).all() and not logits.any()
    assert held_out_source_logits(fit, tr, va, min_sources=5, progress=False) is None  # too few: group fallback


@pytest.mark.parametrize("held_out", ["source", "group"])
def test_train_from_table_states_what_its_calibration_scores_never_saw(tmp_path: Path, held_out: str) -> None:
    from ghostscore.classifiers import load_model
    from ghostscore.errors import InputError
    from ghostscore.training.config import TrainConfig
    from ghostscore.training.table_train import fit_calibrated, train_from_table

    data, td, _ = _touched_table(tmp_path, every=0, sources=4)
    cfg = TrainConfig(data=[str(data)], out=str(tmp_path / "m"), kind="hidden", features_table=str(tmp_path / "t"),
                      cache_dir=str(tmp_path / "cache"), calibration_held_out=held_out)
    model = load_model(train_from_table(cfg, progress=False))
    assert model.meta["calibration_rows"]["held_out"] == held_out
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    assert ("fitted without its dataset" in card) == (held_out == "source")
    with pytest.raises(InputError, match="held out"):
        fit_calibrated(lambda d: None, td, td, held_out="nowhere")
