"""Feature selection for generalization: keep only features that point the same way for every generator.

A feature whose human-vs-machine direction flips between generators (higher for one model's text, lower
for another's) fits the training mix and then misleads on a generator it never saw. Measured with
leave-one-generator-out (BENCHMARKS.md): dropping sign-inconsistent language-model features (e.g. the
Fast-DetectGPT criterion and mid-rank GLTR buckets with a 135M scorer) raised the held-out mean AUROC;
applying the rule to phrasing features as well lowered it, so the families it applies to are a setting.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import metrics
from .data import is_instruction_tuned


def human_reference(df: pd.DataFrame, machine: pd.DataFrame) -> pd.Series:
    """Mask of the human rows to compare a machine subset with: same datasets, or, for a machine-only
    dataset (modern-llm), the human rows of the same domains."""
    humans = df.y == 0
    same = humans & df.dataset.isin(machine.dataset.unique())
    if same.any():
        return same
    return humans & df.domain.isin(machine.domain.unique())


def generator_directions(
    X: pd.DataFrame, frame: pd.DataFrame, features: Sequence[str], *, min_texts: int = 5,
) -> dict[str, dict[str, float]]:
    """AUROC - 0.5 of each feature for each instruction-tuned generator with ``min_texts`` machine rows
    (its texts against the human rows of the same datasets); every generator when fewer than two are known
    to be instruction-tuned (a user's own data with other names). ``X`` and ``frame`` are row-aligned."""
    X = X.reset_index(drop=True)
    frame = frame.reset_index(drop=True)
    out: dict[str, dict[str, float]] = {}
    if "generator" not in frame.columns:
        return out
    counts = frame[frame.y == 1].generator.dropna().value_counts()
    gens = [g for g, n in counts.items() if n >= min_texts]
    if sum(is_instruction_tuned(g) for g in gens) >= 2:
        gens = [g for g in gens if is_instruction_tuned(g)]
    for gen in gens:
        gm = (frame.y == 1) & (frame.generator == gen)
        m = (gm | human_reference(frame, frame[gm])).to_numpy()
        if frame.y[m].nunique() < 2:
            continue
        out[str(gen)] = {}
        for f in features:
            col = X[f] if f in X.columns else pd.Series(np.nan, index=X.index)
            x = col.fillna(col.mean()).fillna(0.0)
            out[str(gen)][f] = metrics.auroc(frame.y[m], x[m]) - 0.5
    return out


def sign_consistent_features(
    X: pd.DataFrame, frame: pd.DataFrame, features: Sequence[str], families: Sequence[str], *,
    margin: float = 0.05, min_texts: int = 5,
) -> list[str]:
    """``features`` minus those of ``families`` (name prefixes such as ``lm``) whose direction is not the
    same, by more than ``margin`` AUROC, for every training generator of ``generator_directions``. With
    fewer than two generators nothing can be checked and every feature is kept."""
    checked = [f for f in features if any(f.startswith(fam + "_") for fam in families)]
    if not checked:
        return list(features)
    dirs = generator_directions(X, frame, checked, min_texts=min_texts)
    if len(dirs) < 2:
        return list(features)
    keep = []
    for f in features:
        if f not in checked:
            keep.append(f)
            continue
        d = [dirs[g][f] for g in dirs]
        if all(v > margin for v in d) or all(v < -margin for v in d):
            keep.append(f)
    return keep
