"""How much the fine-tuned encoder moves a residual fused model's logit, next to its linear path.

    python benchmarks/fused_residual.py --data '../shared/data/corpus/*.jsonl.gz' \\
        --model src/ghostscore/resources/models/default --cache-dir cache

A residual fused model (``fit_fused(init_linear=)``) is logit = linear path (frozen skip) + encoder/MLP
correction. On the benchmark's test sample this prints the spread of each part and the AUROC of the
linear path alone, of the whole model and of the correction alone: if the correction is small, the
features carry the model.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ghostscore.classifiers import load_model, resolve_model
from ghostscore.document import Document
from ghostscore.training import metrics
from ghostscore.training import protocols as bench


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--model", required=True, help="packaged name or directory of a fused model")
    ap.add_argument("--cap", type=int, default=2)
    ap.add_argument("--test-cap", type=int, default=None)
    ap.add_argument("--human-factor", type=float, default=5.0)
    ap.add_argument("--base-model-factor", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args(argv)
    model = load_model(resolve_model(args.model))
    if model.type != "fused":
        ap.error(f"{args.model} is a {model.type} model; this measures a fused model's encoder correction")
    frames = {"test": bench.load_splits(args.data, cap=args.cap, test_cap=args.test_cap,
                                        seed=args.seed, base_model_factor=args.base_model_factor,
                                        human_factor=args.human_factor)["test"]}
    F = bench.featurize(frames, model.extractors, args.cache_dir)
    X = F["test"].reindex(columns=model.feature_names).to_numpy(float)
    docs = [Document.from_text(t) for t in frames["test"].text]
    full = model.logit(X, docs)
    linear = model.linear_logit(X)
    correction = full - linear
    y = frames["test"].y.to_numpy()
    print(json.dumps({
        "model": args.model, "test_texts": int(len(y)),
        "linear_path_std": float(np.std(linear)), "correction_std": float(np.std(correction)),
        "correction_mean_abs": float(np.mean(np.abs(correction))),
        "auroc_linear_path": metrics.auroc(y, linear), "auroc_full": metrics.auroc(y, full),
        "auroc_correction_alone": metrics.auroc(y, correction),
    }, indent=1))


if __name__ == "__main__":
    main()
