"""The fused classifier: fine-tuned MiniLM text representation + standardized features -> one logit.

Architecture
  text     doc.flat_text (layout-free) -> MiniLM chunks of <= 254 word pieces covering the whole text
           (beyond ``max_chunks``, that many spread evenly from start to end) -> mean-pooled per chunk ->
           averaged over chunks -> h (384)
  features the same layout-free feature vector as the linear model, standardized and clipped -> z
  head     logit = MLP([h, z]) + w . z + b   (the skip term keeps per-feature contributions readable; in the
           residual recipe it is a linear model fitted first and frozen, see ``fused_train.fit_fused``)
Fine-tuning: low-rank adapters (LoRA) on the attention and feed-forward matrices of the top
``tuned_layers`` transformer layers; the lower layers stay frozen. Only what differs from the base
weights ships: adapters, head, scaler, calibration and operating point (safetensors + config.json).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from ..errors import ModelError
from ..lazy import Lazy
from .base import write_artifact
from .calibration import OperatingPoint, platt, standardize
from .domain import DomainModel

LORA_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense")


def _torch():
    import torch

    return torch


def add_lora(model, layers: list[int], rank: int, alpha: float) -> list:
    """Wrap the target Linear modules of the given encoder layers with LoRA; returns the wrappers."""
    torch = _torch()

    class LoRALinear(torch.nn.Module):
        def __init__(self, base: torch.nn.Linear) -> None:
            super().__init__()
            self.base = base
            self.A = torch.nn.Parameter(torch.randn(rank, base.in_features) * (1.0 / math.sqrt(base.in_features)))
            self.B = torch.nn.Parameter(torch.zeros(base.out_features, rank))
            self.scale = alpha / rank

        def forward(self, x):
            return self.base(x) + (x @ self.A.T @ self.B.T) * self.scale

    wrappers = []
    for li in layers:
        layer = model.encoder.layer[li]
        for target in LORA_TARGETS:
            parent = layer
            *path, leaf = target.split(".")
            for p in path:
                parent = getattr(parent, p)
            base = getattr(parent, leaf)
            if not isinstance(base, torch.nn.Linear):
                continue
            wrapped = LoRALinear(base)
            setattr(parent, leaf, wrapped)
            wrappers.append((f"{li}.{target}", wrapped))
    return wrappers


def merge_lora(model, deltas: dict[str, tuple[np.ndarray, np.ndarray]], scale: float) -> None:
    """Fold stored LoRA factors into the base weights (W += scale * B @ A): no adapter code at inference."""
    torch = _torch()
    with torch.no_grad():
        for key, (A, B) in deltas.items():
            li, target = key.split(".", 1)
            module = model.encoder.layer[int(li)]
            for p in target.split("."):
                module = getattr(module, p)
            module.weight += torch.from_numpy(B @ A).to(module.weight.dtype) * scale


def build_head(in_text: int, in_feat: int, hidden: int):
    torch = _torch()

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mlp = torch.nn.Sequential(
                torch.nn.Dropout(0.1), torch.nn.Linear(in_text + in_feat, hidden), torch.nn.GELU(),
                torch.nn.Linear(hidden, 1),
            )
            self.skip = torch.nn.Linear(in_feat, 1)

        def forward(self, h, z):
            return (self.mlp(torch.cat([h, z], dim=-1)) + self.skip(z)).squeeze(-1)

    return Head()


class ChunkEncoder:
    """Tokenize layout-free text into chunks covering it, run MiniLM, mean-pool, average per document."""

    def __init__(self, tokenizer, model, *, max_len: int = 256, max_chunks: int = 16) -> None:
        self.tokenizer = tokenizer
        self.model = model
        self.max_len = max_len
        self.max_chunks = max_chunks
        self._lock = threading.Lock()

    def chunks(self, texts: list[str]) -> tuple[list[list[int]], list[int]]:
        """Word-piece id chunks (with [CLS]/[SEP]) and, per chunk, the index of its document."""
        body = self.max_len - 2
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        ids_all = self.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        chunks, owner = [], []
        for d, ids in enumerate(ids_all):
            pieces = [ids[i : i + body] for i in range(0, max(1, len(ids)), body)]
            if len(pieces) > self.max_chunks:  # a long text: chunks spread evenly from its start to its end
                pieces = [pieces[int(k)] for k in np.linspace(0, len(pieces) - 1, self.max_chunks).round()]
            for p in pieces:
                chunks.append([cls_id, *p, sep_id])
                owner.append(d)
        return chunks, owner

    def pad(self, chunks: list[list[int]]):
        torch = _torch()
        n = max(len(c) for c in chunks)
        ids = torch.zeros((len(chunks), n), dtype=torch.long)
        mask = torch.zeros((len(chunks), n), dtype=torch.long)
        for i, c in enumerate(chunks):
            ids[i, : len(c)] = torch.tensor(c)
            mask[i, : len(c)] = 1
        return ids, mask

    def pooled(self, ids, mask):
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)

    def encode_docs(self, texts: list[str], *, batch_size: int = 16):
        """One 384-d vector per text (average of its chunk vectors), no gradients."""
        torch = _torch()
        chunks, owner = self.chunks(texts)
        order = sorted(range(len(chunks)), key=lambda i: len(chunks[i]))
        vecs = torch.zeros((len(chunks), self.model.config.hidden_size))
        with self._lock, torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s : s + batch_size]
                ids, mask = self.pad([chunks[i] for i in idx])
                vecs[idx] = self.pooled(ids, mask)
        out = torch.zeros((len(texts), vecs.shape[1]))
        counts = torch.zeros(len(texts))
        owner_t = torch.tensor(owner)
        out.index_add_(0, owner_t, vecs)
        counts.index_add_(0, owner_t, torch.ones(len(owner)))
        return out / counts.clamp(min=1).unsqueeze(-1)


@dataclass
class FusedModel:
    """Loaded fused model; ``predict_proba(X, docs)`` needs the documents (it reads their text)."""

    feature_names: list[str]
    extractors: list[str]
    mean: np.ndarray
    scale: np.ndarray
    tensors: dict[str, np.ndarray]
    config: dict[str, Any]
    calibration: tuple[float, float] = (1.0, 0.0)
    operating_point: OperatingPoint | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    name: str = "fused"
    meta: dict[str, Any] = field(default_factory=dict)
    domain_model: DomainModel | None = None  # per-domain thresholds (classifiers/domain.py)
    type = "fused"
    needs_token_stats = False
    needs_hidden_states = False
    needs_docs = True

    def __post_init__(self) -> None:
        self._loaded: Lazy[tuple[ChunkEncoder, Any]] = Lazy(self._load)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path) -> FusedModel:
        tensors = load_file(str(directory / "weights.safetensors"))
        names = list(config["feature_names"])
        if tensors["mean"].shape != (len(names),):
            raise ModelError(f"{directory}: scaler has {tensors['mean'].shape[0]} features, config {len(names)}")
        op = config.get("operating_point")
        return cls(
            feature_names=names, extractors=list(config["extractors"]), mean=tensors["mean"],
            scale=tensors["scale"], tensors=tensors, config=config,
            calibration=tuple(config.get("calibration", (1.0, 0.0))),
            operating_point=OperatingPoint.from_json(op),
            metrics=config.get("metrics", {}), name=config.get("name", directory.name),
            meta=config.get("meta", {}),
        )

    def attach(self, provider: Any) -> None:
        """Nothing to do up front: the encoder loads on first use (keeps --help and errors fast)."""
        self._provider = provider

    def _load(self) -> tuple[ChunkEncoder, Any]:
        """MiniLM with the stored LoRA factors merged in, and the head (on first use)."""
        torch = _torch()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from ..backbones.encoder import minilm_dir

        path = minilm_dir()
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a weight-loading bar on every `ghostscore score` is noise
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        finally:
            if bars:  # leave the host application's setting as it was
                hf_logging.enable_progress_bar()
        arch = self.config["architecture"]
        deltas = {}
        for key in self.tensors:
            if key.startswith("lora.") and key.endswith(".A"):
                stem = key[len("lora.") : -len(".A")]
                deltas[stem] = (self.tensors[key].astype(np.float32),
                                self.tensors[f"lora.{stem}.B"].astype(np.float32))
        merge_lora(model, deltas, arch["lora_alpha"] / arch["lora_rank"])
        head = build_head(model.config.hidden_size, len(self.feature_names), arch["head_hidden"])
        state = {k[len("head."):]: torch.from_numpy(v.astype(np.float32))
                 for k, v in self.tensors.items() if k.startswith("head.")}
        head.load_state_dict(state)
        head.eval()
        return ChunkEncoder(tokenizer, model, max_len=arch["max_len"], max_chunks=arch["max_chunks"]), head

    # ------------------------------------------------------------------ inference
    def standardize(self, X: np.ndarray) -> np.ndarray:
        return standardize(X, self.mean, self.scale)

    def vectorize(self, values: dict[str, float]) -> np.ndarray:
        return np.array([values.get(n, math.nan) for n in self.feature_names], dtype=np.float64)

    def logit(self, X: np.ndarray, docs: list | None = None, extras: Any = None) -> np.ndarray:
        if docs is None:
            raise ModelError("the fused model reads the text: pass the documents")
        encoder, head = self._loaded.get()
        torch = _torch()
        texts = [d if isinstance(d, str) else d.flat_text for d in docs]
        h = encoder.encode_docs(texts)
        z = torch.from_numpy(self.standardize(X).astype(np.float32))
        with torch.inference_mode():
            return head(h, z).numpy().astype(np.float64)

    def linear_logit(self, X: np.ndarray) -> np.ndarray:
        """The skip path alone (in the residual recipe: the linear model the encoder corrects); no text needed."""
        w = self.tensors["head.skip.weight"].reshape(-1)
        return self.standardize(X) @ w + float(self.tensors["head.skip.bias"].reshape(-1)[0])

    def predict_proba(self, X: np.ndarray, docs: list | None = None, extras: Any = None) -> np.ndarray:
        return platt(self.logit(X, docs), self.calibration)

    def contributions(self, x: np.ndarray, extra: dict[str, Any] | None = None) -> dict[str, float]:
        """Per-feature share of the logit through the linear skip path (the MLP part is not split)."""
        w = self.tensors["head.skip.weight"].reshape(-1)
        z = self.standardize(np.asarray(x)[None, :])[0]
        return {n: float(c) for n, c in zip(self.feature_names, z * w, strict=True)}

    def save(self, directory: str | Path, *, card: str | None = None) -> Path:

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file(self.tensors, str(directory / "weights.safetensors"))
        config = dict(self.config)
        config.update({
            "type": "fused", "name": self.name, "feature_names": self.feature_names,
            "extractors": self.extractors, "calibration": list(self.calibration),
            "operating_point": self.operating_point.to_json() if self.operating_point else None,
            "metrics": self.metrics, "meta": self.meta,
        })
        return write_artifact(directory, config, domain_model=self.domain_model, card=card)
