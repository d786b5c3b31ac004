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

from .options import FORMATS, N_EVIDENCE, RESULT_FIELDS, BatchOptions, BatchSummary
from .records import error_fields, result_fields
from .runner import READERS, WRITERS, run_batch

__all__ = ["FORMATS", "N_EVIDENCE", "READERS", "RESULT_FIELDS", "WRITERS", "BatchOptions", "BatchSummary",
           "error_fields", "result_fields", "run_batch"]
