"""Ablation of the model families on the same splits, in one run: test split, leave-one-generator-out and
leave-one-domain-out, with the same sampling, sign-consistency filter and per-domain guard as benchmark.py.

    python benchmarks/fused_benchmark.py --data '../shared/data/corpus/*.jsonl.gz' --cap 2 --cache-dir cache \\
        --sign-consistent lm --save-model runs/fused-model --out runs/fused

Variants (``--variants``):
  features    linear on the non-LM features (phrasing, bio, ...)
  lm          linear on the LM features only
  linear      linear on all features (the shipped linear recipe)
  encoder     fine-tuned MiniLM (LoRA on the top layers), no features
  fused       fine-tuned MiniLM + all features, starting from the linear model of the same fold: its skip path
              is that linear model, frozen, and the encoder learns a correction (``fit_fused(init_linear=)``)
  fused-cold  the same network trained from scratch (the earlier recipe)
The lower MiniLM layers run once per chunk and are shared by every fold (see ``fused_train``). Neural folds
train ``--fold-epochs`` epochs (the full fit ``--epochs``) to keep a run near an hour on two cores.
With ``--save-model DIR`` the fused model fitted on the whole training sample is saved, calibrated on
validation with the per-domain guard, its test / LOGO / LODO figures in its metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ghostscore.classifiers.calibration import OperatingPoint
from ghostscore.document import Document
from ghostscore.jsonsafe import to_jsonable
from ghostscore.training import metrics
from ghostscore.training import protocols as bench
from ghostscore.training.config import model_feature_names, parse_generator_factors
from ghostscore.training.evaluate import per_group_table
from ghostscore.training.fused import FUSED_ARCH as ARCH
from ghostscore.training.fused import FrozenBottom, export_fused, fit_fused, fused_card, predict_logits
from ghostscore.training.linear import calibrate_logits, feature_ranges

NEURAL = ("encoder", "fused", "fused-cold")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


class Runner:
    """Fits one variant on given train/validation masks and returns test probabilities and the threshold."""

    def __init__(self, args, frames, F, names, extractors) -> None:
        self.args, self.frames, self.F, self.names, self.extractors = args, frames, F, names, extractors
        self.y = {s: frames[s].y.to_numpy() for s in frames}
        self.bottom = self.caches = None

    def ensure_bottom(self) -> None:
        if self.bottom is not None:
            return
        t0 = time.time()
        self.bottom = FrozenBottom(tuned_layers=ARCH["tuned_layers"], max_len=ARCH["max_len"], seed=self.args.seed)
        flat = {s: [Document.from_text(t).flat_text for t in self.frames[s].text] for s in self.frames}
        self.caches = {
            s: self.bottom.encode(flat[s], max_chunks=ARCH["train_chunks"] if s == "train" else ARCH["max_chunks"],
                                  desc=f"{s}-bottom")
            for s in ("train", "validation", "test")
        }
        print(f"bottom caches ready in {time.time() - t0:.0f}s", file=sys.stderr)

    def linear(self, names, tm, vm, em):
        model, p, _ = bench.fit_eval(self.F, self.frames, names, self.extractors, C=self.args.C,
                                     train_mask=tm, val_mask=vm, test_mask=em,
                                     sign_consistent=self.args.sign_consistent_families)
        return model, p

    def run(self, variant: str, tm, vm, em, epochs: int):
        """-> (test probabilities on test[em], operating point, fitted parts for saving or None)."""
        lm = [n for n in self.names if n.startswith("lm_")]
        rest = [n for n in self.names if not n.startswith("lm_")]
        if variant in ("features", "lm", "linear"):
            model, p = self.linear({"features": rest, "lm": lm, "linear": self.names}[variant], tm, vm, em)
            return p, model.operating_point, None
        self.ensure_bottom()
        lin, _ = self.linear(self.names, tm, vm, em)  # the fold's features after the sign filter, and its scaler
        cols = lin.feature_names
        Z = {s: lin.standardize(self.F[s].reindex(columns=cols).to_numpy(float)) for s in self.F}
        use_features = variant != "encoder"
        layers, head, wrappers = fit_fused(
            bottom=self.bottom, train_cache=self.caches["train"], Z_train=Z["train"], y_train=self.y["train"],
            use_features=use_features, rank=ARCH["lora_rank"], alpha=ARCH["lora_alpha"],
            head_hidden=ARCH["head_hidden"], epochs=epochs, lr=self.args.lr, seed=self.args.seed,
            train_ids=np.flatnonzero(tm),
            init_linear=(lin.coef, lin.bias) if variant == "fused" else None,
            log=lambda m: print(f"[{variant}] {m}", file=sys.stderr),
        )

        def logits(split, mask):
            return predict_logits(self.bottom, layers, head, self.caches[split], Z[split], use_features=use_features,
                                  doc_ids=np.flatnonzero(mask))

        va = self.frames["validation"]
        lv = logits("validation", vm)
        cal, op = calibrate_logits(lv, self.y["validation"][vm], domains=va.domain.to_numpy()[vm])
        lt = logits("test", em)
        p = sigmoid(cal[0] * lt + cal[1])
        linear_part = lin.logit(self.F["test"].reindex(columns=cols).to_numpy(float)[em])
        return p, op, {"layers": layers, "head": head, "wrappers": wrappers, "cal": cal, "op": op, "lin": lin,
                       "lv": lv, "vm": vm,
                       # how much the encoder moves the logit, next to the spread of the linear path (test rows)
                       "residual": {"linear_logit_std": float(np.std(linear_part)),
                                    "encoder_correction_std": float(np.std(lt - linear_part))}
                       if variant == "fused" else None}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--extractors", default="lm,phrasing,bio")
    ap.add_argument("--cap", type=int, default=2)
    ap.add_argument("--test-cap", type=int, default=None)
    ap.add_argument("--human-factor", type=float, default=5.0)
    ap.add_argument("--base-model-factor", type=float, default=0.5)
    ap.add_argument("--C", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--fold-epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of the neural variants")
    ap.add_argument("--min-gen-test", type=int, default=8)
    ap.add_argument("--sign-consistent", default="lm")
    ap.add_argument("--generator-factor", action="append", default=[], metavar="NAME=FACTOR")
    ap.add_argument("--variants", default="features,lm,linear,fused,encoder")
    ap.add_argument("--lodo-variants", default="linear,fused", help="variants also run leave-one-domain-out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--save-model", default=None)
    ap.add_argument("--out", default="runs/fused")
    args = ap.parse_args(argv)
    args.sign_consistent_families = [f.strip() for f in args.sign_consistent.split(",") if f.strip()]
    extractors = [e.strip() for e in args.extractors.split(",") if e.strip()]
    names = model_feature_names(extractors)
    frames = bench.load_splits(args.data, cap=args.cap, test_cap=args.test_cap, seed=args.seed,
                               base_model_factor=args.base_model_factor, human_factor=args.human_factor,
                               generator_factors=parse_generator_factors(args.generator_factor))
    F = bench.featurize(frames, extractors, args.cache_dir)
    runner = Runner(args, frames, F, names, extractors)
    te = frames["test"]
    y_te = te.y.to_numpy()
    import platform

    res: dict = {"command": "python " + " ".join(sys.argv), "date": time.strftime("%Y-%m-%d"),
                 "machine": f"{platform.machine()} {__import__('os').cpu_count()} cores",
                 "sizes": {s: int(len(frames[s])) for s in frames}, "arch": ARCH, "epochs": args.epochs, "lr": args.lr,
                 "fold_epochs": args.fold_epochs, "variants": {}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lodo_variants = set(args.lodo_variants.split(","))
    for variant in args.variants.split(","):
        t0 = time.time()
        neural = variant in NEURAL
        all_t, all_v, all_e = (np.ones(len(frames[s]), bool) for s in ("train", "validation", "test"))
        p, op, parts = runner.run(variant, all_t, all_v, all_e, args.epochs)
        thr = op.threshold()
        pooled = OperatingPoint(op.human_quantiles, op.fpr).threshold()
        entry = {"test": metrics.summary(y_te, p, thr), "threshold": thr,
                 "guarded_domains": sorted(op.domain_quantiles),
                 "without_domain_guard": metrics.summary(y_te, p, pooled), "per_group": per_group_table(te, p, thr)}
        if parts and parts.get("residual"):
            entry["residual"] = parts["residual"]
        fold_epochs = args.fold_epochs if neural else args.epochs
        logo = {}
        for gen, tm, vm, em in bench.logo_folds(frames, args.min_gen_test):
            pg, opg, _ = runner.run(variant, tm, vm, em, fold_epochs)
            logo[gen] = bench.logo_entry(gen, y_te[em], pg, opg.threshold())
        entry["logo"] = bench.logo_summary(logo)
        if variant in lodo_variants:
            lodo = {}
            for dom, tm, vm, em in bench.lodo_folds(frames):
                pd_, opd, _ = runner.run(variant, tm, vm, em, fold_epochs)
                lodo[dom] = bench.lodo_entry(y_te[em], pd_, opd.threshold())
            entry["lodo"] = bench.lodo_summary(lodo)
        entry["seconds"] = round(time.time() - t0)
        res["variants"][variant] = entry
        print(f"{variant}: test AUROC {entry['test']['auroc']:.4f} LOGO {entry['logo']['mean_instruction_tuned']:.4f}"
              f" LODO {entry.get('lodo', {}).get('mean', float('nan')):.4f} ({entry['seconds']}s)", file=sys.stderr)
        if variant == "fused" and args.save_model:
            save_fused(args, runner, parts, entry, extractors, frames, F)
        (out / "results.json").write_text(json.dumps(to_jsonable(res), indent=1))
        (out / "results.md").write_text(to_markdown(res))
    print(to_markdown(res))


def save_fused(args, runner: Runner, parts: dict, entry: dict, extractors, frames, F) -> None:
    """Package the full-sample fused fit with its calibration, guard and this run's held-out figures."""
    lin = parts["lin"]
    model = export_fused(name=Path(args.save_model).name, feature_names=lin.feature_names, extractors=extractors,
                         mean=lin.mean, scale=lin.scale, bottom=runner.bottom, head=parts["head"],
                         wrappers=parts["wrappers"], arch=ARCH)
    model.calibration, model.operating_point = parts["cal"], parts["op"]
    yv = runner.y["validation"]
    pv = sigmoid(parts["cal"][0] * parts["lv"] + parts["cal"][1])
    model.metrics = {
        "validation": metrics.summary(yv, pv, parts["op"].threshold()), "test": entry["test"],
        "logo_mean_instruction_tuned": entry["logo"]["mean_instruction_tuned"],
        "logo": {g: v["auroc"] for g, v in entry["logo"]["per_generator"].items()},
        "lodo_mean": entry.get("lodo", {}).get("mean"),
    }
    model.meta = {"config": {"data": args.data, "max_per_stratum": args.cap, "seed": args.seed,
                             "human_factor": args.human_factor, "base_model_factor": args.base_model_factor,
                             "epochs": args.epochs, "lr": args.lr, "sign_consistent": args.sign_consistent_families,
                             "recipe": "residual"},
                  "command": "python " + " ".join(sys.argv),
                  "n_train": int(len(frames["train"])), "n_validation": int(len(frames["validation"])),
                  "sign_inconsistent_dropped": [n for n in runner.names if n not in lin.feature_names],
                  "feature_ranges": feature_ranges(F["train"].reindex(columns=lin.feature_names), runner.y["train"])}
    model.save(args.save_model, card=fused_card(model))


def to_markdown(res: dict) -> str:
    gens = sorted({g for e in res["variants"].values() for g in e["logo"]["per_generator"]})
    doms = sorted({d for e in res["variants"].values() for d in e.get("lodo", {}).get("per_domain", {})})
    nan = float("nan")
    lines = [f"Command: `{res['command']}`  ", f"Date: {res['date']}; {res['machine']}; rows {res['sizes']}; "
             f"neural epochs {res['epochs']} (folds {res['fold_epochs']}), peak lr {res.get('lr', 1e-3)}", "",
             "| model | test AUROC | TPR@1%FPR | human FPR@thr | ECE | LOGO mean (instruction-tuned) | LODO mean | s |",
             "|---|---|---|---|---|---|---|---|"]
    for v, e in res["variants"].items():
        t = e["test"]
        lines.append(f"| {v} | {t['auroc']:.4f} | {t['tpr_at_1fpr']:.3f} | {t['human_fpr_at_threshold']:.3f} | "
                     f"{t['ece']:.3f} | {e['logo']['mean_instruction_tuned']:.4f} | "
                     f"{e.get('lodo', {}).get('mean', nan):.4f} | {e['seconds']} |")
    for v, e in res["variants"].items():
        if e.get("residual"):
            r = e["residual"]
            lines += ["", f"{v}: on test texts the encoder's correction has std {r['encoder_correction_std']:.3f} "
                      f"logits, the linear path {r['linear_logit_std']:.3f}."]
    lines += ["", "LOGO AUROC per held-out generator:", "", "| model | " + " | ".join(gens) + " |",
              "|---|" + "---|" * len(gens)]
    for v, e in res["variants"].items():
        pg = e["logo"]["per_generator"]
        lines.append(f"| {v} | " + " | ".join(f"{pg.get(g, {}).get('auroc', nan):.4f}" for g in gens) + " |")
    if doms:
        lines += ["", "LODO AUROC per held-out domain:", "", "| model | " + " | ".join(doms) + " |",
                  "|---|" + "---|" * len(doms)]
        for v, e in res["variants"].items():
            if "lodo" in e:
                pd_ = e["lodo"]["per_domain"]
                lines.append(f"| {v} | " + " | ".join(f"{pd_.get(d, {}).get('auroc', nan):.4f}" for d in doms) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
