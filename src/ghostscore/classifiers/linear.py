"""Linear classifier: standardized features -> logistic regression -> Platt calibration.

Artifacts are a directory with ``config.json`` (feature names, calibration, operating point, metrics)
and ``weights.safetensors`` (arrays); never pickles.
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
    domain_model: DomainModel | None = None  # per-domain thresholds (classifiers/domain.py)

    type = "linear"
    needs_token_stats = False
    needs_hidden_states = False
    needs_docs = False  # reads features only

    def standardize(self, X: np.ndarray) -> np.ndarray:
        return standardize(X, self.mean, self.scale)

    def logit(self, X: np.ndarray, docs: Any = None, extras: Any = None) -> np.ndarray:
        return self.standardize(X) @ self.coef + self.bias

    def attach(self, provider: Any) -> None:
        """Nothing to attach: the linear model reads features only."""

    def predict_proba(self, X: np.ndarray, docs: Any = None, extras: Any = None) -> np.ndarray:
        """Calibrated P(machine); ``docs`` is accepted for API parity with text-reading models."""
        return platt(self.logit(X, docs, extras), self.calibration)

    def contributions(self, x: np.ndarray, extra: dict[str, Any] | None = None) -> dict[str, float]:
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
             "coef": self.coef.astype(np.float64),
             **{k: v.astype(np.float64) for k, v in self._tensors_extra().items()}},
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
            **self._config_extra(),
        }
        return write_artifact(directory, config, domain_model=self.domain_model, card=card)

    def _config_extra(self) -> dict[str, Any]:
        """Config entries a subclass adds (the hidden-state head: its hidden size)."""
        return {}

    def _tensors_extra(self) -> dict[str, np.ndarray]:
        """Arrays a subclass adds to weights.safetensors (the hidden-state head: its specialist head)."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path) -> LinearModel:
        tensors = load_file(str(directory / "weights.safetensors"))
        names = list(config["feature_names"])
        width = len(names) + int(config.get("hidden_size", 0))  # hidden-state heads weigh those dimensions first
        for key in ("mean", "scale", "coef"):
            if tensors[key].shape != (width,):
                raise ModelError(f"{directory}: {key} has shape {tensors[key].shape}, expected ({width},)")
        op = config.get("operating_point")
        model = cls(
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
        model._load_extra(config, tensors, directory)
        return model

    def _load_extra(self, config: dict[str, Any], tensors: dict[str, np.ndarray], directory: Path) -> None:
        """Read back what ``_config_extra`` and ``_tensors_extra`` saved (the weights file is read once)."""
