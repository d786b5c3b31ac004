"""Pool SmolLM2's hidden states at chosen layers over a shorter token budget for every row of feature tables.

    python benchmarks/pool_hidden.py --data '../shared/data/corpus/*.jsonl.gz' --tokens 128 --layers 18,24 \\
        --tables data/features/lm-v2 data/features/humans-unseen data/features/humans-outfox

Writes ``<table>/pooled-<K>/part-*.parquet`` (the middle layer, 15) and ``<table>/pooled-<K>-layer<L>/`` (any
other), which training and the benchmarks read when a hidden-state model is fitted at ``K`` tokens, e.g.
``--candidates hidden@128:layers=18+24``. Resumable; runs the network up to the highest layer asked for (~10
texts/s at 128 tokens through all 30 layers on 2 cores).
"""

from __future__ import annotations

import argparse
import time

from ghostscore.classifiers.hidden import MID_LAYER
from ghostscore.errors import InputError
from ghostscore.textkey import text_key
from ghostscore.training.candidates import parse_layers
from ghostscore.training.data import load_labeled
from ghostscore.training.feature_table import TableSpec, read_table
from ghostscore.training.pooled_hidden import LayerPooler, build_pooled


def side_set_args(ap: argparse.ArgumentParser, layers: str, layers_help: str, argv: list[str] | None,
                  ) -> argparse.Namespace:
    """The arguments of a script that computes a set beside feature tables from one more LM pass (this one,
    lens_features.py): corpus, tables, budget (checked against the table's), layers, threads, time limit."""
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--tables", nargs="+", required=True)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--layers", default=layers, help=layers_help)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--limit-s", type=float, default=None, help="stop each table after this many seconds")
    args = ap.parse_args(argv)
    if not 2 <= args.tokens <= TableSpec().max_tokens:
        ap.error(f"--tokens must lie in [2, {TableSpec().max_tokens}]: the table scores no more")
    return args


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    args = side_set_args(ap, str(MID_LAYER), "comma-separated layers (HF hidden_states index: 0 = embeddings, "
                         "15 = the middle)", argv)
    try:
        layers = list(parse_layers(args.layers))
        pooler = LayerPooler(args.tokens, layers, threads=args.threads)  # refuses a layer the LM does not have
    except (InputError, ValueError) as e:
        ap.error(f"--layers: {e}")
    corpus = load_labeled(args.data)
    texts = dict(zip((text_key(t) for t in corpus["text"]), corpus["text"], strict=True))
    for table in args.tables:
        keys = list(read_table(table, columns=["key"])["key"])
        missing = [k for k in keys if k not in texts]
        if missing:
            print(f"{table}: {len(missing)} rows have no text in --data (skipped)", flush=True)
        t0 = time.time()
        n = build_pooled(table, {k: texts[k] for k in keys if k in texts}, args.tokens, pooler=pooler,
                         limit_s=args.limit_s, log=lambda m: print(m, flush=True))
        print(f"{table}: pooled {n} rows over {args.tokens} tokens (layers {layers}) in {time.time() - t0:.0f} s",
              flush=True)


if __name__ == "__main__":
    main()
