"""``ghostscore train``: fit, calibrate and save a model of the asked kind."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from ..errors import InputError
from . import metrics
from .cards import model_card
from .config import TrainConfig
from .linear import feature_ranges, fit_calibrated_linear


def train_model(cfg: TrainConfig) -> Path:
    """Fit, calibrate and save a model; returns its directory."""
    if cfg.features_table:
        from .table_train import train_from_table

        return train_from_table(cfg)
    if cfg.kind == "fused":
        from .fused import train_fused

        return train_fused(cfg)
    if cfg.kind != "linear":
        raise InputError("usage", f"unknown model kind {cfg.kind!r} (linear or fused)")
    t0 = time.time()
    fit = fit_calibrated_linear(cfg)
    model = fit.model
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
