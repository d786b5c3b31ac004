"""The fairness gate on a larger set: candidates fitted on the table's training rows and calibrated on its
validation rows (as in ``transfer_benchmark.py``'s test protocol), then applied to human texts they never
saw, given as a second feature table (e.g. every OUTFOX student essay; rows also in --table are left out):

    python benchmarks/fairness_gate.py --table data/features/lm-v2 --humans data/features/humans-outfox \
        --data '../shared/data/corpus/*.jsonl.gz' --candidates zeroshot,linear,cnn-res,hidden

Reports, per candidate, the share of those human texts at or above the 'ai' threshold (the strictest domain's;
as served, i.e. the domain-weighted one; and the true domain's), the 5x
band, the plainest quarter by reading grade, and each dataset x domain. Candidates as NAME@K read the first K
tokens. Human texts from every source no model saw (validation/test rows outside the table):

    python benchmarks/build_feature_table.py --data '../shared/data/corpus/*.jsonl.gz' \
        --out data/features/humans-unseen --unseen-humans data/features/lm-v2 --cap 60
    python benchmarks/fairness_gate.py --table data/features/lm-v2 --humans data/features/humans-unseen \
        --data '../shared/data/corpus/*.jsonl.gz' --candidates zeroshot,linear-evidence@128,linear,hidden \
        --shipped-calibration linear,linear-evidence,hidden
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pandas as pd

from ghostscore.training.protocols import reading_grade
from ghostscore.training.table_data import TableData, load_table_data
from lens_features import covered, read_lens, with_lens
from transfer_benchmark import (  # a sibling script: same fit, calibration and candidate syntax
    SHIPPED_CALIBRATION,
    candidate_specs,
    parse_candidate,
    run_fold,
    served_posteriors,
    served_thresholds,
)


def by_source(rows, flags: dict, min_rows: int = 15) -> dict:
    """Flagged share per dataset x domain under each thresholding in ``flags`` (name -> boolean per row), so one
    source or genre of human writing cannot hide inside the pooled rate."""
    out = {}
    for (ds, dom), g in rows.groupby(["dataset", rows.domain.fillna("other")]):
        if len(g) >= min_rows:
            idx = g.index.to_numpy()
            out[f"{ds}/{dom}"] = {"n": len(g), **{k: float(np.mean(f[idx])) for k, f in flags.items()}}
    return out


def table_args(ap: argparse.ArgumentParser, candidates: str, shipped: str) -> None:
    """The arguments every human-side gate takes: the training table, the unseen humans, candidates."""
    ap.add_argument("--table", required=True)
    ap.add_argument("--humans", required=True, help="feature table of human texts the models never saw")
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--candidates", default=candidates,
                    help="comma-separated; NAME@K scores the candidate on the first K tokens; NAME@K:key=value "
                         "sets recipe keywords (then separate candidates with ';')")
    ap.add_argument("--shipped-calibration", default=shipped,
                    help="candidates calibrated as `ghostscore train --features-table` does (per-domain thresholds)")
    ap.add_argument("--lens", type=int, default=None, metavar="K",
                    help="join the logit-lens statistics over K tokens stored beside both tables (lens_features.py); "
                         "rows without them are left out; candidates read them with lens=...")


def load_tables(args: argparse.Namespace) -> tuple[TableData, TableData, pd.DataFrame]:
    """The training table, the human texts of --humans that it does not hold, and the lens statistics of both
    (empty without --lens; then only rows they cover are kept). Registers the shipped-calibration candidates."""
    SHIPPED_CALIBRATION.update(c.strip() for c in args.shipped_calibration.split(",") if c.strip())
    data = load_table_data(args.table, args.data, cache_dir=args.cache_dir, progress=False)
    humans = load_table_data(args.humans, args.data, cache_dir=args.cache_dir, progress=False)
    humans = humans.subset(((humans.rows.y == 0) & ~humans.rows.key.isin(set(data.rows.key))).to_numpy())
    lens = lens_frame(args)
    if getattr(args, "lens", None):
        data, humans = data.subset(covered(data, lens)), humans.subset(covered(humans, lens))
    return data, humans, lens


def lens_frame(args: argparse.Namespace) -> pd.DataFrame:
    """The lens statistics stored beside --table and --humans, one frame (empty without --lens)."""
    if not getattr(args, "lens", None):
        return pd.DataFrame({"key": []})
    frames = [read_lens(t, args.lens) for t in (args.table, args.humans)]
    if any(f.empty for f in frames):
        raise SystemExit(f"--lens {args.lens}: nothing stored beside one of {args.table}, {args.humans} "
                         "(run benchmarks/lens_features.py)")
    return pd.concat(frames, ignore_index=True).drop_duplicates("key")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    table_args(ap, "zeroshot,linear,cnn-res,hidden", "linear,linear-evidence")
    args = ap.parse_args(argv)
    data, humans, lens = load_tables(args)
    tr = data.subset((data.rows.split == "train").to_numpy())
    va = data.subset((data.rows.split == "validation").to_numpy())
    grade = np.array([reading_grade(t) for t in humans.rows.text])
    # as the Detector applies it: the domain-weighted threshold, with the domain classifier fitted on the
    # training rows; "own domain" uses the true domain (worst case)
    posteriors = served_posteriors(tr, va, humans.rows.text)
    q = np.quantile(grade[np.isfinite(grade)], [0.25, 0.5, 0.75])
    out = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]), "n_humans": len(humans.rows),
           "datasets": humans.rows.dataset.value_counts().to_dict(), "candidates": {}}
    for name in candidate_specs(args.candidates):
        base, budget, kw = parse_candidate(name)  # NAME@K[:key=value]: the candidate on the first K tokens
        cols = kw.pop("lens", ())
        parts = [with_lens(d.with_budget(budget) if budget else d, lens, cols) for d in (tr, va, humans)]
        r = run_fold(base, *parts, **kw)
        p, op = r["p"], r["op"]
        thr, lo = op.threshold(), op.threshold(0.05)
        own = np.array([op.threshold(domain=d) for d in humans.rows.domain.fillna("other")])
        served = served_thresholds(op, posteriors)
        out["candidates"][name] = {
            "fpr_at_threshold": float(np.mean(p >= thr)), "share_at_5pct_threshold": float(np.mean(p >= lo)),
            "fpr_at_own_domain_threshold": float(np.mean(p >= own)),
            "fpr_as_served": float(np.mean(p >= served)),
            "mean_p": float(p.mean()), "p95": float(np.quantile(p, 0.95)),
            "plainest_quarter_fpr": float(np.mean(p[grade <= q[0]] >= thr)),
            "plainest_quarter_fpr_as_served": float(np.mean((p >= served)[grade <= q[0]])),
            "by_source": by_source(humans.rows, {"fpr": p >= thr, "fpr_as_served": p >= served,
                                                 "fpr_own_domain": p >= own}),
        }
        print(name, json.dumps(out["candidates"][name]), file=sys.stderr)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
