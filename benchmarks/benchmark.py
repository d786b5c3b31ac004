"""Quality benchmark for the linear models, all protocols in one run on the same cached features.

    python benchmarks/benchmark.py --data '../shared/data/corpus/*.jsonl.gz' --cap 8 --human-factor 5 \
        --extractors redundancy,phrasing,bio,style,lm --out runs/bench

Protocols (every number is on held-out rows; splits are by group):
  test      fit on train, calibrate on validation, report test: AUROC, TPR@1%/5% FPR, per domain /
            generator / attack, human false-positive rate per domain at the verdict threshold
  ablation  the same with each extractor family alone and with each family removed
  logo      leave-one-generator-out: fit without a generator's texts, test on them (vs test humans of
            the same datasets); the mean over instruction-tuned generators is the model-selection number
  lodo      leave-one-domain-out: fit without a domain (both labels), test on it
  zeroshot  each LM feature alone (no fitting; sign from the training split), per generator
  shortcut  human test texts with paragraph breaks removed/added, quotes curled, cut at a random length:
            how far the probability moves
  directions  each feature's AUROC per instruction-tuned generator on the train split (what
            --sign-consistent looks at): which features flip direction between generators
  plain     false accusations on plain, simple human prose: human test texts split into quarters by
            reading grade (Flesch-Kincaid); the verdict's false-positive rate in each quarter. Simple prose
            is predictable to a language model, which is how detectors come to flag non-native writers.
With ``--model NAME|DIR`` the protocols plain and shortcut check that saved model (e.g. the shipped fused
default) instead of one fitted here; its own extractors are used.
Writes results.json and results.md into --out.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ghostscore.backbones import ModelProvider
from ghostscore.classifiers.calibration import OperatingPoint
from ghostscore.features import available, build_extractors
from ghostscore.features.cache import FeatureCache
from ghostscore.features.pipeline import default_cache_path
from ghostscore.features.pipeline import feature_frame as extract_features
from ghostscore.jsonsafe import to_jsonable
from ghostscore.training import metrics
from ghostscore.training.config import model_feature_names, parse_generator_factors
from ghostscore.training.data import is_instruction_tuned, stratified_sample
from ghostscore.training.evaluate import per_group_table
from ghostscore.training.protocols import (
    featurize,
    lodo_entry,
    lodo_folds,
    lodo_summary,
    logo_entry,
    logo_folds,
    logo_summary,
    model_proba,
    reading_grade,
)
from ghostscore.training.protocols import fit_eval as _fit_eval
from ghostscore.training.protocols import load_splits as _load_splits
from ghostscore.training.selection import generator_directions, human_reference

# This script's settings (set once in main from the command line).
MIN_GEN_TEST = 15



def load_splits(args) -> dict[str, pd.DataFrame]:
    return _load_splits(args.data, cap=args.cap, test_cap=args.test_cap, seed=args.seed,
                        base_model_factor=args.base_model_factor, human_factor=args.human_factor,
                        generator_factors=GENERATOR_FACTORS)


def fit_eval(F, frames, names, extractors, **kw):
    return _fit_eval(F, frames, names, extractors, sign_consistent=SIGN_CONSISTENT, **kw)


SIGN_CONSISTENT: list[str] = []  # --sign-consistent: families filtered inside every fit (train rows only)
GENERATOR_FACTORS: dict[str, float] = {}  # --generator-factor: train/validation sampling only; test as --test-cap


def family_of(feature: str) -> str:
    reg = available()
    for cls in reg.values():
        if feature in cls.feature_names:
            return cls.family
    return "?"


def protocol_test(F, frames, names, extractors, C):
    model, p, te = fit_eval(F, frames, names, extractors, C=C)
    dropped = [n for n in names if n not in model.feature_names]
    op = model.operating_point
    thr = op.threshold()
    pooled = OperatingPoint(op.human_quantiles, op.fpr).threshold()  # the same model without the domain guard
    return model, {
        "threshold": thr, "overall": metrics.summary(te.y.to_numpy(), p, thr),
        "guarded_domains": sorted(op.domain_quantiles),
        "sign_inconsistent_dropped": dropped,
        "without_domain_guard": {
            "threshold": pooled, "overall": metrics.summary(te.y.to_numpy(), p, pooled),
            "human_fpr_by_domain": per_group_table(te, p, pooled)["domain"],
        },
        "per_group": per_group_table(te, p, thr),
        "top_weights": sorted(
            ({"feature": n, "weight": float(w)} for n, w in zip(model.feature_names, model.coef, strict=True)),
            key=lambda d: -abs(d["weight"]),
        )[:15],
    }


def protocol_ablation(F, frames, names, extractors, C):
    fams = sorted({family_of(n) for n in names})
    rows = {}
    variants = {"all": names}
    for fam in fams:
        variants[f"only {fam}"] = [n for n in names if family_of(n) == fam]
        variants[f"without {fam}"] = [n for n in names if family_of(n) != fam]
    for label, sub in variants.items():
        if not sub:
            continue
        model, p, te = fit_eval(F, frames, sub, extractors, C=C)
        rows[label] = {
            "n_features": len(sub), "auroc": metrics.auroc(te.y, p), "tpr_at_1fpr": metrics.tpr_at_fpr(te.y, p, 0.01),
            "logo_instruction_mean": protocol_logo(F, frames, sub, extractors, C)["mean_instruction_tuned"],
        }
    return rows


def protocol_logo(F, frames, names, extractors, C):
    out = {}
    for gen, tm, vm, em in logo_folds(frames, MIN_GEN_TEST):
        model, p, sub = fit_eval(F, frames, names, extractors, C=C, train_mask=tm, val_mask=vm, test_mask=em)
        out[gen] = logo_entry(gen, sub.y.to_numpy(), p, model.operating_point.threshold())
    return logo_summary(out)


def protocol_lodo(F, frames, names, extractors, C):
    out = {}
    for dom, tm, vm, em in lodo_folds(frames):
        model, p, sub = fit_eval(F, frames, names, extractors, C=C, train_mask=tm, val_mask=vm, test_mask=em)
        out[dom] = lodo_entry(sub.y.to_numpy(), p, model.operating_point.threshold())
    return lodo_summary(out)


def protocol_zeroshot(F, frames, names):
    tr, te = frames["train"], frames["test"]
    out = {}
    for n in [n for n in names if n.startswith("lm_")]:
        sign = 1.0 if metrics.auroc(tr.y, F["train"][n].fillna(F["train"][n].mean())) >= 0.5 else -1.0
        col = sign * F["test"][n].fillna(F["train"][n].mean()).to_numpy()
        per_gen = {}
        for gen in te[te.y == 1].generator.value_counts().index:
            gm = (te.y == 1) & (te.generator == gen)
            m = (gm | human_reference(te, te[gm])).to_numpy()
            if (te.y[m] == 1).sum() >= MIN_GEN_TEST:
                per_gen[gen] = metrics.auroc(te.y[m], col[m])
        inst = [v for g, v in per_gen.items() if is_instruction_tuned(g)]
        out[n] = {"sign": sign, "auroc_test": metrics.auroc(te.y, col),
                  "mean_instruction_tuned_generator_auroc": float(np.mean(inst)) if inst else math.nan,
                  "per_generator": per_gen}
    return out


def protocol_curve(F, frames, names, extractors, C, args):
    """Learning curve: nested train subsamples (smaller caps pick a subset of the same rows)."""
    tr = frames["train"]
    out = {}
    caps = [c for c in (1, 2, 4, 8, 16, 32) if c < args.cap] + [args.cap]
    for cap in caps:
        sub = stratified_sample(tr.assign(_i=range(len(tr))), max_per_stratum=cap, seed=args.seed,
                                base_model_factor=args.base_model_factor, human_factor=args.human_factor,
                                generator_factors=GENERATOR_FACTORS or None)
        mask = np.zeros(len(tr), bool)
        mask[sub["_i"].to_numpy()] = True
        model, p, te = fit_eval(F, frames, names, extractors, C=C, train_mask=mask)
        out[str(cap)] = {"n_train": int(mask.sum()), "auroc": metrics.auroc(te.y, p),
                         "tpr_at_1fpr": metrics.tpr_at_fpr(te.y, p, 0.01)}
    return out


def protocol_directions(F, frames, names):
    """AUROC of each feature per instruction-tuned generator (train split; AUROC > 0.5: higher = machine)."""
    dirs = generator_directions(F["train"], frames["train"], names)
    return {gen: {f: 0.5 + d for f, d in per.items()} for gen, per in dirs.items()}


def protocol_plain(model, F, frames, names):
    """Human test texts by reading-grade quarter: false-positive rate at the verdict threshold in each."""
    te = frames["test"]
    p = model_proba(model, F["test"], list(te.text))
    thr = model.operating_point.threshold()
    human = (te.y == 0).to_numpy()
    grade = np.array([reading_grade(t) for t in te.text])
    ok = human & np.isfinite(grade)
    edges = np.quantile(grade[ok], [0, 0.25, 0.5, 0.75, 1.0])
    out = {}
    for i, label in enumerate(("plainest quarter", "second quarter", "third quarter", "most complex quarter")):
        m = ok & (grade >= edges[i]) & ((grade < edges[i + 1]) if i < 3 else (grade <= edges[i + 1]))
        out[label] = {"grade_range": [float(edges[i]), float(edges[i + 1])], "n": int(m.sum()),
                      "fpr_at_threshold": float(np.mean(p[m] >= thr)) if m.any() else math.nan,
                      "mean_p_machine": float(np.mean(p[m])) if m.any() else math.nan}
    return out


def _variants(text: str, rng: random.Random) -> dict[str, str]:
    words = text.split()
    flat = " ".join(words)
    sents = flat.replace(". ", ".\n").split("\n")
    with_breaks = "\n\n".join(" ".join(sents[i : i + 3]) for i in range(0, len(sents), 3))
    curly = flat.replace(' "', " \u201c").replace('" ', "\u201d ").replace("'", "\u2019")
    cut = " ".join(words[: max(45, int(len(words) * rng.uniform(0.5, 0.9)))])
    return {"no_breaks": flat, "added_breaks": with_breaks, "curly_quotes": curly, "cut": cut}


def protocol_shortcut(model, frames, extractors, cache_dir, n=120, seed=0):
    rng = random.Random(seed)
    te = frames["test"]
    humans = te[te.y == 0].sample(min(n, int((te.y == 0).sum())), random_state=seed)
    provider = ModelProvider(cache_dir=cache_dir)
    exs = build_extractors(extractors, models=provider)
    cache = FeatureCache(default_cache_path(cache_dir))
    texts = list(humans.text)
    base, probs0 = extract_features(texts, exs, cache=cache, desc="shortcut-base")
    p0 = model_proba(model, base, texts)
    out = {}
    variants = [_variants(t, rng) for t in texts]
    for key in variants[0]:
        Fv, _ = extract_features([v[key] for v in variants], exs, cache=cache, desc=f"shortcut-{key}")
        pv = model_proba(model, Fv, [v[key] for v in variants])
        d = np.abs(pv - p0)
        out[key] = {"mean_abs_change": float(np.mean(d)), "p95_abs_change": float(np.quantile(d, 0.95)),
                    "max_abs_change": float(np.max(d)), "n": len(d)}
    return out


def to_markdown(res: dict) -> str:
    lines = [f"### {res['label']}", "", f"Command: `{res['command']}`  ",
             f"Date: {res['date']}; machine: {res['machine']}; rows train/validation/test: {res['sizes']}", ""]
    t = res.get("test")
    if t:
        o = t["overall"]
        lines += ["| test split | AUROC | TPR@1%FPR | TPR@5%FPR | F1@thr | ECE | human FPR@thr |",
                  "|---|---|---|---|---|---|---|",
                  f"| all | {o['auroc']:.4f} | {o['tpr_at_1fpr']:.3f} | {o['tpr_at_5fpr']:.3f} | {o['f1']:.3f} | "
                  f"{o['ece']:.3f} | {o['human_fpr_at_threshold']:.3f} |", ""]
        if t.get("sign_inconsistent_dropped"):
            lines += [f"Dropped as sign-inconsistent across training generators: "
                      f"{', '.join(t['sign_inconsistent_dropped'])}.", ""]
        w = t.get("without_domain_guard")
        if w:
            wo = w["overall"]
            lines += [f"Verdict threshold {t['threshold']:.4f} with the per-domain guard (validation domains "
                      f"{', '.join(t['guarded_domains']) or 'none'}); without it {w['threshold']:.4f}: TPR at "
                      f"threshold {o['tpr_at_threshold']:.3f} vs {wo['tpr_at_threshold']:.3f}, human FPR "
                      f"{o['human_fpr_at_threshold']:.3f} vs {wo['human_fpr_at_threshold']:.3f}.", ""]
        lines += ["| domain | AUROC | n | human FPR@thr | without guard |", "|---|---|---|---|---|"]
        for k, v in t["per_group"]["domain"].items():
            unguarded = w["human_fpr_by_domain"].get(k, {}).get("human_fpr_at_threshold", math.nan) if w else math.nan
            lines.append(f"| {k} | {v['auroc']:.4f} | {v['n']} | {v['human_fpr_at_threshold']:.3f} | "
                         f"{unguarded:.3f} |")
        lines += ["", "| generator | AUROC vs same-dataset humans | n machine | TPR@thr |", "|---|---|---|---|"]
        for k, v in sorted(t["per_group"]["generator"].items()):
            lines.append(f"| {k} | {v['auroc']:.4f} | {v['n_machine']} | {v['tpr_at_threshold']:.3f} |")
        lines += ["", "| attack | AUROC | n machine |", "|---|---|---|"]
        for k, v in sorted(t["per_group"]["attack"].items()):
            lines.append(f"| {k} | {v['auroc']:.4f} | {v['n_machine']} |")
        lines.append("")
    if "ablation" in res:
        lines += ["| features | n | test AUROC | TPR@1%FPR | LOGO mean (instruction-tuned) |", "|---|---|---|---|---|"]
        for k, v in res["ablation"].items():
            lines.append(f"| {k} | {v['n_features']} | {v['auroc']:.4f} | {v['tpr_at_1fpr']:.3f} | "
                         f"{v['logo_instruction_mean']:.4f} |")
        lines.append("")
    if "logo" in res:
        lg = res["logo"]
        lines += [f"Leave-one-generator-out: mean AUROC {lg['mean_all']:.4f} (all), "
                  f"{lg['mean_instruction_tuned']:.4f} (instruction-tuned)", "",
                  "| held-out generator | AUROC | TPR@1%FPR | n |", "|---|---|---|---|"]
        for k, v in sorted(lg["per_generator"].items()):
            lines.append(f"| {k}{' *' if v['instruction_tuned'] else ''} | {v['auroc']:.4f} | "
                         f"{v['tpr_at_1fpr']:.3f} | {v['n_machine']} |")
        lines.append("")
    if "lodo" in res:
        ld = res["lodo"]
        lines += [f"Leave-one-domain-out: mean AUROC {ld['mean']:.4f}", "",
                  "| held-out domain | AUROC | n | human FPR@thr |", "|---|---|---|---|"]
        for k, v in ld["per_domain"].items():
            lines.append(f"| {k} | {v['auroc']:.4f} | {v['n']} | {v['human_fpr_at_threshold']:.3f} |")
        lines.append("")
    if res.get("zeroshot"):
        lines += ["| LM feature alone (zero-shot) | test AUROC | mean AUROC over instruction-tuned generators |",
                  "|---|---|---|"]
        for k, v in sorted(res["zeroshot"].items(), key=lambda kv: -kv[1]["mean_instruction_tuned_generator_auroc"]):
            lines.append(f"| {k} | {v['auroc_test']:.4f} | {v['mean_instruction_tuned_generator_auroc']:.4f} |")
        lines.append("")
    if "curve" in res:
        lines += ["| train cap per stratum | n train | test AUROC | TPR@1%FPR |", "|---|---|---|---|"]
        for k, v in res["curve"].items():
            lines.append(f"| {k} | {v['n_train']} | {v['auroc']:.4f} | {v['tpr_at_1fpr']:.3f} |")
        lines.append("")
    if "directions" in res:
        gens = sorted(res["directions"], key=lambda g: -len(g))
        feats = list(next(iter(res["directions"].values()), {}))
        lines += ["| feature (AUROC per generator, train split) | " + " | ".join(gens) + " |",
                  "|---|" + "---|" * len(gens)]
        for f in feats:
            lines.append(f"| {f} | " + " | ".join(f"{res['directions'][g][f]:.3f}" for g in gens) + " |")
        lines.append("")
    if "plain" in res:
        lines += ["| human test texts by reading grade | grade range | n | FPR at threshold | mean P(machine) |",
                  "|---|---|---|---|---|"]
        for k, v in res["plain"].items():
            lo, hi = v["grade_range"]
            lines.append(f"| {k} | {lo:.1f}-{hi:.1f} | {v['n']} | {v['fpr_at_threshold']:.3f} | "
                         f"{v['mean_p_machine']:.3f} |")
        lines.append("")
    if "shortcut" in res:
        lines += ["| human text changed by | mean abs change of P(machine) | p95 | max |", "|---|---|---|---|"]
        for k, v in res["shortcut"].items():
            lines.append(
                f"| {k} | {v['mean_abs_change']:.4f} | {v['p95_abs_change']:.4f} | {v['max_abs_change']:.4f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--extractors", default="redundancy,phrasing,bio,style")
    ap.add_argument("--cap", type=int, default=8, help="max texts per stratum (train and validation)")
    ap.add_argument("--test-cap", type=int, default=None, help="max per stratum in test (default --cap)")
    ap.add_argument("--human-factor", type=float, default=5.0)
    ap.add_argument("--base-model-factor", type=float, default=0.5)
    ap.add_argument("--C", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--protocols", default="test,ablation,logo,lodo,zeroshot,shortcut")
    ap.add_argument("--label", default=None)
    ap.add_argument("--min-gen-test", type=int, default=15, help="held-out generators need this many test texts")
    ap.add_argument("--shortcut-n", type=int, default=120, help="human test texts in the shortcut protocol")
    ap.add_argument("--sign-consistent", default="", help="families (e.g. lm) whose features must point the "
                    "same way for every training generator; applied inside every fit, so LOGO stays honest")
    ap.add_argument("--generator-factor", action="append", default=[], metavar="NAME=FACTOR",
                    help="this generator's train/validation strata get FACTOR x the cap (test keeps --test-cap)")
    ap.add_argument("--model", default=None, help="check this saved model (protocols plain, shortcut) instead of "
                    "fitting one")
    ap.add_argument("--out", default="runs/bench")
    args = ap.parse_args(argv)
    global MIN_GEN_TEST
    MIN_GEN_TEST = args.min_gen_test
    SIGN_CONSISTENT[:] = [f.strip() for f in args.sign_consistent.split(",") if f.strip()]
    GENERATOR_FACTORS.update(parse_generator_factors(args.generator_factor))
    extractors = [e.strip() for e in args.extractors.split(",") if e.strip()]
    saved = None
    if args.model:
        from ghostscore.classifiers import load_model, resolve_model

        if set(args.protocols.split(",")) - {"plain", "shortcut"}:
            ap.error("--model checks a saved model: only the protocols plain and shortcut apply")
        saved = load_model(resolve_model(args.model))
        extractors = list(saved.extractors)
    names = model_feature_names(extractors)
    frames = load_splits(args)
    F = featurize(frames, extractors, args.cache_dir)
    import datetime
    import platform

    res: dict = {
        "label": args.label or f"linear on {'+'.join(extractors)}",
        "command": "python " + " ".join(sys.argv),
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()} {__import__('os').cpu_count()} cores",
        "sizes": "/".join(str(len(frames[s])) for s in ("train", "validation", "test")),
    }
    protos = args.protocols.split(",")
    model = saved
    if saved is not None:
        res["label"] = args.label or f"saved model {args.model} ({saved.type})"
    elif "test" in protos or "shortcut" in protos or "plain" in protos:
        model, res["test"] = protocol_test(F, frames, names, extractors, args.C)
    if "ablation" in protos:
        res["ablation"] = protocol_ablation(F, frames, names, extractors, args.C)
    if "logo" in protos:
        res["logo"] = protocol_logo(F, frames, names, extractors, args.C)
    if "lodo" in protos:
        res["lodo"] = protocol_lodo(F, frames, names, extractors, args.C)
    if "zeroshot" in protos:
        res["zeroshot"] = protocol_zeroshot(F, frames, names)
    if "curve" in protos:
        res["curve"] = protocol_curve(F, frames, names, extractors, args.C, args)
    if "directions" in protos:
        res["directions"] = protocol_directions(F, frames, names)
    if "plain" in protos and model is not None:
        res["plain"] = protocol_plain(model, F, frames, names)
    if "shortcut" in protos and model is not None:
        res["shortcut"] = protocol_shortcut(model, frames, extractors, args.cache_dir, n=args.shortcut_n,
                                            seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(to_jsonable(res), indent=1))
    md = to_markdown(res)
    (out / "results.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
