"""Where the time goes: per-stage seconds for N ~500-word articles through the Detector, next to a plain fp32
PyTorch SmolLM2 pass (log-softmax only) over the same articles, all in one run.

    python benchmarks/profile_stages.py --data '../shared/data/corpus/*.jsonl.gz' --n 30 --models default,linear

Stages: document parsing; each extractor (the lm extractor split into tokenize and the ONNX pass, whose graph
computes the vocabulary statistics inside); the classifier; the domain classifier; the domain-weighted
thresholds with the JSON output, as served. Rates are articles per second of steady state (models loaded and
warmed first); cold start is measured in a fresh process (load + first score).
"""

from __future__ import annotations

import argparse
import glob
import json
import platform
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd


def articles(data: list[str], n: int, lo: int, hi: int, seed: int) -> list[str]:
    paths = sorted(p for pat in data for p in glob.glob(pat))
    df = pd.concat([pd.read_json(p, lines=True) for p in paths], ignore_index=True)
    words = df.text.str.split().str.len()
    df = df[(df.domain == "news") & (df.lang == "en") & (df.label == "human") & words.between(lo, hi)]
    return list(df.sample(min(n, len(df)), random_state=seed).text)


def profile(model: str, texts: list[str], explain: bool) -> dict:
    from ghostscore import Detector
    from ghostscore.features.pipeline import featurize

    det = Detector.load(model, explain=explain)
    list(det.score_many(texts[:2]))  # load and warm every model
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    docs = [det.preprocess(x) for x in texts]
    t["document"] = time.perf_counter() - t0
    extractors = [*det.extractors, *(det.explain_extractors if explain else [])]
    sets = None
    for ex in extractors:
        if ex.name == "lm":
            scorer = det.provider.language_model()
            a = time.perf_counter()
            scorer.tokenize([d.flat_text for d in docs])
            t["lm: tokenize"] = time.perf_counter() - a
        a = time.perf_counter()
        part = featurize(docs, [ex], full=explain)
        t[f"extractor {ex.name}"] = time.perf_counter() - a
        sets = part if sets is None else [s.merge(p) for s, p in zip(sets, part, strict=True)]
    if "lm: tokenize" in t:
        t["extractor lm"] -= t["lm: tokenize"]
        t["lm: ONNX pass (forward + vocabulary statistics)"] = t.pop("extractor lm")
    a = time.perf_counter()
    probs = det.forward(docs, sets)
    t["classifier"] = time.perf_counter() - a
    a = time.perf_counter()
    doms = det.domains(docs)
    t["domain classifier"] = time.perf_counter() - a
    a = time.perf_counter()
    for d, fs, p, dom in zip(docs, sets, probs, doms, strict=True):
        json.dumps(det.postprocess(d, fs, p, domain=dom).to_dict())
    t["domain-weighted thresholds + output"] = time.perf_counter() - a
    total = sum(t.values())
    return {"model": model, "explain": explain, "n": len(texts), "seconds": {k: round(v, 3) for k, v in t.items()},
            "total_s": round(total, 2), "articles_per_s": round(len(texts) / total, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def plain_lm(texts: list[str], max_tokens: int) -> dict:
    """The issue's reference: fp32 PyTorch SmolLM2 forward + log-softmax only, first ``max_tokens`` tokens."""
    import torch
    from transformers import AutoModelForCausalLM

    from ghostscore.backbones.language_model import FastTokenizer, torch_dir

    path = torch_dir()
    tok = FastTokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=torch.float32).eval()
    ids = [e[0][:max_tokens] for e in tok.encode_batch(texts)]
    with torch.inference_mode():
        model(input_ids=torch.tensor([ids[0]]))
        a = time.perf_counter()
        for x in ids:
            torch.log_softmax(model(input_ids=torch.tensor([x])).logits.float(), -1)
        s = time.perf_counter() - a
    n_tok = sum(len(x) for x in ids)
    return {"max_tokens": max_tokens, "seconds": round(s, 2), "tokens_per_s": round(n_tok / s),
            "articles_per_s": round(len(ids) / s, 2)}


def cold_start(model: str, text: str) -> float:
    code = ("import time,sys; t=time.perf_counter(); from ghostscore import Detector; "
            f"d=Detector.load({model!r}, explain=False); d.score(sys.stdin.read()); "
            "print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True, check=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 2)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--min-words", type=int, default=450)
    ap.add_argument("--max-words", type=int, default=550)
    ap.add_argument("--models", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    texts = articles(args.data, args.n, args.min_words, args.max_words, args.seed)
    res = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]), "date": time.strftime("%Y-%m-%d"),
           "machine": f"{platform.machine()} 2 cores", "median_words": int(np.median([len(t.split()) for t in texts])),
           "runs": []}
    for model in args.models.split(","):
        for explain in (False, True):
            res["runs"].append(profile(model, texts, explain))
            print(json.dumps(res["runs"][-1]), file=sys.stderr)
        res["runs"][-1]["cold_start_s"] = cold_start(model, texts[0])
    res["plain_lm_512"] = plain_lm(texts, 512)
    res["plain_lm_256"] = plain_lm(texts, 256)
    print(json.dumps(res, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
