"""Labeled data loading: formats, label mapping, group splits that never leak."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ghostscore.errors import InputError
from ghostscore.training.data import load_labeled, split_for_group, stratified_sample


def _rows(n: int = 60) -> list[dict]:
    rows = []
    for g in range(n // 2):
        rows.append({"text": f"human text {g}", "label": "human", "group": f"g{g}", "generator": None})
        rows.append({"text": f"machine rewrite {g}", "label": "machine", "group": f"g{g}", "generator": "gpt-x"})
    return rows


def test_jsonl_csv_parquet_load_identically(tmp_path) -> None:
    rows = _rows()
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    pd.DataFrame(rows).to_csv(tmp_path / "d.csv", index=False)
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    frames = [load_labeled([str(tmp_path / f"d.{ext}")]) for ext in ("jsonl", "csv", "parquet")]
    for f in frames:
        assert list(f.y) == [0, 1] * 30
        assert list(f.text) == [r["text"] for r in rows]


def test_groups_never_straddle_splits(tmp_path) -> None:
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in _rows(400)))
    df = load_labeled([str(tmp_path / "d.jsonl")])
    assert df.groupby("group")["split"].nunique().max() == 1
    assert set(df.split) == {"train", "validation", "test"}
    assert split_for_group("g1") == split_for_group("g1")


def test_custom_label_names_and_unknown_labels(tmp_path) -> None:
    rows = [{"body": "a b c", "who": "bot"}, {"body": "d e f", "who": "person"}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    df = load_labeled([str(tmp_path / "d.jsonl")], text_field="body", label_field="who", positive="bot",
                      negative="person")
    assert list(df.y) == [1, 0]
    with pytest.raises(InputError, match="neither"):
        load_labeled([str(tmp_path / "d.jsonl")], text_field="body", label_field="who")


def test_stratified_sample_caps_each_stratum() -> None:
    df = pd.DataFrame({"text": [str(i) for i in range(100)], "y": [0, 1] * 50, "dataset": "d",
                       "generator": [None, "gpt2-xl"] * 50, "attack": None})
    s = stratified_sample(df, max_per_stratum=10, base_model_factor=0.5)
    assert (s.y == 0).sum() == 10 and (s.y == 1).sum() == 5
    s = stratified_sample(df, max_per_stratum=10, human_factor=3)
    assert (s.y == 0).sum() == 30 and (s.y == 1).sum() == 10


def test_generator_factors_raise_one_generators_cap() -> None:
    from ghostscore.training.config import parse_generator_factors

    df = pd.DataFrame({"text": [str(i) for i in range(120)], "y": 1, "dataset": "d", "attack": None,
                       "generator": ["llm-2026", "gpt-3.5-turbo"] * 60})
    factors = parse_generator_factors(["llm-2026=4"])
    assert factors == {"llm-2026": 4.0}
    s = stratified_sample(df, max_per_stratum=5, generator_factors=factors)
    assert (s.generator == "llm-2026").sum() == 20 and (s.generator == "gpt-3.5-turbo").sum() == 5
    # the first 5 llm-2026 rows of the plain sample are among the 20: raising a factor only adds rows
    plain = stratified_sample(df, max_per_stratum=5)
    assert set(plain.index) <= set(s.index)
    for bad in ("llm-2026", "=3", "llm-2026=zero", "llm-2026=-1"):
        with pytest.raises(InputError):
            parse_generator_factors([bad])
