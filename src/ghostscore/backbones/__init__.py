"""Lazy, thread-safe access to the heavy models (MiniLM encoder, SmolLM2), loaded once per provider.

A ``ModelProvider`` is created by the ``Detector`` and handed to extractors; nothing is module-global,
so two detectors with different settings can live in one process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..lazy import Lazy


class ModelProvider:
    def __init__(
        self, *, cache_dir: str | Path | None = None, device: str = "cpu", lm_backend: str = "auto",
        threads: int | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.device = device
        self.lm_backend = lm_backend
        self.threads = threads
        self._encoder: Lazy[Any] = Lazy(self._load_encoder)
        self._lm: Lazy[Any] = Lazy(self._load_lm)
        self._lm_hidden: Lazy[Any] = Lazy(lambda: self._load_lm(hidden=True))

    def encoder(self) -> Any:
        """The MiniLM sentence encoder (``backbones.encoder.SentenceEncoder``)."""
        return self._encoder.get()

    def language_model(self, *, hidden: bool = False) -> Any:
        """The SmolLM2 scorer (``backbones.language_model.load_scorer``); ``hidden=True``: the one whose
        pass also returns pooled hidden states (a model needing them loads only that one)."""
        return self._lm_hidden.get() if hidden else self._lm.get()

    def _load_encoder(self) -> Any:
        from .encoder import SentenceEncoder

        return SentenceEncoder.load(device=self.device, threads=self.threads, cache_dir=self.cache_dir)

    def _load_lm(self, hidden: bool = False) -> Any:
        from .language_model import load_scorer

        return load_scorer(cache_dir=self.cache_dir, backend=self.lm_backend, device=self.device,
                           threads=self.threads, hidden=hidden)
