"""Scoring chunks of records, in this process or in spawned worker processes (each loads the Detector once)."""

from __future__ import annotations

from typing import Any

from .options import BatchOptions
from .records import Chunk, error_fields, result_fields

# ------------------------------------------------------------------ scoring (in-process or in workers)
_WORKER_DETECTOR: Any = None


def load_detector(opts: BatchOptions) -> Any:
    if opts.detector is not None:
        return opts.detector
    from ..detector import Detector

    return Detector.load(opts.model, use_lm=opts.use_lm, fpr=opts.fpr, max_chars=opts.max_chars,
                         explain=opts.explain, domain=opts.domain)


def _init_worker(spec: dict[str, Any]) -> None:
    global _WORKER_DETECTOR
    if spec.get("detector") is not None:
        _WORKER_DETECTOR = spec["detector"]
    else:
        from ..detector import Detector

        _WORKER_DETECTOR = Detector.load(
            spec["model"], use_lm=spec["use_lm"], fpr=spec["fpr"], max_chars=spec["max_chars"],
            threads=spec["threads"], explain=spec.get("explain", False), domain=spec.get("domain"),
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
