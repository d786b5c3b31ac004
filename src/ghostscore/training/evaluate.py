"""Evaluation: metrics overall and per generator / domain / attack / dataset, plots, metrics.json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..backbones import ModelProvider
from ..classifiers import load_model, resolve_model
from ..features.cache import FeatureCache
from ..features.pipeline import default_cache_path, featurize, make_documents, model_extractors
from ..features.pipeline import feature_frame as extract_features
from ..jsonsafe import to_jsonable
from . import metrics
from .selection import human_reference


@dataclass
class EvalConfig:
    data: list[str]
    model: str | None = None
    out: str = "runs/eval"
    split: str | None = None
    label_field: str = "label"
    positive: str = "machine"
    negative: str = "human"
    text_field: str = "text"
    use_lm: bool = True
    max_per_stratum: int | None = None
    cache_dir: str | None = None
    seed: int = 0
    english_only: bool = True
    human_factor: float = 1.0  # with max_per_stratum: human strata get this many times the cap
    base_model_factor: float = 1.0  # ... and base-model generators this many (0.5 = training/benchmark.py's sample)


def per_group_table(df: pd.DataFrame, p: np.ndarray, threshold: float) -> dict[str, dict[str, Any]]:
    """AUROC per generator (its machine texts vs the human texts of the same datasets), and per
    domain / dataset / attack; plus the human false-positive rate at the verdict threshold per domain."""
    df = df.assign(p=p)
    out: dict[str, dict[str, Any]] = {"generator": {}, "domain": {}, "dataset": {}, "attack": {}}
    for gen, sub in df[df.y == 1].groupby(df["generator"].fillna("unknown")):
        h = df[human_reference(df, sub)]
        both = pd.concat([sub, h])
        out["generator"][gen] = {
            "auroc": metrics.auroc(both.y, both.p), "n_machine": len(sub), "n_human": len(h),
            "tpr_at_threshold": float(np.mean(sub.p >= threshold)),
        }
    for col in ("domain", "dataset"):
        for key, sub in df.groupby(df[col].fillna("unknown")):
            hum = sub[sub.y == 0]
            out[col][key] = {
                "auroc": metrics.auroc(sub.y, sub.p), "n": len(sub),
                "human_fpr_at_threshold": float(np.mean(hum.p >= threshold)) if len(hum) else math.nan,
                "tpr_at_threshold": float(np.mean(sub[sub.y == 1].p >= threshold)) if sub.y.sum() else math.nan,
            }
    for att, sub in df[df.y == 1].groupby(df["attack"].fillna("none")):
        h = df[human_reference(df, sub)]
        both = pd.concat([sub, h])
        out["attack"][att] = {"auroc": metrics.auroc(both.y, both.p), "n_machine": len(sub),
                              "tpr_at_threshold": float(np.mean(sub.p >= threshold))}
    return out


def save_plots(y: np.ndarray, p: np.ndarray, out: Path, title: str) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr, color="#0072B2", label=f"AUROC {metrics.auroc(y, p):.3f}")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set_xlabel("false-positive rate (humans flagged)")
    ax.set_ylabel("true-positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=120)
    plt.close(fig)
    cal = metrics.calibration_bins(y, p)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.plot(cal["bin_mean_pred"], cal["bin_frac_pos"], marker="o", color="#E69F00")
    ax.set_xlabel("predicted P(machine)")
    ax.set_ylabel("observed share machine")
    ax.set_title(f"calibration (ECE {metrics.ece(y, p):.3f})")
    fig.tight_layout()
    fig.savefig(out / "calibration.png", dpi=120)
    plt.close(fig)
    # keep the ROC compact in JSON
    step = max(1, len(fpr) // 200)
    return {"roc": {"fpr": fpr[::step].tolist(), "tpr": tpr[::step].tolist()}, "calibration": cal}


def _per_row(df: pd.DataFrame, model, method: str, *, cache_dir: str | None, progress: bool = True):
    """``model.<method>`` (predict_proba or logit) for each row, NaN where the text is unsupported; features
    come through the cache, and text-reading models also get the Documents."""
    provider = ModelProvider(cache_dir=cache_dir)
    model.attach(provider)
    extractors = model_extractors(model.extractors, models=provider,
                                  lm_budget=(model.meta or {}).get("lm_token_budget"),
                                  lm_hidden=model.needs_hidden_states)
    cache = FeatureCache(default_cache_path(cache_dir))
    texts = list(df["text"])
    docs, problems = make_documents(texts)
    ok = np.array([not pr for pr in problems])
    out = np.full(len(df), np.nan)
    fn = getattr(model, method)
    if model.needs_token_stats:  # per-token LM statistics are not cached: the Detector's path, in slices
        from tqdm.auto import tqdm

        rows = np.flatnonzero(ok)
        for s in tqdm(range(0, len(rows), 32), desc="eval", disable=not progress, mininterval=5):
            idx = rows[s : s + 32]
            sets = featurize([docs[i] for i in idx], extractors)
            X = np.stack([model.vectorize(fs.values) for fs in sets])
            out[idx] = fn(X, extras=[fs.extra for fs in sets])
        return out, ok
    F, _ = extract_features(texts, extractors, cache=cache, progress=progress, desc="eval", docs=docs)
    X = F.reindex(columns=model.feature_names).to_numpy(float)
    if ok.any():
        if model.needs_docs:  # the encoder pass is the slow part: in slices, with a bar
            from tqdm.auto import tqdm

            rows = np.flatnonzero(ok)
            for s in tqdm(range(0, len(rows), 64), desc="encoder", disable=not progress, mininterval=5):
                idx = rows[s : s + 64]
                out[idx] = fn(X[idx], docs=[docs[i] for i in idx])
        else:
            out[ok] = fn(X[ok])
    return out, ok


def score_frame(df: pd.DataFrame, model, *, cache_dir: str | None, progress: bool = True):
    """Probabilities for each row (NaN where the text is unsupported), reusing the feature cache."""
    return _per_row(df, model, "predict_proba", cache_dir=cache_dir, progress=progress)


def frame_logits(df: pd.DataFrame, model, *, cache_dir: str | None, progress: bool = True):
    """Uncalibrated logits for each row (NaN where unsupported): what recalibration refits."""
    return _per_row(df, model, "logit", cache_dir=cache_dir, progress=progress)


def load_frame(cfg: EvalConfig) -> pd.DataFrame:
    """The labeled rows ``cfg`` asks for: split, English only, subsampled by ``cfg``'s cap and factors."""
    from .data import load_labeled, stratified_sample

    df = load_labeled(cfg.data, text_field=cfg.text_field, label_field=cfg.label_field,
                      positive=cfg.positive, negative=cfg.negative)
    if cfg.split:
        df = df[df["split"] == cfg.split]
    if cfg.english_only and df["lang"].notna().any():
        df = df[df["lang"].fillna("en") == "en"]
    return stratified_sample(df, max_per_stratum=cfg.max_per_stratum, seed=cfg.seed, human_factor=cfg.human_factor,
                             base_model_factor=cfg.base_model_factor).reset_index(drop=True)


def evaluate_model(cfg: EvalConfig) -> dict[str, Any]:
    df = load_frame(cfg)
    model = load_model(resolve_model(cfg.model, use_lm=cfg.use_lm))
    p, ok = score_frame(df, model, cache_dir=cfg.cache_dir)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    d = df[ok].reset_index(drop=True)
    pp = p[ok]
    thr = model.operating_point.threshold() if model.operating_point else 0.5
    result: dict[str, Any] = {
        "model": model.name, "data": cfg.data, "split": cfg.split, "threshold": thr,
        "n_rows": int(len(df)), "n_unsupported": int((~ok).sum()),
        "overall": metrics.summary(d.y.to_numpy(), pp, thr),
        "per_group": per_group_table(d, pp, thr),
    }
    result.update(save_plots(d.y.to_numpy(), pp, out, f"{model.name} on {cfg.split or 'all'}"))
    wrong = d.assign(p=pp)
    wrong = wrong[((wrong.y == 0) & (wrong.p >= thr)) | ((wrong.y == 1) & (wrong.p < thr))]
    wrong = wrong.reindex((wrong.p - wrong.y).abs().sort_values(ascending=False).index)[:25]
    result["errors"] = [
        {"id": r.get("id"), "label": "machine" if r["y"] else "human", "p": float(r["p"]),
         "generator": r.get("generator"), "domain": r.get("domain"), "dataset": r.get("dataset"),
         "text_preview": str(r["text"])[:160]}
        for _, r in wrong.iterrows()
    ]
    (out / "metrics.json").write_text(json.dumps(to_jsonable(result), indent=1))
    return result
