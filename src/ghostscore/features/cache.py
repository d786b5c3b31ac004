"""On-disk cache of extracted features, keyed by extractor name + version + text hash (SQLite).

Training and evaluation re-read thousands of texts; the language-model features cost seconds each on
a CPU, so every extractor's output is stored once and reused. Evidence is not cached (not needed to fit).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from .base import Extractor

Featurize = Callable[[Sequence[str]], list[dict[str, float]]]


class FeatureCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS features (extractor TEXT, version TEXT, key TEXT, "
            "payload TEXT, PRIMARY KEY (extractor, version, key))"
        )
        self._db.commit()

    def get_many(self, extractor: Extractor, keys: Sequence[str]) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = list(keys[i : i + 500])
                rows = self._db.execute(
                    f"SELECT key, payload FROM features WHERE extractor=? AND version=? AND key IN "
                    f"({','.join('?' * len(chunk))})", [extractor.name, extractor.cache_version, *chunk],
                ).fetchall()
                for key, payload in rows:
                    out[key] = {k: (math.nan if v is None else v) for k, v in json.loads(payload).items()}
        return out

    def put_many(self, extractor: Extractor, items: dict[str, dict[str, float]]) -> None:
        rows = [
            (extractor.name, extractor.cache_version, k,
             json.dumps({n: (None if not math.isfinite(v) else v) for n, v in vals.items()}))
            for k, vals in items.items()
        ]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?)", rows)
            self._db.commit()

    def close(self) -> None:
        self._db.close()
