"""LM pass speed and peak memory by tokens per ONNX run (``LMScorer.max_batch_tokens``), each setting in its own
process (ORT's arena keeps the largest intermediate it ever held, so RSS must be measured per process):

    python benchmarks/bench_lm_batch.py --data ../shared/data/corpus/iu-news.jsonl.gz --sizes 128,256,1024

Scores the first ``--max-tokens`` tokens of N news articles of 400-600 words, as the default model does;
rounds interleave the settings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CODE = r"""
import gzip, json, resource, sys, time
from ghostscore.backbones.language_model import load_scorer
path, n, size, max_tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
texts = []
opener = gzip.open if path.endswith(".gz") else open
for line in opener(path, "rt"):
    r = json.loads(line)
    if 400 < len(r["text"].split()) < 600:
        texts.append(r["text"])
    if len(texts) >= n:
        break
sc = load_scorer(threads=2)
sc.max_batch_tokens = size
sc.score_tokens(texts[:4], max_tokens=max_tokens)
a = time.perf_counter()
sc.score_tokens(texts, max_tokens=max_tokens)
s = time.perf_counter() - a
print(json.dumps({"tokens_per_run": size, "articles_per_s": round(len(texts) / s, 2),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="one JSONL(.gz) file with a 'text' field")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--sizes", default="128,256,1024")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    out: dict[int, list[dict]] = {}
    for _ in range(args.rounds):
        for size in (int(s) for s in args.sizes.split(",")):
            res = subprocess.run([sys.executable, "-c", CODE, args.data, str(args.n), str(size), str(args.max_tokens)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            out.setdefault(size, []).append(r)
            print(json.dumps(r), flush=True)
    print(json.dumps({str(k): v for k, v in out.items()}, indent=1))


if __name__ == "__main__":
    main()
