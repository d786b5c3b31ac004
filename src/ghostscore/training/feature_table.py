"""The LM feature table: SmolLM2 per-token statistics and pooled hidden states for a large labeled sample.

Language-model features cost about a second per article on a laptop CPU, so a training sample of tens of
thousands of texts cannot be featurized on every run. The table is built once (resumably, in the
background), stored as compact Parquet shards under ``data/features/<name>/`` (float32 log-prob/entropy,
float16 variance, uint16 rank, float16 pooled hidden states; each shard well under 25 MB) and read by
``ghostscore train --features-table`` and the benchmarks, which never run the LM again.

Every row is keyed by the SHA-1 of the raw text and carries the budget it was scored with. The table's
metadata names the LM extractor version, the budget and the model; ``read_table`` refuses a table whose
version differs from the running code, so stale statistics can never be mixed with fresh ones.

Rows are processed in a stratified random order, so a table that was stopped early is still a
stratified sample.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..document import Document
from ..errors import InputError
from ..features.lm import LM_TOKEN_BUDGET, LMExtractor
from ..textkey import text_key

TABLE_FORMAT = 1
META_KEY = b"ghostscore"
SHARD_ROWS = 1500
TOKEN_COLUMNS = ("logprob", "rank", "entropy", "variance")
HIDDEN_COLUMNS = ("h_mid", "h_last")
META_COLUMNS = ("id", "dataset", "generator", "domain", "attack", "split", "group", "lang", "y")
# Generators of 2024 and later: always taken whole (they are what transfer has to be learned from).
MODERN_GENERATORS = ("gpt-4o", "llama-3-70b-instruct", "llama-3-8b-instruct-paraphrase", "llm-2026")


class TableVersionError(InputError):
    """The table was built by another extractor version or budget than the running code uses."""

    def __init__(self, message: str) -> None:
        super().__init__("table_version", message)


@dataclass(frozen=True)
class TableSpec:
    """What a table was built with; stored in every shard's Parquet metadata."""

    extractor: str = LMExtractor.name
    version: str = LMExtractor.version
    max_tokens: int = LM_TOKEN_BUDGET
    model: str = "SmolLM2-135M-Instruct"
    format: int = TABLE_FORMAT

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> TableSpec:
        return cls(**json.loads(raw))


# ---------------------------------------------------------------------------------------------- sampling
def build_sample(
    df: pd.DataFrame, *, cap: int = 60, human_factor: float = 3.0, test_cap: int = 12,
    seed: int = 0, modern: Sequence[str] = MODERN_GENERATORS,
) -> pd.DataFrame:
    """English rows in stratified random order: every train/validation row of a 2024+ generator (and the
    humans of the same sources), ``cap`` per dataset x domain x generator x attack x label stratum for
    the rest (humans ``human_factor`` x), and ``test_cap`` per stratum of the test split.

    The order interleaves strata (each stratum's rows are spread evenly over the whole order), so any
    prefix of the result is itself a stratified sample.
    """
    df = df[df["lang"].fillna("en") == "en"].copy()
    modern_sources = set(df.loc[df["generator"].isin(modern), "dataset"])
    strata_cols = ["dataset", "domain", "generator", "attack", "y"]
    stratum = df[strata_cols].fillna("-").astype(str).agg("|".join, axis=1)
    rng = np.random.default_rng(seed)
    df["_r"] = rng.random(len(df))
    picks = []
    for _, idx in stratum.groupby([stratum, df["split"] == "test"]).groups.items():
        sub = df.loc[idx].sort_values("_r")
        test = sub["split"].iloc[0] == "test"
        is_modern = sub["dataset"].iloc[0] in modern_sources
        if test:
            n = test_cap * (2 if is_modern else 1)
        elif is_modern:
            n = len(sub)
        else:
            n = int(round(cap * (human_factor if sub["y"].iloc[0] == 0 else 1.0)))
        sub = sub.iloc[:n].copy()
        # position within the stratum, spread over [0, 1): interleaves strata in the final order
        sub["_order"] = (np.arange(len(sub)) + rng.random()) / max(len(sub), 1)
        picks.append(sub)
    out = pd.concat(picks).sort_values(["_order", "_r"])
    return out.drop(columns=["_r", "_order"]).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- scoring
class TableScorer:
    """SmolLM2 fp32 (PyTorch) over the first ``max_tokens`` tokens of each text's flat view: the four
    per-token statistics plus mean-pooled hidden states of a middle and the last layer, in one pass."""

    def __init__(self, max_tokens: int = LM_TOKEN_BUDGET, cache_dir: str | Path | None = None,
                 threads: int | None = None, max_batch_tokens: int = 512) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        from ..backbones.language_model import FastTokenizer, torch_dir

        if threads:
            torch.set_num_threads(threads)
        path = torch_dir(cache_dir)
        self.tokenizer = FastTokenizer(path)
        self.model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True,
                                                          dtype=torch.float32).eval()
        self.max_tokens = max_tokens
        self.max_batch_tokens = max_batch_tokens
        self.mid_layer = self.model.config.num_hidden_layers // 2
        self.pad_id = int(self.tokenizer.eos_token_id or 0)

    def score(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        import torch

        from ..backbones.language_model import head_stats_chunked

        ids = [np.asarray(e[0], np.int64) for e in self.tokenizer.encode_batch(list(texts))]
        totals = [len(x) for x in ids]
        ids = [x[: self.max_tokens] for x in ids]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out: list[dict[str, Any] | None] = [None] * len(ids)
        i = 0
        while i < len(order):
            longest = max(len(ids[order[i]]), 2)
            per = max(1, self.max_batch_tokens // longest)
            rows = order[i : i + per]
            i += per
            batch = np.full((len(rows), longest), self.pad_id, np.int64)
            for r, ti in enumerate(rows):
                batch[r, : len(ids[ti])] = ids[ti]
            with torch.inference_mode():
                x = torch.from_numpy(batch)
                res = self.model.model(input_ids=x, use_cache=False, output_hidden_states=True)
                last = res.last_hidden_state
                mid = res.hidden_states[self.mid_layer]
                stats = [head_stats_chunked(self.model.lm_head(last[r, : len(ids[ti]) - 1]),
                                            x[r, 1 : len(ids[ti])]) for r, ti in enumerate(rows)]
            for r, ti in enumerate(rows):
                n = len(ids[ti])
                lp, rank, ent, var = (s.numpy() for s in stats[r])
                out[ti] = {
                    "n_tokens": totals[ti], "n_input": n,
                    "logprob": lp.astype(np.float32), "rank": np.minimum(rank, 65535).astype(np.uint16),
                    "entropy": ent.astype(np.float32), "variance": var.astype(np.float16),
                    "h_mid": mid[r, :n].mean(0).numpy().astype(np.float16),
                    "h_last": last[r, :n].mean(0).numpy().astype(np.float16),
                }
        return out  # type: ignore[return-value]


class OrtTableScorer:
    """The same statistics and pooled hidden states from the ONNX graph (``onnx_dir("table")``), in
    length-sorted, right-padded batches (the graph pools each row over its own length)."""

    def __init__(self, max_tokens: int = LM_TOKEN_BUDGET, cache_dir: str | Path | None = None,
                 threads: int | None = None, max_batch_tokens: int = 1024) -> None:
        import onnxruntime as ort

        from ..backbones.language_model import FastTokenizer, torch_dir
        from ..backbones.lm_export import onnx_dir

        self.tokenizer = FastTokenizer(torch_dir(cache_dir))
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads or os.cpu_count() or 1)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_dir("table", cache_dir) / "model.onnx"), so,
                                            providers=["CPUExecutionProvider"])
        self.max_tokens = max_tokens
        self.max_batch_tokens = max_batch_tokens

    def score(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        enc = [np.asarray(e[0], np.int64) for e in self.tokenizer.encode_batch(list(texts))]
        totals = [len(x) for x in enc]
        ids = [x[: self.max_tokens] if len(x) >= 2 else np.pad(x, (0, 2 - len(x))) for x in enc]
        out: list[dict[str, Any] | None] = [None] * len(ids)
        for rows, batch, lengths in length_batches(ids, self.max_batch_tokens):
            lp, rank, ent, var, hm, hl = self.session.run(
                ["logprob", "rank", "entropy", "variance", "h_mid", "h_last"], {"input_ids": batch, "lengths": lengths})
            for r, ti in enumerate(rows):
                k = len(ids[ti]) - 1
                out[ti] = {
                    "n_tokens": totals[ti], "n_input": k + 1,
                    "logprob": lp[r, :k].astype(np.float32), "rank": np.minimum(rank[r, :k], 65535).astype(np.uint16),
                    "entropy": ent[r, :k].astype(np.float32), "variance": var[r, :k].astype(np.float16),
                    "h_mid": hm[r].astype(np.float16), "h_last": hl[r].astype(np.float16),
                }
        return out  # type: ignore[return-value]


def length_batches(ids: Sequence[np.ndarray], max_batch_tokens: int,
                   ) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """Length-sorted, right-padded batches of about ``max_batch_tokens``: (row indices, ids, lengths)."""
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    i = 0
    while i < len(order):
        longest = len(ids[order[i]])
        rows = order[i : i + max(1, max_batch_tokens // max(longest, 1))]
        i += len(rows)
        batch = np.zeros((len(rows), longest), np.int64)
        for r, ti in enumerate(rows):
            batch[r, : len(ids[ti])] = ids[ti]
        yield rows, batch, np.array([len(ids[ti]) for ti in rows], np.int64)


def flat_view(text: str) -> str | None:
    """The text the LM extractor scores (``Document.flat_text``), or None for input it would refuse."""
    try:
        return Document.from_text(text, max_chars=10**7).flat_text
    except InputError:
        return None


# ---------------------------------------------------------------------------------------------- storage
def _shard_paths(root: Path) -> list[Path]:
    return sorted(root.glob("part-*.parquet"))


def write_shard(root: Path, rows: list[dict[str, Any]], spec: TableSpec) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    n = len(_shard_paths(root))
    path = root / f"part-{n:05d}.parquet"
    cols: dict[str, Any] = {"key": [r["key"] for r in rows]}
    for c in META_COLUMNS:
        vals = [r.get(c) for r in rows]
        if c == "y":
            cols[c] = [int(v) for v in vals]
        else:
            cols[c] = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in vals]
    cols["n_tokens"] = [int(r["n_tokens"]) for r in rows]
    types = {"logprob": pa.float32(), "entropy": pa.float32(), "variance": pa.float16(), "rank": pa.uint16(),
             "h_mid": pa.float16(), "h_last": pa.float16()}
    arrays = {k: pa.array(v) for k, v in cols.items()}
    for c in (*TOKEN_COLUMNS, *HIDDEN_COLUMNS):
        arrays[c] = pa.array([r[c] for r in rows], type=pa.list_(types[c]))
    table = pa.table(arrays).replace_schema_metadata({META_KEY: spec.to_json().encode()})
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def table_spec(root: str | Path) -> TableSpec | None:
    import pyarrow.parquet as pq

    shards = _shard_paths(Path(root))
    if not shards:
        return None
    meta = pq.read_schema(shards[0]).metadata or {}
    if META_KEY not in meta:
        raise TableVersionError(f"{shards[0]} is not a ghostscore feature table")
    return TableSpec.from_json(meta[META_KEY])


def read_table(root: str | Path, *, expect: TableSpec | None = None, columns: Sequence[str] | None = None,
               ) -> pd.DataFrame:
    """All shards of a table as one DataFrame (token columns hold numpy arrays).

    Raises ``TableVersionError`` when any shard was built with another spec than ``expect`` (default: what
    the running code computes), so a changed extractor never silently reuses old statistics.
    """
    import pyarrow.parquet as pq

    root = Path(root)
    expect = expect or TableSpec()
    shards = _shard_paths(root)
    if not shards:
        raise InputError("not_found", f"no feature table shards (part-*.parquet) under {root}")
    frames = []
    for path in shards:
        meta = pq.read_schema(path).metadata or {}
        if META_KEY not in meta:
            raise TableVersionError(f"{path} is not a ghostscore feature table")
        spec = TableSpec.from_json(meta[META_KEY])
        if spec != expect:
            raise TableVersionError(
                f"{path} was built with {spec.to_json()}, but this ghostscore computes {expect.to_json()}: "
                "rebuild the table (ghostscore-feature-table build) or use a matching ghostscore version"
            )
        frames.append(pq.read_table(path, columns=list(columns) if columns else None).to_pandas())
    df = pd.concat(frames, ignore_index=True)
    return df.drop_duplicates("key", keep="last").reset_index(drop=True)


def done_keys(root: Path, spec: TableSpec) -> set[str]:
    import pyarrow.parquet as pq

    keys: set[str] = set()
    for path in _shard_paths(root):
        meta = pq.read_schema(path).metadata or {}
        if META_KEY in meta and TableSpec.from_json(meta[META_KEY]) == spec:
            keys.update(pq.read_table(path, columns=["key"]).column("key").to_pylist())
    return keys


def build(
    sample: pd.DataFrame, out: str | Path, *, spec: TableSpec | None = None, scorer: Any = None,
    shard_rows: int = SHARD_ROWS, chunk: int = 64, limit_s: float | None = None, progress: bool = True,
    log: Any = None,
) -> int:
    """Score every row of ``sample`` not yet in the table at ``out``; resumable. Returns rows added."""
    from tqdm import tqdm

    out = Path(out)
    spec = spec or TableSpec()
    if (existing := table_spec(out)) is not None and existing != spec:
        raise TableVersionError(f"{out} holds a table built with {existing.to_json()}; use another folder")
    have = done_keys(out, spec)
    keys = [text_key(t) for t in sample["text"]]
    todo = [i for i, k in enumerate(keys) if k not in have]
    todo = list(dict.fromkeys(todo))
    seen: set[str] = set(have)
    scorer = scorer or TableScorer(max_tokens=spec.max_tokens)
    pending: list[dict[str, Any]] = []
    added = 0
    t0 = time.time()
    bar = tqdm(total=len(todo), disable=not progress, unit="text", desc="LM table")
    for s in range(0, len(todo), chunk):
        idx = [i for i in todo[s : s + chunk] if keys[i] not in seen]
        seen.update(keys[i] for i in idx)
        flats = [(i, flat_view(sample["text"].iloc[i])) for i in idx]
        flats = [(i, f) for i, f in flats if f]
        scored = scorer.score([f for _, f in flats]) if flats else []
        for (i, _), st in zip(flats, scored, strict=True):
            row = sample.iloc[i]
            pending.append({"key": keys[i], **{c: row.get(c) for c in META_COLUMNS}, **st})
        bar.update(len(idx))
        if len(pending) >= shard_rows:
            write_shard(out, pending, spec)
            added += len(pending)
            pending = []
            if log:
                log(f"{added} rows, {time.time() - t0:.0f} s")
        if limit_s is not None and time.time() - t0 > limit_s:
            break
    if pending:
        write_shard(out, pending, spec)
        added += len(pending)
    bar.close()
    return added
