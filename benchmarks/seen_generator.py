"""A generator the model has seen, in a genre it has not: how well each candidate learns the newest generators
(``candidates.CURRENT_GENERATORS``, the 2026 model) from their texts in training. LOGO answers "a generator never
seen"; a user hunting today's content farms also asks "the generator we trained on, writing about something else".

    python benchmarks/seen_generator.py --table data/features/lm-v2 --data '../shared/data/corpus/*.jsonl.gz' \
        --cache-dir cache --candidates 'hidden@128;hidden@128:current=3' --out runs/seen

For each such generator and each domain where it has at least --min-rows train+validation machine texts and the
table at least --min-rows validation+test human texts: that generator's texts of that domain leave training and
validation (its other genres stay). The fold's model is fitted as in ``transfer_benchmark.py`` (its calibration
and candidate syntax, ``--shipped-calibration`` included) and tested on those texts against the domain's
validation+test humans. Reports AUROC against all of them and against human writing only, AUROC of the generator's
attacked texts (told to sound human, humanizer rewrites) alone, and verdict recall as served. Writes
results.json and results.md to --out.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from ghostscore.training import metrics
from ghostscore.training.candidates import CURRENT_GENERATORS
from ghostscore.training.table_data import TableData, load_table_data
from transfer_benchmark import (  # a sibling script: same fit, calibration and candidate syntax
    SHIPPED_CALIBRATION,
    candidate_specs,
    parse_candidate,
    run_fold,
    scores,
    served_posteriors,
    served_thresholds,
    write_results,
)


def genre_folds(data: TableData, generator: str, min_rows: int = 15):
    """(domain, training mask, validation mask, test mask): the generator's train+validation texts of one domain out
    of training and validation; tested on them against that domain's validation+test humans."""
    rows = data.rows
    split, dom = rows.split.to_numpy(), rows.domain.fillna("other").to_numpy()
    seen = ((rows.y == 1) & (rows.generator == generator)).to_numpy() & np.isin(split, ["train", "validation"])
    humans = (rows.y == 0).to_numpy() & np.isin(split, ["validation", "test"])
    for d in sorted(set(dom[seen])):
        out, ref = seen & (dom == d), humans & (dom == d)
        if out.sum() >= min_rows and ref.sum() >= min_rows:
            yield d, (split == "train") & ~out, (split == "validation") & ~out, out | ref


def protocol_seen(name: str, data: TableData, generator: str, min_rows: int = 15, **kw) -> dict:
    """Per held-out genre of ``generator``: ``scores`` (AUROC, AUROC against human writing, recall at the guard),
    AUROC of its attacked texts alone (``auroc_attacked``) and recall as served; their means over genres."""
    out = {}
    for d, tr_m, va_m, te_m in genre_folds(data, generator, min_rows):
        tr, va, te = data.subset(tr_m), data.subset(va_m), data.subset(te_m)
        r = run_fold(name, tr, va, te, **kw)
        y = te.rows.y.to_numpy()
        out[d] = scores(y, r["p"], r["threshold"], te.rows)
        attacked = (y == 1) & te.rows.attack.notna().to_numpy()
        if attacked.sum() >= 5:
            keep = attacked | (y == 0)
            out[d].update(n_attacked=int(attacked.sum()), auroc_attacked=metrics.auroc(y[keep], r["p"][keep]))
        m = y == 1
        served = served_thresholds(r["op"], served_posteriors(tr, va, te.rows.text[m]))
        out[d]["recall_served"] = float(np.mean(r["p"][m] >= served))
    res: dict = {"per_domain": out}
    for k in ("auroc", "auroc_written", "auroc_attacked", "recall_served"):
        vals = [v[k] for v in out.values() if k in v]
        res[f"mean_{k}"] = float(np.mean(vals)) if vals else math.nan
    return res


def to_markdown(res: dict) -> str:
    lines = []
    for gen, by_candidate in res["generators"].items():
        domains = sorted({d for r in by_candidate.values() for d in r["per_domain"]})
        lines += [f"{gen}, one genre held out: AUROC / against human writing / its attacked texts / recall as served",
                  "", "| candidate | mean | " + " | ".join(domains) + " |", "|---" * (len(domains) + 2) + "|"]
        for name, r in by_candidate.items():
            def cell(v: dict) -> str:
                return " / ".join("-" if math.isnan(x) else f"{x:.3f}" for x in
                                  (v.get("auroc", math.nan), v.get("auroc_written", math.nan),
                                   v.get("auroc_attacked", math.nan), v.get("recall_served", math.nan)))
            mean = {k: r[f"mean_{k}"] for k in ("auroc", "auroc_written", "auroc_attacked", "recall_served")}
            lines.append(f"| {name} | {cell(mean)} | " + " | ".join(
                f"{cell(r['per_domain'][d])} (n={r['per_domain'][d]['n_machine']})" if d in r["per_domain"] else "-"
                for d in domains) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", required=True)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--candidates", default="hidden@128", help="as in transfer_benchmark.py")
    ap.add_argument("--shipped-calibration", default="",
                    help="candidates calibrated as `ghostscore train --features-table` does (slower)")
    ap.add_argument("--generators", default=",".join(CURRENT_GENERATORS))
    ap.add_argument("--min-rows", type=int, default=15)
    ap.add_argument("--out", default="runs/seen")
    args = ap.parse_args(argv)
    SHIPPED_CALIBRATION.update(c.strip() for c in args.shipped_calibration.split(",") if c.strip())
    data = load_table_data(args.table, args.data, cache_dir=args.cache_dir)
    res: dict = {"command": "python " + " ".join(sys.argv), "date": time.strftime("%Y-%m-%d"), "generators": {}}
    for gen in (g.strip() for g in args.generators.split(",") if g.strip()):
        res["generators"][gen] = {}
        for spec in candidate_specs(args.candidates):
            base, budget, kw = parse_candidate(spec)
            t0 = time.time()
            r = protocol_seen(base, data.with_budget(budget) if budget else data, gen, args.min_rows, **kw)
            r["seconds"] = round(time.time() - t0, 1)
            if not r["per_domain"]:
                print(f"{gen}: no genre with {args.min_rows} of its train+validation texts and {args.min_rows} "
                      "validation+test humans (check --generators and --min-rows)", file=sys.stderr)
            res["generators"][gen][spec] = r
            print(f"{gen} {spec}: mean AUROC {r['mean_auroc']:.4f} ({r['seconds']}s)", file=sys.stderr)
            write_results(args.out, res, to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
