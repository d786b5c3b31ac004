"""Refit a trained model's calibration and verdict threshold on someone's own labeled texts.

The shipped thresholds hold 1% false positives on the corpus's validation humans, domain by domain, but a
domain the corpus lacks (a newsroom's own archive, learner essays) can sit elsewhere. A few hundred of the
user's own texts fix that without retraining: with both labels, Platt scaling and the operating point are
refitted; with human texts only, the calibration is kept and only the threshold quantiles are replaced (the
bound on ``human`` from held-out machine texts stays, as their probabilities do).
The weights, features and extractors stay as they were.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..classifiers import load_model, resolve_model
from ..classifiers.calibration import DEFAULT_FPR, OperatingPoint, sigmoid
from ..errors import InputError
from .evaluate import EvalConfig, frame_logits, load_frame
from .linear import calibrate_logits


@dataclass
class RecalibrateConfig(EvalConfig):
    """``EvalConfig`` (data, model, split, label names, subsample) plus the target FPR."""

    fpr: float = DEFAULT_FPR
    human_factor: float = 5.0  # the training sample's factors, so a validation refit sees the same mix
    base_model_factor: float = 0.5


def recalibrate(cfg: RecalibrateConfig) -> Path:
    """Write a copy of the model at ``cfg.out`` with calibration and operating point refitted on ``cfg.data``."""
    out = Path(cfg.out)
    if out.exists() and not (out / "config.json").exists() and any(out.iterdir()):
        raise InputError("usage", f"{out} exists and is not a model directory; choose a new --out")
    df = load_frame(cfg)
    src = resolve_model(cfg.model, use_lm=cfg.use_lm)
    model = load_model(src)
    logits, ok = frame_logits(df, model, cache_dir=cfg.cache_dir)
    y = df["y"].to_numpy()[ok]
    lv = logits[ok]
    domains = df["domain"].to_numpy()[ok] if df["domain"].notna().any() else None
    if (y == 0).sum() < 20:
        raise InputError("too_few", f"{int((y == 0).sum())} scorable human texts; recalibration needs at least 20")
    if len(set(y)) == 2:
        model.calibration, model.operating_point = calibrate_logits(lv, y, fpr=cfg.fpr, domains=domains)
        how = "Platt scaling and operating point refitted"
    else:
        a, b = model.calibration
        human_domains = None if domains is None else domains[y == 0]
        fresh = OperatingPoint.from_scores(sigmoid(a * lv + b), fpr=cfg.fpr, domains=human_domains)
        old = model.operating_point  # same probabilities: its held-out machine bound on `human` still holds
        model.operating_point = fresh if old is None else replace(
            fresh, machine_quantiles=old.machine_quantiles, max_miss=old.max_miss,
            machine_group_quantiles=old.machine_group_quantiles, machine_group_counts=old.machine_group_counts)
        how = "calibration kept (human texts only); operating point refitted, machine bound on `human` kept"
    info: dict[str, Any] = {"data": list(cfg.data), "split": cfg.split, "n": int(ok.sum()),
                            "n_human": int((y == 0).sum()), "how": how,
                            "guarded_domains": sorted(model.operating_point.domain_quantiles)}
    model.meta = {**getattr(model, "meta", {}), "recalibration": info}
    if out.resolve() != Path(src).resolve():
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(src, out)
    card_path = out / "MODEL_CARD.md"
    card = card_path.read_text() if card_path.exists() else f"# ghostscore model card: {model.name}\n"
    lo, hi = model.operating_point.band()
    card += (
        f"\n## Recalibrated\n{how} on {info['n']} texts ({info['n_human']} human) of {', '.join(cfg.data)}"
        f"{f' (split {cfg.split})' if cfg.split else ''}. `ai` when P(machine) >= {hi:.3f}; `uncertain` from "
        f"{lo:.3f}. Guarded domains: {', '.join(info['guarded_domains']) or 'none'}. The metrics above are the "
        "original model's.\n"
    )
    model.save(out, card=card)
    return out
