"""Build (or resume) the LM feature table for a large stratified sample of the labeled corpus.

    python benchmarks/build_feature_table.py --data '../shared/data/corpus/*.jsonl.gz' \\
        --out data/features/lm-v2 --cap 60 --human-factor 3 --test-cap 12
    # then every row of one generator in the sample (the prefix holds a stratified share of it):
    python benchmarks/build_feature_table.py --data '../shared/data/corpus/*.jsonl.gz' \
        --out data/features/lm-v2 --generators llm-2026
    # human texts no model saw, for the fairness gate (benchmarks/fairness_gate.py --humans):
    python benchmarks/build_feature_table.py --data '../shared/data/corpus/*.jsonl.gz' \
        --out data/features/humans-unseen --unseen-humans data/features/lm-v2 --cap 60
    # more training humans where a domain had too few calibration humans for its own threshold:
    python benchmarks/build_feature_table.py --data '../shared/data/corpus/*.jsonl.gz' \
        --out data/features/lm-v2 --domain-humans review=120,howto=150,wikipedia=220,social=220,qa=200
    # the human text of each paired group whose machine texts the table holds without it (pairs for training):
    python benchmarks/build_feature_table.py --data '../shared/data/corpus/*.jsonl.gz' \
        --out data/features/lm-v2 --partner-humans --keep-out data/features/humans-unseen data/features/humans-outfox
    # and the instruction-tuned machine texts of each training group whose human text it holds without them:
    python benchmarks/build_feature_table.py --data '../shared/data/corpus/*.jsonl.gz' \
        --out data/features/lm-v2 --partner-machines

Resumable: rows already in the table are skipped, so a stopped build continues where it left off, and
rows are taken in stratified random order, so a partial table is a stratified sample.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ghostscore.textkey import text_key
from ghostscore.training.data import is_instruction_tuned, load_labeled
from ghostscore.training.feature_table import OrtTableScorer, TableScorer, build, build_sample, read_table


def unseen_humans(df: pd.DataFrame, table: str, *, cap: int, seed: int = 0) -> pd.DataFrame:
    """Human texts no model trained or was calibrated on: validation/test rows outside ``table``, English,
    shuffled, at most ``cap`` per dataset x domain, so every source and genre of human writing is represented."""
    if not Path(table).is_dir():  # a mistyped path would let the table's own rows into the "unseen" set
        raise SystemExit(f"--unseen-humans: no feature table at {table}")
    have = set(read_table(table)["key"])
    keep = ((df["y"] == 0) & df["split"].isin(["validation", "test"]) & (df["lang"].fillna("en") == "en")
            & df["attack"].isna())  # untouched human writing (attacked or mixed rows are not)
    rows = df[keep & ~df["text"].map(text_key).isin(have)]
    rows = rows.sample(frac=1.0, random_state=seed)
    return rows.groupby(["dataset", "domain"], dropna=False).head(cap).reset_index(drop=True)


def domain_humans(df: pd.DataFrame, table: str, quotas: dict[str, int], seed: int = 0) -> pd.DataFrame:
    """More training humans for the named domains: English, untouched, train-split human rows that ``table`` does
    not hold, up to ``quotas[domain]`` per domain, shuffled and spread evenly over the datasets. Why: a domain
    gets its own verdict threshold only with enough calibration humans (``MIN_OWN_THRESHOLD_HUMANS``); the
    training rows are scored cross-fitted for calibration, and validation/test humans stay free for the gate."""
    have = set(read_table(table)["key"]) if Path(table).is_dir() else set()
    keep = ((df["y"] == 0) & (df["split"] == "train") & (df["lang"].fillna("en") == "en") & df["attack"].isna()
            & df["domain"].isin(list(quotas)))
    rows = df[keep & ~df["text"].map(text_key).isin(have)].sample(frac=1.0, random_state=seed)
    rows = rows.assign(_rank=rows.groupby(["domain", "dataset"]).cumcount()).sort_values("_rank", kind="stable")
    taken = rows.groupby("domain").cumcount() < rows["domain"].map(quotas)
    return rows[taken].drop(columns="_rank").reset_index(drop=True)


def partner_humans(df: pd.DataFrame, table: str, keep_out: Sequence[str] = (), seed: int = 0) -> pd.DataFrame:
    """The human text of each of the table's training groups that holds machine texts but no human one: English,
    untouched, training split, not in any ``keep_out`` table (the fairness gate's humans), one per group, shuffled
    and spread evenly over the datasets. Why: more human writing of the sources the machine texts came from, each
    the partner of a machine text written from it (``candidates.pair_direction``); validation and test humans stay
    free for the gate."""
    for path in (table, *keep_out):  # a mistyped --keep-out would let the gate's humans into training
        if not Path(path).is_dir():
            raise SystemExit(f"--partner-humans: no feature table at {path}")
    keys = df["text"].map(text_key)
    held = df[keys.isin(set(read_table(table)["key"])) & (df["split"] == "train")]
    machine_only = set(held["group"].dropna()) - set(held.loc[held["y"] == 0, "group"])  # no group: no partner
    free = set().union(*(set(read_table(t)["key"]) for t in keep_out))
    keep = ((df["y"] == 0) & (df["split"] == "train") & (df["lang"].fillna("en") == "en")
            & df["attack"].isna() & df["group"].isin(machine_only) & ~keys.isin(free))
    return _spread_over_datasets(df[keep].sample(frac=1.0, random_state=seed).drop_duplicates("group"))


def partner_machines(df: pd.DataFrame, table: str, seed: int = 0) -> pd.DataFrame:
    """The instruction-tuned machine texts of each of the table's training groups that holds an untouched human
    text but no machine one: English, training split, every generator's (a group's rewrites by GPT-4o, Llama-3
    and GPT-3.5 are three pairs with the same human), shuffled and spread evenly over the datasets. Why: the
    mirror of ``partner_humans``; each such group becomes human/machine pairs for ``candidates.pair_direction``.
    Base-model continuations stay out: the issue's generators are chat models, and the table holds them at half
    weight already. Measured and not kept for the shipped table (BENCHMARKS.md, tenth session). A stopped build
    resumes only the groups it had not started: a group with one rewrite in the table no longer qualifies."""
    if not Path(table).is_dir():
        raise SystemExit(f"--partner-machines: no feature table at {table}")
    keys = df["text"].map(text_key)
    have = set(read_table(table)["key"])
    held = df[keys.isin(have) & (df["split"] == "train")]
    untouched_human = (held["y"] == 0) & held["attack"].isna()
    human_only = set(held.loc[untouched_human, "group"].dropna()) - set(held.loc[held["y"] == 1, "group"])
    keep = ((df["y"] == 1) & (df["split"] == "train") & (df["lang"].fillna("en") == "en")
            & df["generator"].map(is_instruction_tuned) & df["group"].isin(human_only) & ~keys.isin(have))
    return _spread_over_datasets(df[keep].sample(frac=1.0, random_state=seed))


def _spread_over_datasets(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (already shuffled) reordered round-robin over their datasets, so a build stopped early (``--limit``,
    ``--limit-s``) still holds every dataset's share."""
    rows = rows.assign(_rank=rows.groupby("dataset").cumcount()).sort_values("_rank", kind="stable")
    return rows.drop(columns="_rank").reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cap", type=int, default=60, help="rows per stratum of the older sources (train+val)")
    ap.add_argument("--human-factor", type=float, default=3.0)
    ap.add_argument("--test-cap", type=int, default=12, help="rows per stratum of the test split")
    ap.add_argument("--generators", default=None,
                    help="comma-separated: score only these generators' rows of the sample (e.g. to complete "
                         "a generator the prefix holds only part of)")
    ap.add_argument("--unseen-humans", default=None, metavar="TABLE",
                    help="instead of the stratified sample: English human validation/test rows that TABLE does not "
                         "hold, at most --cap per dataset x domain (the fairness gate's --humans)")
    ap.add_argument("--domain-humans", default=None, metavar="DOMAIN=N,...",
                    help="instead of the stratified sample: up to N more training humans of each named domain that "
                         "--out does not hold yet (so small domains reach the count for their own threshold)")
    ap.add_argument("--partner-humans", action="store_true",
                    help="instead of the stratified sample: the human text of every training group whose machine "
                         "texts --out holds without it (so the group becomes a human/machine pair)")
    ap.add_argument("--partner-machines", action="store_true",
                    help="instead of the stratified sample: the instruction-tuned machine texts of every training "
                         "group whose human text --out holds without them (measured, not kept: BENCHMARKS.md)")
    ap.add_argument("--keep-out", nargs="*", default=[], metavar="TABLE",
                    help="with --partner-humans: leave out texts these tables hold (the fairness gate's --humans)")
    ap.add_argument("--limit", type=int, default=None, help="score at most this many rows of the sample")
    ap.add_argument("--limit-s", type=float, default=None, help="stop after this many seconds")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", choices=("onnx", "torch"), default="onnx",
                    help="onnx: the exported graph (same numbers within 1e-4 nats, ~2.5x faster); torch: reference")
    ap.add_argument("--shard-rows", type=int, default=500)
    args = ap.parse_args(argv)
    quotas: dict[str, int] = {}
    if args.domain_humans:
        try:
            quotas = {k.strip(): int(v) for k, v in (kv.split("=", 1) for kv in args.domain_humans.split(","))}
        except ValueError:
            ap.error(f"--domain-humans: expected DOMAIN=N,..., got {args.domain_humans!r}")
    df = load_labeled(args.data)
    if args.unseen_humans:
        sample = unseen_humans(df, args.unseen_humans, cap=args.cap, seed=args.seed)
    elif args.partner_humans:
        sample = partner_humans(df, args.out, keep_out=args.keep_out, seed=args.seed)
    elif args.partner_machines:
        sample = partner_machines(df, args.out, seed=args.seed)
    elif quotas:
        sample = domain_humans(df, args.out, quotas, seed=args.seed)
    else:
        sample = build_sample(df, cap=args.cap, human_factor=args.human_factor, test_cap=args.test_cap,
                              seed=args.seed)
    print(f"sample: {len(sample)} rows; by split {sample['split'].value_counts().to_dict()}", flush=True)
    if args.generators:
        sample = sample[sample["generator"].isin(args.generators.split(","))].reset_index(drop=True)
        print(f"only {args.generators}: {len(sample)} rows", flush=True)
    if args.limit:
        sample = sample.iloc[: args.limit]
    t0 = time.time()
    scorer = OrtTableScorer(threads=args.threads) if args.backend == "onnx" else TableScorer(threads=args.threads)
    n = build(sample, args.out, scorer=scorer, limit_s=args.limit_s, shard_rows=args.shard_rows,
              log=lambda m: print(m, flush=True))
    print(f"added {n} rows in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
