"""Middle-layer hidden states pooled over a shorter token budget, stored beside a feature table.

Why: the table pools SmolLM2's hidden states over its own budget (256 tokens), but a model served at a
smaller budget (the default's 128) pools over *its* budget, so training it needs states pooled the same way.
The per-token statistics can be cut from the table's arrays; pooled states cannot, so they are computed again,
and only up to the middle layer (half the network: the state does not depend on the layers above it).

Stored as ``<table>/pooled-<K>/part-*.parquet`` (key, float16 ``h_mid``), metadata naming the table spec, the
budget and the layer; ``read_pooled`` refuses a mismatch, as ``read_table`` does.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .feature_table import META_KEY, TableSpec, TableVersionError, _shard_paths, flat_view, length_batches

SHARD_ROWS = 2000


def pooled_dir(table: str | Path, max_tokens: int) -> Path:
    return Path(table) / f"pooled-{int(max_tokens)}"


def pooled_spec(max_tokens: int, layer: int) -> dict[str, Any]:
    return {"table": json.loads(TableSpec().to_json()), "max_tokens": int(max_tokens), "layer": int(layer),
            "pooling": "mean over the first max_tokens tokens of the flat view"}


class MidLayerPooler:
    """SmolLM2 fp32 (PyTorch) run through its first ``num_hidden_layers // 2`` layers only; each row's
    output of the last of them mean-pooled over the row's own tokens (the ``h_mid`` the served graph pools)."""

    def __init__(self, max_tokens: int, cache_dir: str | Path | None = None, threads: int | None = None,
                 max_batch_tokens: int = 2048) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        from ..backbones.language_model import FastTokenizer, torch_dir

        if threads:
            torch.set_num_threads(threads)
        path = torch_dir(cache_dir)
        self.tokenizer = FastTokenizer(path)
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True,
                                                     dtype=torch.float32).eval()
        self.layer = model.config.num_hidden_layers // 2
        self.base = model.model
        self.base.layers = self.base.layers[: self.layer]  # hidden_states[layer] needs no layer above it
        self.base.norm = torch.nn.Identity()  # the last state returned is normed; the middle one never is
        self.max_tokens = max_tokens
        self.max_batch_tokens = max_batch_tokens

    def pool(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        ids = [np.asarray(e[0][: self.max_tokens], np.int64) for e in self.tokenizer.encode_batch(list(texts))]
        ids = [x if len(x) >= 2 else np.pad(x, (0, 2 - len(x))) for x in ids]
        out = np.zeros((len(ids), self.base.config.hidden_size), np.float32)
        for rows, batch, lens in length_batches(ids, self.max_batch_tokens):
            lengths = torch.from_numpy(lens)
            longest = batch.shape[1]
            with torch.inference_mode():
                res = self.base(input_ids=torch.from_numpy(batch), use_cache=False, output_hidden_states=True)
                mid = res.hidden_states[self.layer]
                keep = (torch.arange(longest)[None, :] < lengths[:, None]).float()[..., None]
                pooled = ((mid * keep).sum(1) / keep.sum(1)).numpy()
            out[rows] = pooled
        return out


def build_pooled(table: str | Path, texts: dict[str, str], max_tokens: int, *, pooler: Any = None,
                 chunk: int = 64, shard_rows: int = SHARD_ROWS, limit_s: float | None = None,
                 log: Callable[[str], None] | None = None) -> int:
    """Pool every ``texts`` row (key -> raw text) not yet stored under ``table``; resumable. Returns rows added."""
    from tqdm import tqdm

    out = pooled_dir(table, max_tokens)
    pooler = pooler or MidLayerPooler(max_tokens)
    spec = pooled_spec(max_tokens, pooler.layer)
    have = set(_read(out, spec)["key"]) if _shard_paths(out) else set()
    todo = [k for k in texts if k not in have]
    pending_k: list[str] = []
    pending_h: list[np.ndarray] = []
    added = 0
    t0 = time.time()
    for s in tqdm(range(0, len(todo), chunk), unit="chunk", desc=f"pool {max_tokens}"):
        flats = [(k, flat_view(texts[k])) for k in todo[s : s + chunk]]
        flats = [(k, f) for k, f in flats if f]
        if flats:
            pending_h.extend(pooler.pool([f for _, f in flats]))
            pending_k.extend(k for k, _ in flats)
        if len(pending_k) >= shard_rows:
            added += _write(out, pending_k, pending_h, spec)
            pending_k, pending_h = [], []
            if log:
                log(f"{added} rows, {time.time() - t0:.0f} s")
        if limit_s is not None and time.time() - t0 > limit_s:
            break
    if pending_k:
        added += _write(out, pending_k, pending_h, spec)
    return added


def read_pooled(table: str | Path, max_tokens: int) -> dict[str, np.ndarray]:
    """key -> pooled middle-layer state (float32) over the first ``max_tokens`` tokens; {} when none stored."""
    out = pooled_dir(table, max_tokens)
    if not _shard_paths(out):
        return {}
    df = _read(out, {"table": json.loads(TableSpec().to_json()), "max_tokens": max_tokens})
    return {k: np.asarray(h, np.float32) for k, h in zip(df["key"], df["h_mid"], strict=True)}


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


def _write(root: Path, keys: list[str], hidden: list[np.ndarray], spec: dict[str, Any]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    path = root / f"part-{len(_shard_paths(root)):05d}.parquet"
    table = pa.table({"key": pa.array(keys),
                      "h_mid": pa.array([np.asarray(h, np.float16) for h in hidden], type=pa.list_(pa.float16()))})
    table = table.replace_schema_metadata({META_KEY: json.dumps(spec, sort_keys=True).encode()})
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return len(keys)
