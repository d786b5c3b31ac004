"""The hidden-state head: logistic regression on SmolLM2's hidden states at chosen layers (each mean-pooled over
the token budget, from the same forward pass as the LM statistics) next to the document features.

Why: the statistics say how predictable a text is; the hidden state also says what kind of text the small
LM thinks it is reading, which separates instruction-tuned generators the statistics cannot (BENCHMARKS.md:
best held-out-generator AUROC of all candidates; the ``default`` at 128 tokens). Heads that read representations
can learn "plain learner prose = machine", so it ships only after the fairness gate (BENCHMARKS.md).

    z = standardize([h_layer1 (576), h_layer2 (576), ..., features])   logit = z . coef + bias   P = platt(logit)

A ``LinearModel`` whose weights span the hidden dimensions first (layer by layer, in ``layers`` order), then the
named features: same artifact files (safetensors + config with ``hidden_size`` and ``layers``), same calibration
and operating point. An optional ``SpecialistHead`` reads the same row for the newest generators (``specialist_*``
tensors, a ``specialist`` config entry); the logit is then the larger of the two heads':

    logit = max(z . coef + bias,  z' . coef' + bias')     (z' standardized with the specialist's own scaler)

``layers`` index HF ``hidden_states`` (0 = embeddings, 15 = SmolLM2's middle layer, the only
one models trained before layers were chosen read; their configs name none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .calibration import standardize
from .linear import LinearModel

HIDDEN_KEY = "lm_hidden"  # FeatureSet.extra entry the lm extractor fills when asked for hidden states
MID_LAYER = 15  # SmolLM2-135M's middle layer (30 // 2): what a config without ``layers`` reads


@dataclass
class SpecialistHead:
    """A second linear head over the same [hidden, features] row, fitted on human texts and the named generators'
    machine texts only, in the main head's logit units (already shifted down by ``shift`` human spreads).

    Why: the general head learns what transfers to generators it never saw, and learning the newest generator's
    told-to-sound-human texts pulls it toward "less predictable prose is machine", which every other generator pays
    for; a head of its own learns that generator, in genres it was not shown too (BENCHMARKS.md, seventeenth
    session)."""

    generators: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    bias: float
    shift: float = 0.0  # how far below the main head's scale it was placed (stated on the card)

    def logit(self, R: np.ndarray) -> np.ndarray:
        return standardize(R, self.mean, self.scale) @ self.coef + self.bias

    def to_config(self) -> dict[str, Any]:
        return {"generators": list(self.generators), "bias": self.bias, "shift": self.shift}


@dataclass
class HiddenStateModel(LinearModel):
    name: str = "hidden"
    layers: list[int] = field(default_factory=lambda: [MID_LAYER])  # pooled states read, in this order
    specialist: SpecialistHead | None = None  # the newest generators' own head; the logit is the larger one

    type = "hidden"
    needs_token_stats = True    # reads FeatureSet.extra, so evaluation takes the Detector's (uncached) path
    needs_hidden_states = True  # asks the lm extractor to pool the middle layer in its pass

    @property
    def hidden_size(self) -> int:
        return len(self.mean) - len(self.feature_names)

    def logit_from(self, hidden: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Logits of rows of [hidden, features] (a missing hidden state sits at the training mean)."""
        main, spec = self._head_logits(hidden, X)
        return main if spec is None else np.maximum(main, spec)

    def specialist_wins(self, hidden: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Rows whose logit is the specialist head's (all False without one)."""
        main, spec = self._head_logits(hidden, X)
        return np.zeros(len(main), bool) if spec is None else spec > main

    def _head_logits(self, hidden: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The main head's logits and the specialist's (``None`` without one) for rows of [hidden, features]."""
        H = np.asarray(hidden, np.float64).reshape(len(X), self.hidden_size)
        R = np.concatenate([H, np.asarray(X, np.float64)], axis=1)
        main = self.standardize(R) @ self.coef + self.bias
        return main, None if self.specialist is None else self.specialist.logit(R)

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
        h = np.asarray(h, np.float64)
        if h.ndim == 2:  # one pooled state per layer (the lm extractor's): keep this model's layers
            if max(self.layers) >= len(h):
                raise ModelError(f"the model reads layer {max(self.layers)}; the LM pooled {len(h)} states")
            h = h[self.layers]
        h = h.reshape(-1)
        if h.shape != (self.hidden_size,):
            raise ModelError(f"hidden state of size {h.size}, the model expects {self.hidden_size}")
        return h

    def contributions(self, x: np.ndarray, extra: dict[str, Any] | None = None) -> dict[str, float]:
        """Each named feature's share of the logit (the hidden-state part is not split into dimensions), in the
        head that gave it: the specialist's where it wins for this text's hidden state (``extra``)."""
        k, x = self.hidden_size, np.asarray(x, np.float64)
        head: Any = self
        if self.specialist is not None and extra is not None and \
                self.specialist_wins(self.hidden_of(extra)[None, :], x[None, :])[0]:
            head = self.specialist
        z = standardize(x[None, :], head.mean[k:], head.scale[k:])[0]
        return {n: float(c) for n, c in zip(self.feature_names, z * head.coef[k:], strict=True)}

    def _config_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"hidden_size": self.hidden_size, "layers": list(self.layers)}
        if self.specialist is not None:
            extra["specialist"] = self.specialist.to_config()
        return extra

    def _tensors_extra(self) -> dict[str, np.ndarray]:
        s = self.specialist
        return {} if s is None else {"specialist_mean": s.mean, "specialist_scale": s.scale,
                                     "specialist_coef": s.coef}

    def _load_extra(self, config: dict[str, Any], tensors: dict[str, np.ndarray], directory: Path) -> None:
        self.layers = [int(x) for x in config.get("layers", [MID_LAYER])]
        if not self.layers or self.hidden_size % len(self.layers):
            raise ModelError(f"{directory}: hidden_size {self.hidden_size} does not split over layers {self.layers}")
        spec = config.get("specialist")
        if spec:
            arrays = [tensors.get(f"specialist_{k}") for k in ("mean", "scale", "coef")]
            if any(a is None or a.shape != self.mean.shape for a in arrays):
                raise ModelError(f"{directory}: the specialist head's tensors are missing or not of shape "
                                 f"{self.mean.shape}")
            self.specialist = SpecialistHead(generators=list(spec["generators"]), mean=arrays[0], scale=arrays[1],
                                             coef=arrays[2], bias=float(spec["bias"]),
                                             shift=float(spec.get("shift", 0.0)))
