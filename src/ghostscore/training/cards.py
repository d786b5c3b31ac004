"""Model cards: what a model reads, what it was trained on, its operating point and its metrics."""

from __future__ import annotations

import json
from typing import Any

from ..classifiers.calibration import (
    MIN_DOMAIN_HUMANS,
    MIN_MACHINE_GROUP,
    MIN_OWN_THRESHOLD_HUMANS,
    OperatingPoint,
)
from ..classifiers.linear import LinearModel
from ..document import MIN_WORDS
from .candidates import PARAM_NAMES


def operating_point_lines(op: OperatingPoint | None, source: str = "validation") -> list[str]:
    """The model card's operating-point section (shared by every model type); ``source`` names the scores
    the thresholds come from."""
    if op is None:
        return ["## Operating point", "No operating point."]
    lo, hi = op.band()
    return [
        "## Operating point",
        f"`ai` when P(machine) >= {hi:.3f}: at most {op.fpr:.1%} of {source} human texts score that high"
        + (f", overall and within each of these domains: {', '.join(sorted(op.domain_quantiles))} (this threshold, "
           "the strictest, is the guard). Each text's own threshold weighs the domains by the domain classifier's "
           f"probabilities, so that its expected human FPR over its likely domains is {op.fpr:.1%}: a text sure of "
           f"its domain gets that domain's threshold where at least {MIN_OWN_THRESHOLD_HUMANS} humans set one ("
           + (", ".join(f"{d} {op.threshold(domain=d):.3f}" for d in sorted(op.domain_quantiles)
                        if op.has_own_threshold(d)) or "none")
           + "); probability on any other domain counts at the guard's rate (domains with fewer than "
           f"{MIN_DOMAIN_HUMANS} human texts count only in the pooled figure; humans per domain: "
           + ", ".join(f"{d} {n}" for d, n in sorted(op.domain_counts.items())) + ")."
           if op.domain_quantiles else "."),
        (f"`human` only below {lo:.3f}: {op.miss_rate():.1%} of {source} machine texts, each scored by a model "
         "that never saw its generator, fall there (the miss rate)" + _group_bound(op) + "; `uncertain` in between."
         if op.machine_quantiles else
         f"`uncertain` between {lo:.3f} and {hi:.3f} (the threshold for {min(0.5, op.fpr * 5):.0%} FPR)."),
        "Choose another with `--fpr` (CLI) or `Detector.load(fpr=...)`; per-domain human FPR at the threshold "
        "is in the metrics below and in BENCHMARKS.md.",
    ]


def _group_bound(op: OperatingPoint) -> str:
    """The card's words for the per-group bound on ``human`` (none for artifacts without machine groups)."""
    rates = op.group_miss_rates()
    if not rates:
        return ""
    worst = max(rates, key=rates.get)
    return (f", and at most {op.max_miss:.0%} within each of {len(rates)} groups of machine texts (generator/attack, "
            f"at least {MIN_MACHINE_GROUP} each; the worst, {worst}, {rates[worst]:.1%})")


def _calibration_rows(rows: dict[str, Any] | None) -> str:
    if not rows or not rows.get("cross_fitted_train"):
        return "every other validation text by the final model."
    if rows.get("held_out") == "source":
        return (f"every other text by a model fitted without its dataset (leave-one-source-out over training and "
                f"validation texts), so the human scores describe a source no model saw: {rows['human']} human and "
                f"{rows['machine']} machine scores in all.")
    return (f"every other text by a model that never saw it (the final model for validation texts, grouped 5-fold "
            f"models for training texts): {rows['human']} human and {rows['machine']} machine scores in all.")


def _touched_line(model: Any) -> list[str]:
    """What the card says about human-labelled texts a machine rewrote in part (left out of training and
    calibration by default: ``data.MACHINE_TOUCHED_ATTACKS``)."""
    n = (model.meta.get("calibration_rows") or {}).get("machine_touched_humans_left_out")
    m = model.metrics.get("machine_touched_humans")
    if not n or not m:
        return []
    per = ", ".join(f"{a} {v['flagged']:.0%} of {v['n']}" for a, v in m.get("by_attack_own_domain", {}).items())
    return [f"Left out of training and calibration: {n} texts their sources label human although a machine rewrote "
            "them in part (LLM-polished, back-translated, a quarter of sentences by an LLM), so the stated FPR "
            f"describes human writing. At their own domain's threshold the model flags {m['flagged_at_own_domain']:.0%}"
            f" of them ({per}); at the guard {m['flagged_at_guard']:.0%}.", ""]


def _calibration_source(rows: dict[str, Any] | None) -> str:
    if rows and rows.get("cross_fitted_train") and rows.get("held_out") == "source":
        return "held-out (never-seen source)"
    cross = bool(rows and rows.get("cross_fitted_train"))
    return "held-out (validation and cross-fitted training)" if cross else "validation"


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


TABLE_KIND_TEXT = {
    "linear": "linear: standardized features -> L2 logistic regression -> Platt calibration.",
    "sequence": "sequence: a 1-D CNN over the per-token SmolLM2 statistics (log-prob, entropy, log-rank, "
                "standardized surprise) of the first tokens, mean- and max-pooled, joined with the standardized "
                "document features in a small MLP, plus a linear skip path on the features; Platt calibration.",
    "hidden": "hidden: SmolLM2's hidden states at the layers named below (576 dimensions each), mean-pooled over "
              "the token budget in the same forward pass as the statistics, next to the document features -> "
              "standardized -> L2 "
              "logistic regression -> Platt calibration. A head that reads representations: check its "
              "false-positive rate on plain and learner-style human writing (BENCHMARKS.md, fairness gate) "
              "before relying on it for non-native writers' texts.",
}


def _params(params: dict[str, Any]) -> str:
    """Recipe settings as the card states them (``C``: inverse L2 strength; ``human_tail_weight``: refit weight of
    the highest-scored tenth of training humans; ``zeroshot_blend``: share of the zero-shot likelihood;
    ``zeroshot_adjusted_for``: the features that likelihood is read relative to; ``layers``: the pooled
    hidden-state layers read; ``pair_weight``/``pairs``: share of the within-group pair direction and the number
    of pairs it was fitted on; ``current_generator_weight``: how much each of the newest generators' machine
    texts weighs in the fit; ``current_attacked_weight``: a further factor on their attacked texts, told to sound
    human or humanized; x0 = out of the fit; ``specialist_generators``/``specialist_rows``/``specialist_shift``: the
    generators that have a head of their own, how many of their machine texts it learned from, and how many human
    spreads below the main head it sits)."""

    def value(v: Any) -> str:
        if isinstance(v, dict):
            return ", ".join(f"{name} x{w:g}" for name, w in v.items()) or "none"
        if isinstance(v, list | tuple):
            return "+".join(map(str, v)) or "none"
        return f"{v:g}"

    return ", ".join(f"{k} = {value(v)}" for k, v in params.items())


def _specialist_line(model: Any) -> list[str]:
    spec = getattr(model, "specialist", None)
    if spec is None:
        return []
    params = model.meta.get("recipe_params", {})
    own = {k.removeprefix("specialist_"): v for k, v in params.items()
           if k.startswith("specialist_") and k.removeprefix("specialist_") in PARAM_NAMES.values()}
    return ["A second head of the same recipe"
            + (f" (but {_params(own)})" if own else "")
            + f" was fitted on the training humans and the machine texts of "
            f"{', '.join(spec.generators)} only (attacked ones included), then shifted so that over the training "
            f"humans it scores {spec.shift:g} x the main head's standard deviation below that head. The score is "
            "the larger of the two heads' logits, "
            "so it can only add suspicion where it is surer. Explanations come from the head that gave the score."]


def table_model_card(model: Any) -> str:
    """Card of a model trained on the stored LM feature table (``ghostscore train --features-table``)."""
    cfg = model.meta.get("config", {})
    recipe = (model.config.get("recipe") if model.type == "sequence" else None)
    lines = [
        f"# ghostscore model card: {model.name}",
        "",
        f"Type: {TABLE_KIND_TEXT.get(model.type, model.type)}"
        + (f" Recipe: {recipe} (the skip path is a logistic regression fitted first and frozen; the CNN learns "
           "a correction)." if recipe == "residual" else ""),
        f"Reads {len(model.feature_names)} layout-free features from {', '.join(model.extractors)}: "
        + ", ".join(f"`{n}`" for n in model.feature_names) + ".",
        f"The language model scores the first {model.meta.get('lm_token_budget', 'LM_TOKEN_BUDGET')} tokens of the "
        "whitespace-folded body text (the token budget), as in the feature table it was trained on.",
        "",
        "## Data",
        f"Feature table `{cfg.get('features_table')}` joined with {', '.join(cfg.get('data', []))}: "
        f"{model.meta.get('n_train')} training and {model.meta.get('n_validation')} validation texts (English, "
        "supported). Training rows by dataset: "
        + ", ".join(f"{k} {v}" for k, v in model.meta.get("train_rows_by_dataset", {}).items()) + ".",
        *([f"Recipe settings: {_params(model.meta['recipe_params'])}."] if model.meta.get("recipe_params") else []),
        *_specialist_line(model),
        *([f"Sign-consistency filter on LM features dropped: {', '.join(model.meta['sign_inconsistent_dropped'])}."]
          if model.meta.get("sign_inconsistent_dropped") else []),
        *(["Hand features may only add suspicion: these pointed to 'human' when fitted and were dropped (cues "
           "such as quotes, numbers and dates in a text flip for newer generators told to write like a reporter): "
           + ", ".join(model.meta["pointing_to_human_dropped"]) + "."]
          if model.meta.get("pointing_to_human_dropped") else []),
        "",
        "## Calibration for unseen generators",
        "Machine texts of each of these generators were scored by a model fitted without it before "
        "Platt scaling and thresholds were fitted: "
        + (", ".join(model.meta.get("calibration_held_out_generators", [])) or "none") + "; "
        + _calibration_rows(model.meta.get("calibration_rows")),
        "",
        *_touched_line(model),
        *operating_point_lines(model.operating_point, source=_calibration_source(model.meta.get("calibration_rows"))),
        "",
        "## Metrics",
        "Validation (held-out-generator and, for the other texts, held-out scores as calibrated). "
        "Test, leave-one-generator-out, leave-one-domain-out "
        "and leave-one-dataset-out figures: BENCHMARKS.md (`benchmarks/transfer_benchmark.py`).",
        *([f"Benchmark command: `{model.meta['command']}`"] if model.meta.get("command") else []),
        "```",
        json.dumps(model.metrics, indent=1),
        "```",
        "",
        "## Intended use and limits",
        "Triage of English articles for likely machine generation, with evidence for a human reviewer; not proof "
        "of authorship. Plain, predictable human prose can score high: the fairness checks in BENCHMARKS.md "
        "(non-native and learner-style essays, plainest prose) are part of choosing this model. "
        f"Texts under {MIN_WORDS} "
        "words, non-English or non-prose texts get `unsupported`. Trained on 2019-2026 generators; newer models and "
        "heavy paraphrasing lower recall.",
        "",
    ]
    return "\n".join(lines)
