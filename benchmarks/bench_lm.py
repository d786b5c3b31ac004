"""LM backend benchmark with the options the CLI does not expose (``--data``, ``--threads``, ``--json``).

    python benchmarks/bench_lm.py --tokens 20000 --backends auto,torch --threads 2
"""

from __future__ import annotations

import argparse
import json

from ghostscore.training.lm_bench import run_bench


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokens", type=int, default=20_000)
    ap.add_argument("--backends", default="auto,torch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", help="JSONL(.gz) with a 'text' field; default: the built-in bench texts")
    ap.add_argument("--cache-dir")
    ap.add_argument("--json", help="also write the summary rows to this file")
    args = ap.parse_args()
    rows = run_bench(
        tokens=args.tokens, backends=[b.strip() for b in args.backends.split(",") if b.strip()],
        threads=args.threads, data=args.data, cache_dir=args.cache_dir,
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
