"""What a training run is: its config, which extractors and features a model reads, and the sample.

Only layout-free features feed a model (``features.layout_free_feature_names``) and raw length features
are excluded, because the training corpora carry layout and truncation label cues.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from ..errors import InputError
from ..features import layout_free_feature_names
from .data import load_labeled, stratified_sample

FEATURE_EXTRACTORS = ("redundancy", "phrasing", "bio", "style")
LM_EXTRACTORS = ("lm",)
# Length and raw counts track how a corpus was cut, not who wrote it.
# Counts grow with length, and zlib's ratio falls with it; shares and densities carry the same evidence
# without the length cue (BENCHMARKS.md: the "cut" shortcut row).
EXCLUDED_FEATURES = frozenset(
    {"lm_tokens", "lm_fdg_crit", "redundancy_zlib_ratio", "style_sentence_count", "redundancy_restated_count",
     "redundancy_near_duplicate_pairs", "phrasing_stock_distinct", "bio_present"}
)


@dataclass
class TrainConfig:
    data: list[str]
    out: str
    kind: str = "linear"
    label_field: str = "label"
    positive: str = "machine"
    negative: str = "human"
    text_field: str = "text"
    use_lm: bool = True
    max_per_stratum: int | None = None
    base_model_factor: float = 0.5
    human_factor: float = 5.0
    seed: int = 0
    cache_dir: str | None = None
    C: float | None = None
    extractors: list[str] = field(default_factory=list)
    english_only: bool = True
    sign_consistent: list[str] = field(default_factory=list)  # families filtered by selection.sign_consistent_features
    generator_factors: dict[str, float] = field(default_factory=dict)  # per-generator cap factors (data.py)
    features_table: str | None = None  # train from the stored LM feature table (training/feature_table.py)
    cross_fit_calibration: bool = True  # with features_table: calibrate on cross-fitted training scores too
    lm_budget: int | None = None  # with features_table: LM features from the first this-many tokens
    # with features_table: "leave-out" (default) or "keep" the human-labelled rows a machine rewrote in part
    # (data.MACHINE_TOUCHED_ATTACKS) in training and calibration
    machine_touched_humans: str = "leave-out"
    # with features_table and cross_fit_calibration: calibration scores of rows outside the held-out generators come
    # from models that never saw the row's "source" (dataset; the default) or its "group" (grouped K-fold)
    calibration_held_out: str = "source"


def parse_generator_factors(items: Sequence[str]) -> dict[str, float]:
    """``["llm-2026=8", ...]`` -> ``{"llm-2026": 8.0}``; a clear error for anything else."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            factor = float(value)
        except ValueError:
            factor = math.nan
        if not sep or not name or not math.isfinite(factor) or factor <= 0:
            raise InputError("usage", f"--generator-factor expects NAME=FACTOR with FACTOR > 0, got {item!r}")
        out[name] = factor
    return out


def model_extractors(use_lm: bool) -> list[str]:
    return list(FEATURE_EXTRACTORS) + (list(LM_EXTRACTORS) if use_lm else [])


def model_feature_names(extractors: Sequence[str]) -> list[str]:
    return [f for f in layout_free_feature_names(extractors) if f not in EXCLUDED_FEATURES]


def prepare(cfg: TrainConfig) -> pd.DataFrame:
    df = load_labeled(
        cfg.data, text_field=cfg.text_field, label_field=cfg.label_field, positive=cfg.positive,
        negative=cfg.negative,
    )
    if cfg.english_only and df["lang"].notna().any():
        df = df[df["lang"].fillna("en") == "en"]
    parts = []
    for split in ("train", "validation"):
        sub = df[df["split"] == split]
        parts.append(stratified_sample(sub, max_per_stratum=cfg.max_per_stratum, seed=cfg.seed,
                                       base_model_factor=cfg.base_model_factor, human_factor=cfg.human_factor,
                                       generator_factors=cfg.generator_factors or None))
    return pd.concat(parts)
