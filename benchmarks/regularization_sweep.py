"""Leave-one-generator-out AUROC of one candidate across values of one recipe parameter: how the recipe's ``C``
(L2 strength) and ``blend`` (zero-shot share of the hidden head) were chosen.

    python benchmarks/regularization_sweep.py --table data/features/lm-v2 --data '../shared/data/corpus/*.jsonl.gz' \\
        --cache-dir cache --candidate hidden --budget 128 --C 0.05,0.01,0.001,0.0001
    python benchmarks/regularization_sweep.py ... --candidate hidden --budget 128 --param blend --values 0,0.5,1
    python benchmarks/regularization_sweep.py ... --candidate hidden --budget 128 --param layers --values 15,18,18+24

Selection by held-out generators only (the test split is not read). AUROC does not depend on calibration, so the
folds use the plain validation Platt fit unless ``--shipped-calibration`` (then the recall column is the shipped
verdict's: stronger regularization can raise AUROC and still lower recall at a 1% FPR threshold).
"""

from __future__ import annotations

import argparse
import json
import time

from ghostscore.errors import InputError
from ghostscore.training.candidates import parse_layers
from ghostscore.training.table_data import load_table_data
from transfer_benchmark import MODERN, SHIPPED_CALIBRATION, key_values, protocol_logo


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", required=True)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--candidate", default="hidden")
    ap.add_argument("--budget", type=int, default=None, help="token budget (default: the table's)")
    ap.add_argument("--C", default="0.05,0.01,0.001,0.0001", help="comma-separated inverse L2 strengths")
    ap.add_argument("--param", default="C", help="the recipe keyword to sweep (C, blend, tail, layers)")
    ap.add_argument("--values", default=None, help="comma-separated values of --param (default: --C)")
    ap.add_argument("--fixed", nargs="*", default=[], metavar="KEY=VALUE",
                    help="other recipe keywords held fixed across the sweep, e.g. blend=0.5")
    ap.add_argument("--shipped-calibration", action="store_true",
                    help="calibrate and set thresholds as `ghostscore train --features-table` does (slower), so the "
                         "recall column is the shipped verdict's")
    args = ap.parse_args(argv)
    fixed = key_values(",".join(args.fixed))
    try:
        raw = (args.values or args.C).split(",")
        # layers: each value one layer list, "18+24" (pooled sets built by pool_hidden.py --layers)
        values = [parse_layers(x) if args.param == "layers" else float(x) for x in raw]
    except (ValueError, InputError):
        ap.error(f"--values/--C: expected comma-separated numbers, got {args.values or args.C!r}")
    if args.shipped_calibration:
        SHIPPED_CALIBRATION.add(args.candidate)
    data = load_table_data(args.table, args.data, cache_dir=args.cache_dir, progress=False)
    if args.budget:
        data = data.with_budget(args.budget)
    splits = {s: (data.rows["split"] == s).to_numpy() for s in ("train", "validation", "test")}
    for c in values:
        t0 = time.time()
        r = protocol_logo(args.candidate, data, splits, **fixed, **{args.param: c})
        shown = "+".join(map(str, c)) if isinstance(c, tuple) else c
        print(json.dumps({"candidate": args.candidate, "budget": args.budget, **fixed, args.param: shown,
                          "logo_mean": round(r["mean_auroc"], 4),
                          "logo_mean_solid": round(r["mean_auroc_solid"], 4),
                          "logo_modern": round(r["mean_auroc_modern"], 4),
                          "logo_per_set": round(r["mean_auroc_per_set"], 4), "logo_min": round(r["min_auroc"], 4),
                          "logo_recall": round(r["mean_recall_at_threshold"], 4),
                          "logo_recall_own_domain": round(r["mean_recall_own_domain"], 4),
                          "logo_modern_by_generator": {g: round(v["auroc"], 4) for g, v in r["per_generator"].items()
                                                       if g in MODERN and "auroc" in v},
                          "seconds": round(time.time() - t0)}), flush=True)


if __name__ == "__main__":
    main()
