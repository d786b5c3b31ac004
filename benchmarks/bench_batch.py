"""Throughput of `ghostscore batch` on N news texts read from a labeled corpus (never stored in the repo).

    python benchmarks/bench_batch.py --data '../shared/data/corpus/*.jsonl.gz' --n 1000 --no-lm
    python benchmarks/bench_batch.py --data '../shared/data/corpus/*.jsonl.gz' --n 60 --min-words 450 \
        --max-words 550                                  # full model, ~500-word articles

Runs the real CLI in a subprocess (model load included, reported separately from the steady rate).
``--models default,linear`` scores the same texts with each model in turn, in one run (side by side).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--domain", default="news")
    ap.add_argument("--min-words", type=int, default=150)
    ap.add_argument("--max-words", type=int, default=800)
    ap.add_argument("--no-lm", action="store_true")
    ap.add_argument("--explain", action="store_true", help="also run MiniLM restatement evidence")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--models", default="", help="comma-separated models to compare (default: the shipped one)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    paths = sorted(p for pat in args.data for p in glob.glob(pat))
    df = pd.concat([pd.read_json(p, lines=True) for p in paths], ignore_index=True)
    words = df.text.str.split().str.len()
    df = df[(df.domain == args.domain) & (df.lang == "en") & words.between(args.min_words, args.max_words)]
    df = df.sample(min(args.n, len(df)), random_state=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "in.jsonl"
        inp.write_text("\n".join(json.dumps({"id": r.id, "text": r.text}) for r in df.itertuples()) + "\n")
        one = Path(tmp) / "one.jsonl"
        one.write_text(inp.read_text().splitlines()[0] + "\n")
        results = []
        for model in [m for m in args.models.split(",") if m] or [None]:
            results.append(run_one(args, model, inp, one, Path(tmp), len(df), int(words.loc[df.index].median())))
    print(json.dumps(results if len(results) > 1 else results[0], indent=1))


def run_one(args, model: str | None, inp: Path, one: Path, tmp: Path, n: int, median_words: int) -> dict:
    out = tmp / "out.jsonl"
    opts = ["--workers", str(args.workers), "--no-progress"] + (["--no-lm"] if args.no_lm else []) + (
        ["--explain"] if args.explain else []) + (["--model", model] if model else [])
    exe = str(Path(sys.executable).with_name("ghostscore"))
    # the model load is measured on its own: score one record first
    t0 = time.time()
    subprocess.run([exe, "batch", str(one), "-o", str(tmp / "one_out.jsonl"), *opts], check=True,
                   capture_output=True)
    load_s = time.time() - t0
    t0 = time.time()
    proc = subprocess.run([exe, "batch", str(inp), "-o", str(out), *opts], check=True, capture_output=True,
                          text=True)
    total = time.time() - t0
    n_out = sum(1 for _ in out.open())
    rate = n / max(1e-9, total - load_s)
    return {
        "model": model or "shipped default", "texts": n, "outputs": n_out, "median_words": median_words,
        "no_lm": args.no_lm, "explain": args.explain, "workers": args.workers, "wall_s": round(total, 1),
        "one_record_run_s (load + 1 text)": round(load_s, 1),
        "texts_per_s_excluding_load": round(rate, 2), "texts_per_s_including_load": round(n / total, 2),
        "cpus": os.cpu_count(), "summary": proc.stderr.strip().splitlines()[-3:],
    }

if __name__ == "__main__":
    main()
