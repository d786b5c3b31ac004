"""int8 fidelity and speed of the quantized SmolLM2 ONNX graphs against the fp32 ONNX reference (issue 13 item 5).

    python benchmarks/int8_fidelity.py --data '../shared/data/corpus/*.jsonl.gz' --variants int8,int8-safe \\
        --n 150 --max-tokens 128 --threads 2 --out runs/int8.json

Texts: ``--n`` machine + ``--n`` human texts from the test and validation splits, drawn round-robin over
generators (machine) and datasets (human) with a fixed seed, whitespace folded as the LM extractor scores
them; each text's first ``--max-tokens`` tokens are scored.

For each variant against ``onnx`` fp32:

* mean log-prob per text: mean and max of |variant - fp32| in nats (and the signed mean);
* share of scored tokens whose rank is identical;
* every LM feature of ``ghostscore.features.lm.TOKEN_FEATURES``: AUROC (machine vs human, the raw feature as
  the score) with fp32 numbers and with the variant's numbers, and the difference;
* speed: tokens/s on the same token windows (one text per call, its first ``--max-tokens`` tokens, the same
  batch shapes for every graph), after a warm-up, in ``--rounds`` interleaved rounds; the median is reported.

Acceptance (issue 13): mean log-prob within 0.02 nats and every feature AUROC within 0.005 of fp32.

The speed part wants a quiet machine. ``--skip-speed`` runs the fidelity part only; ``--speed-only`` adds the
speed part to an existing ``--out`` file (same texts), so the two can run at different moments, e.g. next to a
long background job (2026-12-03 run):

    nice -n 10 python benchmarks/int8_fidelity.py --data '../shared/data/corpus/*.jsonl.gz' --skip-speed
    P=$(pgrep -f build_feature_table.py); kill -STOP $P; trap 'kill -CONT $P' EXIT
    python benchmarks/int8_fidelity.py --data '../shared/data/corpus/*.jsonl.gz' --speed-only; kill -CONT $P
"""

from __future__ import annotations

import argparse
import glob
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

LP_TOL = 0.02
AUC_TOL = 0.005


def pick_texts(data: list[str], n: int, seed: int, splits: tuple[str, ...]) -> tuple[list[str], np.ndarray, list[str]]:
    """``n`` machine + ``n`` human texts of ``splits``, round-robin over generators (machine) / datasets
    (human), each group shuffled with ``seed``."""
    from ghostscore.training.data import load_labeled

    paths = sorted(p for pat in data for p in glob.glob(pat))
    df = load_labeled(paths)
    df = df[df.split.isin(splits) & (df.text.str.split().str.len() >= 20)]
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    ys: list[int] = []
    groups: list[str] = []
    for y in (1, 0):
        sub = df[df.y == y]
        key = (sub.generator if y == 1 else sub.dataset).fillna("?").astype(str)
        pools = {g: list(rng.permutation(idx)) for g, idx in sub.groupby(key).groups.items()}
        order = sorted(pools)
        taken: list[tuple[int, str]] = []
        while len(taken) < n and any(pools.values()):
            for g in order:
                if pools[g] and len(taken) < n:
                    taken.append((pools[g].pop(), g))
        for i, g in taken:
            texts.append(" ".join(str(df.text.loc[i]).split()))
            ys.append(y)
            groups.append(g)
    return texts, np.asarray(ys), groups


def gltr_bucket(rank: np.ndarray) -> np.ndarray:
    """GLTR bucket of each rank: 0 = top 1, 1 = 2-10, 2 = 11-100, 3 = 101-1000, 4 = beyond."""
    return np.searchsorted(np.array([1, 10, 100, 1000]), np.asarray(rank), side="left")


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def score_all(scorer, texts: list[str], max_tokens: int, chunk: int = 32) -> list:
    out = []
    t0 = time.perf_counter()
    for i in range(0, len(texts), chunk):
        out.extend(scorer.score_tokens(texts[i : i + chunk], max_tokens=max_tokens))
        print(f"  {scorer.backend_name}: {len(out)}/{len(texts)} texts, {time.perf_counter() - t0:.0f} s",
              file=sys.stderr, flush=True)
    return out


def fidelity(scorers: dict, texts: list[str], y: np.ndarray, max_tokens: int) -> dict:
    from ghostscore.features.lm import TOKEN_FEATURES, token_features

    stats = {name: score_all(s, texts, max_tokens) for name, s in scorers.items()}
    feats = {name: {f: np.array([token_features(t.logprob, t.rank, t.entropy, t.variance)[f] for t in st])
                    for f in TOKEN_FEATURES} for name, st in stats.items()}
    ref = stats["fp32"]
    ref_lp = np.array([np.nanmean(t.logprob) if t.n_scored else np.nan for t in ref])
    res: dict = {"n_texts": len(texts), "n_machine": int(y.sum()), "n_human": int((1 - y).sum()),
                 "scored_tokens": int(sum(t.n_scored for t in ref)), "fp32_mean_logprob": float(np.nanmean(ref_lp)),
                 "variants": {}}
    for name, st in stats.items():
        if name == "fp32":
            continue
        lp = np.array([np.nanmean(t.logprob) if t.n_scored else np.nan for t in st])
        d = lp - ref_lp
        same = sum(int(np.sum(a.rank == b.rank)) for a, b in zip(st, ref, strict=True))
        same_bucket = sum(int(np.sum(gltr_bucket(a.rank) == gltr_bucket(b.rank))) for a, b in zip(st, ref, strict=True))
        aucs = {}
        for f in TOKEN_FEATURES:
            a, b = feats["fp32"][f], feats[name][f]
            ok = np.isfinite(a) & np.isfinite(b)
            ra, rb = auroc(y[ok], a[ok]), auroc(y[ok], b[ok])
            aucs[f] = {"fp32": ra, "variant": rb, "delta": rb - ra, "n": int(ok.sum())}
        worst = max(aucs, key=lambda f: abs(aucs[f]["delta"]))
        v = {
            "mean_abs_dlogprob": float(np.nanmean(np.abs(d))), "max_abs_dlogprob": float(np.nanmax(np.abs(d))),
            "mean_dlogprob": float(np.nanmean(d)), "same_rank_share": same / res["scored_tokens"],
            "same_gltr_bucket_share": same_bucket / res["scored_tokens"],
            "auroc": aucs, "max_abs_dauroc": abs(aucs[worst]["delta"]), "worst_feature": worst,
        }
        v["passes"] = bool(v["mean_abs_dlogprob"] <= LP_TOL and v["max_abs_dauroc"] <= AUC_TOL)
        res["variants"][name] = v
    return res


def speed(scorers: dict, texts: list[str], max_tokens: int, n_texts: int, rounds: int) -> dict:
    """Tokens/s of each graph on the same windows: one text per call, its first ``max_tokens`` tokens."""
    any_scorer = next(iter(scorers.values()))
    step = max(1, len(texts) // max(n_texts, 1))  # spread over both labels and every group
    windows = [ids[:max_tokens] for ids, _ in any_scorer.tokenize(texts[::step][:n_texts])]
    windows = [w for w in windows if len(w) >= 2]
    tokens = int(sum(len(w) for w in windows))
    names = list(scorers)
    for name in names:  # warm-up: a few calls per graph settle the allocator arenas
        for w in windows[:5]:
            scorers[name].backend.stats(w[None])
    per: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order every round
            be = scorers[name].backend
            t0 = time.perf_counter()
            for w in windows:
                be.stats(w[None])
            per[name].append(tokens / (time.perf_counter() - t0))
        print(f"  speed round {r + 1}/{rounds}: " + ", ".join(f"{n} {per[n][-1]:.0f}" for n in names),
              file=sys.stderr, flush=True)
    return {"texts": len(windows), "tokens_per_round": tokens, "rounds": rounds,
            "tokens_per_s": {n: float(statistics.median(v)) for n, v in per.items()},
            "tokens_per_s_all": per}


def table(res: dict) -> str:
    fid = res.get("fidelity", {})
    sp = res.get("speed", {}).get("tokens_per_s", {})
    base = sp.get("fp32")
    lines = [
        "| graph | tokens/s (median) | vs fp32 | mean abs Δ mean log-prob (max) | signed Δ | same rank | "
        "same GLTR bucket | max abs Δ AUROC (feature) | passes |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| fp32 (reference) | {base:.0f} | 1.00x | - | - | 100% | 100% | - | - |" if base else
        "| fp32 (reference) | - | - | - | - | 100% | 100% | - | - |",
    ]
    for name, v in fid.get("variants", {}).items():
        s = sp.get(name)
        lines.append(
            f"| {name} | {f'{s:.0f}' if s else '-'} | {f'{s / base:.2f}x' if s and base else '-'} | "
            f"{v['mean_abs_dlogprob']:.4f} ({v['max_abs_dlogprob']:.4f}) | {v['mean_dlogprob']:+.4f} | "
            f"{100 * v['same_rank_share']:.1f}% | {100 * v.get('same_gltr_bucket_share', np.nan):.1f}% | "
            f"{v['max_abs_dauroc']:.4f} ({v['worst_feature']}) | "
            f"{'yes' if v['passes'] else 'no'} |"
        )
    variants = list(fid.get("variants", {}))
    if variants:
        feats = list(fid["variants"][variants[0]]["auroc"])
        lines += ["", "| feature | AUROC fp32 | " + " | ".join(f"{n} (Δ)" for n in variants) + " |",
                  "|---|---|" + "---|" * len(variants)]
        for f in feats:
            ref = fid["variants"][variants[0]]["auroc"][f]["fp32"]
            cells = [f"{fid['variants'][n]['auroc'][f]['variant']:.4f} ({fid['variants'][n]['auroc'][f]['delta']:+.4f})"
                     for n in variants]
            lines.append(f"| {f} | {ref:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", default=["../shared/data/corpus/*.jsonl.gz"])
    ap.add_argument("--n", type=int, default=150, help="texts per label")
    ap.add_argument("--splits", default="test,validation")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--variants", default="int8,int8-safe")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--speed-texts", type=int, default=24, help="texts per speed round (spread over the sample)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--speed-only", action="store_true", help="add the speed part to an existing --out file")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default="runs/int8.json")
    args = ap.parse_args(argv)

    from ghostscore.backbones.language_model import load_scorer

    out = Path(args.out)
    res: dict = json.loads(out.read_text()) if args.speed_only and out.exists() else {}
    texts, y, groups = pick_texts(args.data, args.n, args.seed, tuple(args.splits.split(",")))
    print(f"{len(texts)} texts ({int(y.sum())} machine) from {len(set(groups))} generators/datasets",
          file=sys.stderr)
    variants = [v for v in args.variants.split(",") if v]
    backends = {"fp32": "onnx", **{v: f"onnx-{v}" for v in variants}}
    scorers = {name: load_scorer(args.cache_dir, backend=b, threads=args.threads) for name, b in backends.items()}
    res.update({"command": " ".join(sys.argv), "args": vars(args), "platform": platform.platform(),
                "texts_per_group": {g: groups.count(g) for g in sorted(set(groups))}})
    if not args.speed_only:
        res["fidelity"] = fidelity(scorers, texts, y, args.max_tokens)
    if not args.skip_speed:
        res["speed"] = speed(scorers, texts, args.max_tokens, args.speed_texts, args.rounds)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
