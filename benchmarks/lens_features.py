"""Logit-lens statistics of SmolLM2 for every row of feature tables: a measurement, not yet a served feature.

    python benchmarks/lens_features.py --data '../shared/data/corpus/*.jsonl.gz' --tokens 128 --layers 24,28 \\
        --threads 2 --tables data/features/lm-v2 data/features/humans-unseen data/features/humans-outfox

Why: the per-token statistics of the final distribution (log-prob, rank, entropy) hardly tell the 2026 model's
texts from human ones (mean log-prob 0.56-0.60 AUROC), nor GPT-4o's or Claude-instant's. Reading an inner layer
through the model's own final norm and head (the "logit lens") gives a second distribution from the same forward
pass; how far the final distribution moved from it, per token, is a different question than how likely the token
was. For each row and each layer ``L``, over the first ``--tokens`` tokens of the flat view (as the table scores):

- ``lens_xent<L>``: mean cross-entropy of the final next-token distribution under layer L's lens distribution,
  ``-sum_v p_final(v) log p_L(v)`` (Binoculars' cross-perplexity with an inner layer as the second model);
- ``lens_kl<L>``: the same minus the final entropy (``KL(p_final || p_L)``);
- ``lens_lp<L>``: mean log-probability of the actual next token under layer L's lens.

Stored beside each table in ``<table>/lens-<K>/part-*.parquet`` (key + float32 columns; metadata names the table
spec, budget and layers; a mismatch is refused). Resumable; a mixed order, so a stopped run still covers every
source. PyTorch fp32 (the served ONNX graph does not compute these); ~2.6 texts/s at 128 tokens, 2 layers, 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ghostscore.textkey import text_key
from ghostscore.training.data import load_labeled
from ghostscore.training.feature_table import (
    META_KEY,
    TableSpec,
    TableVersionError,
    flat_view,
    length_batches,
    read_table,
)
from ghostscore.training.pooled_hidden import load_torch_lm
from ghostscore.training.table_data import TableData
from pool_hidden import side_set_args

SHARD_ROWS = 2000


def lens_dir(table: str | Path, max_tokens: int) -> Path:
    return Path(table) / f"lens-{int(max_tokens)}"


def lens_spec(max_tokens: int, layers: Sequence[int]) -> dict:
    return {"table": json.loads(TableSpec().to_json()), "max_tokens": int(max_tokens),
            "layers": [int(x) for x in layers], "what": "means over the flat view's first max_tokens tokens of "
            "cross-entropy / KL of the final distribution under each layer's lens, and the lens log-prob"}


class LensScorer:
    """SmolLM2 fp32 (PyTorch), every layer's state returned; each chosen layer read through the final norm and head."""

    def __init__(self, max_tokens: int, layers: Sequence[int], threads: int | None = None,
                 max_batch_tokens: int = 1024) -> None:
        self.tokenizer, self.model = load_torch_lm(threads=threads)
        n = self.model.config.num_hidden_layers
        self.layers = [int(x) for x in layers]
        if not self.layers or not all(0 <= x < n for x in self.layers):
            raise ValueError(f"layers must lie in [0, {n - 1}] (layer {n} is the final distribution), got {layers}")
        self.max_tokens, self.max_batch_tokens = max_tokens, max_batch_tokens

    def columns(self) -> list[str]:
        return [f"lens_{s}{L}" for L in self.layers for s in ("xent", "kl", "lp")]

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One dict of ``columns()`` per text (flat views)."""
        import torch

        ids = [np.asarray(e[0][: self.max_tokens], np.int64) for e in self.tokenizer.encode_batch(list(texts))]
        ids = [x if len(x) >= 2 else np.pad(x, (0, 2 - len(x))) for x in ids]
        out: list[dict[str, float]] = [{} for _ in ids]
        head, norm = self.model.lm_head.weight, self.model.model.norm
        for rows, batch, lens in length_batches(ids, self.max_batch_tokens):
            with torch.inference_mode():
                res = self.model(input_ids=torch.from_numpy(batch), use_cache=False, output_hidden_states=True)
                logp = torch.log_softmax(res.logits[:, :-1].float(), -1)
                p = logp.exp()
                neg_entropy = (p * logp).sum(-1)
                target = torch.from_numpy(batch[:, 1:])
                keep = (torch.arange(batch.shape[1] - 1)[None, :] < torch.from_numpy(lens)[:, None] - 1).float()
                count = keep.sum(1).clamp_min(1)
                feats = {}
                for L in self.layers:
                    lens_logp = torch.log_softmax(norm(res.hidden_states[L][:, :-1]) @ head.T, -1)
                    xent = -(p * lens_logp).sum(-1)
                    feats[f"lens_xent{L}"] = (xent * keep).sum(1) / count
                    feats[f"lens_kl{L}"] = ((xent + neg_entropy) * keep).sum(1) / count
                    feats[f"lens_lp{L}"] = (lens_logp.gather(-1, target[..., None])[..., 0] * keep).sum(1) / count
                    del lens_logp
            for j, i in enumerate(rows):
                out[i] = {c: float(feats[c][j]) for c in self.columns()}
        return out


def lens_columns(value: str) -> tuple[str, ...]:
    """``xent24+kl24`` -> ("lens_xent24", "lens_kl24") (a benchmark candidate's ``lens=`` setting)."""
    names = tuple(f"lens_{v.strip()}" for v in value.split("+") if v.strip())
    if not names or not all(re.fullmatch(r"lens_(xent|kl|lp)\d+", n) for n in names):
        raise ValueError(f"lens= expects e.g. xent24+kl24, got {value!r}")
    return names


def with_lens(data: TableData, frame: pd.DataFrame, columns: Sequence[str]) -> TableData:
    """``data`` with the named lens columns appended to its features (rows aligned by key; every row must be
    covered: ``covered`` selects them first). Candidates read every non-``lm_`` feature column, so only the
    candidates asked for get them."""
    if not columns:
        return data
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the lens set holds no {missing} (built for other layers?)")
    values = frame.set_index("key").loc[data.rows["key"], list(columns)].reset_index(drop=True)
    return dataclasses.replace(data, features=pd.concat([data.features, values], axis=1))


def covered(data: TableData, frame: pd.DataFrame) -> np.ndarray:
    return data.rows["key"].isin(set(frame["key"])).to_numpy()


def score_rows(data: TableData, scorer: LensScorer) -> pd.DataFrame:
    """key + lens columns for rows held nowhere (a benchmark's fixtures), scored here."""
    flats = [flat_view(t) or "" for t in data.rows["text"]]
    return pd.DataFrame([{"key": k, **v} for k, v in zip(data.rows["key"], scorer.score(flats), strict=True)])


def read_lens(table: str | Path, max_tokens: int, layers: Sequence[int] | None = None) -> pd.DataFrame:
    """key + lens columns of every shard under ``<table>/lens-<K>``; refused when a shard was built for another
    table spec, budget or (when given) other layers. Empty when none was built."""
    import pyarrow.parquet as pq

    frames = []
    for path in sorted(lens_dir(table, max_tokens).glob("part-*.parquet")):
        meta = json.loads((pq.read_schema(path).metadata or {}).get(META_KEY, b"{}"))
        spec = lens_spec(max_tokens, meta.get("layers", []))
        if meta != spec or (layers is not None and meta["layers"] != [int(x) for x in layers]):
            raise TableVersionError(f"{path} holds lens statistics built with {meta}; expected {spec}")
        frames.append(pq.read_table(path).to_pandas())
    if not frames:
        return pd.DataFrame({"key": []})
    return pd.concat(frames, ignore_index=True).drop_duplicates("key", keep="last")


def _write(root: Path, rows: list[dict], spec: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    path = root / f"part-{len(list(root.glob('part-*.parquet'))):05d}.parquet"
    table = pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
    table = table.replace_schema_metadata({META_KEY: json.dumps(spec, sort_keys=True).encode()})
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def build_lens(table: str | Path, texts: dict[str, str], scorer: LensScorer, *, chunk: int = 64,
               limit_s: float | None = None) -> int:
    """Score every ``texts`` row (key -> raw text) not yet stored beside ``table``; returns rows added."""
    from tqdm import tqdm

    root = lens_dir(table, scorer.max_tokens)
    spec = lens_spec(scorer.max_tokens, scorer.layers)
    have = set(read_lens(table, scorer.max_tokens, scorer.layers)["key"])
    todo = [k for k in texts if k not in have]
    todo = [todo[i] for i in np.random.default_rng(0).permutation(len(todo))]
    pending: list[dict] = []
    added, t0 = 0, time.time()
    for s in tqdm(range(0, len(todo), chunk), unit="chunk", desc=f"lens {scorer.max_tokens}"):
        flats = [(k, flat_view(texts[k])) for k in todo[s: s + chunk]]
        flats = [(k, f) for k, f in flats if f]
        if flats:
            pending += [{"key": k, **v} for (k, _), v in zip(flats, scorer.score([f for _, f in flats]), strict=True)]
        if len(pending) >= SHARD_ROWS:
            _write(root, pending, spec)
            added, pending = added + len(pending), []
        if limit_s is not None and time.time() - t0 > limit_s:
            break
    if pending:
        _write(root, pending, spec)
        added += len(pending)
    return added


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    args = side_set_args(ap, "24,28", "comma-separated inner layers (HF hidden_states index)", argv)
    try:
        scorer = LensScorer(args.tokens, [int(x) for x in args.layers.split(",")], threads=args.threads)
    except ValueError as e:
        ap.error(f"--layers: {e}")
    corpus = load_labeled(args.data)
    texts = dict(zip((text_key(t) for t in corpus["text"]), corpus["text"], strict=False))
    for table in args.tables:
        keys = list(read_table(table, columns=["key"])["key"])
        t0 = time.time()
        n = build_lens(table, {k: texts[k] for k in keys if k in texts}, scorer, limit_s=args.limit_s)
        print(f"{table}: {n} rows in {time.time() - t0:.0f} s ({sum(k not in texts for k in keys)} without text)",
              flush=True)


if __name__ == "__main__":
    main()
