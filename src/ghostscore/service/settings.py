"""Service settings from the environment, and the warm-up text scored before the service reports ready."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, fields, replace
from typing import Any

WARMUP_TEXT = " ".join(
    ["The town council met on Monday to discuss the budget for the coming year.",
     "Several residents asked about repairs to the old bridge, which has been closed since the spring.",
     "The mayor said the work would start in the autumn and should be finished before the winter.",
     "A local teacher raised concerns about the cost of school transport for families in the villages."] * 2
)

log = logging.getLogger("ghostscore.server")


# ------------------------------------------------------------------ settings
@dataclass(frozen=True)
class ServerSettings:
    """Limits and switches; every field can be set by ``GHOSTSCORE_<FIELD NAME IN CAPITALS>``."""

    max_body_bytes: int = 8 * 1024 * 1024  # the report page accepts 8 MiB HTML uploads
    max_texts: int = 64
    max_chars: int = 200_000
    request_timeout_s: float = 60.0
    max_concurrency: int = 2
    max_queue: int = 16
    max_wait_s: float = 1.0  # 503 when the expected wait for a scorer exceeds this (0: only max_queue bounds it)
    retry_after_s: int = 2
    api_key: str | None = None
    open_paths: tuple[str, ...] = ("/healthz", "/readyz")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> ServerSettings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"GHOSTSCORE_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            if f.name == "open_paths":
                values[f.name] = tuple(p.strip() for p in raw.split(",") if p.strip())
            elif f.name == "api_key":
                values[f.name] = raw
            else:
                kind = float if f.name.endswith("_s") and f.name != "retry_after_s" else int
                try:
                    values[f.name] = kind(raw)
                except ValueError as exc:
                    raise ValueError(f"GHOSTSCORE_{f.name.upper()}={raw!r} is not a number") from exc
        return replace(cls(**values), **overrides)
