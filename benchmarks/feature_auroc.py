"""Each feature alone, per generator: AUROC of the generator's texts against the human texts of the same sources
(same domains for machine-only sources), on the stored table (no LM pass). Shows which cues a generator shares
with the others and which flip (0.5 = no signal, below 0.5 = the cue points the other way for it).

    python benchmarks/feature_auroc.py --table data/features/lm-v2 --data '../shared/data/corpus/*.jsonl.gz' \
        --cache-dir cache --extractors phrasing,bio,style \
        --generators llm-2026,gpt-4o,llama-3-70b-instruct,gpt-3.5-turbo
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from ghostscore.training import metrics
from ghostscore.training.selection import human_reference
from ghostscore.training.table_data import load_table_data


def feature_aurocs(rows: pd.DataFrame, features: pd.DataFrame, generators: list[str],
                   min_rows: int = 20) -> pd.DataFrame:
    out = {}
    for gen in generators:
        gm = (rows.y == 1) & (rows.generator == gen)
        hum = human_reference(rows, rows[gm]).reindex(rows.index, fill_value=False)
        m = (gm | hum).to_numpy()
        y = rows.y.to_numpy()[m]
        col = {}
        for c in features.columns:
            x = features[c].to_numpy(float)[m]
            ok = np.isfinite(x)
            if (y[ok] == 1).sum() >= min_rows and (y[ok] == 0).sum() >= min_rows:
                col[c] = metrics.auroc(y[ok], x[ok])
        out[f"{gen} ({int(gm.sum())} vs {int(hum.sum())})"] = col
    return pd.DataFrame(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", required=True)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--extractors", default="phrasing,bio", help="hand extractors joined to the LM statistics")
    ap.add_argument("--generators", required=True, help="comma-separated")
    ap.add_argument("--json", default=None, help="also write the table as JSON here")
    args = ap.parse_args(argv)
    data = load_table_data(args.table, args.data, cache_dir=args.cache_dir, progress=False,
                           hand_extractors=[e for e in args.extractors.split(",") if e])
    table = feature_aurocs(data.rows, data.features, args.generators.split(","))
    if args.json:
        table.to_json(args.json, indent=1)
    print(f"rows {len(data.rows)}", file=sys.stderr)
    cols = list(table.columns)
    print("| feature | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
    for name, row in table.iterrows():
        print(f"| {name} | " + " | ".join("-" if pd.isna(v) else f"{v:.2f}" for v in row) + " |")


if __name__ == "__main__":
    main()
