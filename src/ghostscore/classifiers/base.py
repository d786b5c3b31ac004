"""The one interface every classifier implements, so the Detector, training and evaluation never probe
a model with ``hasattr``: feature vector in, raw logit and calibrated probability out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .calibration import OperatingPoint


@runtime_checkable
class Classifier(Protocol):
    """A trained, calibrated classifier artifact (safetensors + config.json + model card)."""

    name: str
    type: str
    feature_names: list[str]
    extractors: list[str]
    calibration: tuple[float, float]
    operating_point: OperatingPoint | None
    metrics: dict[str, Any]
    meta: dict[str, Any]  # training config, data sizes, feature ranges (for the report)
    domain_model: Any  # a classifiers.domain.DomainModel for per-domain thresholds, or None
    needs_docs: bool  # True for models that read the text itself, not only the feature vector
    needs_token_stats: bool  # True for models that read the LM's per-token statistics (FeatureSet.extra)
    needs_hidden_states: bool  # True for models that read the LM's pooled hidden state (FeatureSet.extra)

    def vectorize(self, values: dict[str, float]) -> np.ndarray:
        """The feature vector (in ``feature_names`` order; NaN where a feature is missing)."""
        ...

    def logit(self, X: np.ndarray, docs: list[Any] | None = None, extras: list[dict[str, Any]] | None = None,
              ) -> np.ndarray:
        """Raw, uncalibrated scores; ``docs`` is read only by models that read the text itself, ``extras``
        (``FeatureSet.extra``: per-token LM statistics) only by the sequence model."""
        ...

    def predict_proba(self, X: np.ndarray, docs: list[Any] | None = None,
                      extras: list[dict[str, Any]] | None = None) -> np.ndarray:
        """Calibrated P(machine)."""
        ...

    def contributions(self, x: np.ndarray, extra: dict[str, Any] | None = None) -> dict[str, float]:
        """Each feature's share of the logit for one vector: ranks the evidence shown to a reviewer. ``extra``
        (``FeatureSet.extra``) lets a model with more than one head say which one gave the logit."""
        ...

    def attach(self, provider: Any) -> None:
        """Hand the model the shared backbones (MiniLM, SmolLM2) it reads, if any."""
        ...

    def save(self, directory: str | Path, *, card: str | None = None) -> Path:
        ...


def write_artifact(directory: str | Path, config: dict[str, Any], *, domain_model: Any = None,
                   card: str | None = None) -> Path:
    """The artifact files every classifier writes beside its own weights: config.json (with the domain
    classifier's entry when there is one) and the model card."""
    directory = Path(directory)
    if domain_model is not None:
        config["domain_model"] = domain_model.save(directory)
    (directory / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    if card:
        (directory / "MODEL_CARD.md").write_text(card)
    return directory
