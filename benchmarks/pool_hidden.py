"""Pool SmolLM2's middle-layer hidden states over a shorter token budget for every row of feature tables.

    python benchmarks/pool_hidden.py --data '../shared/data/corpus/*.jsonl.gz' --tokens 128 \\
        --tables data/features/lm-v2 data/features/humans-unseen data/features/humans-outfox

Writes ``<table>/pooled-<K>/part-*.parquet`` (training and the benchmarks read it when a hidden-state model is
fitted at ``K`` tokens, e.g. ``--candidates hidden@128``). Resumable; half the network per text (~6 texts/s at
128 tokens on 2 cores).
"""

from __future__ import annotations

import argparse
import time

from ghostscore.textkey import text_key
from ghostscore.training.data import load_labeled
from ghostscore.training.feature_table import TableSpec, read_table
from ghostscore.training.pooled_hidden import MidLayerPooler, build_pooled


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--tables", nargs="+", required=True)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--limit-s", type=float, default=None, help="stop each table after this many seconds")
    args = ap.parse_args(argv)
    if not 2 <= args.tokens < TableSpec().max_tokens:
        ap.error(f"--tokens must lie in [2, {TableSpec().max_tokens}): the table pools over its own budget already")
    corpus = load_labeled(args.data)
    texts = dict(zip((text_key(t) for t in corpus["text"]), corpus["text"], strict=True))
    pooler = MidLayerPooler(args.tokens, threads=args.threads)
    for table in args.tables:
        keys = list(read_table(table, columns=["key"])["key"])
        missing = [k for k in keys if k not in texts]
        if missing:
            print(f"{table}: {len(missing)} rows have no text in --data (skipped)", flush=True)
        t0 = time.time()
        n = build_pooled(table, {k: texts[k] for k in keys if k in texts}, args.tokens, pooler=pooler,
                         limit_s=args.limit_s, log=lambda m: print(m, flush=True))
        print(f"{table}: pooled {n} rows over {args.tokens} tokens in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
