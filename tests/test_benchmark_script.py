"""benchmarks/benchmark.py end to end on a small generated file (no language model): the protocols run and
their numbers are consistent with the data they were given."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ghostscore.classifiers import load_model

from .synthetic import write_labeled_jsonl

ROOT = Path(__file__).resolve().parents[1]


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("benchmark", ROOT / "benchmarks" / "benchmark.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_reading_grade_orders_plain_below_complex_prose() -> None:
    grade = _benchmark_module().reading_grade
    plain = "I go to school. My dog is big. We play in the park. It is fun."
    complex_ = ("Notwithstanding considerable institutional resistance, the administration's comprehensive "
                "reorganization substantially diminished bureaucratic inefficiencies across departments.")
    assert grade(plain) < 3 < 12 < grade(complex_)


def test_benchmark_runs_test_logo_and_plain_protocols(tmp_path) -> None:
    data = _two_generator_file(tmp_path)
    out = tmp_path / "bench"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "benchmark.py"), "--data", str(data), "--cap", "100",
           "--extractors", "phrasing,bio", "--protocols", "test,logo,plain", "--min-gen-test", "3",
           "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    n_test_humans = 8  # 40 per label, the last 20% of each label in test
    assert res["sizes"].endswith("/16")
    assert 0.5 <= res["test"]["overall"]["auroc"] <= 1.0
    assert set(res["logo"]["per_generator"]) == {"toy-llm-a", "toy-llm-b"}
    quarters = res["plain"]
    assert sum(q["n"] for q in quarters.values()) == n_test_humans
    assert all(0.0 <= q["fpr_at_threshold"] <= 1.0 for q in quarters.values() if q["n"])
    assert "plainest quarter" in (out / "results.md").read_text()


def _two_generator_file(tmp_path):
    """Toy data with two generators, so that leaving one out leaves the other to train on."""
    data = write_labeled_jsonl(tmp_path / "toy.jsonl", n_per_label=40)
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    for i, row in enumerate(rows):
        if row["generator"]:
            row["generator"] = f"toy-llm-{'ab'[(i // 2) % 2]}"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return data


@pytest.mark.models
def test_fused_benchmark_compares_variants_on_the_same_folds_and_saves_the_fused_model(tmp_path) -> None:
    data = _two_generator_file(tmp_path)
    out, saved = tmp_path / "bench", tmp_path / "fused"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "fused_benchmark.py"), "--data", str(data), "--cap", "100",
           "--extractors", "phrasing,bio", "--variants", "linear,fused", "--lodo-variants", "none", "--epochs", "1",
           "--min-gen-test", "3", "--cache-dir", str(tmp_path / "cache"), "--save-model", str(saved),
           "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    assert list(res["variants"]) == ["linear", "fused"]
    for v in res["variants"].values():
        assert set(v["logo"]["per_generator"]) == {"toy-llm-a", "toy-llm-b"}
        assert v["test"]["n"] == 16
    assert res["variants"]["fused"]["residual"]["encoder_correction_std"] >= 0
    model = load_model(saved)
    assert model.type == "fused" and model.metrics["logo"].keys() == {"toy-llm-a", "toy-llm-b"}


def _build_feature_table_script():
    """benchmarks/build_feature_table.py as a module (the benchmarks folder is not a package)."""
    spec = importlib.util.spec_from_file_location("build_feature_table", ROOT / "benchmarks" / "build_feature_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _toy_table(folder: Path, texts: list[str], y, split: str = "train") -> None:
    """A one-shard feature table holding ``texts`` (``y``: one label, or a function of the text)."""
    from ghostscore.textkey import text_key
    from ghostscore.training.feature_table import TableSpec, write_shard

    write_shard(folder, [{"key": text_key(t), "y": y(t) if callable(y) else y, "split": split, "n_tokens": 3,
                          "n_input": 3, "logprob": [-1.0, -2.0], "rank": [1, 2], "entropy": [1.0, 1.0],
                          "variance": [1.0, 1.0], "h_mid": [0.0], "h_last": [0.0]} for t in texts], TableSpec())


def test_unseen_humans_are_untouched_english_held_out_humans_outside_the_table(tmp_path) -> None:
    """The fairness gate's human set (build_feature_table.py --unseen-humans): validation/test human rows only,
    never a row the table holds, an attacked/mixed row or another language, capped per dataset x domain."""
    import pandas as pd

    mod = _build_feature_table_script()
    rows = []
    for i in range(40):
        rows.append({"text": f"human text number {i}", "y": 0, "split": ["train", "validation", "test"][i % 3],
                     "lang": "de" if i % 10 == 1 else "en", "attack": "data-mixing" if i % 10 == 2 else None,
                     "dataset": "a" if i < 30 else "b", "domain": "news", "generator": None})
    rows.append({"text": "machine text", "y": 1, "split": "test", "lang": "en", "attack": None, "dataset": "a",
                 "domain": "news", "generator": "g"})
    df = pd.DataFrame(rows)
    in_table = df.text[4]  # a validation human already in the table
    _toy_table(tmp_path / "t", [in_table], 0, split="validation")
    got = mod.unseen_humans(df, str(tmp_path / "t"), cap=5)
    assert len(got) and (got.y == 0).all() and got.split.isin(["validation", "test"]).all()
    assert (got.lang == "en").all() and got.attack.isna().all() and in_table not in set(got.text)
    assert got.groupby("dataset").size().max() <= 5


def test_partner_humans_complete_training_groups_the_table_holds_only_machine_texts_of(tmp_path) -> None:
    """build_feature_table.py --partner-humans: one untouched English training human per training group whose
    machine texts the table holds without a human one; never a validation/test text, a group that already has its
    human, or a text of a --keep-out table (the fairness gate's humans)."""
    import pandas as pd

    mod = _build_feature_table_script()
    rows = []
    for g in range(8):
        split = "validation" if g == 7 else "train"
        rows.append({"text": f"machine rewrite {g}", "y": 1, "split": split, "group": f"g{g}", "lang": "en",
                     "attack": None, "dataset": "a" if g < 4 else "b", "domain": "news", "generator": "m"})
        for k in range(2):  # two human texts per group: at most one is taken
            rows.append({"text": f"human original {g}.{k}", "y": 0, "split": split, "group": f"g{g}",
                         "lang": "de" if g == 5 else "en", "attack": "paraphrase-polish" if g == 6 else None,
                         "dataset": "a" if g < 4 else "b", "domain": "news", "generator": None})
    df = pd.DataFrame(rows)
    _toy_table(tmp_path / "t", [f"machine rewrite {g}" for g in range(8)] + ["human original 1.0"], 1)
    _toy_table(tmp_path / "gate", ["human original 2.0", "human original 2.1"], 0)  # group 2: the gate's
    got = mod.partner_humans(df, str(tmp_path / "t"), keep_out=[str(tmp_path / "gate")])
    assert sorted(got.group) == ["g0", "g3", "g4"]  # 1 has its human, 2 kept out, 5 German, 6 polished, 7 validation
    assert (got.y == 0).all() and (got.split == "train").all() and got.attack.isna().all()
    assert list(got.dataset[:2]) in (["a", "b"], ["b", "a"])  # spread over the datasets
    assert mod.partner_humans(df, str(tmp_path / "t")).group.nunique() == 4  # without --keep-out, group 2 too


def test_partner_machines_complete_training_groups_the_table_holds_only_a_human_text_of(tmp_path) -> None:
    """build_feature_table.py --partner-machines: every English instruction-tuned machine text of each training
    group whose untouched human text the table holds without a machine one; never a base-model continuation, a
    validation text, a group that already has a machine text, or one whose only held human was machine-touched."""
    import pandas as pd

    mod = _build_feature_table_script()
    rows = []
    for g in range(7):
        split = "validation" if g == 6 else "train"
        rows.append({"text": f"human original {g}", "y": 0, "split": split, "group": f"g{g}", "lang": "en",
                     "attack": "paraphrase-polish" if g == 5 else None, "dataset": "a" if g < 3 else "b",
                     "domain": "news", "generator": None})
        for gen in ("gpt-4o", "llama-3-70b-instruct", "gpt2-xl"):
            rows.append({"text": f"{gen} rewrite {g}", "y": 1, "split": split, "group": f"g{g}",
                         "lang": "de" if (g == 4 and gen == "gpt-4o") else "en", "attack": "rewrite",
                         "dataset": "a" if g < 3 else "b", "domain": "news", "generator": gen})
    df = pd.DataFrame(rows)
    held = [f"human original {g}" for g in range(7)] + ["gpt-4o rewrite 1"]
    _toy_table(tmp_path / "t", held, lambda t: int("rewrite" in t))
    got = mod.partner_machines(df, str(tmp_path / "t"))
    # 1 has a machine text, 5's human was polished, 6 is validation; base-model gpt2-xl never; g4's gpt-4o is German
    assert sorted(zip(got.group, got.generator, strict=True)) == [
        ("g0", "gpt-4o"), ("g0", "llama-3-70b-instruct"), ("g2", "gpt-4o"), ("g2", "llama-3-70b-instruct"),
        ("g3", "gpt-4o"), ("g3", "llama-3-70b-instruct"), ("g4", "llama-3-70b-instruct")]
    assert (got.y == 1).all() and (got.split == "train").all()
    assert got.dataset.iloc[0] != got.dataset.iloc[1]  # spread over the datasets
    with pytest.raises(SystemExit, match="no feature table"):
        mod.partner_machines(df, str(tmp_path / "missing"))
