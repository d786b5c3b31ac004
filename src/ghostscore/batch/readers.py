"""Streaming readers for JSONL, CSV and Parquet: chunks of records, a bad record becomes an error record."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError
from .options import FORMATS, RAW_KEEP, BatchOptions
from .records import Chunk, InRecord, check_text


# ------------------------------------------------------------------ formats
def detect_format(path: Path, override: str | None = None) -> str:
    if override:
        return override
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError("format", f"cannot tell the format of {path} (use .jsonl, .csv or .parquet)")
    return fmt


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
