"""Labeled datasets for training and evaluation: any CSV / JSONL(.gz) / Parquet / `datasets` directory.

The result is one pandas table with columns ``text``, ``y`` (1 = machine), ``group``, ``split`` and,
when the source has them, ``generator``, ``domain``, ``dataset``, ``attack``, ``lang``. Splits are by
group: a human text and its machine rewrite never straddle train and test.
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

META_COLUMNS = ("generator", "domain", "dataset", "attack", "lang", "id")
# Chat/instruction-tuned generators: the kind content farms use today. Base models that continue a
# human prefix (gpt2, opt, neo, gpt-j, neox) write differently and dominate the public corpora.
INSTRUCTION_TUNED_PREFIXES = (
    "gpt-3.5", "gpt-4", "claude", "llama-2-70b-chat", "llama-2-13b-chat", "llama-2-7b-chat", "vicuna",
    "palm", "llm-2026", "text-davinci-003", "flan-t5", "llama-3",
)


# Attacks that put a machine's words into a text its source labels human (DetectRL's *_Human files: an LLM
# polished it, it went through machine translation and back, or a quarter of its sentences are an LLM's). They
# are not human writing: a model taught to call them human learns "LLM polish = human", and a 1% threshold set
# on them sits where polished text scores, above most human writing (BENCHMARKS.md, eighth session).
MACHINE_TOUCHED_ATTACKS = frozenset({"paraphrase-polish", "back-translation", "data-mixing"})


def is_instruction_tuned(generator: object) -> bool:
    return isinstance(generator, str) and generator.startswith(INSTRUCTION_TUNED_PREFIXES)


def machine_touched_humans(rows: pd.DataFrame) -> np.ndarray:
    """Mask of human-labelled rows whose text a machine rewrote in part (``MACHINE_TOUCHED_ATTACKS``): left out of
    training and calibration by ``ghostscore train --features-table``, reported on their own."""
    if "attack" not in rows.columns or "y" not in rows.columns:
        return np.zeros(len(rows), dtype=bool)
    return ((rows["y"] == 0) & rows["attack"].isin(MACHINE_TOUCHED_ATTACKS)).to_numpy()


def _expand(paths: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        matches = sorted(glob.glob(str(p))) or [str(p)]
        for m in matches:
            path = Path(m)
            if path.is_dir() and not (path / "dataset_info.json").exists() and not (path / "state.json").exists():
                out.extend(sorted(x for x in path.iterdir() if _reader(x) is not None))
            else:
                out.append(path)
    return out


def _reader(path: Path):
    """The pandas reader for a data file's extension, or None for files that are not data."""
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        return lambda p: pd.read_json(p, lines=True)
    if name.endswith((".json", ".json.gz")):
        return pd.read_json
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv
    if name.endswith(".parquet"):
        return pd.read_parquet
    return None


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError("not_found", f"no such data file or directory: {path}")
    if path.is_dir():
        from datasets import load_from_disk

        ds = load_from_disk(str(path))
        if hasattr(ds, "keys"):  # DatasetDict: keep the split names
            return pd.concat([ds[k].to_pandas().assign(split=k) for k in ds.keys()], ignore_index=True)
        return ds.to_pandas()
    reader = _reader(path)
    if reader is None:
        raise InputError("format", f"{path}: unknown data format (use .jsonl, .csv, .parquet or a datasets dir)")
    try:
        return reader(path)
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many types for a binary or broken file
        raise InputError("unreadable", f"{path}: cannot be read as {path.suffix or 'data'}: "
                                       f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def split_for_group(group: str, *, train: int = 80, validation: int = 90) -> str:
    """The corpus's own rule: sha1(group) bucket, first 8 hex digits mod 100."""
    bucket = int(hashlib.sha1(str(group).encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < train else "validation" if bucket < validation else "test"


def load_labeled(
    paths: Sequence[str], *, text_field: str = "text", label_field: str = "label",
    positive: str = "machine", negative: str = "human",
) -> pd.DataFrame:
    """Read and normalize labeled files; unknown labels are a clear error, not a silent drop."""
    frames = [read_table(p) for p in _expand(paths)]
    if not frames:
        raise InputError("empty", f"no data files found in {list(paths)}")
    df = pd.concat(frames, ignore_index=True)
    for col in (text_field, label_field):
        if col not in df.columns:
            raise InputError("schema", f"column {col!r} missing; columns are {list(df.columns)}")
    labels = df[label_field].astype(str)
    known = {str(positive), str(negative)}
    bad = sorted(set(labels) - known)
    if bad:
        raise InputError(
            "labels", f"labels {bad[:5]} are neither {positive!r} (machine) nor {negative!r} (human); "
            "set --positive/--negative",
        )
    out = pd.DataFrame({"text": df[text_field].astype(str), "y": (labels == str(positive)).astype(int)})
    for col in META_COLUMNS:
        out[col] = df[col] if col in df.columns else None
    out["group"] = df["group"].astype(str) if "group" in df.columns else [
        hashlib.sha1(t.encode()).hexdigest() for t in out["text"]
    ]
    out["split"] = df["split"] if "split" in df.columns else [split_for_group(g) for g in out["group"]]
    out["split"] = out["split"].fillna("train")
    if out["dataset"].isna().all():
        out["dataset"] = "data"
    return out


def stratified_sample(
    df: pd.DataFrame, *, max_per_stratum: int | None, seed: int = 0,
    strata: Sequence[str] = ("dataset", "domain", "generator", "attack", "y"),
    base_model_factor: float = 1.0, human_factor: float = 1.0,
    generator_factors: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Cap each stratum at ``max_per_stratum`` rows (base-model generators at ``base_model_factor`` x,
    human strata at ``human_factor`` x: humans come in few strata, machines in many generator x attack
    cells, so equal caps would starve the human side; ``generator_factors`` gives named generators their
    own factor, e.g. more of the only modern generator in a corpus).

    Sampling is by group-consistent random order so that, within a stratum, the same seed picks the
    same rows whatever else is in the table.
    """
    if not max_per_stratum:
        return df
    keys = [df[c].fillna("-").astype(str) if c in df.columns else pd.Series("-", index=df.index) for c in strata]
    stratum = keys[0].str.cat(keys[1:], sep="|")
    rng = np.random.default_rng(seed)
    order = pd.Series(rng.random(len(df)), index=df.index)
    picks = []
    for _, idx in stratum.groupby(stratum).groups.items():
        sub = df.loc[idx]
        cap = max_per_stratum
        gen = sub["generator"].iloc[0] if "generator" in sub.columns else None
        if sub["y"].iloc[0] == 1 and generator_factors and gen in generator_factors:
            cap = max(1, int(round(max_per_stratum * generator_factors[gen])))
        elif sub["y"].iloc[0] == 1 and not is_instruction_tuned(gen):
            cap = max(1, int(round(max_per_stratum * base_model_factor)))
        elif sub["y"].iloc[0] == 0:
            cap = max(1, int(round(max_per_stratum * human_factor)))
        picks.append(order.loc[idx].sort_values().index[:cap])
    return df.loc[np.concatenate(picks)].sort_index()
