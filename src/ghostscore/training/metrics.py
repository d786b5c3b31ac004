"""Detection metrics: AUROC, TPR at a fixed FPR, ECE, F1; all on held-out data only."""

from __future__ import annotations

import math

import numpy as np


def auroc(y: np.ndarray, p: np.ndarray) -> float:
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    if len(set(y.tolist())) < 2:
        return math.nan
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def tpr_at_fpr(y: np.ndarray, p: np.ndarray, fpr: float) -> float:
    """TPR when the threshold lets through at most ``fpr`` of the negatives (humans)."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    neg, pos = p[y == 0], p[y == 1]
    if len(neg) == 0 or len(pos) == 0:
        return math.nan
    thr = np.quantile(neg, 1 - fpr, method="higher")
    return float(np.mean(pos > thr))


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(total)


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    mean_pred, frac_pos, count = [], [], []
    for b in range(bins):
        m = idx == b
        mean_pred.append(float(p[m].mean()) if m.any() else math.nan)
        frac_pos.append(float(y[m].mean()) if m.any() else math.nan)
        count.append(int(m.sum()))
    return {"bin_mean_pred": mean_pred, "bin_frac_pos": frac_pos, "bin_count": count}


def f1_at(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    y = np.asarray(y)
    pred = np.asarray(p) >= threshold
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def summary(y: np.ndarray, p: np.ndarray, threshold: float | None = None) -> dict[str, float]:
    out = {
        "n": int(len(y)), "n_machine": int(np.sum(y)), "n_human": int(len(y) - np.sum(y)),
        "auroc": auroc(y, p), "tpr_at_1fpr": tpr_at_fpr(y, p, 0.01), "tpr_at_5fpr": tpr_at_fpr(y, p, 0.05),
        "ece": ece(y, p),
    }
    if threshold is not None:
        out["f1"] = f1_at(y, p, threshold)
        humans = np.asarray(p)[np.asarray(y) == 0]
        out["human_fpr_at_threshold"] = float(np.mean(humans >= threshold)) if len(humans) else math.nan
        machines = np.asarray(p)[np.asarray(y) == 1]
        out["tpr_at_threshold"] = float(np.mean(machines >= threshold)) if len(machines) else math.nan
    return out
