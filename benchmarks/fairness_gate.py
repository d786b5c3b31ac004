"""The fairness gate on a larger set: candidates fitted on the table's training rows and calibrated on its
validation rows (as in ``transfer_benchmark.py``'s test protocol), then applied to human texts they never
saw, given as a second feature table (e.g. every OUTFOX student essay; rows also in --table are left out):

    python benchmarks/fairness_gate.py --table data/features/lm-v2 --humans runs/fairness-outfox-table \
        --data '../shared/data/corpus/*.jsonl.gz' --candidates zeroshot,linear,cnn-res,hidden

Reports, per candidate, the share of those human texts at or above the 'ai' threshold (and the 5x band),
next to the statistics-only model, and by reading-grade quarter.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from ghostscore.training.protocols import reading_grade
from ghostscore.training.table_data import load_table_data
from transfer_benchmark import SHIPPED_CALIBRATION, run_fold  # a sibling script: same fit and calibration


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", required=True)
    ap.add_argument("--humans", required=True, help="feature table of human texts the models never saw")
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--candidates", default="zeroshot,linear,cnn-res,hidden")
    ap.add_argument("--shipped-calibration", default="linear,linear-evidence",
                    help="candidates calibrated as `ghostscore train --features-table` does (per-domain thresholds)")
    args = ap.parse_args(argv)
    SHIPPED_CALIBRATION.update(c.strip() for c in args.shipped_calibration.split(",") if c.strip())
    data = load_table_data(args.table, args.data, cache_dir=args.cache_dir, progress=False)
    humans = load_table_data(args.humans, args.data, cache_dir=args.cache_dir, progress=False)
    humans = humans.subset(((humans.rows.y == 0) & ~humans.rows.key.isin(set(data.rows.key))).to_numpy())
    tr = data.subset((data.rows.split == "train").to_numpy())
    va = data.subset((data.rows.split == "validation").to_numpy())
    grade = np.array([reading_grade(t) for t in humans.rows.text])
    q = np.quantile(grade[np.isfinite(grade)], [0.25, 0.5, 0.75])
    out = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]), "n_humans": len(humans.rows),
           "datasets": humans.rows.dataset.value_counts().to_dict(), "candidates": {}}
    for name in args.candidates.split(","):
        r = run_fold(name, tr, va, humans)
        p, op = r["p"], r["op"]
        thr, lo = op.threshold(), op.threshold(0.05)
        own = np.array([op.threshold(domain=d) for d in humans.rows.domain.fillna("other")])
        out["candidates"][name] = {
            "fpr_at_threshold": float(np.mean(p >= thr)), "share_at_5pct_threshold": float(np.mean(p >= lo)),
            "fpr_at_own_domain_threshold": float(np.mean(p >= own)),
            "mean_p": float(p.mean()), "p95": float(np.quantile(p, 0.95)),
            "plainest_quarter_fpr": float(np.mean(p[grade <= q[0]] >= thr)),
        }
        print(name, json.dumps(out["candidates"][name]), file=sys.stderr)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
