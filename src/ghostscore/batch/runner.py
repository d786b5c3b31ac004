"""The batch run: read chunks, score them (in order, optionally in workers), write them, report a summary."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import InputError
from .options import BatchOptions, BatchSummary
from .readers import CsvReader, JsonlReader, ParquetReader, detect_format
from .records import Chunk
from .scoring import _init_worker, _merge, _score_chunk_local, _worker_score, load_detector
from .writers import CsvWriter, JsonlWriter, ParquetWriter

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
            from ..classifiers import resolve_model

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
            "domain": opts.domain, "max_chars": opts.max_chars, "explain": opts.explain,
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
        from ..errors import ModelError

        raise ModelError("a worker process died (out of memory, or the model failed to load in it); "
                         "the output is complete up to the last written chunk: rerun with --resume") from exc
