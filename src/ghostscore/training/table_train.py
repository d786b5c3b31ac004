"""``ghostscore train --features-table``: fit a model on the stored LM feature table (no LM pass), calibrate it
so its probability describes *unseen* generators and sources, and save it with its card.

Calibration that transfers: each instruction-tuned generator's machine texts are scored by a model fitted
without that generator (leave-one-generator-out), every other text by a model fitted without its dataset
(leave-one-source-out; ``calibration_held_out="group"``: the final model for validation rows, grouped K-fold models
for training rows). Platt scaling and the operating point (pooled and per-domain thresholds) are fitted on those
scores, so P(machine) and the verdicts describe a generator and a source the model never saw rather than ones it
memorized; the machine scores also bound ``human``.

Human-labelled texts a machine rewrote in part (``data.MACHINE_TOUCHED_ATTACKS``: LLM-polished, back-translated,
mixed) are left out of both by default, so the stated false-positive rate describes human writing; the final
model's share of them at the thresholds is reported on its own (metrics ``machine_touched_humans``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..classifiers.calibration import OperatingPoint, platt
from ..errors import InputError
from ..features.lm import LM_TOKEN_BUDGET
from . import metrics
from .candidates import CANDIDATES, Fitted
from .cards import table_model_card
from .config import TrainConfig
from .data import is_instruction_tuned, machine_touched_humans
from .domain import fit_domain_model
from .linear import calibrate_logits, feature_ranges
from .table_data import TableData, load_table_data

KINDS = {"linear": "linear", "linear-evidence": "linear-evidence", "sequence": "cnn-res", "sequence-joint": "cnn",
         "hidden": "hidden", "hidden-evidence": "hidden-evidence"}
MIN_OOF_ROWS = 10
CROSS_FOLDS = 5
TOUCHED_CHOICES = ("leave-out", "keep")
HELD_OUT_CHOICES = ("source", "group")  # what the calibration scores of non-generator-held-out rows never saw
MIN_SOURCES = 3


def cross_fitted_logits(fit: Callable[[TableData], Fitted], data: TableData, *, folds: int = CROSS_FOLDS,
                        seed: int = 0) -> np.ndarray:
    """Logits of every row of ``data`` from a model fitted without the row's group (grouped K-fold), so a
    human text and its machine rewrite are never on both sides."""
    from sklearn.model_selection import GroupKFold

    rows = data.rows
    groups = rows["group"].fillna(rows["key"]).astype(str).to_numpy()
    out = np.full(len(rows), np.nan)
    for fit_idx, held_idx in GroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(rows, groups=groups):
        mask = np.zeros(len(rows), bool)
        mask[fit_idx] = True
        part = data.subset(mask)
        if part.rows.y.nunique() < 2:
            continue
        out[held_idx] = fit(part).logits(data.subset(~mask))
    return out


def held_out_source_logits(fit: Callable[[TableData], Fitted], train: TableData, val: TableData, *,
                           min_sources: int = MIN_SOURCES,
                           progress: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """Logits of every training and validation row from a model fitted on the training rows of the *other*
    datasets (leave-one-source-out), so the human scores describe a source no model saw: a user's own site is one.
    None when the rows name fewer than ``min_sources`` datasets (then group cross-fitting is the fallback)."""
    if "dataset" not in train.rows.columns:
        return None
    names = sorted(set(train.rows.dataset.dropna()) | set(val.rows.dataset.dropna()))
    if len(names) < min_sources:
        return None
    out_tr, out_va = np.full(len(train.rows), np.nan), np.full(len(val.rows), np.nan)
    for name in names:
        t0 = time.time()
        m_tr, m_va = (train.rows.dataset == name).to_numpy(), (val.rows.dataset == name).to_numpy()
        part = train.subset(~m_tr)
        if part.rows.y.nunique() < 2:
            continue
        held = fit(part)
        if m_tr.any():
            out_tr[m_tr] = held.logits(train.subset(m_tr))
        if m_va.any():
            out_va[m_va] = held.logits(val.subset(m_va))
        if progress:
            print(f"  held-out source: {name} ({int(m_tr.sum() + m_va.sum())} rows, {time.time() - t0:.0f}s)",
                  flush=True)
    return out_tr, out_va


def held_out_generator_logits(fit: Callable[[TableData], Fitted], train: TableData,
                              parts: list[tuple[TableData, np.ndarray]], *, min_rows: int = MIN_OOF_ROWS,
                              progress: bool = True) -> list[str]:
    """Overwrite, in each ``(rows, logits)`` part, the logits of every instruction-tuned generator's machine
    rows with those of a model fitted on ``train`` without that generator. Returns the generators done."""
    counts = pd.concat([d.rows[d.rows.y == 1].generator for d, _ in parts]).value_counts()
    done = []
    for gen, n in counts.items():
        if n < min_rows or not is_instruction_tuned(gen):
            continue
        keep = ~((train.rows.y == 1) & (train.rows.generator == gen)).to_numpy()
        sub = train.subset(keep)
        if sub.rows.y.nunique() < 2:
            continue
        t0 = time.time()
        held = fit(sub)
        for d, logits in parts:
            m = ((d.rows.y == 1) & (d.rows.generator == gen)).to_numpy()
            if m.any():
                logits[m] = held.logits(d.subset(m))
        done.append(str(gen))
        if progress:
            print(f"  held-out calibration: {gen} ({int(n)} rows, {time.time() - t0:.0f}s)", flush=True)
    return done


def machine_groups(rows: pd.DataFrame) -> np.ndarray:
    """Each row's group for the ``human`` verdict's bound: ``generator/attack`` (``plain`` when not attacked)."""
    gen, attack = rows.generator.fillna("unknown").astype(str), rows.attack.fillna("plain").astype(str)
    return (gen + "/" + attack).to_numpy(object)


@dataclass
class Calibrated:
    """A fitted model with the Platt scaling and operating point of the shipped recipe."""

    final: Fitted
    calibration: tuple[float, float]
    op: OperatingPoint
    val_logits: np.ndarray       # validation rows, held-out-generator scores for their machine rows
    held_out: list[str]
    n_calibration: dict[str, int]


def fit_calibrated(fit: Callable[[TableData], Fitted], train: TableData, val: TableData, *,
                   cross_fit: bool = True, held_out: str = "source", seed: int = 0,
                   progress: bool = True) -> Calibrated:
    """Fit on ``train``; calibrate on scores no model saw the text (or its generator) of. Machine rows of each
    instruction-tuned generator are scored by a model fitted without that generator, so P(machine), the ``ai``
    threshold and the machine bound on ``human`` describe unseen generators. Every other row, with ``cross_fit``:
    ``held_out="source"`` (the default) by a model fitted without the row's dataset, so the human scores, and the
    thresholds they set, describe human texts of a source no model saw (leave-one-dataset-out; group
    cross-fitting when the rows name fewer than ``MIN_SOURCES`` datasets); ``"group"``: validation rows by the
    final model and training rows by grouped K-fold models, which describes unseen texts of the seen sources.
    Without ``cross_fit``: validation rows by the final model only."""
    if held_out not in HELD_OUT_CHOICES:
        raise InputError("usage", f"calibration held out: one of {HELD_OUT_CHOICES}, not {held_out!r}")
    final = fit(train)
    by_source = held_out_source_logits(fit, train, val, progress=progress) if cross_fit and held_out == "source" \
        else None
    if by_source is not None:
        parts = [(val, by_source[1]), (train, by_source[0])]
        bad = ~np.isfinite(by_source[1])  # a dataset whose removal leaves one label: the final model scores it
        if bad.any():
            by_source[1][bad] = final.logits(val.subset(bad))
    else:
        parts = [(val, final.logits(val))]
        if cross_fit:
            parts.append((train, cross_fitted_logits(fit, train, seed=seed)))
    held_out_gens = held_out_generator_logits(fit, train, parts, progress=progress)
    logits = np.concatenate([lg for _, lg in parts])
    y = np.concatenate([d.rows.y.to_numpy() for d, _ in parts])
    domains = np.concatenate([d.rows.domain.fillna("other").to_numpy(object) for d, _ in parts])
    groups = np.concatenate([machine_groups(d.rows) for d, _ in parts])
    ok = np.isfinite(logits)
    calibration, op = calibrate_logits(logits[ok], y[ok], domains=domains[ok], machine_bound=True,
                                       machine_groups=groups[ok])
    n = {"human": int((y[ok] == 0).sum()), "machine": int((y[ok] == 1).sum()),
         "held_out": "source" if by_source is not None else ("group" if cross_fit else "none")}
    return Calibrated(final, calibration, op, parts[0][1], held_out_gens, n)


def train_from_table(cfg: TrainConfig, *, progress: bool = True) -> Path:
    if cfg.kind not in KINDS:
        raise InputError("usage", f"--features-table trains kinds {sorted(KINDS)}, not {cfg.kind!r}")
    if cfg.machine_touched_humans not in TOUCHED_CHOICES:
        raise InputError("usage", f"machine_touched_humans: one of {TOUCHED_CHOICES}, "
                                  f"not {cfg.machine_touched_humans!r}")
    if cfg.calibration_held_out not in HELD_OUT_CHOICES:
        raise InputError("usage", f"--calibration-held-out: one of {HELD_OUT_CHOICES}, "
                                  f"not {cfg.calibration_held_out!r}")
    t0 = time.time()
    data = load_table_data(cfg.features_table, cfg.data, cache_dir=cfg.cache_dir, progress=progress)
    budget = cfg.lm_budget or LM_TOKEN_BUDGET
    if budget != LM_TOKEN_BUDGET:
        data = data.with_budget(budget)
    aside = None
    if cfg.machine_touched_humans == "leave-out":
        touched = machine_touched_humans(data.rows)
        aside = data.subset(touched & data.rows.split.isin(["train", "validation"]).to_numpy())
        data = data.subset(~touched)
    train = data.subset((data.rows.split == "train").to_numpy())
    val = data.subset((data.rows.split == "validation").to_numpy())
    for name, part in (("train", train), ("validation", val)):
        if part.rows.y.nunique() < 2:
            raise InputError("labels", f"the {name} rows of the feature table need both labels")
    candidate = KINDS[cfg.kind]

    def fit(part: TableData) -> Fitted:
        kw = {} if cfg.C is None else {"C": cfg.C}  # TrainConfig.C (Python API) overrides the recipe's
        return CANDIDATES[candidate](part, seed=cfg.seed, sign_consistent="lm" in cfg.sign_consistent, **kw)

    cal = fit_calibrated(fit, train, val, cross_fit=cfg.cross_fit_calibration, held_out=cfg.calibration_held_out,
                         seed=cfg.seed, progress=progress)
    final, calibration, op, logits, held_out = cal.final, cal.calibration, cal.op, cal.val_logits, cal.held_out
    yv = val.rows.y.to_numpy()
    model: Any = final.model
    model.calibration, model.operating_point = calibration, op
    model.domain_model = fit_domain_model(list(train.rows.text), list(train.rows.domain.fillna("other")),
                                          seed=cfg.seed, val_texts=list(val.rows.text),
                                          val_domains=list(val.rows.domain.fillna("other")))
    p = platt(logits, calibration)
    model.metrics = {"validation_held_out_generators": metrics.summary(yv, p, op.threshold())}
    if aside is not None and len(aside.rows):
        model.metrics["machine_touched_humans"] = touched_flags(aside.rows, platt(final.logits(aside), calibration), op)
    model.name = Path(cfg.out).name
    names = list(final.names)
    model.meta = {
        "config": {**asdict(cfg), "candidate": candidate},
        "recipe_params": dict(final.params),
        "lm_token_budget": budget,
        "n_train": int(len(train.rows)), "n_validation": int(len(val.rows)),
        "train_rows_by_dataset": {str(k): int(v) for k, v in train.rows.dataset.value_counts().items()},
        "calibration_held_out_generators": held_out,
        "calibration_rows": {"cross_fitted_train": cfg.cross_fit_calibration, **cal.n_calibration,
                             "machine_touched_humans_left_out": 0 if aside is None else int(len(aside.rows))},
        "miss_rate": op.miss_rate(),
        **_dropped(candidate, [n for n in _all_names(train) if n not in names]),
        "feature_ranges": feature_ranges(train.features.reindex(columns=names), train.rows.y.to_numpy()),
        "train_seconds": round(time.time() - t0, 1),
    }
    return model.save(cfg.out, card=table_model_card(model))


def touched_flags(rows: pd.DataFrame, p: np.ndarray, op: OperatingPoint) -> dict[str, Any]:
    """Share of machine-touched human texts (never trained or calibrated on) at or above the guard and at their
    own domain's threshold, overall and per attack: what a user who counts them as human should expect."""
    own = np.array([op.threshold(domain=d) for d in rows.domain.fillna("other")])
    out: dict[str, Any] = {"n": int(len(p)), "flagged_at_guard": float(np.mean(p >= op.threshold())),
                           "flagged_at_own_domain": float(np.mean(p >= own))}
    attack, flag = rows.attack.to_numpy(), p >= own
    out["by_attack_own_domain"] = {str(a): {"n": int((attack == a).sum()), "flagged": float(np.mean(flag[attack == a]))}
                                   for a in sorted(set(attack))}
    return out


def _dropped(candidate: str, names: list[str]) -> dict[str, list[str]]:
    """Features the recipe left out, under the reason the card states."""
    if not names:
        return {}
    key = ("pointing_to_human_dropped" if candidate in ("linear-evidence", "hidden-evidence")
           else "sign_inconsistent_dropped")
    return {key: names}


def _all_names(data: TableData) -> list[str]:
    from .candidates import feature_names

    return feature_names(data)
