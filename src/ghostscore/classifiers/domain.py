"""Which kind of text this is (news, abstract, essay, review, story, ...), so the verdict can use that
domain's own threshold instead of the strictest one.

A hashed bag of words (lower-cased words, crc32 into ``n_features`` buckets, log counts, L2-normalized) and a
multinomial logistic regression: small (a few hundred KB), numpy-only at serving time, trained on the corpus's
domain labels of both human and machine texts (``training/domain.py``). The Detector hands its probabilities
(``posteriors``, softened by ``temperature``, fitted on validation texts so they mean what they say) to the
operating point's domain-weighted threshold; ``predict`` names the domain only when it is confident
(``min_confidence``), for display.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
FILE = "domain.safetensors"
DEFAULT_MIN_CONFIDENCE = 0.8


def hashed_counts(texts: list[str], n_features: int) -> np.ndarray:
    """(n, n_features) float32 rows: log1p word counts in crc32 buckets, L2-normalized."""
    X = np.zeros((len(texts), n_features), np.float32)
    for i, t in enumerate(texts):
        for w in WORD.findall(t.lower()):
            X[i, zlib.crc32(w.encode()) % n_features] += 1.0
    np.log1p(X, out=X)
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norm, 1e-9)


@dataclass
class DomainModel:
    labels: list[str]
    weight: np.ndarray  # (n_features, n_labels)
    bias: np.ndarray  # (n_labels,)
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    temperature: float = 1.0  # logits are divided by it: > 1 softens an over-confident fit

    @property
    def n_features(self) -> int:
        return int(self.weight.shape[0])

    def logits(self, texts: list[str]) -> np.ndarray:
        return hashed_counts(texts, self.n_features) @ self.weight + self.bias

    def proba(self, texts: list[str]) -> np.ndarray:
        return softmax(self.logits(texts) / self.temperature)

    def posteriors(self, texts: list[str]) -> list[dict[str, float]]:
        """Each text's probability per domain (what the domain-weighted threshold weighs)."""
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in self.proba(texts)]

    def predict(self, texts: list[str]) -> list[tuple[str | None, float]]:
        """(domain, confidence) per text; domain None when below ``min_confidence``."""
        out = []
        for row in self.proba(texts):
            k = int(row.argmax())
            out.append((self.labels[k] if row[k] >= self.min_confidence else None, float(row[k])))
        return out

    def save(self, directory: str | Path) -> dict:
        save_file({"weight": self.weight.astype(np.float32), "bias": self.bias.astype(np.float32)},
                  str(Path(directory) / FILE))
        return {"labels": self.labels, "min_confidence": self.min_confidence, "temperature": self.temperature,
                "file": FILE}

    @classmethod
    def load(cls, directory: str | Path, config: dict) -> DomainModel:
        t = load_file(str(Path(directory) / config.get("file", FILE)))
        return cls(list(config["labels"]), t["weight"], t["bias"],
                   float(config.get("min_confidence", DEFAULT_MIN_CONFIDENCE)), float(config.get("temperature", 1.0)))


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
