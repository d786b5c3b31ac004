"""Linear training: standardized features -> L2 logistic regression -> Platt calibration + operating point.

Features come from ``features.pipeline.feature_frame`` (cached), the same path the Detector scores with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..backbones import ModelProvider
from ..classifiers.calibration import DEFAULT_FPR, OperatingPoint, fit_scaler, sigmoid
from ..classifiers.linear import LinearModel
from ..errors import InputError
from ..features import build_extractors
from ..features.cache import FeatureCache
from ..features.pipeline import default_cache_path, feature_frame
from .config import TrainConfig, model_extractors, model_feature_names, prepare


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


def calibrate_logits(logits: np.ndarray, y: np.ndarray, *, fpr: float = DEFAULT_FPR, domains: Any = None,
                     machine_bound: bool = False, machine_groups: Any = None):
    """Platt scaling on validation logits, then the operating point from validation human texts
    (pooled and, given ``domains`` per validation row, per domain: see ``OperatingPoint``). With
    ``machine_bound`` the validation machine scores also bound the ``human`` verdict: pass logits whose
    machine rows were scored by models that never saw their generator (``table_train.fit_calibrated``);
    ``machine_groups`` (one label per row, read on machine rows) bounds it within each group too."""
    from sklearn.linear_model import LogisticRegression

    logits = np.asarray(logits, dtype=float)
    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(logits[:, None], y)
    calibration = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))
    probs = sigmoid(calibration[0] * logits + calibration[1])
    human = np.asarray(y) == 0
    human_domains = None if domains is None else np.asarray(domains, dtype=object)[human]
    machine = probs[~human] if machine_bound else None
    groups = None if machine is None or machine_groups is None else np.asarray(machine_groups, dtype=object)[~human]
    return calibration, OperatingPoint.from_scores(probs[human], fpr=fpr, domains=human_domains,
                                                   machine_probs=machine, machine_groups=groups)


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
    F_train, prob_train = feature_frame(list(train["text"]), extractors, cache=cache, desc="train")
    F_val, prob_val = feature_frame(list(val["text"]), extractors, cache=cache, desc="validation")
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
