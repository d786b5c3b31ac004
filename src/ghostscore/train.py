"""Training: labeled data -> Documents -> cached features -> linear model -> calibration -> artifact.

What is trained is exactly what is served: the same ``Document`` and the same registered extractors.
Only layout-free features feed the model (see ``features.layout_free_feature_names``), and raw length
features are excluded, because the training corpora carry layout and truncation label cues.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .classifier import DEFAULT_FPR, MIN_DOMAIN_HUMANS, LinearModel, OperatingPoint, fit_scaler, sigmoid
from .document import MIN_WORDS, Document
from .errors import InputError
from .featurecache import FeatureCache, text_key
from .features import Extractor, build_extractors, layout_free_feature_names
from .models import ModelProvider

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


def default_cache_path(cache_dir: str | None) -> Path:
    if cache_dir:
        return Path(cache_dir) / "features.sqlite"
    import platformdirs

    return Path(platformdirs.user_cache_dir("ghostscore")) / "features.sqlite"


def make_documents(texts: Sequence[str]) -> tuple[list[Document | None], list[list[str]]]:
    docs: list[Document | None] = []
    problems: list[list[str]] = []
    for t in texts:
        try:
            d = Document.from_text(t)
            docs.append(d)
            problems.append(d.support_problems(min_words=MIN_WORDS))
        except InputError as exc:
            docs.append(None)
            problems.append([str(exc)])
    return docs, problems


def extract_features(
    texts: Sequence[str], extractors: Sequence[Extractor], *, cache: FeatureCache | None = None,
    batch_size: int = 32, progress: bool = True, desc: str = "features",
) -> tuple[pd.DataFrame, list[list[str]]]:
    """Feature table (one row per text, NaN where a text could not be read) and support problems."""
    from tqdm.auto import tqdm

    keys = [text_key(t) for t in texts]
    rows: list[dict[str, float]] = [dict() for _ in texts]
    docs, problems = make_documents(texts)
    for ex in extractors:
        cached = cache.get_many(ex, keys) if cache else {}
        todo = [i for i, k in enumerate(keys) if k not in cached and docs[i] is not None]
        for i, k in enumerate(keys):
            if k in cached:
                rows[i].update(cached[k])
        bar = tqdm(total=len(todo), desc=f"{desc}:{ex.name}", disable=not progress or not todo, mininterval=5)
        for s in range(0, len(todo), batch_size):
            idx = todo[s : s + batch_size]
            sets = ex.extract_many([docs[i] for i in idx])
            fresh = {}
            for i, fs in zip(idx, sets, strict=True):
                vals = {n: float(fs.values.get(n, math.nan)) for n in ex.feature_names}
                rows[i].update(vals)
                fresh[keys[i]] = vals
            if cache:
                cache.put_many(ex, fresh)
            bar.update(len(idx))
        bar.close()
    return pd.DataFrame(rows, index=range(len(texts))), problems


def fit_linear(
    X: np.ndarray, y: np.ndarray, *, feature_names: list[str], extractors: list[str], C: float = 0.1,
    sample_weight: np.ndarray | None = None, seed: int = 0,
) -> LinearModel:
    """Standardize (mean/std of training rows; NaN -> mean) and fit an L2 logistic regression."""
    from sklearn.linear_model import LogisticRegression

    mean, std = fit_scaler(X)
    model = LinearModel(
        feature_names=list(feature_names), extractors=list(extractors), mean=mean, scale=std,
        coef=np.zeros(len(feature_names)), bias=0.0,
    )
    Z = model.standardize(X)
    lr = LogisticRegression(C=C, max_iter=2000, class_weight="balanced", random_state=seed)
    lr.fit(Z, y, sample_weight=sample_weight)
    model.coef = lr.coef_[0].astype(np.float64)
    model.bias = float(lr.intercept_[0])
    return model


def calibrate_logits(logits: np.ndarray, y: np.ndarray, *, fpr: float = DEFAULT_FPR, domains: Any = None):
    """Platt scaling on validation logits, then the operating point from validation human texts
    (pooled and, given ``domains`` per validation row, per domain: see ``OperatingPoint``)."""
    from sklearn.linear_model import LogisticRegression

    logits = np.asarray(logits, dtype=float)
    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(logits[:, None], y)
    calibration = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))
    probs = sigmoid(calibration[0] * logits + calibration[1])
    human = np.asarray(y) == 0
    human_domains = None if domains is None else np.asarray(domains, dtype=object)[human]
    return calibration, OperatingPoint.from_scores(probs[human], fpr=fpr, domains=human_domains)


def calibrate(
    model: LinearModel, X_val: np.ndarray, y_val: np.ndarray, *, fpr: float = DEFAULT_FPR, domains: Any = None,
) -> None:
    model.calibration, model.operating_point = calibrate_logits(model.logit(X_val), y_val, fpr=fpr, domains=domains)


def feature_ranges(X: pd.DataFrame, y: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """10th-90th percentile of each feature for human and machine training texts (for the report)."""
    out = {}
    for col in X.columns:
        h = X[col][y == 0].dropna()
        m = X[col][y == 1].dropna()
        if len(h) and len(m):
            out[col] = {
                "human": [float(h.quantile(0.1)), float(h.quantile(0.9))],
                "machine": [float(m.quantile(0.1)), float(m.quantile(0.9))],
            }
    return out


def prepare(cfg: TrainConfig) -> pd.DataFrame:
    from .training.data import load_labeled, stratified_sample

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


@dataclass
class LinearFit:
    """A calibrated linear model and the rows and features it was fitted and calibrated on (supported rows
    only); the fused recipe starts from it."""

    model: LinearModel
    train: pd.DataFrame
    validation: pd.DataFrame
    F_train: pd.DataFrame
    F_validation: pd.DataFrame
    candidate_names: list[str]
    n_unsupported: int = 0


def fit_calibrated_linear(cfg: TrainConfig) -> LinearFit:
    """Sample, extract (cached), filter sign-inconsistent features, fit, calibrate with the per-domain guard."""
    df = prepare(cfg)
    train = df[df["split"] == "train"]
    val = df[df["split"] == "validation"]
    if train["y"].nunique() < 2:
        raise InputError("labels", "training data needs both human and machine texts")
    if val["y"].nunique() < 2:
        raise InputError("labels", "validation split needs both labels (give a split column or more data)")
    extractor_names = cfg.extractors or model_extractors(cfg.use_lm)
    names = model_feature_names(extractor_names)
    provider = ModelProvider(cache_dir=cfg.cache_dir)
    extractors = build_extractors(extractor_names, models=provider)
    cache = FeatureCache(default_cache_path(cfg.cache_dir))
    F_train, prob_train = extract_features(list(train["text"]), extractors, cache=cache, desc="train")
    F_val, prob_val = extract_features(list(val["text"]), extractors, cache=cache, desc="validation")
    keep_t = np.array([not p for p in prob_train])
    keep_v = np.array([not p for p in prob_val])
    train = train.reset_index(drop=True)[keep_t].reset_index(drop=True)
    val = val.reset_index(drop=True)[keep_v].reset_index(drop=True)
    F_train = F_train[keep_t].reset_index(drop=True)
    F_val = F_val[keep_v].reset_index(drop=True)
    if train["y"].nunique() < 2 or val["y"].nunique() < 2:
        raise InputError("labels", "after dropping unsupported texts a split has only one label")
    all_names = names
    if cfg.sign_consistent:
        from .selection import sign_consistent_features

        names = sign_consistent_features(F_train, train, names, cfg.sign_consistent)
    C = cfg.C if cfg.C is not None else 0.1
    model = fit_linear(F_train.reindex(columns=names).to_numpy(float), train["y"].to_numpy(), feature_names=names,
                       extractors=extractor_names, C=C, seed=cfg.seed)
    dv = val["domain"].to_numpy() if "domain" in val.columns else None
    calibrate(model, F_val.reindex(columns=names).to_numpy(float), val["y"].to_numpy(), domains=dv)
    return LinearFit(model, train, val, F_train, F_val, all_names, int((~keep_t).sum() + (~keep_v).sum()))


def train_model(cfg: TrainConfig) -> Path:
    """Fit, calibrate and save a model; returns its directory."""
    if cfg.kind == "fused":
        from .fused_train import train_fused

        return train_fused(cfg)
    if cfg.kind != "linear":
        raise InputError("usage", f"unknown model kind {cfg.kind!r} (linear or fused)")
    t0 = time.time()
    fit = fit_calibrated_linear(cfg)
    model = fit.model
    from . import metrics

    yv = fit.validation["y"].to_numpy()
    pv = model.predict_proba(fit.F_validation.reindex(columns=model.feature_names).to_numpy(float))
    model.metrics = {"validation": metrics.summary(yv, pv, model.operating_point.threshold())}
    model.name = Path(cfg.out).name
    model.meta = {
        "config": asdict(cfg),
        "n_train": int(len(fit.train)), "n_validation": int(len(fit.validation)),
        "n_unsupported_dropped": fit.n_unsupported,
        "sign_inconsistent_dropped": [n for n in fit.candidate_names if n not in model.feature_names],
        "feature_ranges": feature_ranges(fit.F_train.reindex(columns=model.feature_names), fit.train["y"].to_numpy()),
        "train_seconds": round(time.time() - t0, 1),
    }
    return model.save(cfg.out, card=model_card(model))


def operating_point_lines(op: OperatingPoint | None) -> list[str]:
    """The model card's operating-point section (shared by every model type)."""
    if op is None:
        return ["## Operating point", "No operating point."]
    lo, hi = op.band()
    return [
        "## Operating point",
        f"`ai` when P(machine) >= {hi:.3f}: at most {op.fpr:.1%} of validation human texts score that high"
        + (f", overall and within each of these validation domains: {', '.join(sorted(op.domain_quantiles))} "
           f"(per-domain guard; domains with fewer than {MIN_DOMAIN_HUMANS} validation human texts count only in the "
           "pooled figure)."
           if op.domain_quantiles else "."),
        f"`uncertain` between {lo:.3f} and {hi:.3f} (the threshold for {min(0.5, op.fpr * 5):.0%} FPR).",
        "Choose another with `--fpr` (CLI) or `Detector.load(fpr=...)`.",
    ]


def model_card(model: LinearModel) -> str:
    v = model.metrics.get("validation", {})
    op = model.operating_point
    top = sorted(zip(model.feature_names, model.coef, strict=True), key=lambda t: -abs(t[1]))[:12]
    cfg = model.meta.get("config", {})
    lines = [
        f"# ghostscore model card: {model.name}",
        "",
        f"Type: {model.type} (standardized features -> logistic regression -> Platt calibration).",
        f"Extractors: {', '.join(model.extractors)}; {len(model.feature_names)} layout-free features.",
        "",
        "## Data",
        f"Trained on {model.meta.get('n_train')} texts (train split), calibrated on "
        f"{model.meta.get('n_validation')} (validation split) of: {', '.join(cfg.get('data', []))}.",
        f"Subsample: at most {cfg.get('max_per_stratum')} texts per "
        f"dataset x domain x generator x attack x label stratum (base-model generators "
        f"x{cfg.get('base_model_factor')}, human strata x{cfg.get('human_factor')}); English only; "
        f"seed {cfg.get('seed')}.",
        *([f"Sign-consistency filter on {', '.join(cfg.get('sign_consistent', []))} features: dropped "
           f"{', '.join(model.meta['sign_inconsistent_dropped'])} (their direction differs between training "
           "generators, so they mislead on unseen ones; see `ghostscore.selection`)."]
          if model.meta.get("sign_inconsistent_dropped") else []),
        "",
        *operating_point_lines(op),
        "",
        "## Validation metrics (not test; see BENCHMARKS.md for held-out test and cross-generator numbers)",
        "```",
        json.dumps(v, indent=1),
        "```",
        "",
        "## Largest weights (standardized)",
        *[f"- `{n}`: {c:+.3f}" for n, c in top],
        "",
        "## Intended use and limits",
        "Triage of English articles for likely machine generation, with evidence for a human reviewer.",
        "Not proof: simple, predictable human prose (e.g. non-native writers) can score high. Texts under "
        f"{MIN_WORDS} words, non-English or non-prose texts get `unsupported`. Trained on 2019-2026 "
        "generators; newer models and heavy paraphrasing lower recall.",
        "",
    ]
    return "\n".join(lines)
