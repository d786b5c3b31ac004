"""The one JSON sanitizer: NaN/inf become null, numpy scalars plain numbers, and values JSON cannot hold
(bytes, dates, decimals) readable strings, so every output of ghostscore is strict JSON."""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import json
import math
from typing import Any


def to_jsonable(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps(..., allow_nan=False)`` accepts."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and hasattr(value, "dtype"):  # numpy scalars
        return to_jsonable(value.item())
    return json_default(value)


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)``: values Parquet can hold and JSON cannot, kept readable."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode("ascii")
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return to_jsonable(value.item())
    return str(value)


def dumps(record: Any, **kw: Any) -> str:
    """Strict JSON; the fast path skips the walk unless a NaN or an odd type is actually there."""
    try:
        return json.dumps(record, ensure_ascii=False, default=json_default, allow_nan=False, **kw)
    except ValueError:
        return json.dumps(to_jsonable(record), ensure_ascii=False, default=json_default, allow_nan=False, **kw)


def clean_float(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v
