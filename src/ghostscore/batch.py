"""Batch scoring of JSONL, CSV and Parquet files: streamed, resumable, never stops on a bad record.

Why it is built this way:

* **Bounded memory.** Input is read in chunks of ``chunk_size`` records (JSONL line by line, CSV row by
  row through the ``csv`` module, Parquet with ``iter_batches``); a 1 GB file is never loaded whole.
  A single JSONL line longer than ``max_line_bytes`` becomes an error record instead of a memory spike.
* **One output record per input record, in order.** Every input field is carried through and
  ``ai_probability``, ``verdict``, ``evidence`` (short strings) and ``error`` ("code: message" or null)
  are added. Records without the id field get ``_line`` (JSONL, 1-based line) or ``_index`` (CSV,
  Parquet, 0-based row). Bad records (invalid JSON, missing or non-string text, too long, empty,
  binary) become error records; nothing is dropped. Blank JSONL lines are not records.
* **Resumable.** Each chunk is written, flushed and fsynced before the next; ``resume`` counts the
  complete records already in the output (a torn last JSONL line or CSV row is cut away), skips that
  many input records and appends. Parquet output goes to ``<output>.parts/`` (one atomically renamed
  file per chunk) and is assembled into ``output`` at the end, so it resumes too.
* **Workers.** ``workers > 1`` scores chunks in worker processes (spawned, each loads the Detector
  once); at most ``2 * workers`` chunks are in flight and results are written in input order.

CSV is read with the standard ``csv`` module rather than pandas so that a malformed row becomes an
error record (pandas either stops or silently skips it) and cell values keep their exact strings.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import csv
import datetime as _dt
import decimal
import io
import json
import math
import multiprocessing
import os
import re
import shutil
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .document import DEFAULT_MAX_CHARS
from .errors import InputError

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


# ------------------------------------------------------------------ scoring (in-process or in workers)
_WORKER_DETECTOR: Any = None


def load_detector(opts: BatchOptions) -> Any:
    if opts.detector is not None:
        return opts.detector
    from .detector import Detector

    return Detector.load(opts.model, use_lm=opts.use_lm, fpr=opts.fpr, max_chars=opts.max_chars,
                         explain=opts.explain)


def _init_worker(spec: dict[str, Any]) -> None:
    global _WORKER_DETECTOR
    if spec.get("detector") is not None:
        _WORKER_DETECTOR = spec["detector"]
    else:
        from .detector import Detector

        _WORKER_DETECTOR = Detector.load(
            spec["model"], use_lm=spec["use_lm"], fpr=spec["fpr"], max_chars=spec["max_chars"],
            threads=spec["threads"], explain=spec.get("explain", False),
        )


def _worker_score(texts: list[Any], batch_size: int) -> list[dict[str, Any]]:
    return score_texts(_WORKER_DETECTOR, texts, batch_size)


def score_texts(detector: Any, texts: list[Any], batch_size: int) -> list[dict[str, Any]]:
    """Result fields for each text; an unexpected failure is isolated to the record that caused it."""
    try:
        return [result_fields(r) for r in detector.score_records(texts, batch_size=batch_size)]
    except Exception:  # a bug on one odd record must not stop a 10-hour run: retry one at a time
        out = []
        for text in texts:
            try:
                out.append(result_fields(next(iter(detector.score_records([text], batch_size=1)))))
            except Exception as exc:  # noqa: BLE001 - recorded in the output, never raised
                out.append(error_fields(f"internal: {type(exc).__name__} while scoring this record"))
        return out


def _score_chunk_local(detector: Any, chunk: Chunk, batch_size: int) -> list[dict[str, Any]]:
    texts = [r.text for r in chunk.records if r.error is None]
    return _merge(chunk, score_texts(detector, texts, batch_size) if texts else [])


def _merge(chunk: Chunk, scored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Result fields for every record of the chunk: scored ones in order, pre-checked errors in place."""
    it = iter(scored)
    return [next(it) if r.error is None else error_fields(r.error) for r in chunk.records]


# ------------------------------------------------------------------ formats
def detect_format(path: Path, override: str | None = None) -> str:
    if override:
        return override
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError("format", f"cannot tell the format of {path} (use .jsonl, .csv or .parquet)")
    return fmt


def _json_default(value: Any) -> Any:
    """Values Parquet can hold and JSON cannot: keep them readable rather than failing the run."""
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
        return value.item()
    return str(value)


def _finite(value: Any) -> Any:
    """NaN/inf (which Python's json reads from input) become null: the output stays strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _dumps(record: dict[str, Any]) -> str:
    try:
        return json.dumps(record, ensure_ascii=False, default=_json_default, allow_nan=False)
    except ValueError:  # a NaN somewhere in the input fields: rare, so only then walk the record
        return json.dumps(_finite(record), ensure_ascii=False, default=_json_default, allow_nan=False)


def _clean_float(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


class JsonlReader:
    """Line by line; each non-blank line is one record, bad lines become error records."""

    def __init__(self, opts: BatchOptions) -> None:
        self.opts = opts
        self.total = opts.input.stat().st_size
        self.unit = "B"

    def chunks(self, skip: int) -> Iterator[Chunk]:
        o = self.opts
        with open(o.input, "rb") as f:
            index = 0
            line_no = 0
            records: list[InRecord] = []
            start = skip
            chunk_from = 0
            while True:
                line = f.readline(o.max_line_bytes)
                if not line:
                    break
                line_no += 1
                overlong = len(line) >= o.max_line_bytes and not line.endswith(b"\n")
                if overlong:
                    head = line[:4096]
                    while line and not line.endswith(b"\n"):  # drain the rest without holding it
                        line = f.readline(o.max_line_bytes)
                    if index >= skip:
                        records.append(self._overlong(head, line_no))
                    index += 1
                elif not line.strip():
                    continue
                else:
                    if index >= skip:
                        records.append(self._parse(line, line_no))
                    index += 1
                if records and (len(records) >= o.chunk_size or f.tell() - chunk_from >= o.max_chunk_bytes):
                    yield Chunk(start, records, progress_to=f.tell())
                    start += len(records)
                    records = []
                    chunk_from = f.tell()
                elif not records:
                    chunk_from = f.tell()
            if records:
                yield Chunk(start, records, progress_to=f.tell())

    def _parse(self, line: bytes, line_no: int) -> InRecord:
        o = self.opts
        try:
            obj = json.loads(line.decode("utf-8"))  # decoded here: json.loads(bytes) would guess UTF-16/32
        except UnicodeDecodeError as exc:
            return self._bad(line, line_no, f"encoding: line {line_no} is not valid UTF-8 (byte {exc.start})")
        except json.JSONDecodeError as exc:
            return self._bad(line, line_no, f"invalid_json: line {line_no}: {exc.msg} (column {exc.colno})")
        if not isinstance(obj, dict):
            return self._bad(line, line_no, f"invalid_record: line {line_no} is JSON {type(obj).__name__}, "
                                            "not an object")
        extra = {} if o.id_field in obj else {"_line": line_no}
        text, err = check_text(obj, o.text_field, o.max_chars)
        return InRecord(obj, text, err, extra)

    def _bad(self, line: bytes, line_no: int, message: str) -> InRecord:
        raw = line.decode("utf-8", "replace").rstrip("\r\n")
        return InRecord(None, None, message, {"_line": line_no, "raw": raw[:RAW_KEEP]})

    def _overlong(self, head: bytes, line_no: int) -> InRecord:
        limit = self.opts.max_line_bytes
        message = f"too_long: line {line_no} is longer than {limit:,} bytes (max_line_bytes)"
        rec = self._bad(head, line_no, message)
        key = re.escape(json.dumps(self.opts.id_field).encode())
        m = re.search(key + rb'\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,30})', head[:1024])
        if m:  # best effort, so the record can still be matched to its source
            try:
                rec.extra = {self.opts.id_field: json.loads(m.group(1)), **rec.extra}
            except ValueError:
                pass
        return rec


class _CountingLines:
    """Binary lines decoded to text for ``csv.reader``; counts bytes and notes undecodable bytes."""

    def __init__(self, f: io.BufferedReader) -> None:
        self.f = f
        self.pos = 0
        self.bad_bytes = False
        self.first = True

    def __iter__(self) -> _CountingLines:
        return self

    def __next__(self) -> str:
        line = self.f.readline()
        if not line:
            raise StopIteration
        self.pos += len(line)
        if self.first and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        self.first = False
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            self.bad_bytes = True
            return line.decode("utf-8", "replace")


class CsvReader:
    """Row by row with the csv module; a row with the wrong number of cells is an error record."""

    def __init__(self, opts: BatchOptions) -> None:
        self.opts = opts
        self.total = opts.input.stat().st_size
        self.unit = "B"
        self.header: list[str] = []

    def chunks(self, skip: int) -> Iterator[Chunk]:
        o = self.opts
        csv.field_size_limit(max(o.max_line_bytes, 1 << 20))
        with open(o.input, "rb") as f:
            lines = _CountingLines(f)
            reader = csv.reader(lines)
            try:
                self.header = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputError("invalid_csv", f"{o.input}: cannot read the CSV header: {exc}") from exc
            has_id = o.id_field in self.header
            index = 0
            records: list[InRecord] = []
            start = skip
            failures = 0
            chunk_from = lines.pos
            while True:
                lines.bad_bytes = False
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    failures += 1
                    if failures > 1000:
                        raise InputError("invalid_csv", f"{o.input}: unreadable CSV ({exc})") from exc
                    row = None
                    message = f"invalid_csv: row {index}: {exc}"
                else:
                    failures = 0
                    message = None
                if index >= skip:
                    records.append(self._record(row, index, message, has_id, lines.bad_bytes))
                index += 1
                if records and (len(records) >= o.chunk_size or lines.pos - chunk_from >= o.max_chunk_bytes):
                    yield Chunk(start, records, progress_to=lines.pos)
                    start += len(records)
                    records = []
                    chunk_from = lines.pos
                elif not records:
                    chunk_from = lines.pos
            if records:
                yield Chunk(start, records, progress_to=lines.pos)

    def _record(self, row: list[str] | None, index: int, message: str | None, has_id: bool,
                bad_bytes: bool) -> InRecord:
        o = self.opts
        extra = {} if has_id and row is not None else {"_index": index}
        if row is None:
            return InRecord(None, None, message, extra)
        fields = dict(zip(self.header, row, strict=False))
        if len(row) != len(self.header):
            fields = {k: fields.get(k, "") for k in self.header}
            return InRecord(fields, None, f"invalid_csv: row {index} has {len(row)} cells, the header has "
                                          f"{len(self.header)}", extra)
        if bad_bytes:
            return InRecord(fields, None, f"encoding: row {index} is not valid UTF-8", extra)
        text, err = check_text(fields, o.text_field, o.max_chars)
        return InRecord(fields, text, err, extra)


class ParquetReader:
    """Record batches of ``chunk_size`` rows; the Arrow batch travels with the chunk."""

    def __init__(self, opts: BatchOptions) -> None:
        import pyarrow.parquet as pq

        self.opts = opts
        try:
            self.file = pq.ParquetFile(opts.input)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise InputError("invalid_parquet", f"{opts.input}: cannot read Parquet: {exc}") from exc
        self.total = self.file.metadata.num_rows
        self.unit = "rec"
        self.schema = self.file.schema_arrow

    def chunks(self, skip: int) -> Iterator[Chunk]:
        o = self.opts
        names = self.schema.names
        has_id = o.id_field in names
        index = 0
        for batch in self.file.iter_batches(batch_size=o.chunk_size):
            n = batch.num_rows
            if index + n <= skip:
                index += n
                continue
            if index < skip:
                batch = batch.slice(skip - index)
                index = skip
            n = batch.num_rows
            texts = batch.column(o.text_field).to_pylist() if o.text_field in names else [None] * n
            records = []
            for k, text in enumerate(texts):
                extra = {} if has_id else {"_index": index + k}
                if o.text_field not in names:
                    err = f"missing_field: no {o.text_field!r} column (columns: {', '.join(names[:10])})"
                    records.append(InRecord(None, None, err, extra))
                    continue
                text, err = check_text({o.text_field: text}, o.text_field, o.max_chars)
                records.append(InRecord(None, text, err, extra))
            yield Chunk(index, records, arrow=batch, progress_to=index + batch.num_rows)
            index += batch.num_rows


def _output_records(chunk: Chunk, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input fields + _line/_index/raw + the four result fields, as plain dicts."""
    rows = chunk.arrow.to_pylist() if chunk.arrow is not None else [r.fields for r in chunk.records]
    out = []
    for rec, row, res in zip(chunk.records, rows, results, strict=True):
        d = dict(row) if row is not None else {}
        d.update(rec.extra)
        d.update(res)
        out.append(d)
    return out


def _fsync(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())


class JsonlWriter:
    def __init__(self, opts: BatchOptions, reader: Any) -> None:
        self.path = opts.output

    def existing(self) -> int:
        """Complete records already written; a torn or unparseable tail is cut away."""
        if not self.path.exists():
            return 0
        count = good_end = 0
        with open(self.path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break
                try:
                    json.loads(line)
                except ValueError:
                    break
                count += 1
                good_end += len(line)
        if good_end != self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good_end)
                _fsync(f)
        return count

    def open(self, append: bool) -> None:
        self.f = open(self.path, "a" if append else "w", encoding="utf-8", newline="\n")

    def write(self, chunk: Chunk, results: list[dict[str, Any]]) -> None:
        self.f.write("".join(_dumps(r) + "\n" for r in _output_records(chunk, results)))
        _fsync(self.f)

    def close(self) -> None:
        self.f.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=_json_default)


class CsvWriter:
    """Header fixed when the file is created; lists (evidence) and objects are JSON in their cells."""

    def __init__(self, opts: BatchOptions, reader: Any) -> None:
        self.path = opts.output
        self.opts = opts
        self.reader = reader
        self.header: list[str] | None = None

    def existing(self) -> int:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return 0
        count = 0
        good_end = 0
        with open(self.path, "rb") as f:
            lines = _CountingLines(f)
            reader = csv.reader(lines)
            try:
                header = next(reader)
            except (StopIteration, csv.Error):
                header = []
            if header and self._ends_with_newline(f, lines.pos):
                self.header = header
                good_end = lines.pos
                while True:
                    try:
                        row = next(reader)
                    except (StopIteration, csv.Error):
                        break
                    # complete only when every cell is there and the row's last line ended
                    if len(row) != len(header) or not self._ends_with_newline(f, lines.pos):
                        break
                    count += 1
                    good_end = lines.pos
        if good_end != self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good_end)
                _fsync(f)
        if good_end == 0:
            self.header = None
        return count

    @staticmethod
    def _ends_with_newline(f: Any, pos: int) -> bool:
        here = f.tell()
        f.seek(pos - 1)
        last = f.read(1)
        f.seek(here)
        return last == b"\n"

    def open(self, append: bool) -> None:
        self.f = open(self.path, "a" if append and self.header else "w", encoding="utf-8", newline="")
        self.w = csv.writer(self.f, lineterminator="\n")

    def _make_header(self, records: list[dict[str, Any]]) -> list[str]:
        base: list[str] = []
        if isinstance(self.reader, CsvReader):
            base = list(self.reader.header)
        elif isinstance(self.reader, ParquetReader):
            base = list(self.reader.schema.names)
        else:
            for r in records:
                for k in r:
                    if k not in base and k not in RESULT_FIELDS and k not in ("_line", "_index", "raw"):
                        base.append(k)
        extras = {"jsonl": ["_line", "raw"], "csv": ["_index"], "parquet": ["_index"]}
        fmt = "csv" if isinstance(self.reader, CsvReader) else (
            "parquet" if isinstance(self.reader, ParquetReader) else "jsonl")
        base += [k for k in extras[fmt] if k not in base]
        base = [k for k in base if k not in RESULT_FIELDS] + list(RESULT_FIELDS)
        if fmt == "jsonl":
            base.append("_extra")  # fields first seen after the header was written
        return base

    def write(self, chunk: Chunk, results: list[dict[str, Any]]) -> None:
        records = _output_records(chunk, results)
        if self.header is None:
            self.header = self._make_header(records)
            self.w.writerow(self.header)
        known = set(self.header)
        for r in records:
            row = [_cell(r.get(k)) for k in self.header]
            unknown = {k: v for k, v in r.items() if k not in known}
            if unknown and "_extra" in known:
                row[self.header.index("_extra")] = _cell(unknown)
            self.w.writerow(row)
        _fsync(self.f)

    def close(self) -> None:
        self.f.close()


class ParquetWriter:
    """One part file per chunk in ``<output>.parts/`` (written then renamed), assembled at the end."""

    def __init__(self, opts: BatchOptions, reader: Any) -> None:
        self.path = opts.output
        self.parts = opts.output.with_name(opts.output.name + ".parts")
        self.id_field = opts.id_field

    def existing(self) -> int:
        import pyarrow.parquet as pq

        if self.path.exists() and not self.parts.exists():
            # a finished run: its output becomes the first part, so more input can be appended to it
            self.parts.mkdir(parents=True)
            os.replace(self.path, self.parts / f"part-{0:012d}.parquet")
        if not self.parts.exists():
            return 0
        for tmp in self.parts.glob("*.tmp"):
            tmp.unlink()
        return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(self.parts.glob("part-*.parquet")))

    def open(self, append: bool) -> None:
        if not append and self.parts.exists():
            shutil.rmtree(self.parts)
        self.parts.mkdir(parents=True, exist_ok=True)

    def write(self, chunk: Chunk, results: list[dict[str, Any]]) -> None:
        import pyarrow.parquet as pq

        table = self._table(chunk, results)
        final = self.parts / f"part-{chunk.start:012d}.parquet"
        tmp = final.with_suffix(".parquet.tmp")
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            _fsync(f)
        os.replace(tmp, final)

    def _table(self, chunk: Chunk, results: list[dict[str, Any]]) -> Any:
        import pyarrow as pa

        res_types = {"ai_probability": pa.float64(), "verdict": pa.string(),
                     "evidence": pa.list_(pa.string()), "error": pa.string()}
        if chunk.arrow is not None:
            table = pa.Table.from_batches([chunk.arrow])
            extra_cols: dict[str, list[Any]] = {}
            for rec in chunk.records:
                for k in rec.extra:
                    extra_cols.setdefault(k, [])
            for k in extra_cols:
                extra_cols[k] = [rec.extra.get(k) for rec in chunk.records]
            for name, values in [*extra_cols.items(), *((k, [r[k] for r in results]) for k in RESULT_FIELDS)]:
                if name in table.column_names:
                    table = table.drop_columns([name])
                table = table.append_column(name, pa.array(values, type=res_types.get(name)))
            return table
        records = _output_records(chunk, results)
        names: list[str] = []
        for r in records:
            names.extend(k for k in r if k not in names)
        names = [k for k in names if k not in RESULT_FIELDS] + list(RESULT_FIELDS)
        arrays = []
        for name in names:
            values = [_clean_float(r.get(name)) for r in records]
            arrays.append(_arrow_array(values, res_types.get(name)))
        return pa.Table.from_arrays(arrays, names=names)

    def close(self) -> None:
        pass

    def finish(self) -> None:
        assemble_parquet(self.parts, self.path)


def _arrow_array(values: list[Any], type_: Any = None) -> Any:
    """Infer a column type; mixed types (an id that is sometimes a number) fall back to JSON strings."""
    import pyarrow as pa

    try:
        return pa.array(values, type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([v if v is None or isinstance(v, str) else json.dumps(v, default=_json_default)
                         for v in values], type=pa.string())


def assemble_parquet(parts_dir: Path, output: Path) -> None:
    """Stream the part files into one Parquet file with one schema, then drop the parts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(parts_dir.glob("part-*.parquet"))
    schemas = [pq.read_schema(p) for p in parts]
    schema = _unify(schemas) if schemas else pa.schema([])
    tmp = output.with_name(output.name + ".tmp")
    with open(tmp, "wb") as f:
        writer = pq.ParquetWriter(f, schema)
        for p in parts:
            writer.write_table(_conform(pq.read_table(p), schema))
        writer.close()
        _fsync(f)
    os.replace(tmp, output)
    shutil.rmtree(parts_dir)


def _unify(schemas: list[Any]) -> Any:
    import pyarrow as pa

    try:
        merged = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        types: dict[str, Any] = {}
        for s in schemas:
            for f in s:
                if f.name not in types or pa.types.is_null(types[f.name]):
                    types[f.name] = f.type
                elif not pa.types.is_null(f.type) and f.type != types[f.name]:
                    types[f.name] = pa.string()
        merged = pa.schema(list(types.items()))
    names = [n for n in merged.names if n not in RESULT_FIELDS]
    names += [n for n in RESULT_FIELDS if n in merged.names]
    return pa.schema([merged.field(n) for n in names])


def _conform(table: Any, schema: Any) -> Any:
    import pyarrow as pa

    cols = []
    for f in schema:
        if f.name not in table.column_names:
            cols.append(pa.nulls(table.num_rows, type=f.type))
            continue
        col = table.column(f.name)
        if col.type != f.type:
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                col = _arrow_array(col.to_pylist(), f.type if pa.types.is_string(f.type) else None)
                if col.type != f.type:
                    col = _arrow_array([None if v is None else json.dumps(v, default=_json_default)
                                        for v in col.to_pylist()], pa.string())
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=schema)


READERS = {"jsonl": JsonlReader, "csv": CsvReader, "parquet": ParquetReader}
WRITERS = {"jsonl": JsonlWriter, "csv": CsvWriter, "parquet": ParquetWriter}


# ------------------------------------------------------------------ the run
def run_batch(opts: BatchOptions) -> BatchSummary:
    """Score every record of ``opts.input`` into ``opts.output``; see the module docstring."""
    if not opts.input.exists():
        raise InputError("not_found", f"no such file: {opts.input}")
    if opts.input.resolve() == opts.output.resolve():
        raise InputError("usage", "the output must not be the input file")
    reader = READERS[detect_format(opts.input, opts.input_format)](opts)
    writer = WRITERS[detect_format(opts.output, opts.output_format)](opts, reader)
    if opts.workers <= 1:
        detector = load_detector(opts)  # before touching the output: a bad model must not truncate it
    else:
        detector = None
        if opts.detector is None:
            from .detector import resolve_model

            resolve_model(opts.model, use_lm=opts.use_lm)  # a clear error here, not a dead worker later
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    done = writer.existing() if opts.resume else 0
    summary = BatchSummary(output=opts.output, resumed_past=done)
    started = time.perf_counter()
    writer.open(append=opts.resume)
    bar = _progress(opts, reader, done)
    try:
        for chunk, results in _scored_chunks(opts, detector, reader.chunks(done)):
            writer.write(chunk, results)
            for res in results:
                summary.add(res)
            if bar is not None:
                bar.update(chunk.progress_to - bar.n)
                bar.set_postfix_str(f"{summary.records / max(1e-9, time.perf_counter() - started):.1f} rec/s",
                                    refresh=False)
    finally:
        writer.close()
        if bar is not None:
            bar.close()
    if hasattr(writer, "finish"):
        writer.finish()
    summary.seconds = time.perf_counter() - started
    return summary


def _progress(opts: BatchOptions, reader: Any, done: int) -> Any:
    if not opts.progress:
        return None
    from tqdm import tqdm

    in_bytes = reader.unit == "B"
    return tqdm(total=reader.total, unit=reader.unit, unit_scale=in_bytes,
                unit_divisor=1024 if in_bytes else 1000, desc="scoring", dynamic_ncols=True, smoothing=0.1)


def _scored_chunks(
    opts: BatchOptions, detector: Any, chunks: Iterable[Chunk],
) -> Iterator[tuple[Chunk, list[dict[str, Any]]]]:
    """(chunk, results) in input order, scored here or by a bounded pool of worker processes."""
    if opts.workers <= 1:
        for chunk in chunks:
            yield chunk, _score_chunk_local(detector, chunk, opts.batch_size)
        return
    spec = {"detector": opts.detector, "model": opts.model, "use_lm": opts.use_lm, "fpr": opts.fpr,
            "max_chars": opts.max_chars, "explain": opts.explain,
            "threads": max(1, (os.cpu_count() or 1) // opts.workers)}  # N workers must not each take all cores
    ctx = multiprocessing.get_context("spawn")  # fork after threads (tqdm, BLAS, torch) can deadlock
    pending: deque[tuple[Chunk, cf.Future]] = deque()
    with cf.ProcessPoolExecutor(opts.workers, mp_context=ctx, initializer=_init_worker,
                                initargs=(spec,)) as pool:
        try:
            for chunk in chunks:
                texts = [r.text for r in chunk.records if r.error is None]
                pending.append((chunk, pool.submit(_worker_score, texts, opts.batch_size)))
                while len(pending) >= 2 * opts.workers:
                    done_chunk, fut = pending.popleft()
                    yield done_chunk, _merge(done_chunk, _worker_result(fut))
            while pending:
                done_chunk, fut = pending.popleft()
                yield done_chunk, _merge(done_chunk, _worker_result(fut))
        finally:
            for _, fut in pending:
                fut.cancel()


def _worker_result(fut: cf.Future) -> list[dict[str, Any]]:
    try:
        return fut.result()
    except cf.process.BrokenProcessPool as exc:
        from .errors import ModelError

        raise ModelError("a worker process died (out of memory, or the model failed to load in it); "
                         "the output is complete up to the last written chunk: rerun with --resume") from exc
