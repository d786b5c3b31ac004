"""The hidden-state head: logistic regression on SmolLM2's middle-layer hidden state (mean-pooled over the
token budget, from the same forward pass as the LM statistics) next to the document features.

Why: the statistics say how predictable a text is; the hidden state also says what kind of text the small
LM thinks it is reading, which separates instruction-tuned generators the statistics cannot (BENCHMARKS.md:
best held-out-generator AUROC of all candidates). Why it is not the default: heads that read representations
can learn "plain learner prose = machine"; it ships only with its fairness-gate figures on its card.

    z = standardize([h_mid (576), features])      logit = z . coef + bias      P = platt(logit)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from ..errors import ModelError
from .base import write_artifact
from .calibration import OperatingPoint, platt, standardize
from .domain import DomainModel

HIDDEN_KEY = "lm_hidden"  # FeatureSet.extra entry the lm extractor fills when asked for hidden states


@dataclass
class HiddenStateModel:
    feature_names: list[str]
    extractors: list[str]
    hidden_size: int
    mean: np.ndarray   # (hidden_size + n_features,): hidden dimensions first
    scale: np.ndarray
    coef: np.ndarray
    bias: float
    calibration: tuple[float, float] = (1.0, 0.0)
    operating_point: OperatingPoint | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    name: str = "hidden"
    meta: dict[str, Any] = field(default_factory=dict)
    domain_model: DomainModel | None = None

    type = "hidden"
    needs_token_stats = True    # reads FeatureSet.extra, so evaluation takes the Detector's (uncached) path
    needs_hidden_states = True  # asks the lm extractor to pool the middle layer in its pass
    needs_docs = False

    def vectorize(self, values: dict[str, float]) -> np.ndarray:
        return np.array([values.get(n, math.nan) for n in self.feature_names], dtype=np.float64)

    def design(self, hidden: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Standardized [hidden, features] rows (a missing hidden state sits at the training mean)."""
        H = np.asarray(hidden, np.float64).reshape(len(X), self.hidden_size)
        return standardize(np.concatenate([H, np.asarray(X, np.float64)], axis=1), self.mean, self.scale)

    def logit_from(self, hidden: np.ndarray, X: np.ndarray) -> np.ndarray:
        return self.design(hidden, X) @ self.coef + self.bias

    def logit(self, X: np.ndarray, docs: Any = None, extras: list[dict[str, Any]] | None = None) -> np.ndarray:
        if extras is None:
            raise ModelError("the hidden-state head reads pooled LM hidden states: pass the feature extras")
        X = np.asarray(X, np.float64).reshape(len(extras), len(self.feature_names))
        return self.logit_from(np.stack([self.hidden_of(e) for e in extras]) if extras else
                               np.zeros((0, self.hidden_size)), X)

    def hidden_of(self, extra: dict[str, Any]) -> np.ndarray:
        h = extra.get(HIDDEN_KEY)
        if h is None:
            return np.full(self.hidden_size, np.nan)
        h = np.asarray(h, np.float64).reshape(-1)
        if h.shape != (self.hidden_size,):
            raise ModelError(f"hidden state of size {h.size}, the model expects {self.hidden_size}")
        return h

    def predict_proba(self, X: np.ndarray, docs: Any = None, extras: list[dict[str, Any]] | None = None,
                      ) -> np.ndarray:
        return platt(self.logit(X, docs, extras), self.calibration)

    def contributions(self, x: np.ndarray) -> dict[str, float]:
        """Each named feature's share of the logit (the hidden-state part is not split into dimensions)."""
        k = self.hidden_size
        z = standardize(np.asarray(x, np.float64)[None, :], self.mean[k:], self.scale[k:])[0]
        return {n: float(c) for n, c in zip(self.feature_names, z * self.coef[k:], strict=True)}

    def attach(self, provider: Any) -> None:
        """Nothing to attach: the hidden states come from the ``lm`` extractor's pass."""

    # ---------------------------------------------------------------- persistence
    def save(self, directory: str | Path, *, card: str | None = None) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"mean": self.mean.astype(np.float64), "scale": self.scale.astype(np.float64),
                   "coef": self.coef.astype(np.float64)}, str(directory / "weights.safetensors"))
        config = {
            "type": self.type, "name": self.name, "feature_names": self.feature_names,
            "extractors": self.extractors, "hidden_size": self.hidden_size, "bias": self.bias,
            "calibration": list(self.calibration),
            "operating_point": self.operating_point.to_json() if self.operating_point else None,
            "metrics": self.metrics, "meta": self.meta,
        }
        return write_artifact(directory, config, domain_model=self.domain_model, card=card)

    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path) -> HiddenStateModel:
        tensors = load_file(str(directory / "weights.safetensors"))
        names = list(config["feature_names"])
        k = int(config["hidden_size"])
        for key in ("mean", "scale", "coef"):
            if tensors[key].shape != (k + len(names),):
                raise ModelError(f"{directory}: {key} has shape {tensors[key].shape}, expected ({k + len(names)},)")
        return cls(
            feature_names=names, extractors=list(config["extractors"]), hidden_size=k,
            mean=tensors["mean"], scale=tensors["scale"], coef=tensors["coef"], bias=float(config["bias"]),
            calibration=tuple(config.get("calibration", (1.0, 0.0))),
            operating_point=OperatingPoint.from_json(config.get("operating_point")),
            metrics=config.get("metrics", {}), name=config.get("name", directory.name), meta=config.get("meta", {}),
        )
