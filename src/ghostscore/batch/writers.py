"""Resumable writers for JSONL, CSV and Parquet: each chunk is written and fsynced before the next."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from ..jsonsafe import clean_float as _clean_float
from ..jsonsafe import dumps as _dumps
from ..jsonsafe import json_default as _json_default
from .options import RESULT_FIELDS, BatchOptions
from .readers import CsvReader, ParquetReader, _CountingLines
from .records import Chunk


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
