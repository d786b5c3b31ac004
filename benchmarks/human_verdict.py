"""How honest the ``human`` verdict is: the share of machine texts that still get ``human`` from a model that never
saw their generator, by generator x attack, next to the share of human texts that get it. The pooled machine bound
(at most 5% of all held-out machine scores below the cut) and the per-group bound (at most 5% within every
generator/attack group of at least 50 calibration texts: ``OperatingPoint.human_cut``) come from the same fits:

    python benchmarks/human_verdict.py --table data/features/lm-v2 \
        --data '../shared/data/corpus/*.jsonl.gz' --cache-dir cache --out runs/human_verdict

Protocols (the shipped recipe: ``hidden`` over 128 tokens, calibrated as ``ghostscore train --features-table``):
  logo   each instruction-tuned generator leaves training and validation; its texts (every split) get their
         verdicts from that fold's model, against the validation+test humans of the same datasets
  test   fit on train, calibrate on train+validation as shipped; the test split's machine texts by generator x
         attack (generators seen in training) and its human texts by domain
The verdict ``human`` is p below the band's lower edge at the guard (``OperatingPoint.band``); ``pooled`` replaces
the cut with the pooled one only. Writes results.json and results.md to --out.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ghostscore.classifiers.calibration import OperatingPoint
from ghostscore.jsonsafe import to_jsonable
from ghostscore.training.data import machine_touched_humans
from ghostscore.training.table_data import TableData, load_table_data
from ghostscore.training.table_train import machine_groups
from transfer_benchmark import SHIPPED_CALIBRATION, logo_folds, run_fold

CANDIDATE, BUDGET = "hidden", 128  # the shipped default's recipe


def human_edges(op: OperatingPoint) -> dict[str, float]:
    """Lower edge of the uncertain band (below it: ``human``) with the per-group bound and with the pooled one."""
    return {"group": op.band()[0], "pooled": op.band(by_group=False)[0]}


def shares(p: np.ndarray, edges: dict[str, float]) -> dict[str, float]:
    return {"n": int(len(p)), **{k: float(np.mean(p < e)) if len(p) else float("nan") for k, e in edges.items()}}


def by_attack(rows: pd.DataFrame, p: np.ndarray, edges: dict[str, float]) -> dict[str, dict]:
    attack = rows.attack.fillna("plain").to_numpy()
    return {str(a): shares(p[attack == a], edges) for a in sorted(set(attack))}


def protocol_logo(data: TableData, splits: dict[str, np.ndarray], min_machine: int) -> dict:
    out = {}
    written = ~np.asarray(machine_touched_humans(data.rows))  # references: human writing only
    for gen, tr, va, em in logo_folds(data, splits, min_machine):
        t0 = time.time()
        te = data.subset(em & written)
        r = run_fold(CANDIDATE, tr, va, te)
        edges, y = human_edges(r["op"]), te.rows.y.to_numpy()
        out[gen] = {"edges": edges, "machine": shares(r["p"][y == 1], edges),
                    "by_attack": by_attack(te.rows[y == 1], r["p"][y == 1], edges),
                    "humans": shares(r["p"][y == 0], edges), "seconds": round(time.time() - t0, 1)}
        print(f"  {gen}: machine called human {out[gen]['machine']['group']:.3f} (pooled bound "
              f"{out[gen]['machine']['pooled']:.3f}); humans {out[gen]['humans']['group']:.3f} "
              f"({out[gen]['humans']['pooled']:.3f}) [{out[gen]['seconds']}s]", file=sys.stderr, flush=True)
    per = list(out.values())
    summary = {k: {"machine_mean": float(np.mean([v["machine"][k] for v in per])),
                   "machine_worst": float(np.max([v["machine"][k] for v in per])),
                   "humans_mean": float(np.mean([v["humans"][k] for v in per]))} for k in ("group", "pooled")}
    return {"per_generator": out, "summary": summary}


def protocol_test(data: TableData, splits: dict[str, np.ndarray]) -> dict:
    tr, va, te = (data.subset(splits[s]) for s in ("train", "validation", "test"))
    r = run_fold(CANDIDATE, tr, va, te)
    edges, rows = human_edges(r["op"]), te.rows
    y, p = rows.y.to_numpy(), r["p"]
    written = (y == 0) & ~np.asarray(machine_touched_humans(rows))
    gen_attack = machine_groups(rows)
    dom = rows.domain.fillna("other").to_numpy()
    return {"edges": edges, "group_miss_rates_calibration": r["op"].group_miss_rates(),
            "machine": shares(p[y == 1], edges),
            "machine_by_group": {str(g): shares(p[(y == 1) & (gen_attack == g)], edges)
                                 for g in sorted(set(gen_attack[y == 1]))},
            "humans_written": shares(p[written], edges),
            "humans_by_domain": {str(d): shares(p[written & (dom == d)], edges) for d in sorted(set(dom[written]))}}


def to_markdown(res: dict) -> str:
    lines = []
    logo = res.get("logo")
    if logo:
        s = logo["summary"]
        lines += ["LOGO: share called `human` (per-group bound / pooled bound)", "",
                  "| held-out generator | machine texts | worst attack (n) | reference humans (human writing) |",
                  "|---|---|---|---|"]
        for gen, v in logo["per_generator"].items():
            worst = max(v["by_attack"].items(), key=lambda kv: kv[1]["group"])
            lines.append(f"| {gen} | {v['machine']['group']:.3f} / {v['machine']['pooled']:.3f} ({v['machine']['n']}) "
                         f"| {worst[0]} {worst[1]['group']:.3f} / {worst[1]['pooled']:.3f} ({worst[1]['n']}) "
                         f"| {v['humans']['group']:.3f} / {v['humans']['pooled']:.3f} ({v['humans']['n']}) |")
        lines.append(f"| **mean** | {s['group']['machine_mean']:.3f} / {s['pooled']['machine_mean']:.3f} | worst "
                     f"fold {s['group']['machine_worst']:.3f} / {s['pooled']['machine_worst']:.3f} | "
                     f"{s['group']['humans_mean']:.3f} / {s['pooled']['humans_mean']:.3f} |")
    test = res.get("test")
    if test:
        e = test["edges"]
        lines += ["", f"Test split (cut {e['group']:.3f} per-group / {e['pooled']:.3f} pooled): machine texts "
                  f"{test['machine']['group']:.3f} / {test['machine']['pooled']:.3f}, human writing "
                  f"{test['humans_written']['group']:.3f} / {test['humans_written']['pooled']:.3f} called `human`.",
                  "", "| test humans by domain | n | called `human` (per-group / pooled) |", "|---|---|---|"]
        for d, v in test["humans_by_domain"].items():
            lines.append(f"| {d} | {v['n']} | {v['group']:.3f} / {v['pooled']:.3f} |")
        worst = sorted(((g, v) for g, v in test["machine_by_group"].items() if v["n"] >= 20),
                       key=lambda kv: -kv[1]["pooled"])[:10]
        lines += ["", "| test machine group (>= 20 texts, worst 10 by the pooled bound) | n | called `human` |",
                  "|---|---|---|"]
        lines += [f"| {g} | {v['n']} | {v['group']:.3f} / {v['pooled']:.3f} |" for g, v in worst]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", required=True)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--protocols", default="test,logo")
    ap.add_argument("--min-machine", type=int, default=30, help="LOGO: generators with at least this many rows")
    ap.add_argument("--out", default="runs/human_verdict")
    args = ap.parse_args(argv)
    t0 = time.time()
    SHIPPED_CALIBRATION.add(CANDIDATE)
    data = load_table_data(args.table, args.data, cache_dir=args.cache_dir).with_budget(BUDGET)
    splits = {s: (data.rows["split"] == s).to_numpy() for s in ("train", "validation", "test")}
    res: dict = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
                 "machine": f"{platform.node()} {platform.processor()} 2 cores", "date": time.strftime("%Y-%m-%d")}
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in protocols:
        if name == "test":
            res["test"] = protocol_test(data, splits)
        elif name == "logo":
            res["logo"] = protocol_logo(data, splits, args.min_machine)
        else:
            ap.error(f"unknown protocol {name!r}: test, logo")
        res["seconds"] = round(time.time() - t0, 1)
        (out / "results.json").write_text(json.dumps(to_jsonable(res), indent=1))
        (out / "results.md").write_text(to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
