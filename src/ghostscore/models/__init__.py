"""Lazy, thread-safe access to the heavy models (MiniLM encoder, SmolLM2), loaded once per provider.

A ``ModelProvider`` is created by the ``Detector`` and handed to extractors; nothing is module-global,
so two detectors with different settings can live in one process.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any


class ModelProvider:
    def __init__(
        self, *, cache_dir: str | Path | None = None, device: str = "cpu", lm_backend: str = "auto",
        threads: int | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.device = device
        self.lm_backend = lm_backend
        self.threads = threads
        self._lock = threading.Lock()
        self._encoder: Any = None
        self._lm: Any = None

    def encoder(self) -> Any:
        """The MiniLM sentence encoder (``models.encoder.SentenceEncoder``)."""
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    from .encoder import SentenceEncoder

                    self._encoder = SentenceEncoder.load(
                        device=self.device, threads=self.threads, cache_dir=self.cache_dir
                    )
        return self._encoder

    def language_model(self) -> Any:
        """The SmolLM2 scorer (``models.language_model.load_scorer``)."""
        if self._lm is None:
            with self._lock:
                if self._lm is None:
                    from .language_model import load_scorer

                    self._lm = load_scorer(
                        cache_dir=self.cache_dir, backend=self.lm_backend, device=self.device,
                        threads=self.threads,
                    )
        return self._lm
