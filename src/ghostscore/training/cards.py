"""Model cards: what a model reads, what it was trained on, its operating point and its metrics."""

from __future__ import annotations

import json

from ..classifiers.calibration import MIN_DOMAIN_HUMANS, OperatingPoint
from ..classifiers.linear import LinearModel
from ..document import MIN_WORDS


def operating_point_lines(op: OperatingPoint | None) -> list[str]:
    """The model card's operating-point section (shared by every model type)."""
    if op is None:
        return ["## Operating point", "No operating point."]
    lo, hi = op.band()
    return [
        "## Operating point",
        f"`ai` when P(machine) >= {hi:.3f}: at most {op.fpr:.1%} of validation human texts score that high"
        + (f", overall and within each of these validation domains: {', '.join(sorted(op.domain_quantiles))} "
           f"(per-domain guard; domains with fewer than {MIN_DOMAIN_HUMANS} validation human texts count only in the "
           "pooled figure)."
           if op.domain_quantiles else "."),
        f"`uncertain` between {lo:.3f} and {hi:.3f} (the threshold for {min(0.5, op.fpr * 5):.0%} FPR).",
        "Choose another with `--fpr` (CLI) or `Detector.load(fpr=...)`.",
    ]


def model_card(model: LinearModel) -> str:
    v = model.metrics.get("validation", {})
    op = model.operating_point
    top = sorted(zip(model.feature_names, model.coef, strict=True), key=lambda t: -abs(t[1]))[:12]
    cfg = model.meta.get("config", {})
    lines = [
        f"# ghostscore model card: {model.name}",
        "",
        f"Type: {model.type} (standardized features -> logistic regression -> Platt calibration).",
        f"Extractors: {', '.join(model.extractors)}; {len(model.feature_names)} layout-free features.",
        "",
        "## Data",
        f"Trained on {model.meta.get('n_train')} texts (train split), calibrated on "
        f"{model.meta.get('n_validation')} (validation split) of: {', '.join(cfg.get('data', []))}.",
        f"Subsample: at most {cfg.get('max_per_stratum')} texts per "
        f"dataset x domain x generator x attack x label stratum (base-model generators "
        f"x{cfg.get('base_model_factor')}, human strata x{cfg.get('human_factor')}); English only; "
        f"seed {cfg.get('seed')}.",
        *([f"Sign-consistency filter on {', '.join(cfg.get('sign_consistent', []))} features: dropped "
           f"{', '.join(model.meta['sign_inconsistent_dropped'])} (their direction differs between training "
           "generators, so they mislead on unseen ones; see `ghostscore.selection`)."]
          if model.meta.get("sign_inconsistent_dropped") else []),
        "",
        *operating_point_lines(op),
        "",
        "## Validation metrics (not test; see BENCHMARKS.md for held-out test and cross-generator numbers)",
        "```",
        json.dumps(v, indent=1),
        "```",
        "",
        "## Largest weights (standardized)",
        *[f"- `{n}`: {c:+.3f}" for n, c in top],
        "",
        "## Intended use and limits",
        "Triage of English articles for likely machine generation, with evidence for a human reviewer.",
        "Not proof: simple, predictable human prose (e.g. non-native writers) can score high. Texts under "
        f"{MIN_WORDS} words, non-English or non-prose texts get `unsupported`. Trained on 2019-2026 "
        "generators; newer models and heavy paraphrasing lower recall.",
        "",
    ]
    return "\n".join(lines)
