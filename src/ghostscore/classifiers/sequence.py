"""The sequence classifier: a small 1-D CNN over the per-token LM statistics (log-prob, entropy, log-rank,
standardized surprise), as in SeqXGPT, plus the document-level features through a linear skip path.

Why: it reads *how* predictability moves along the text (bursts of very likely tokens, flat stretches),
not which words are used, so it cannot learn "plain learner vocabulary = machine" the way heads on
hidden states or a text encoder do. Inference is plain numpy (no torch at serving time); the network
comes from ``training/sequence.py``.

    seq (n, 4) -> standardize -> conv(k1) -> ReLU -> conv(k2, dilation) -> ReLU -> [mean, max] over tokens
    z = standardized document features
    logit = skip . z + b  +  MLP([pooled, z])
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

TENSORS = ("mean", "scale", "seq_mean", "seq_scale", "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
           "head1.weight", "head1.bias", "head2.weight", "head2.bias", "skip.weight", "skip.bias")


def sequence_channels(logprob: np.ndarray, entropy: np.ndarray, rank: np.ndarray, variance: np.ndarray,
                      ) -> np.ndarray:
    """(n, 4) channels from one text's per-token statistics: what the network reads (training uses it too)."""
    lp = np.nan_to_num(np.asarray(logprob, np.float32), nan=0.0)
    ent = np.nan_to_num(np.asarray(entropy, np.float32), nan=0.0)
    lr = np.log(np.maximum(np.asarray(rank, np.float32), 1.0))
    sd = np.sqrt(np.maximum(np.nan_to_num(np.asarray(variance, np.float32), nan=1.0), 1e-3))
    return np.stack([lp, ent, lr, (lp + ent) / sd], axis=1).astype(np.float32)


def _conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray, dilation: int) -> np.ndarray:
    """'same' zero-padded 1-D convolution: x (T, Cin), w (Cout, Cin, k) -> (T, Cout)."""
    k = w.shape[2]
    pad = (k // 2) * dilation
    xp = np.pad(x, ((pad, pad), (0, 0)))
    cols = np.concatenate([xp[j * dilation : j * dilation + len(x)] for j in range(k)], axis=1)  # (T, k*Cin)
    wk = w.transpose(2, 1, 0).reshape(k * w.shape[1], w.shape[0])  # (k*Cin, Cout)
    return cols @ wk + b


@dataclass
class SequenceModel:
    feature_names: list[str]
    extractors: list[str]
    tensors: dict[str, np.ndarray]
    config: dict[str, Any]
    calibration: tuple[float, float] = (1.0, 0.0)
    operating_point: OperatingPoint | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    name: str = "sequence"
    meta: dict[str, Any] = field(default_factory=dict)
    domain_model: DomainModel | None = None  # per-domain thresholds (classifiers/domain.py)
    type = "sequence"
    needs_token_stats = True  # reads FeatureSet.extra["lm_token_stats"]
    needs_hidden_states = False
    needs_docs = False

    # ------------------------------------------------------------------ inference
    def vectorize(self, values: dict[str, float]) -> np.ndarray:
        return np.array([values.get(n, math.nan) for n in self.feature_names], dtype=np.float64)

    def standardize(self, X: np.ndarray) -> np.ndarray:
        return standardize(X, self.tensors["mean"], self.tensors["scale"])

    def pooled(self, seq: np.ndarray) -> np.ndarray:
        """Mean and max of the second conv layer over the tokens of one text (zeros for an empty one)."""
        t = self.tensors
        c2 = t["conv2.weight"].shape[0]
        if len(seq) == 0:
            return np.zeros(2 * c2, np.float32)
        x = (np.asarray(seq, np.float32) - t["seq_mean"]) / t["seq_scale"]
        x = np.maximum(_conv1d(x, t["conv1.weight"], t["conv1.bias"], 1), 0.0)
        x = np.maximum(_conv1d(x, t["conv2.weight"], t["conv2.bias"], int(self.config["dilation"])), 0.0)
        return np.concatenate([x.mean(0), x.max(0)]).astype(np.float32)

    def logit_from(self, Z: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        t = self.tensors
        h = np.maximum(np.concatenate([pooled, Z], axis=1) @ t["head1.weight"].T + t["head1.bias"], 0.0)
        mlp = (h @ t["head2.weight"].T + t["head2.bias"]).reshape(-1)
        return Z @ t["skip.weight"].reshape(-1) + float(t["skip.bias"].reshape(-1)[0]) + mlp

    def logit(self, X: np.ndarray, docs: Any = None, extras: list[dict[str, Any]] | None = None) -> np.ndarray:
        if extras is None:
            raise ModelError("the sequence model reads the LM's per-token statistics: pass the feature extras")
        Z = self.standardize(np.asarray(X, np.float64)).astype(np.float32)
        pooled = np.stack([self.pooled(self.sequence_of(e)) for e in extras])
        return self.logit_from(Z, pooled).astype(np.float64)

    @staticmethod
    def sequence_of(extra: dict[str, Any]) -> np.ndarray:
        st = extra.get("lm_token_stats")
        if not st:
            return np.zeros((0, 4), np.float32)
        return sequence_channels(st["logprob"], st["entropy"], st["rank"], st["variance"])

    def predict_proba(self, X: np.ndarray, docs: Any = None, extras: list[dict[str, Any]] | None = None,
                      ) -> np.ndarray:
        return platt(self.logit(X, docs, extras), self.calibration)

    def contributions(self, x: np.ndarray, extra: dict[str, Any] | None = None) -> dict[str, float]:
        """Per-feature share of the logit through the linear skip path (the CNN part is not split)."""
        z = self.standardize(np.asarray(x)[None, :])[0]
        w = self.tensors["skip.weight"].reshape(-1)
        return {n: float(c) for n, c in zip(self.feature_names, z * w, strict=True)}

    def attach(self, provider: Any) -> None:
        """Nothing to attach: the per-token statistics come from the ``lm`` extractor."""

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path, *, card: str | None = None) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: np.ascontiguousarray(v, np.float32) for k, v in self.tensors.items()},
                  str(directory / "weights.safetensors"))
        config = {
            "type": self.type, "name": self.name, "feature_names": self.feature_names,
            "extractors": self.extractors, "architecture": self.config, "calibration": list(self.calibration),
            "operating_point": self.operating_point.to_json() if self.operating_point else None,
            "metrics": self.metrics, "meta": self.meta,
        }
        return write_artifact(directory, config, domain_model=self.domain_model, card=card)

    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path) -> SequenceModel:
        tensors = load_file(str(directory / "weights.safetensors"))
        missing = [k for k in TENSORS if k not in tensors]
        if missing:
            raise ModelError(f"{directory}: weights lack {missing}")
        names = list(config["feature_names"])
        if tensors["mean"].shape != (len(names),):
            raise ModelError(f"{directory}: scaler has {tensors['mean'].shape[0]} features, config {len(names)}")
        return cls(
            feature_names=names, extractors=list(config["extractors"]),
            tensors={k: v.astype(np.float32) for k, v in tensors.items()}, config=dict(config["architecture"]),
            calibration=tuple(config.get("calibration", (1.0, 0.0))),
            operating_point=OperatingPoint.from_json(config.get("operating_point")),
            metrics=config.get("metrics", {}), name=config.get("name", directory.name),
            meta=config.get("meta", {}),
        )
