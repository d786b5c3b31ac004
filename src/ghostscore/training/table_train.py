"""``ghostscore train --features-table``: fit a model on the stored LM feature table (no LM pass), calibrate it
so its probability describes *unseen* generators, and save it with its card.

Calibration that transfers: on the validation split, each instruction-tuned generator's machine texts are
scored by a model fitted without that generator (leave-one-generator-out), the humans by the final model.
Platt scaling and the operating point are fitted on those scores, so P(machine) and the verdicts describe a
generator the model never saw rather than one it memorized; the machine scores also bound ``human``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..features.lm import LM_TOKEN_BUDGET
from . import metrics
from .candidates import CANDIDATES, Fitted
from .cards import table_model_card
from .config import TrainConfig
from .data import is_instruction_tuned
from .domain import fit_domain_model
from .linear import calibrate_logits, feature_ranges
from .table_data import TableData, load_table_data

KINDS = {"linear": "linear", "sequence": "cnn-res", "sequence-joint": "cnn"}
MIN_OOF_ROWS = 10


def oof_generator_logits(fit: Callable[[TableData], Fitted], train: TableData, val: TableData,
                         final: Fitted, *, min_rows: int = MIN_OOF_ROWS, progress: bool = True,
                         ) -> tuple[np.ndarray, list[str]]:
    """Validation logits where each instruction-tuned generator's machine rows come from a model fitted
    without that generator; everything else from ``final``. Returns the logits and the generators done."""
    logits = final.logits(val)
    rows = val.rows
    done = []
    for gen, n in rows[rows.y == 1].generator.value_counts().items():
        if n < min_rows or not is_instruction_tuned(gen):
            continue
        keep = ~((train.rows.y == 1) & (train.rows.generator == gen)).to_numpy()
        sub = train.subset(keep)
        if sub.rows.y.nunique() < 2:
            continue
        t0 = time.time()
        held = fit(sub)
        m = ((rows.y == 1) & (rows.generator == gen)).to_numpy()
        logits[m] = held.logits(val.subset(m))
        done.append(str(gen))
        if progress:
            print(f"  held-out calibration: {gen} ({int(m.sum())} rows, {time.time() - t0:.0f}s)", flush=True)
    return logits, done


def train_from_table(cfg: TrainConfig, *, progress: bool = True) -> Path:
    if cfg.kind not in KINDS:
        raise InputError("usage", f"--features-table trains kinds {sorted(KINDS)}, not {cfg.kind!r}")
    t0 = time.time()
    data = load_table_data(cfg.features_table, cfg.data, cache_dir=cfg.cache_dir, progress=progress)
    budget = cfg.lm_budget or LM_TOKEN_BUDGET
    if budget != LM_TOKEN_BUDGET:
        data = data.with_budget(budget)
    train = data.subset((data.rows.split == "train").to_numpy())
    val = data.subset((data.rows.split == "validation").to_numpy())
    for name, part in (("train", train), ("validation", val)):
        if part.rows.y.nunique() < 2:
            raise InputError("labels", f"the {name} rows of the feature table need both labels")
    candidate = KINDS[cfg.kind]

    def fit(part: TableData) -> Fitted:
        return CANDIDATES[candidate](part, seed=cfg.seed, sign_consistent="lm" in cfg.sign_consistent)

    final = fit(train)
    logits, held_out = oof_generator_logits(fit, train, val, final, progress=progress)
    yv = val.rows.y.to_numpy()
    calibration, op = calibrate_logits(logits, yv, domains=val.rows.domain.to_numpy(), machine_bound=True)
    model: Any = final.model
    model.calibration, model.operating_point = calibration, op
    model.domain_model = fit_domain_model(list(train.rows.text), list(train.rows.domain.fillna("other")),
                                          seed=cfg.seed)
    p = 1 / (1 + np.exp(-(calibration[0] * logits + calibration[1])))
    model.metrics = {"validation_held_out_generators": metrics.summary(yv, p, op.threshold())}
    model.name = Path(cfg.out).name
    names = list(final.names)
    model.meta = {
        "config": {**asdict(cfg), "candidate": candidate},
        "lm_token_budget": budget,
        "n_train": int(len(train.rows)), "n_validation": int(len(val.rows)),
        "train_rows_by_dataset": {str(k): int(v) for k, v in train.rows.dataset.value_counts().items()},
        "calibration_held_out_generators": held_out,
        "miss_rate": op.miss_rate(),
        "sign_inconsistent_dropped": [n for n in _all_names(train) if n not in names],
        "feature_ranges": feature_ranges(train.features.reindex(columns=names), train.rows.y.to_numpy()),
        "train_seconds": round(time.time() - t0, 1),
    }
    return model.save(cfg.out, card=table_model_card(model))


def _all_names(data: TableData) -> list[str]:
    from .candidates import feature_names

    return feature_names(data)
