"""benchmarks/seen_generator.py: a seen generator's texts of one genre held out, the rest of its texts trained on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

try:
    from .synthetic import benchmark_script
    from .test_feature_table import _fake_table_data
except ImportError:  # run as loose modules
    from synthetic import benchmark_script
    from test_feature_table import _fake_table_data

GEN = "llm-2026"


def _seen_generator():
    return benchmark_script("seen_generator")


def _two_genres(tmp_path: Path):
    """The toy table in two domains, every third machine text by GEN, a few of them 'told to sound human'."""

    def edit(rows: list[dict]) -> None:
        for i, r in enumerate(rows):
            r["domain"] = "news" if (i // 2) % 2 else "review"
        for j, r in enumerate([r for r in rows if r["label"] == "machine"][::3]):
            r["generator"] = GEN
            r["attack"] = "humanize-prompt" if (j // 2) % 2 else None

    return _fake_table_data(tmp_path, n=120, edit=edit)


def test_genre_folds_hold_out_one_genre_of_the_generator_and_keep_its_others(tmp_path: Path) -> None:
    sg = _seen_generator()
    data, td = _two_genres(tmp_path)
    rows = td.rows
    gen = ((rows.y == 1) & (rows.generator == GEN)).to_numpy()
    folds = list(sg.genre_folds(td, GEN, min_rows=5))
    assert [d for d, *_ in folds] == ["news", "review"]
    for d, tr, va, te in folds:
        dom = (rows.domain == d).to_numpy()
        held = gen & dom & rows.split.isin(["train", "validation"]).to_numpy()
        assert held.any() and not (held & (tr | va)).any()
        assert (gen & ~dom & tr).any()  # its other genre is still trained on
        assert set(rows.y[te & ~held]) == {0} and (rows.domain[te] == d).all()
        assert set(rows.split[te & ~held]) <= {"validation", "test"}

    res = sg.protocol_seen("hidden", td, GEN, min_rows=5)
    assert set(res["per_domain"]) == {"news", "review"}
    for d, v in res["per_domain"].items():
        n_held = int((gen & (rows.domain == d).to_numpy() & rows.split.isin(["train", "validation"]).to_numpy()).sum())
        assert v["n_machine"] == n_held and 0.0 <= v["auroc"] <= 1.0 and 0.0 <= v["recall_served"] <= 1.0
        assert 5 <= v["n_attacked"] < n_held and "auroc_attacked" in v
    assert np.isclose(res["mean_auroc"], np.mean([v["auroc"] for v in res["per_domain"].values()]))

    sg.main(["--table", str(tmp_path / "t"), "--data", str(data), "--cache-dir", str(tmp_path / "cache"),
             "--candidates", "hidden;hidden:current=3", "--min-rows", "5", "--out", str(tmp_path / "out")])
    out = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(out["generators"][GEN]) == {"hidden", "hidden:current=3"}
    assert "| hidden:current=3 |" in (tmp_path / "out" / "results.md").read_text()
