"""benchmarks/standin_texts.py: stand-in texts in the corpus schema, weighted only where they are stand-ins."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ghostscore.training.data import is_instruction_tuned, load_labeled

try:
    from .synthetic import benchmark_script
except ImportError:  # run as loose modules
    from synthetic import benchmark_script

CORPUS_DOMAINS = {"news", "wikipedia", "story", "essay", "review", "abstract", "qa", "social", "howto", "other"}


def test_prompts_are_reproducible_in_corpus_domains_and_mostly_told_to_sound_human() -> None:
    st = benchmark_script("standin_texts")
    jobs = st.prompts(300, seed=3)
    assert jobs == st.prompts(300, seed=3)
    assert jobs != st.prompts(300, seed=4)
    assert {d for d, _, _ in jobs} <= CORPUS_DOMAINS
    told = [h for _, h, _ in jobs]
    assert 0.5 < np.mean(told) < 0.85
    assert all(any(p.endswith(x) for x in st.HUMANIZE) == h for _, h, p in jobs)


def test_rows_load_as_machine_text_of_a_generator_that_is_never_a_logo_fold(tmp_path: Path) -> None:
    st = benchmark_script("standin_texts")
    rows = [st.corpus_row(f"Stand-in text number {i}.", "news", i % 2 == 0, seed=1, index=i) for i in range(200)]
    path = tmp_path / "standin.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    df = load_labeled([str(path)])
    assert len(df) == 200 and (df["y"] == 1).all()
    assert set(df["generator"]) == {st.GENERATOR} and not is_instruction_tuned(st.GENERATOR)
    assert set(df["split"]) == {"train", "validation", "test"}  # by each row's own group, as the corpus splits
    assert df.groupby("split").size()["train"] > 120
    assert (df["attack"] == "humanize-prompt").sum() == 100


def test_weighting_touches_only_the_standins_machine_rows() -> None:
    st = benchmark_script("standin_texts")
    rows = pd.DataFrame({"y": [1, 1, 0, 1], "generator": [st.GENERATOR, "gpt-4o", None, "llm-2026"],
                         "attack": [None, None, None, "humanize-prompt"]})

    def base(r: pd.DataFrame, current: float, humanized: float) -> np.ndarray:
        return np.where(r["generator"] == "llm-2026", current, 1.0)

    w = st.weigh_standins(base, 4.0)(rows, 2.0, 1.0)
    assert w.tolist() == [4.0, 1.0, 1.0, 2.0]
