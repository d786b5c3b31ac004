"""Ablation of the four model families on the same splits, in one run, with leave-one-generator-out.

    python training/fused_benchmark.py --data '../shared/data/corpus/*.jsonl.gz' --cap 4 \
        --logo gpt-3.5-turbo,claude-instant-1.2,llama-2-70b-chat,palm-text-bison-002 --out runs/fused

Variants: features only (linear, no LM), LM features only (linear), encoder only (fine-tuned MiniLM,
no features), fused (fine-tuned MiniLM + all features). The lower MiniLM layers run once per chunk
and are shared by every fold (see ``fused_train``). With ``--save-model DIR`` the fused model fitted on
the whole training sample is saved (calibrated on validation) for shipping.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from ghostscore import metrics
from ghostscore.classifier import fit_scaler, standardize
from ghostscore.data import is_instruction_tuned
from ghostscore.document import Document
from ghostscore.evaluate import _jsonable, human_reference, per_group_table
from ghostscore.fused_train import FrozenBottom, export_fused, fit_fused, fused_card, predict_logits
from ghostscore.train import calibrate_logits, feature_ranges, fit_linear, model_feature_names

sys.path.insert(0, str(Path(__file__).parent))
from benchmark import featurize, load_splits  # noqa: E402

ARCH = {"tuned_layers": 2, "lora_rank": 8, "lora_alpha": 16.0, "head_hidden": 32, "max_len": 256,
        "max_chunks": 8, "train_chunks": 2}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--extractors", default="redundancy,phrasing,bio,style,lm")
    ap.add_argument("--cap", type=int, default=4)
    ap.add_argument("--test-cap", type=int, default=None)
    ap.add_argument("--human-factor", type=float, default=5.0)
    ap.add_argument("--base-model-factor", type=float, default=0.5)
    ap.add_argument("--C", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--logo-epochs", type=int, default=1)
    ap.add_argument("--logo", default="gpt-3.5-turbo,claude-instant-1.2,llama-2-70b-chat,palm-text-bison-002")
    ap.add_argument("--variants", default="features,lm,encoder,fused")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--save-model", default=None)
    ap.add_argument("--out", default="runs/fused")
    args = ap.parse_args(argv)
    t_start = time.time()
    extractors = [e.strip() for e in args.extractors.split(",") if e.strip()]
    names = model_feature_names(extractors)
    frames = load_splits(args)
    F = featurize(frames, extractors, args.cache_dir)
    tr, va, te = frames["train"], frames["validation"], frames["test"]
    X = {s: F[s].reindex(columns=names).to_numpy(float) for s in F}
    mean, std = fit_scaler(X["train"])
    Z = {s: standardize(X[s], mean, std) for s in X}
    y = {"train": tr.y.to_numpy(), "validation": va.y.to_numpy(), "test": te.y.to_numpy()}
    variants = args.variants.split(",")
    bottom = caches = None
    if {"encoder", "fused"} & set(variants):
        bottom = FrozenBottom(tuned_layers=ARCH["tuned_layers"], max_len=ARCH["max_len"], seed=args.seed)
        flat = {s: [Document.from_text(t).flat_text for t in frames[s].text] for s in frames}
        caches = {
            "train": bottom.encode(flat["train"], max_chunks=ARCH["train_chunks"], desc="train-bottom"),
            "validation": bottom.encode(flat["validation"], max_chunks=ARCH["max_chunks"], desc="val-bottom"),
            "test": bottom.encode(flat["test"], max_chunks=ARCH["max_chunks"], desc="test-bottom"),
        }
        print(f"bottom caches ready after {time.time() - t_start:.0f}s", file=sys.stderr)

    lm_cols = [i for i, n in enumerate(names) if n.startswith("lm_")]
    feat_cols = [i for i, n in enumerate(names) if not n.startswith("lm_")]

    def run(variant, tmask, vmask, emask, epochs):
        """Fit on train[tmask], calibrate on validation[vmask], return test probabilities on test[emask]."""
        if variant in ("features", "lm"):
            cols = feat_cols if variant == "features" else lm_cols
            sub = [names[i] for i in cols]
            m = fit_linear(X["train"][tmask][:, cols], y["train"][tmask], feature_names=sub, extractors=extractors,
                           C=args.C, seed=args.seed)
            cal, op = calibrate_logits(m.logit(X["validation"][vmask][:, cols]), y["validation"][vmask])
            lt = m.logit(X["test"][emask][:, cols])
            return 1 / (1 + np.exp(-(cal[0] * lt + cal[1]))), op, None
        use_features = variant == "fused"
        layers, head, wrappers = fit_fused(
            bottom=bottom, train_cache=caches["train"], Z_train=Z["train"], y_train=y["train"],
            use_features=use_features, rank=ARCH["lora_rank"], alpha=ARCH["lora_alpha"],
            head_hidden=ARCH["head_hidden"], epochs=epochs, seed=args.seed, train_ids=np.flatnonzero(tmask),
            log=lambda m: print(f"[{variant}] {m}", file=sys.stderr),
        )
        lv = predict_logits(bottom, layers, head, caches["validation"], Z["validation"], use_features=use_features,
                            doc_ids=np.flatnonzero(vmask))
        cal, op = calibrate_logits(lv, y["validation"][vmask])
        lt = predict_logits(bottom, layers, head, caches["test"], Z["test"], use_features=use_features,
                            doc_ids=np.flatnonzero(emask))
        return 1 / (1 + np.exp(-(cal[0] * lt + cal[1]))), op, (layers, head, wrappers, cal)

    res: dict = {"command": "python " + " ".join(sys.argv), "date": time.strftime("%Y-%m-%d"),
                 "sizes": {s: int(len(frames[s])) for s in frames}, "arch": ARCH, "variants": {}}
    all_t = np.ones(len(tr), bool)
    all_v = np.ones(len(va), bool)
    all_e = np.ones(len(te), bool)
    for variant in variants:
        t0 = time.time()
        p, op, extra = run(variant, all_t, all_v, all_e, args.epochs)
        thr = op.threshold()
        entry = {"test": metrics.summary(y["test"], p, thr), "per_group": per_group_table(te, p, thr), "logo": {}}
        for gen in [g for g in args.logo.split(",") if g]:
            gm = (te.y == 1) & (te.generator == gen)
            if gm.sum() < 10:
                continue
            emask = (gm | human_reference(te, te[gm])).to_numpy()
            tmask = ~((tr.y == 1) & (tr.generator == gen)).to_numpy()
            vmask = ~((va.y == 1) & (va.generator == gen)).to_numpy()
            pg, opg, _ = run(variant, tmask, vmask, emask, args.logo_epochs)
            entry["logo"][gen] = {"auroc": metrics.auroc(y["test"][emask], pg),
                                  "tpr_at_1fpr": metrics.tpr_at_fpr(y["test"][emask], pg, 0.01),
                                  "n_machine": int(gm.sum())}
        vals = [v["auroc"] for g, v in entry["logo"].items() if is_instruction_tuned(g)]
        entry["logo_mean"] = float(np.mean(vals)) if vals else math.nan
        entry["seconds"] = round(time.time() - t0)
        res["variants"][variant] = entry
        print(f"{variant}: test AUROC {entry['test']['auroc']:.4f} LOGO mean {entry['logo_mean']:.4f} "
              f"({entry['seconds']}s)", file=sys.stderr)
        if variant == "fused" and args.save_model and extra is not None:
            layers, head, wrappers, cal = extra
            model = export_fused(name=Path(args.save_model).name, feature_names=names, extractors=extractors,
                                 mean=mean, scale=std, bottom=bottom, head=head, wrappers=wrappers, arch=ARCH)
            model.calibration, model.operating_point = cal, op
            lv = predict_logits(bottom, layers, head, caches["validation"], Z["validation"])
            pv = 1 / (1 + np.exp(-(cal[0] * lv + cal[1])))
            model.metrics = {"validation": metrics.summary(y["validation"], pv, thr),
                             "test": entry["test"]}
            model.meta = {"config": {"data": args.data, "max_per_stratum": args.cap, "seed": args.seed,
                                     "human_factor": args.human_factor, "epochs": args.epochs},
                          "n_train": int(len(tr)), "n_validation": int(len(va)),
                          "feature_ranges": feature_ranges(F["train"].reindex(columns=names), y["train"])}
            model.save(args.save_model, card=fused_card(model))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(_jsonable(res), indent=1))
    lines = [f"Command: `{res['command']}`  ", f"Date: {res['date']}; rows {res['sizes']}", "",
             "| model | test AUROC | TPR@1%FPR | human FPR@thr | ECE | LOGO mean AUROC (" +
             ", ".join(g for g in args.logo.split(",")) + ") |", "|---|---|---|---|---|---|"]
    for v, e in res["variants"].items():
        t = e["test"]
        lines.append(f"| {v} | {t['auroc']:.4f} | {t['tpr_at_1fpr']:.3f} | {t['human_fpr_at_threshold']:.3f} | "
                     f"{t['ece']:.3f} | {e['logo_mean']:.4f} |")
    lines += ["", "| model | " + " | ".join(args.logo.split(",")) + " |",
              "|---|" + "---|" * len(args.logo.split(","))]
    for v, e in res["variants"].items():
        lines.append(f"| {v} | " + " | ".join(
            f"{e['logo'].get(g, {}).get('auroc', float('nan')):.4f}" for g in args.logo.split(",")) + " |")
    md = "\n".join(lines) + "\n"
    (out / "results.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
