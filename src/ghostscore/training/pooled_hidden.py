"""Hidden states pooled over a shorter token budget, per layer, stored beside a feature table.

Why: the table pools SmolLM2's hidden states over its own budget (256 tokens), but a model served at a
smaller budget (the default's 128) pools over *its* budget, so training it needs states pooled the same way.
The per-token statistics can be cut from the table's arrays; pooled states cannot, so they are computed again,
and only up to the highest layer asked for (a state does not depend on the layers above it).

Stored as ``<table>/pooled-<K>/part-*.parquet`` for the middle layer (key, float16 ``h_mid``: the first sets
built) and ``<table>/pooled-<K>-layer<L>/`` for any other (key, float16 ``h``), metadata naming the table spec,
the budget and the layer; ``read_pooled`` refuses a mismatch, as ``read_table`` does. Layers index HF
``hidden_states`` (0 = embeddings; the last one is normed), as the served graph's ``h_layers`` does.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..classifiers.hidden import MID_LAYER
from .feature_table import META_KEY, TableSpec, TableVersionError, _shard_paths, flat_view, length_batches

SHARD_ROWS = 2000
_DIR = re.compile(r"pooled-(\d+)(?:-layer(\d+))?")


def pooled_dir(table: str | Path, max_tokens: int, layer: int = MID_LAYER) -> Path:
    suffix = "" if layer == MID_LAYER else f"-layer{int(layer)}"
    return Path(table) / f"pooled-{int(max_tokens)}{suffix}"


def pooled_sets(table: str | Path) -> list[tuple[int, int]]:
    """(budget, layer) of every pooled set stored beside ``table``."""
    out = []
    for path in sorted(Path(table).glob("pooled-*")):
        m = _DIR.fullmatch(path.name)
        if m and path.is_dir():
            out.append((int(m.group(1)), int(m.group(2)) if m.group(2) else MID_LAYER))
    return out


def pooled_spec(max_tokens: int, layer: int) -> dict[str, Any]:
    return {"table": json.loads(TableSpec().to_json()), "max_tokens": int(max_tokens), "layer": int(layer),
            "pooling": "mean over the first max_tokens tokens of the flat view"}


def load_torch_lm(cache_dir: str | Path | None = None, threads: int | None = None) -> tuple[Any, Any]:
    """SmolLM2's tokenizer (the project's, as the table was scored) and its fp32 PyTorch causal LM, eval mode, from
    the local conversion cache only: the measurements that need inner layers run it, never the served graph."""
    import torch
    from transformers import AutoModelForCausalLM

    from ..backbones.language_model import FastTokenizer, torch_dir

    if threads:
        torch.set_num_threads(threads)
    path = torch_dir(cache_dir)
    model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=torch.float32).eval()
    return FastTokenizer(path), model


class LayerPooler:
    """SmolLM2 fp32 (PyTorch) run through its first ``max(layers)`` layers only; each row's state after each
    of ``layers`` mean-pooled over the row's own tokens (what the served graph's ``h_layers`` pools)."""

    def __init__(self, max_tokens: int, layers: Sequence[int] = (MID_LAYER,), cache_dir: str | Path | None = None,
                 threads: int | None = None, max_batch_tokens: int = 2048) -> None:
        import torch

        self.tokenizer, model = load_torch_lm(cache_dir, threads)
        n = model.config.num_hidden_layers
        self.layers = tuple(int(x) for x in layers)
        if not self.layers or not all(0 <= x <= n for x in self.layers):
            raise ValueError(f"layers must lie in [0, {n}], got {list(layers)}")
        self.base = model.model
        top = max(self.layers)
        if top < n:
            self.base.layers = self.base.layers[:top]  # hidden_states[top] needs no layer above it
            self.base.norm = torch.nn.Identity()  # the last state returned is normed; an inner one never is
        self.max_tokens = max_tokens
        self.max_batch_tokens = max_batch_tokens

    def pool(self, texts: Sequence[str]) -> np.ndarray:
        """(texts, layers, hidden) float32."""
        import torch

        ids = [np.asarray(e[0][: self.max_tokens], np.int64) for e in self.tokenizer.encode_batch(list(texts))]
        ids = [x if len(x) >= 2 else np.pad(x, (0, 2 - len(x))) for x in ids]
        out = np.zeros((len(ids), len(self.layers), self.base.config.hidden_size), np.float32)
        for rows, batch, lens in length_batches(ids, self.max_batch_tokens):
            lengths = torch.from_numpy(lens)
            longest = batch.shape[1]
            with torch.inference_mode():
                res = self.base(input_ids=torch.from_numpy(batch), use_cache=False, output_hidden_states=True)
                keep = (torch.arange(longest)[None, :] < lengths[:, None]).float()[..., None]
                for j, layer in enumerate(self.layers):
                    out[rows, j] = ((res.hidden_states[layer] * keep).sum(1) / keep.sum(1)).numpy()
        return out


def build_pooled(table: str | Path, texts: dict[str, str], max_tokens: int, *, pooler: Any = None,
                 chunk: int = 64, shard_rows: int = SHARD_ROWS, limit_s: float | None = None,
                 log: Callable[[str], None] | None = None) -> int:
    """Pool every ``texts`` row (key -> raw text) not yet stored under ``table`` for each of the pooler's layers;
    resumable. Returns rows added."""
    from tqdm import tqdm

    pooler = pooler or LayerPooler(max_tokens)
    layers = list(pooler.layers)
    outs = {layer: pooled_dir(table, max_tokens, layer) for layer in layers}
    specs = {layer: pooled_spec(max_tokens, layer) for layer in layers}
    have = None
    for layer, out in outs.items():
        got = set(_read(out, specs[layer])["key"]) if _shard_paths(out) else set()
        have = got if have is None else have & got
    todo = [k for k in texts if k not in (have or set())]
    pending_k: list[str] = []
    pending_h: list[np.ndarray] = []
    added = 0
    t0 = time.time()

    def flush() -> int:
        for j, layer in enumerate(layers):
            _write(outs[layer], pending_k, [h[j] for h in pending_h], specs[layer], layer)
        return len(pending_k)

    for s in tqdm(range(0, len(todo), chunk), unit="chunk", desc=f"pool {max_tokens}"):
        flats = [(k, flat_view(texts[k])) for k in todo[s : s + chunk]]
        flats = [(k, f) for k, f in flats if f]
        if flats:
            pending_h.extend(pooler.pool([f for _, f in flats]))
            pending_k.extend(k for k, _ in flats)
        if len(pending_k) >= shard_rows:
            added += flush()
            pending_k, pending_h = [], []
            if log:
                log(f"{added} rows, {time.time() - t0:.0f} s")
        if limit_s is not None and time.time() - t0 > limit_s:
            break
    if pending_k:
        added += flush()
    return added


def read_pooled(table: str | Path, max_tokens: int, layer: int = MID_LAYER) -> dict[str, np.ndarray]:
    """key -> pooled state (float32) of ``layer`` over the first ``max_tokens`` tokens; {} when none stored."""
    out = pooled_dir(table, max_tokens, layer)
    if not _shard_paths(out):
        return {}
    expect: dict[str, Any] = {"table": json.loads(TableSpec().to_json()), "max_tokens": max_tokens}
    if layer != MID_LAYER:
        expect["layer"] = layer
    df = _read(out, expect)
    col = "h_mid" if "h_mid" in df.columns else "h"
    return {k: np.asarray(h, np.float32) for k, h in zip(df["key"], df[col], strict=True)}


def _read(root: Path, expect: dict[str, Any]) -> Any:
    """All shards under ``root``; refused when a shard's metadata disagrees with any key of ``expect``."""
    import pandas as pd
    import pyarrow.parquet as pq

    frames = []
    for path in _shard_paths(root):
        meta = json.loads((pq.read_schema(path).metadata or {}).get(META_KEY, b"{}"))
        if any(meta.get(k) != v for k, v in expect.items()):
            raise TableVersionError(f"{path} holds pooled states built with {meta}; this ghostscore expects {expect}")
        frames.append(pq.read_table(path).to_pandas())
    return pd.concat(frames, ignore_index=True).drop_duplicates("key", keep="last")


def _write(root: Path, keys: list[str], hidden: list[np.ndarray], spec: dict[str, Any], layer: int = MID_LAYER,
           ) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    path = root / f"part-{len(_shard_paths(root)):05d}.parquet"
    table = pa.table({"key": pa.array(keys),
                      "h_mid" if layer == MID_LAYER else "h":
                      pa.array([np.asarray(h, np.float16) for h in hidden], type=pa.list_(pa.float16()))})
    table = table.replace_schema_metadata({META_KEY: json.dumps(spec, sort_keys=True).encode()})
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return len(keys)
