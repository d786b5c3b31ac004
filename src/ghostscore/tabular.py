"""pandas helper: score a DataFrame column in place of writing a file, for notebooks and pipelines.

    from ghostscore import Detector
    from ghostscore.tabular import score_dataframe
    scored = score_dataframe(df, Detector.load(use_lm=False), text_column="body")

Bad rows get an ``error`` ("code: message") instead of raising, exactly like ``ghostscore batch``.
"""

from __future__ import annotations

import math
from typing import Any

from .batch import N_EVIDENCE, result_fields
from .errors import InputError

SCORE_COLUMNS = ("ai_probability", "verdict", "error", "evidence")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def score_dataframe(
    df: Any, detector: Any, text_column: str = "text", *, batch_size: int = 16, n_evidence: int = N_EVIDENCE,
) -> Any:
    """A copy of ``df`` with ``ai_probability``, ``verdict``, ``error`` and ``evidence`` columns added.

    Row order and index are kept. Missing (NaN/None) texts become ``missing_field`` errors rather than
    pandas' float NaN reaching the detector as "not a string".
    """
    import pandas as pd

    if text_column not in df.columns:
        raise KeyError(f"no column {text_column!r} in the DataFrame (columns: {list(df.columns)[:10]})")
    texts = df[text_column].tolist()
    results: list[dict[str, Any] | None] = [None] * len(texts)
    todo = []
    for i, t in enumerate(texts):
        if _missing(t):
            results[i] = result_fields(InputError("missing_field", "text is missing (null)"))
        else:
            todo.append(i)
    scored = detector.score_records((texts[i] for i in todo), batch_size=batch_size)
    for i, item in zip(todo, scored, strict=True):
        results[i] = result_fields(item, n_evidence=n_evidence)
    out = df.copy()
    for col in SCORE_COLUMNS:
        values = [r[col] for r in results]  # type: ignore[index]
        dtype = "float64" if col == "ai_probability" else "object"
        out[col] = pd.Series(values, index=df.index, dtype=dtype)
    return out
