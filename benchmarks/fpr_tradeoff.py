"""Recall against false accusations as the target FPR moves: one fit per candidate (and per held-out generator
with --logo), every threshold rule evaluated on the same scores, so the operating point is chosen side by side:

    python benchmarks/fpr_tradeoff.py --table data/features/lm-v2 --humans data/features/humans-unseen \\
        --data '../shared/data/corpus/*.jsonl.gz' --cache-dir cache --candidates 'hidden@128:blend=0.25' \\
        --shipped-calibration hidden --fprs 0.0025,0.005,0.01,0.02 --logo

Per target FPR and rule (the guard: the strictest domain's threshold for every text; as served: the
domain-weighted threshold, calibration.py): test verdict recall and test human FPR (all human-labelled texts,
and human writing only: no machine-touched human rows), the human FPR on --humans
(texts no model saw) with its worst dataset x domain, and with --logo the mean verdict recall of held-out
generators (each fold refitted without its generator, its domain classifier too).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from fairness_gate import by_source, load_tables, table_args
from ghostscore.training.data import is_instruction_tuned, machine_touched_humans
from ghostscore.training.selection import human_reference
from ghostscore.training.table_data import TableData
from lens_features import with_lens
from transfer_benchmark import (  # sibling scripts: same fit, calibration and candidate syntax
    candidate_specs,
    parse_candidate,
    platt_all,
    run_fold,
    served_posteriors,
    served_thresholds,
)

RULES = ("guard", "served")


def thresholds(op, posteriors: list, fpr: float) -> dict[str, np.ndarray]:
    """Each rule's threshold per text at ``fpr``."""
    return {"guard": np.full(len(posteriors), op.threshold(fpr)), "served": served_thresholds(op, posteriors, fpr)}


def logo_folds(name: str, data: TableData, min_machine: int, **kw) -> list[dict]:
    """Per held-out instruction-tuned generator: its machine texts' scores, the fold's operating point and the
    texts' domain probabilities from a domain classifier that never saw the generator."""
    rows = data.rows
    split = {s: (rows.split == s).to_numpy() for s in ("train", "validation", "test")}
    folds = []
    for gen, n in sorted(rows[rows.y == 1].generator.value_counts().items()):
        if n < min_machine or not is_instruction_tuned(gen):
            continue
        gm = ((rows.y == 1) & (rows.generator == gen)).to_numpy()
        tr, va = data.subset(split["train"] & ~gm), data.subset(split["validation"] & ~gm)
        vt = rows[split["validation"] | split["test"]]
        hum = human_reference(vt, rows[gm]).reindex(rows.index, fill_value=False).to_numpy()
        te = data.subset(gm | hum)
        r = run_fold(name, tr, va, te, **kw)
        m = te.rows.y.to_numpy() == 1
        folds.append({"generator": gen, "p": r["p"][m], "op": r["op"],
                      "posteriors": served_posteriors(tr, va, te.rows.text[m])})
        print(f"  LOGO {gen}", file=sys.stderr)
    return folds


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    table_args(ap, "hidden@128:blend=0.25", "hidden,linear,linear-evidence")
    ap.add_argument("--fprs", default="0.0025,0.005,0.01,0.02", help="target human FPRs, comma-separated")
    ap.add_argument("--logo", action="store_true", help="also refit leaving each generator out (about 16 fits)")
    ap.add_argument("--min-machine", type=int, default=30)
    args = ap.parse_args(argv)
    try:
        fprs = [float(f) for f in args.fprs.split(",") if f.strip()]
    except ValueError:
        raise SystemExit(f"--fprs: expected numbers, got {args.fprs!r}") from None
    if not fprs or not all(0 < f < 1 for f in fprs):
        raise SystemExit("--fprs: each target must lie in (0, 1)")
    data, humans, lens = load_tables(args)
    tr, va, te = (data.subset((data.rows.split == s).to_numpy()) for s in ("train", "validation", "test"))
    post_te, post_h = served_posteriors(tr, va, te.rows.text), served_posteriors(tr, va, humans.rows.text)
    out = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]), "n_test": len(te.rows),
           "n_humans": len(humans.rows), "candidates": {}}
    y = te.rows.y.to_numpy()
    written = (y == 0) & ~machine_touched_humans(te.rows)  # human writing: no machine-touched human rows
    for name in candidate_specs(args.candidates):
        base, budget, kw = parse_candidate(name)
        cols = kw.pop("lens", ())
        d, parts = (data.with_budget(budget), [x.with_budget(budget) for x in (tr, va, te, humans)]) if budget \
            else (data, [tr, va, te, humans])
        d, parts = with_lens(d, lens, cols), [with_lens(x, lens, cols) for x in parts]
        r = run_fold(base, *parts[:3], **kw)
        p_h = platt_all(r, parts[3])
        folds = logo_folds(base, d, args.min_machine, **kw) if args.logo else []
        res = {}
        for fpr in fprs:
            t_te, t_h = thresholds(r["op"], post_te, fpr), thresholds(r["op"], post_h, fpr)
            row = {}
            for rule in RULES:
                flag_te, flag_h = r["p"] >= t_te[rule], p_h >= t_h[rule]
                src = by_source(humans.rows.reset_index(drop=True), {"fpr": flag_h})
                worst = max(src.items(), key=lambda kv: kv[1]["fpr"]) if src else None
                row[rule] = {"test_recall": float(flag_te[y == 1].mean()),
                             "test_human_fpr": float(flag_te[y == 0].mean()),
                             "test_human_fpr_written": float(flag_te[written].mean()),
                             "unseen_human_fpr": float(flag_h.mean()),
                             "worst_source": [worst[0], worst[1]["n"], worst[1]["fpr"]] if worst else None}
                if folds:
                    rec = [np.mean(f["p"] >= thresholds(f["op"], f["posteriors"], fpr)[rule]) for f in folds]
                    row[rule]["logo_recall"] = float(np.mean(rec))
                    row[rule]["logo_recall_per_generator"] = {
                        f["generator"]: float(x) for f, x in zip(folds, rec, strict=True)}
            res[str(fpr)] = row
            print(name, fpr, json.dumps({k: {a: b for a, b in v.items() if a != "logo_recall_per_generator"}
                                         for k, v in row.items()}), file=sys.stderr)
        out["candidates"][name] = res
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
