"""Candidates for the default model, side by side on the stored LM feature table (no LM pass):

    python benchmarks/transfer_benchmark.py --table data/features/lm-v2 \
        --data '../shared/data/corpus/*.jsonl.gz' --cache-dir cache --out runs/transfer

Protocols (every figure on rows the model never trained on; splits are by group):
  test        fit on train, calibrate (the shipped recipe for --shipped-calibration candidates, else on
              validation with the per-domain guard), report the test split
  logo        leave-one-generator-out over the instruction-tuned generators: the generator's texts leave
              training and validation entirely; tested on all of them against validation+test humans of the
              same datasets (same domains for machine-only sources)
  lodo        leave-one-domain-out (both labels), tested on all the domain's rows
  lodataset   leave-one-dataset-out, likewise
  attacks     test rows by attack: AUROC against test humans and verdict recall (guard and as served)
  fairness    human false-positive rate at the verdict threshold on OUTFOX student essays (validation+test),
              the plainest quarter of human test texts by reading grade, and --fixtures (learner-style
              human texts of our own)
Verdict recall = share of machine texts at or above the 'ai' threshold (1% validation FPR with the guard).
Human-labelled texts a machine rewrote in part (DetectRL's polished, back-translated and mixed human files) leave
training and calibration as `ghostscore train --features-table` leaves them out (``NAME:touched=keep`` keeps them,
the recipe before 2026-12-04's eighth session), and the shipped calibration scores each row with a model fitted
without its dataset (``NAME:calib=group``: the earlier grouped cross-fitting); AUROC is reported against all
human-labelled references and, as ``auroc_written``, against human writing only.
Writes results.json and results.md to --out.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ghostscore.classifiers.calibration import platt
from ghostscore.classifiers.hidden import MID_LAYER
from ghostscore.errors import InputError
from ghostscore.jsonsafe import to_jsonable
from ghostscore.training import metrics
from ghostscore.training.candidates import CANDIDATES, HIDDEN_LAYERS, parse_layers
from ghostscore.training.data import is_instruction_tuned, machine_touched_humans
from ghostscore.training.linear import calibrate_logits
from ghostscore.training.protocols import reading_grade
from ghostscore.training.selection import human_reference
from ghostscore.training.table_data import TableData, load_table_data
from ghostscore.training.table_train import HELD_OUT_CHOICES, TOUCHED_CHOICES, fit_calibrated
from lens_features import LensScorer, covered, lens_columns, read_lens, score_rows, with_lens

MODERN = ("gpt-4o", "llama-3-70b-instruct", "llama-3-8b-instruct-paraphrase", "llm-2026")


MIN_ATTACK_ROWS = 15  # attack rows in the markdown table (all are in results.json)
MIN_REFERENCE_HUMANS = 30  # a LOGO fold counts in ``mean_auroc_solid`` only with this many reference humans
SHIPPED_CALIBRATION: set[str] = set()  # candidates calibrated as `ghostscore train --features-table` does
STRING_KEYS = {"touched": TOUCHED_CHOICES, "calib": HELD_OUT_CHOICES}  # candidate settings that are not numbers


def key_values(text: str) -> dict[str, Any]:
    """``key=value,...`` as floats (recipe keywords), ``layers=18+24`` as a tuple of layers, ``touched=keep|leave-out``
    (machine-touched human rows in training and calibration), ``calib=source|group`` (what the shipped calibration's
    scores never saw); a malformed pair is a usage error, not a traceback."""
    out: dict[str, Any] = {}
    for kv in (x.strip() for x in text.split(",")):
        if not kv:
            continue
        key, sep, value = kv.partition("=")
        try:
            if key.strip() == "lens":  # logit-lens columns beside the table (lens_features.py), e.g. xent24+kl24
                out["lens"] = lens_columns(value)
            elif key.strip() in STRING_KEYS:
                if value.strip() not in STRING_KEYS[key.strip()]:
                    raise ValueError(value)
                out[key.strip()] = value.strip()
            else:
                out[key.strip()] = parse_layers(value) if key.strip() == "layers" else float(value)
        except (ValueError, InputError):
            sep = ""
        if not sep or not key.strip():
            raise SystemExit(f"expected key=number (or touched=keep|leave-out, calib=source|group, lens=xent24+kl24), "
                             f"got {kv!r}")
    return out


def candidate_specs(arg: str) -> list[str]:
    """The --candidates list: comma-separated, or ';'-separated once a candidate carries ``:key=value,...``."""
    return [c.strip() for c in arg.split(";" if ":" in arg else ",") if c.strip()]


def parse_candidate(spec: str) -> tuple[str, int | None, dict[str, Any]]:
    """``NAME[@K][:key=value,...]``: the candidate, its token budget (None: the table's) and recipe settings, e.g.
    ``hidden@128:tail=3`` (so variants of one recipe sit side by side in one run)."""
    head, _, settings = spec.strip().partition(":")
    base, _, budget = head.partition("@")
    return base, int(budget) if budget else None, key_values(settings)


def run_fold(name: str, train: TableData, val: TableData, test: TableData, **kw) -> dict:
    """Fit, calibrate, score the test rows. Candidates in SHIPPED_CALIBRATION get the shipped recipe
    (``table_train.fit_calibrated``: held-out-generator and held-out-source scores); the others a plain Platt
    fit and thresholds on validation (pooled + per-domain guard). ``touched`` ("leave-out", the shipped rule, or
    "keep"): whether machine-touched human rows stay in training and calibration; ``calib`` ("source", the shipped
    rule, or "group"): what the shipped calibration's scores of the other rows never saw."""
    if "lens" in kw:  # a script that takes lens= joins the columns (with_lens) and pops the setting first
        raise SystemExit("lens= is read by transfer_benchmark.py, fairness_gate.py and fpr_tradeoff.py (with --lens)")
    if kw.pop("touched", "leave-out") == "leave-out":
        train, val = (d.subset(~machine_touched_humans(d.rows)) for d in (train, val))
    held_out = kw.pop("calib", "source")
    if name in SHIPPED_CALIBRATION:
        cal = fit_calibrated(lambda part: CANDIDATES[name](part, **kw), train, val, held_out=held_out,
                             progress=False)
        fitted, calibration, op = cal.final, cal.calibration, cal.op
    else:
        fitted = CANDIDATES[name](train, **kw)
        yv = val.rows["y"].to_numpy()
        calibration, op = calibrate_logits(fitted.logits(val), yv, domains=val.rows["domain"].to_numpy())
    p = platt(fitted.logits(test), calibration)
    return {"p": p, "threshold": op.threshold(), "fitted": fitted, "calibration": calibration, "op": op}


def scores(y: np.ndarray, p: np.ndarray, thr: float, rows: pd.DataFrame | None = None) -> dict:
    """AUROC, TPR at 1% FPR, recall and human FPR at ``thr``; given the ``rows``, also the AUROC against human
    writing only (``auroc_written``: machine-touched human rows left out of the references)."""
    out = {"n_machine": int(y.sum()), "n_human": int((1 - y).sum()),
           "recall_at_threshold": float(np.mean(p[y == 1] >= thr)) if y.sum() else math.nan,
           "human_fpr_at_threshold": float(np.mean(p[y == 0] >= thr)) if (1 - y).sum() else math.nan}
    if 0 < y.sum() < len(y):
        out["auroc"] = metrics.auroc(y, p)
        out["tpr_at_1fpr"] = metrics.tpr_at_fpr(y, p, 0.01)
    if rows is not None and "auroc" in out:
        w = ~machine_touched_humans(rows)
        out["n_human_written"] = int((y[w] == 0).sum())
        if 0 < y[w].sum() < w.sum():
            out["auroc_written"] = metrics.auroc(y[w], p[w])
            out["tpr_at_1fpr_written"] = metrics.tpr_at_fpr(y[w], p[w], 0.01)
    return out


def protocol_test(name, data, splits, fixtures, **kw) -> dict:
    tr, va, te = (data.subset(splits[s]) for s in ("train", "validation", "test"))
    r = run_fold(name, tr, va, te, **kw)
    y, p, thr = te.rows["y"].to_numpy(), r["p"], r["threshold"]
    out = {"overall": scores(y, p, thr, te.rows), "threshold": thr}
    rows = te.rows.assign(p=p)
    out["per_domain_human_fpr"] = {d: float(np.mean(g.p >= thr)) for d, g in rows[rows.y == 0].groupby("domain")}
    out["per_generator_recall"] = {g: float(np.mean(s.p >= thr)) for g, s in rows[rows.y == 1].groupby("generator")}
    out["per_generator_auroc"] = {}  # generators seen in training: against the test humans of the same sources
    for g, s in rows[rows.y == 1].groupby("generator"):
        hum = rows[human_reference(rows, s)]
        if len(s) >= 20 and len(hum) >= 20:
            out["per_generator_auroc"][g] = metrics.auroc(np.r_[np.ones(len(s)), np.zeros(len(hum))],
                                                          np.r_[s.p.to_numpy(), hum.p.to_numpy()])
    attacks = {}
    post = served_posteriors(tr, va, te.rows.text)
    rows["served_thr"] = served_thresholds(r["op"], post)
    for a, g in rows[rows.y == 1].fillna({"attack": "none"}).groupby("attack"):
        hum = rows[human_reference(rows, g)]
        yy = np.r_[np.ones(len(g)), np.zeros(len(hum))]
        attacks[a] = scores(yy, np.r_[g.p.to_numpy(), hum.p.to_numpy()], thr)
        attacks[a]["recall_served"] = float(np.mean(g.p >= g.served_thr))
    out["attacks"] = attacks
    out["per_domain_thresholds"] = per_domain_thresholds(te, p, post, rows.served_thr.to_numpy())
    # fairness: humans only, at the verdict threshold
    fair = {}
    va_te = data.subset(splits["validation"] | splits["test"])
    p_vt = platt_all(r, va_te)
    ess = (va_te.rows["dataset"] == "outfox").to_numpy() & (va_te.rows["y"] == 0).to_numpy()
    fair["outfox_human_essays"] = {"n": int(ess.sum()), "fpr": float(np.mean(p_vt[ess] >= thr)) if ess.any() else None}
    grade = np.array([reading_grade(t) for t in te.rows["text"]])
    hum = (y == 0) & np.isfinite(grade)
    if hum.any():
        q = grade <= np.quantile(grade[hum], 0.25)
        fair["plainest_quarter_test_humans"] = {"n": int((hum & q).sum()), "fpr": float(np.mean(p[hum & q] >= thr)),
                                                "max_grade": float(np.quantile(grade[hum], 0.25))}
    if fixtures is not None:
        pf = platt(r["fitted"].logits(fixtures), r["calibration"])
        fair["learner_fixtures"] = {"n": int(len(pf)), "fpr": float(np.mean(pf >= thr)),
                                    "max_p": float(pf.max()) if len(pf) else None}
    out["fairness"] = fair
    return out


_DOMAIN_MODELS: dict[int, object] = {}  # one fit per fold's rows, shared by the candidates of a run


def served_posteriors(train: TableData, val: TableData, texts) -> list:
    """Each text's domain probabilities as the Detector weighs them, from a domain classifier fitted as
    `ghostscore train --features-table` fits it (training rows, temperature on validation rows)."""
    from ghostscore.training.domain import fit_domain_model

    key = hash((tuple(train.rows.key), tuple(val.rows.key)))
    if key not in _DOMAIN_MODELS:
        _DOMAIN_MODELS[key] = fit_domain_model(
            list(train.rows.text), list(train.rows.domain.fillna("other")),
            val_texts=list(val.rows.text), val_domains=list(val.rows.domain.fillna("other")))
    dm = _DOMAIN_MODELS[key]
    return dm.posteriors(list(texts)) if dm else [None] * len(texts)


def served_thresholds(op, posteriors: list, fpr: float | None = None) -> np.ndarray:
    """The ``ai`` threshold each text gets when served: the domain-weighted one (calibration.py)."""
    return np.array([op.threshold(fpr, domain=w) for w in posteriors])


def per_domain_thresholds(test: TableData, p: np.ndarray, post: list, thr: np.ndarray) -> dict:
    """The verdict as served (``thr``: domain-weighted thresholds from the domain probabilities ``post``) instead
    of the strictest one: recall and per-domain human FPR, next to the guard's."""
    rows = test.rows.assign(p=p, flag=p >= thr)
    y = rows.y.to_numpy()
    true_dom = rows.domain.fillna("other").to_numpy()
    top = [max(w, key=w.get) if w else None for w in post]
    touched = machine_touched_humans(rows)
    return {"domain_accuracy": float(np.mean([a == b for a, b in zip(top, true_dom, strict=True)]))
            if any(post) else None,
            "domain_confident_share": float(np.mean([bool(w) and max(w.values()) >= 0.8 for w in post])),
            "mean_threshold": float(thr.mean()),
            "recall_at_threshold": float(rows.flag[y == 1].mean()),
            "human_fpr_at_threshold": float(rows.flag[y == 0].mean()),
            "human_fpr_written": float(rows.flag[(y == 0) & ~touched].mean()),
            "machine_touched_humans_flagged": float(rows.flag[touched].mean()) if touched.any() else math.nan,
            "n_machine_touched_humans": int(touched.sum()),
            "per_domain_human_fpr": {d: float(g.flag.mean()) for d, g in rows[rows.y == 0].groupby("domain")}}


def platt_all(r: dict, d: TableData) -> np.ndarray:
    return platt(r["fitted"].logits(d), r["calibration"])


def logo_folds(data: TableData, splits: dict, min_machine: int = 30):
    """Leave-one-generator-out folds over the instruction-tuned generators with at least ``min_machine`` texts:
    (generator, train, validation, test mask) with the generator's texts out of training and validation, tested
    on all of them against the validation+test humans of the same datasets (``human_reference``)."""
    rows = data.rows
    gens = [g for g, n in rows[rows.y == 1].generator.value_counts().items()
            if n >= min_machine and is_instruction_tuned(g)]
    for gen in sorted(gens):
        gm = ((rows.y == 1) & (rows.generator == gen)).to_numpy()
        tr = data.subset(splits["train"] & ~gm)
        va = data.subset(splits["validation"] & ~gm)
        if tr.rows.y.nunique() < 2 or va.rows.y.nunique() < 2:
            continue
        vt = rows[splits["validation"] | splits["test"]]
        hum = human_reference(vt, rows[gm]).reindex(rows.index, fill_value=False).to_numpy()
        yield gen, tr, va, gm | hum


def protocol_logo(name, data, splits, min_machine=30, **kw) -> dict:
    out = {}
    for gen, tr, va, em in logo_folds(data, splits, min_machine):
        te = data.subset(em)
        r = run_fold(name, tr, va, te, **kw)
        out[gen] = scores(te.rows["y"].to_numpy(), r["p"], r["threshold"], te.rows)
        out[gen]["recall_own_domain"] = own_domain_recall(te.rows, r["p"], r["op"])
        m = te.rows.y.to_numpy() == 1  # as served: domain-weighted thresholds, domain classifier without `gen`
        served = served_thresholds(r["op"], served_posteriors(tr, va, te.rows.text[m]))
        out[gen]["recall_served"] = float(np.mean(r["p"][m] >= served)) if m.any() else math.nan
        out[gen]["per_domain_auroc"] = per_domain_auroc(te.rows, r["p"])
    res = summarize(out, "per_generator", modern=True)
    for k in ("recall_own_domain", "recall_served"):
        res[f"mean_{k}"] = float(np.mean([v[k] for v in out.values()])) if out else math.nan
    # folds whose reference humans are few (7-8 in the table for the OUTFOX and LLMFake generators) give AUROCs
    # of little meaning; this mean keeps only folds with at least MIN_REFERENCE_HUMANS
    solid = [v["auroc"] for v in out.values() if v["n_human"] >= MIN_REFERENCE_HUMANS and "auroc" in v]
    res["mean_auroc_solid"] = float(np.mean(solid)) if solid else math.nan
    res["n_solid"] = len(solid)
    solid_w = [v["auroc_written"] for v in out.values()
               if v.get("n_human_written", 0) >= MIN_REFERENCE_HUMANS and "auroc_written" in v]
    res["mean_auroc_written_solid"] = float(np.mean(solid_w)) if solid_w else math.nan
    sets = [a for v in out.values() for a in v["per_domain_auroc"].values()]
    res["mean_auroc_per_set"] = float(np.mean(sets)) if sets else math.nan
    return res


def own_domain_recall(rows: pd.DataFrame, p: np.ndarray, op) -> float:
    """Verdict recall with each machine text at its true domain's threshold where that domain has one of its own
    (else the strictest): what serving gives when the domain classifier is right, next to the guard-only figure."""
    m = (rows.y == 1).to_numpy()
    thr = np.array([op.threshold(domain=d) for d in rows.domain.fillna("other")[m]])
    return float(np.mean(p[m] >= thr)) if m.any() else math.nan


def per_domain_auroc(rows: pd.DataFrame, p: np.ndarray, min_rows: int = 20) -> dict:
    """AUROC of one held-out generator against the human texts of the same domain, per domain: sets shaped like
    the external benchmark's (one generator x one genre), where the pooled figure also pays for domain shifts."""
    out = {}
    dom = rows.domain.fillna("other").to_numpy()
    y = rows.y.to_numpy()
    for d in np.unique(dom):
        m = dom == d
        if (y[m] == 1).sum() >= min_rows and (y[m] == 0).sum() >= min_rows:
            out[str(d)] = metrics.auroc(y[m], p[m])
    return out


def protocol_leave_out(name, data, splits, column: str, min_rows=60, **kw) -> dict:
    rows = data.rows
    out = {}
    for val in sorted(rows[column].dropna().unique()):
        m = (rows[column] == val).to_numpy()
        if m.sum() < min_rows or rows[m].y.nunique() < 2:
            continue
        tr = data.subset(splits["train"] & ~m)
        va = data.subset(splits["validation"] & ~m)
        if tr.rows.y.nunique() < 2 or va.rows.y.nunique() < 2:
            continue
        te = data.subset(m)
        r = run_fold(name, tr, va, te, **kw)
        y = te.rows["y"].to_numpy()
        out[val] = scores(y, r["p"], r["threshold"], te.rows)
        # as served, by a domain classifier that never saw the held-out domain / dataset (a genre it cannot name)
        flag = r["p"] >= served_thresholds(r["op"], served_posteriors(tr, va, te.rows.text))
        out[val]["recall_served"] = float(flag[y == 1].mean())
        out[val]["human_fpr_served"] = float(flag[y == 0].mean())
        written = (y == 0) & ~machine_touched_humans(te.rows)
        out[val]["human_fpr_served_written"] = float(flag[written].mean()) if written.any() else math.nan
    res = summarize(out, f"per_{column}")
    for k in ("recall_served", "human_fpr_at_threshold", "human_fpr_served", "human_fpr_served_written"):
        res[f"mean_{k}"] = float(np.mean([v[k] for v in out.values()])) if out else math.nan
    return res


def protocol_budget(data, splits, budgets, candidates=("zeroshot", "linear")) -> dict:
    """AUROC vs the LM's token budget (the first k tokens scored): test and LOGO mean, per candidate.
    The table holds the first 256 tokens, so "full" here is 256 (longer texts are cut there too)."""
    out = {}
    for k in budgets:
        d = data.with_budget(k)
        out[str(k)] = {}
        for name in candidates:
            t = protocol_test_overall(name, d, splits)
            lo = protocol_logo(name, d, splits)
            out[str(k)][name] = {"test_auroc": t.get("auroc"), "logo_mean_auroc": lo["mean_auroc"],
                                 "logo_modern_auroc": lo.get("mean_auroc_modern")}
        print(f"budget {k}: {out[str(k)]}", file=sys.stderr)
    return out


def protocol_test_overall(name, data, splits) -> dict:
    tr, va, te = (data.subset(splits[s]) for s in ("train", "validation", "test"))
    r = run_fold(name, tr, va, te)
    return scores(te.rows["y"].to_numpy(), r["p"], r["threshold"])


def summarize(out: dict, key: str, modern: bool = False) -> dict:
    au = [v["auroc"] for v in out.values() if not math.isnan(v.get("auroc", math.nan))]
    rec = [v["recall_at_threshold"] for v in out.values()]
    res = {key: out, "mean_auroc": float(np.mean(au)) if au else math.nan,
           "min_auroc": float(np.min(au)) if au else math.nan,
           "mean_recall_at_threshold": float(np.mean(rec)) if rec else math.nan}
    aw = [v["auroc_written"] for v in out.values() if "auroc_written" in v]
    if aw:
        res["mean_auroc_written"] = float(np.mean(aw))
    if modern:
        m = [out[g]["auroc"] for g in MODERN if g in out and "auroc" in out[g]]
        res["mean_auroc_modern"] = float(np.mean(m)) if m else math.nan
    return res


def load_fixtures(paths: Sequence[str] | None, cache_dir: str | None, budgets: Sequence[int] = (),
                  layers: Sequence[int] = (MID_LAYER,)) -> TableData | None:
    """Learner-style human texts of our own, scored by the LM here (a few seconds), with the hidden states of
    ``layers`` pooled over each of ``budgets`` too."""
    if not paths:
        return None
    import tempfile

    from ghostscore.textkey import text_key
    from ghostscore.training.feature_table import TableScorer, build
    from ghostscore.training.pooled_hidden import LayerPooler, build_pooled

    df = pd.concat([pd.read_json(p, lines=True) for p in paths], ignore_index=True)
    df["y"] = 0
    for c in ("split", "group", "dataset", "generator", "domain", "attack", "lang", "id"):
        if c not in df.columns:
            df[c] = {"split": "test", "dataset": "fixtures", "domain": "essay", "lang": "en"}.get(c)
    df["group"] = df["group"].fillna(pd.Series(range(len(df))).astype(str))
    tmp = Path(tempfile.mkdtemp())
    build(df, tmp / "table", scorer=TableScorer(), progress=False)
    for k in budgets:
        build_pooled(tmp / "table", dict(zip((text_key(t) for t in df["text"]), df["text"], strict=True)), k,
                     pooler=LayerPooler(k, layers))
    data_path = tmp / "fixtures.jsonl"
    df.assign(label="human").to_json(data_path, orient="records", lines=True)
    return load_table_data(tmp / "table", [str(data_path)], cache_dir=cache_dir, progress=False)


def to_markdown(res: dict) -> str:
    lines = []
    if res.get("budget_curve"):
        lines += ["AUROC vs LM token budget (test / LOGO mean / LOGO modern):", "",
                  "| tokens | " + " | ".join(next(iter(res["budget_curve"].values()))) + " |",
                  "|---|" + "---|" * len(next(iter(res["budget_curve"].values())))]
        for k, per in res["budget_curve"].items():
            lines.append(f"| {k} | " + " | ".join(
                f"{_f(v['test_auroc'])} / {_f(v['logo_mean_auroc'])} / {_f(v['logo_modern_auroc'])}"
                for v in per.values()) + " |")
        lines.append("")
    lines += ["| candidate | test AUROC | test TPR@1% | test recall@thr (guard) | test recall / human FPR "
              "(as served) | LOGO mean (all / >=30 humans) | LOGO mean, human-written references (all / >=30) | "
              "LOGO min | LOGO modern | "
              "LOGO recall (guard / served / own domain) | LOGO per generator x domain | LODO mean | LODataset mean | "
              "OUTFOX human FPR | plainest-quarter FPR | fixtures FPR |",
              "|---|" + "---|" * 15]
    for name, r in res["candidates"].items():
        t = r.get("test", {})
        o = t.get("overall", {})
        f = t.get("fairness", {})
        lo = r.get("logo", {})
        lines.append("| " + " | ".join([
            name, _f(o.get("auroc")), _f(o.get("tpr_at_1fpr")), _f(o.get("recall_at_threshold")),
            _f(t.get("per_domain_thresholds", {}).get("recall_at_threshold")) + " / "
            + _f(t.get("per_domain_thresholds", {}).get("human_fpr_at_threshold")),
            _f(lo.get("mean_auroc")) + " / " + _f(lo.get("mean_auroc_solid")),
            _f(lo.get("mean_auroc_written")) + " / " + _f(lo.get("mean_auroc_written_solid")), _f(lo.get("min_auroc")),
            _f(lo.get("mean_auroc_modern")),
            " / ".join(_f(lo.get(k)) for k in ("mean_recall_at_threshold", "mean_recall_served",
                                                 "mean_recall_own_domain")),
            _f(lo.get("mean_auroc_per_set")),
            _f(r.get("lodo", {}).get("mean_auroc")),
            _f(r.get("lodataset", {}).get("mean_auroc")),
            _f(f.get("outfox_human_essays", {}).get("fpr")), _f(f.get("plainest_quarter_test_humans", {}).get("fpr")),
            _f(f.get("learner_fixtures", {}).get("fpr")),
        ]) + " |")
    gens = sorted({g for r in res["candidates"].values() for g in r.get("logo", {}).get("per_generator", {})})
    if gens:
        lines += ["", "LOGO AUROC / verdict recall per held-out generator:", "",
                  "| candidate | " + " | ".join(gens) + " |", "|---|" + "---|" * len(gens)]
        for name, r in res["candidates"].items():
            pg = r.get("logo", {}).get("per_generator", {})
            lines.append(f"| {name} | " + " | ".join(
                f"{_f(pg[g].get('auroc'))} / {_f(pg[g].get('recall_at_threshold'))}" if g in pg else "-"
                for g in gens) + " |")
    attacks = sorted({a for r in res["candidates"].values()
                      for a, v in r.get("test", {}).get("attacks", {}).items() if v["n_machine"] >= MIN_ATTACK_ROWS})
    if attacks:
        lines += ["", f"Test rows by attack (>= {MIN_ATTACK_ROWS} machine texts): AUROC against the same sources' "
                  "test humans / verdict recall at the guard / as served:", "",
                  "| candidate | " + " | ".join(attacks) + " |", "|---|" + "---|" * len(attacks)]
        for name, r in res["candidates"].items():
            at = r.get("test", {}).get("attacks", {})
            lines.append(f"| {name} | " + " | ".join(
                " / ".join(_f(at[a].get(k)) for k in ("auroc", "recall_at_threshold", "recall_served"))
                if a in at else "-" for a in attacks) + " |")
    return "\n".join(lines) + "\n"


def _f(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", required=True)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--candidates", default="zeroshot,linear,linear-lm,mlp,gbt,cnn,cnn-res,hidden",
                    help="comma-separated; NAME@K scores the candidate on the first K tokens (the table holds 256); "
                         "NAME@K:key=value,... sets recipe keywords (then separate candidates with ';')")
    ap.add_argument("--protocols", default="test,logo,lodo,lodataset")
    ap.add_argument("--leave-out-candidates", default="zeroshot,linear,cnn-res",
                    help="candidates also run leave-one-domain/dataset-out (each fold is a fit)")
    ap.add_argument("--shipped-calibration", default="linear,linear-evidence",
                    help="candidates calibrated with the shipped recipe (held-out-generator + cross-fitted scores; "
                         "about 15 fits per fold), the others on validation alone")
    ap.add_argument("--fixtures", nargs="*", default=None,
                    help="JSONL files of human texts (learner-style) for the fairness gate")
    ap.add_argument("--min-machine", type=int, default=30, help="LOGO: generators with at least this many rows")
    ap.add_argument("--budgets", default="", help="comma-separated token budgets for the AUROC-vs-tokens curve")
    ap.add_argument("--budget-candidates", default="zeroshot,linear", help="candidates refitted at each budget")
    ap.add_argument("--lens", type=int, default=None, metavar="K",
                    help="join the logit-lens statistics over K tokens stored beside --table (lens_features.py); "
                         "rows without them are left out for every candidate; candidates read them with lens=...")
    ap.add_argument("--out", default="runs/transfer")
    args = ap.parse_args(argv)
    t0 = time.time()
    data = load_table_data(args.table, args.data, cache_dir=args.cache_dir)
    lens = read_lens(args.table, args.lens) if args.lens else None
    if lens is not None:
        if lens.empty:
            ap.error(f"--lens {args.lens}: nothing stored beside {args.table} (run benchmarks/lens_features.py)")
        keep = covered(data, lens)
        print(f"--lens: {int((~keep).sum())} of {len(keep)} rows have no lens statistics (left out)", file=sys.stderr)
        data = data.subset(keep)
    splits = {s: (data.rows["split"] == s).to_numpy() for s in ("train", "validation", "test")}
    specs = candidate_specs(args.candidates)
    budgets = sorted({b for b in (parse_candidate(c)[1] for c in specs) if b})
    layers = {MID_LAYER, *HIDDEN_LAYERS, *(x for c in specs for x in parse_candidate(c)[2].get("layers", ()))}
    fixtures = load_fixtures(args.fixtures, args.cache_dir, budgets, sorted(layers))
    if lens is not None and fixtures is not None:
        lens_layers = sorted({int(c[len("lens_xent"):]) for c in lens.columns if c.startswith("lens_xent")})
        lens = pd.concat([lens, score_rows(fixtures, LensScorer(args.lens, lens_layers))], ignore_index=True)
    print(f"rows {len(data.rows)} ({ {s: int(m.sum()) for s, m in splits.items()} }) in {time.time() - t0:.0f}s",
          file=sys.stderr)
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    leave_out = set(candidate_specs(args.leave_out_candidates))
    SHIPPED_CALIBRATION.update(c.strip() for c in args.shipped_calibration.split(",") if c.strip())
    res: dict = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
                 "machine": f"{platform.node()} {platform.processor()} 2 cores",
                 "date": time.strftime("%Y-%m-%d"), "rows": {s: int(m.sum()) for s, m in splits.items()},
                 "by_dataset": data.rows.groupby(["dataset", "y"]).size().rename("n").reset_index()
                 .to_dict(orient="records"), "candidates": {}}
    if args.budgets:
        res["budget_curve"] = protocol_budget(data, splits, [int(b) for b in args.budgets.split(",")],
                                              [c.strip() for c in args.budget_candidates.split(",") if c.strip()])
    for name in specs:
        t1 = time.time()
        r: dict = {}
        base, budget, kw = parse_candidate(name)  # "linear-evidence@128": the candidate at a 128-token budget
        cols = kw.pop("lens", ())
        if cols and lens is None:
            ap.error(f"{name}: lens= needs --lens K")
        d = with_lens(data.with_budget(budget) if budget else data, lens, cols)
        fx = fixtures.with_budget(budget) if budget and fixtures is not None else fixtures
        fx = with_lens(fx, lens, cols) if fx is not None else None
        if "test" in protocols:
            r["test"] = protocol_test(base, d, splits, fx, **kw)
        if "logo" in protocols:
            r["logo"] = protocol_logo(base, d, splits, args.min_machine, **kw)
        if name in leave_out and "lodo" in protocols:
            r["lodo"] = protocol_leave_out(base, d, splits, "domain", **kw)
        if name in leave_out and "lodataset" in protocols:
            r["lodataset"] = protocol_leave_out(base, d, splits, "dataset", **kw)
        r["seconds"] = round(time.time() - t1, 1)
        res["candidates"][name] = r
        print(f"{name}: test {r.get('test', {}).get('overall', {}).get('auroc', math.nan):.4f} "
              f"LOGO {r.get('logo', {}).get('mean_auroc', math.nan):.4f} ({r['seconds']}s)", file=sys.stderr)
        write_results(args.out, res, to_markdown(res))
    print(to_markdown(res))


def write_results(out: str | Path, res: dict, markdown: str) -> None:
    """results.json and results.md in ``out`` (rewritten after each candidate, so a long run leaves what it has)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(to_jsonable(res), indent=1))
    (out / "results.md").write_text(markdown)


if __name__ == "__main__":
    main()
