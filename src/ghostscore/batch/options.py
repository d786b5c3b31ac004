"""Batch options and the run summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..document import DEFAULT_MAX_CHARS
from ..errors import InputError

RESULT_FIELDS = ("ai_probability", "verdict", "evidence", "error")
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet",
           ".pq": "parquet"}
RAW_KEEP = 200  # characters of an unparseable line kept in the ``raw`` field
N_EVIDENCE = 3
DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_CHUNK_BYTES = 64 * 1024 * 1024


@dataclass
class BatchOptions:
    """What ``ghostscore batch`` asks for; ``detector`` lets library users pass an already-loaded one."""

    input: Path
    output: Path
    text_field: str = "text"
    id_field: str = "id"
    model: str | None = None
    use_lm: bool = True
    fpr: float | None = None
    domain: str | None = None  # the texts' domain when known: its threshold instead of the guessed one
    batch_size: int = 16
    chunk_size: int = 256
    workers: int = 1
    resume: bool = False
    max_chars: int = DEFAULT_MAX_CHARS
    progress: bool = False
    input_format: str | None = None
    output_format: str | None = None
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES  # a chunk also ends here: huge records stay bounded
    explain: bool = False  # also run evidence-only extractors the model does not use (restatements: slower)
    detector: Any = None

    def __post_init__(self) -> None:
        self.input = Path(self.input)
        self.output = Path(self.output)
        if self.chunk_size < 1 or self.batch_size < 1 or self.workers < 1:
            raise InputError("usage", "chunk_size, batch_size and workers must be at least 1")


@dataclass
class BatchSummary:
    """Counts for the end-of-run report (and for scripts that check a run)."""

    output: Path
    records: int = 0
    resumed_past: int = 0
    verdicts: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def add(self, fields: dict[str, Any]) -> None:
        self.records += 1
        if fields["error"]:
            self.errors[str(fields["error"]).split(":", 1)[0]] += 1
        else:
            self.verdicts[fields["verdict"]] += 1

    def describe(self) -> str:
        head = f"{self.records:,} records in {self.seconds:.1f} s ({self.rate:.1f} records/s)"
        if self.resumed_past:
            head += f"; resumed after {self.resumed_past:,} records already in the output"
        verdicts = ", ".join(f"{k} {v:,}" for k, v in sorted(self.verdicts.items())) or "none"
        errors = ", ".join(f"{k} {v:,}" for k, v in self.errors.most_common()) or "none"
        return f"{head}\nverdicts: {verdicts}\nerrors: {self.n_errors:,} ({errors})\noutput: {self.output}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output), "records": self.records, "resumed_past": self.resumed_past,
            "verdicts": dict(self.verdicts), "errors": dict(self.errors), "seconds": self.seconds,
            "records_per_s": self.rate,
        }
