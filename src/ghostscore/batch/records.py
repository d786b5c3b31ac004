"""One input record -> one output record: result fields for a Score, error fields for a bad record."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from .options import N_EVIDENCE


# ------------------------------------------------------------------ records
@dataclass
class InRecord:
    """One input record: its fields (None when unparseable), the text or the reason it has none."""

    fields: dict[str, Any] | None
    text: Any = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # _line/_index/raw added to the output


@dataclass
class Chunk:
    start: int  # index of the first record in the whole input
    records: list[InRecord]
    arrow: Any = None  # the pyarrow RecordBatch when reading Parquet (carried losslessly to Parquet)
    progress_to: int = 0  # reader position (bytes or rows) after this chunk, for the progress bar


def error_text(exc: InputError) -> str:
    return f"{exc.code}: {exc.message}"


def result_fields(item: Any, *, n_evidence: int = N_EVIDENCE) -> dict[str, Any]:
    """Score or InputError -> the four output fields; 'unsupported' scores carry their reasons."""
    if isinstance(item, InputError):
        return {"ai_probability": None, "verdict": None, "evidence": [], "error": error_text(item)}
    if item.verdict == "unsupported":
        evidence = [f"unsupported: {r}" for r in item.reasons]
    else:
        evidence = item.short_evidence(n_evidence)
    p = item.ai_probability
    return {
        "ai_probability": None if p is None or not math.isfinite(p) else float(p),
        "verdict": item.verdict, "evidence": evidence, "error": None,
    }


def error_fields(message: str) -> dict[str, Any]:
    return {"ai_probability": None, "verdict": None, "evidence": [], "error": message}


def check_text(fields: dict[str, Any], text_field: str, max_chars: int) -> tuple[Any, str | None]:
    """The text of a record, or why it cannot be scored (checked before any worker sees it)."""
    if text_field not in fields:
        names = ", ".join(list(fields)[:10]) or "none"
        return None, f"missing_field: no {text_field!r} field (fields: {names})"
    text = fields[text_field]
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None, f"missing_field: {text_field!r} is null"
    if not isinstance(text, str | bytes):
        return None, f"not_text: {text_field!r} is {type(text).__name__}, not a string"
    if len(text) > max_chars:
        return None, f"too_long: text has {len(text):,} characters; the limit is {max_chars:,} (max_chars)"
    return text, None
