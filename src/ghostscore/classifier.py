"""Classifiers that turn a feature vector into a calibrated probability and a verdict.

Artifacts are a directory with ``config.json`` (feature names, calibration, operating point, metrics)
and ``weights.safetensors`` (arrays); never pickles. ``load_model`` dispatches on ``config["type"]``.

Operating point: ``human_quantiles`` stores the calibrated probabilities of validation *human* texts at
1,000 quantiles, so the threshold for any false-positive rate (``fpr``) can be chosen at load time. The
``ai`` verdict needs p >= threshold(fpr); texts between threshold(fpr * uncertain_factor) and that
threshold are ``uncertain``; below, ``human``.

Per-domain guard: a threshold that holds 1% false positives on the pooled validation humans can still
accuse 2-4% of one domain's writers. ``domain_quantiles`` keeps the same quantiles per validation
domain (only domains with at least ``MIN_DOMAIN_HUMANS`` human texts, so one noisy domain cannot set the
threshold), and the threshold is the highest of the pooled and per-domain ones: the stated FPR then holds
in every domain the model was calibrated on, at the price of some recall.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from .errors import ModelError

DEFAULT_FPR = 0.01
UNCERTAIN_FACTOR = 5.0  # the uncertain band starts at the threshold for 5x the target FPR
MIN_DOMAIN_HUMANS = 50  # fewer validation humans than this: the domain's 1% quantile is noise


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def fit_scaler(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of training rows, ignoring NaN; constant or empty columns get scale 1."""
    mean = np.nanmean(X, axis=0)
    std = np.nanstd(X, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-9), std, 1.0)
    return mean, std


def standardize(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """z-scores clipped to [-6, 6]; missing values (NaN) sit at the training mean: no evidence either way."""
    Z = (np.asarray(X, dtype=np.float64) - mean) / scale
    return np.clip(np.where(np.isfinite(Z), Z, 0.0), -6.0, 6.0)


@dataclass
class OperatingPoint:
    """Maps calibrated probabilities of validation human texts to thresholds for a chosen FPR."""

    human_quantiles: list[float]
    fpr: float = DEFAULT_FPR
    domain_quantiles: dict[str, list[float]] = field(default_factory=dict)

    @staticmethod
    def _quantile_threshold(quantiles: list[float], fpr: float) -> float:
        q = np.asarray(quantiles, dtype=float)
        # threshold = (1 - fpr) quantile of human scores; nudge above so exactly fpr of humans exceed it
        return float(min(1.0, np.interp(1.0 - fpr, np.linspace(0, 1, len(q)), q) + 1e-9))

    def threshold(self, fpr: float | None = None) -> float:
        fpr = self.fpr if fpr is None else fpr
        if not 0 < fpr < 1:
            raise ValueError(f"fpr must lie in (0, 1), got {fpr}")
        return max(self._quantile_threshold(q, fpr)
                   for q in [self.human_quantiles, *self.domain_quantiles.values()])

    def band(self, fpr: float | None = None) -> tuple[float, float]:
        fpr = self.fpr if fpr is None else fpr
        hi = self.threshold(fpr)
        lo = self.threshold(min(0.5, fpr * UNCERTAIN_FACTOR))
        return min(lo, hi), hi

    def verdict(self, p: float, fpr: float | None = None) -> str:
        lo, hi = self.band(fpr)
        if p >= hi:
            return "ai"
        if p >= lo:
            return "uncertain"
        return "human"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fpr": self.fpr, "human_quantiles": self.human_quantiles}
        if self.domain_quantiles:
            out["domain_quantiles"] = self.domain_quantiles
        return out

    @staticmethod
    def from_json(op: dict[str, Any] | None) -> OperatingPoint | None:
        if not op:
            return None
        return OperatingPoint(op["human_quantiles"], op["fpr"], dict(op.get("domain_quantiles") or {}))

    @staticmethod
    def from_scores(
        human_probs: np.ndarray, fpr: float = DEFAULT_FPR, domains: Any = None,
        min_domain_humans: int = MIN_DOMAIN_HUMANS,
    ) -> OperatingPoint:
        """Quantiles of validation human scores; with ``domains`` (one label per score), per domain too."""
        grid = np.linspace(0, 1, 1001)
        probs = np.asarray(human_probs, dtype=float)
        per_domain: dict[str, list[float]] = {}
        if domains is not None:
            labels = np.asarray(domains, dtype=object).astype(str)
            if len(labels) != len(probs):
                raise ValueError("domains must give one label per human score")
            for d in sorted(set(labels)):
                m = labels == d
                if m.sum() >= min_domain_humans:
                    per_domain[d] = [float(x) for x in np.quantile(probs[m], grid)]
        return OperatingPoint([float(x) for x in np.quantile(probs, grid)], fpr, per_domain)


@dataclass
class LinearModel:
    """Standardized features -> logistic regression -> Platt calibration (a * logit + b).

    Interpretable: ``contributions`` gives each feature's share of the logit, which ranks evidence.
    """

    feature_names: list[str]
    extractors: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    bias: float
    calibration: tuple[float, float] = (1.0, 0.0)
    operating_point: OperatingPoint | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    name: str = "linear"
    meta: dict[str, Any] = field(default_factory=dict)

    type = "linear"

    def standardize(self, X: np.ndarray) -> np.ndarray:
        return standardize(X, self.mean, self.scale)

    def logit(self, X: np.ndarray) -> np.ndarray:
        return self.standardize(X) @ self.coef + self.bias

    def predict_proba(self, X: np.ndarray, docs: Any = None) -> np.ndarray:
        """Calibrated P(machine); ``docs`` is accepted for API parity with text-reading models."""
        a, b = self.calibration
        return sigmoid(a * self.logit(X) + b)

    def contributions(self, x: np.ndarray) -> dict[str, float]:
        z = self.standardize(np.asarray(x)[None, :])[0]
        return {n: float(c) for n, c in zip(self.feature_names, z * self.coef, strict=True)}

    def vectorize(self, values: dict[str, float]) -> np.ndarray:
        return np.array([values.get(n, math.nan) for n in self.feature_names], dtype=np.float64)

    # ---------------------------------------------------------------- persistence
    def save(self, directory: str | Path, *, card: str | None = None) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file(
            {"mean": self.mean.astype(np.float64), "scale": self.scale.astype(np.float64),
             "coef": self.coef.astype(np.float64)},
            str(directory / "weights.safetensors"),
        )
        config = {
            "type": self.type,
            "name": self.name,
            "feature_names": self.feature_names,
            "extractors": self.extractors,
            "bias": self.bias,
            "calibration": list(self.calibration),
            "operating_point": self.operating_point.to_json() if self.operating_point else None,
            "metrics": self.metrics,
            "meta": self.meta,
        }
        (directory / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        if card:
            (directory / "MODEL_CARD.md").write_text(card)
        return directory

    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path) -> LinearModel:
        tensors = load_file(str(directory / "weights.safetensors"))
        names = list(config["feature_names"])
        for key in ("mean", "scale", "coef"):
            if tensors[key].shape != (len(names),):
                raise ModelError(f"{directory}: {key} has shape {tensors[key].shape}, expected ({len(names)},)")
        op = config.get("operating_point")
        return cls(
            feature_names=names,
            extractors=list(config["extractors"]),
            mean=tensors["mean"], scale=tensors["scale"], coef=tensors["coef"],
            bias=float(config["bias"]),
            calibration=tuple(config.get("calibration", (1.0, 0.0))),
            operating_point=OperatingPoint.from_json(op),
            metrics=config.get("metrics", {}),
            name=config.get("name", directory.name),
            meta=config.get("meta", {}),
        )


MODEL_TYPES: dict[str, Any] = {"linear": LinearModel}


def load_model(directory: str | Path) -> Any:
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.exists():
        raise ModelError(f"no model at {directory} (config.json missing)")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{config_path} is not valid JSON: {exc}") from exc
    kind = config.get("type")
    if kind not in MODEL_TYPES:
        if kind == "fused":
            from .fused import FusedModel

            MODEL_TYPES["fused"] = FusedModel
        else:
            raise ModelError(f"{directory}: unknown model type {kind!r}")
    return MODEL_TYPES[kind].from_config(config, directory)
