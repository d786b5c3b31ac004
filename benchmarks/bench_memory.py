"""Peak and steady memory of `ghostscore batch` over a long run: is RSS flat in the batch length?

    python benchmarks/bench_memory.py --data '../shared/data/corpus/*.jsonl.gz' --n 400

Writes N human news records (real texts of the labeled corpus; never stored in the repo)
to a temporary JSONL file, runs the real CLI on it in a subprocess, and samples the process's resident set
(VmRSS) twice a second next to the number of output lines written. Reports RSS once the first record is
out (model loaded), at each quarter of the run, the maximum (VmHWM) and the end, plus articles/s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from profile_stages import articles  # a sibling script: English human news of the given length


def status_mb(pid: int, key: str) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--model", default="default")
    ap.add_argument("--min-words", type=int, default=300)
    ap.add_argument("--max-words", type=int, default=800)
    ap.add_argument("--chunk-size", type=int, default=16,
                    help="batch --chunk-size: records per write, so progress can be sampled (default 16)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    texts = articles(args.data, args.n, args.min_words, args.max_words, args.seed)
    tmp = Path(tempfile.mkdtemp())
    src, dst = tmp / "in.jsonl", tmp / "out.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    cmd = [sys.executable, "-m", "ghostscore.cli", "batch", str(src), "-o", str(dst), "--model", args.model,
           "--no-progress", "--chunk-size", str(args.chunk_size)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples: list[tuple[float, int, float]] = []  # (seconds, records out, RSS MB)
    hwm = None
    while proc.poll() is None:
        rss = status_mb(proc.pid, "VmRSS")
        hwm = status_mb(proc.pid, "VmHWM") or hwm
        if rss is not None:
            samples.append((round(time.monotonic() - t0, 1), lines(dst), round(rss, 1)))
        time.sleep(0.5)
    wall = time.monotonic() - t0
    if proc.returncode:
        sys.exit(f"batch failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    loaded = next((s for s in samples if s[1] >= 1), samples[-1])

    def at(frac: float) -> float | None:
        hit = [s for s in samples if s[1] >= frac * len(texts)]
        return hit[0][2] if hit else None

    steady = [s for s in samples if s[1] >= 1]
    rate = ((steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])
            if len(steady) > 1 and steady[-1][0] > steady[0][0] else None)
    res = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]), "date": time.strftime("%Y-%m-%d"),
           "model": args.model, "n": len(texts), "median_words": int(pd.Series(texts).str.split().str.len().median()),
           "wall_s": round(wall, 1), "first_record_s": loaded[0], "articles_per_s_after_first": rate,
           "rss_mb": {"first_record": loaded[2], "25%": at(0.25), "50%": at(0.5), "75%": at(0.75),
                      "end": samples[-1][2] if samples else None, "peak_vmhwm": hwm},
           "records_out": lines(dst)}
    print(json.dumps(res, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({**res, "series": samples}, indent=1))


if __name__ == "__main__":
    main()
