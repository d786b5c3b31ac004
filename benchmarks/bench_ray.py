"""Throughput of the local batch against ``--engine ray`` with 1 and 2 actors on the same records.

    python benchmarks/bench_ray.py --data '../shared/data/corpus/iu-news.jsonl.gz' --n 40 --model default

Reads the first N records with a non-empty ``text`` from the JSONL (gzip or plain; a glob takes files in
name order) into a temporary JSONL outside the repository, then times, one after the other:
``run_batch`` (the local engine, one process), and ``run_ray_batch`` with each actor count on a local Ray
cluster started once (its start is timed apart). Every run includes its own start (actors, model load).
With ``--startup`` each configuration first scores 1 record (a warm-up, reported: the fixed cost of a
run) and then N/2 records; the rate without start-up is (N - N/2) / (time for N - time for N/2). The runs'
outputs are compared record by record (largest probability difference). Prints a Markdown table and,
with ``--json``, one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import gzip
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ghostscore.batch import BatchOptions, run_batch
from ghostscore.distributed import read_output, run_ray_batch


def load_texts(pattern: str, n: int, min_words: int) -> list[str]:
    """The first ``n`` non-empty texts (of at least ``min_words`` words) in file name order."""
    texts: list[str] = []
    for path in sorted(glob.glob(pattern)) or [pattern]:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                text = json.loads(line).get("text")
                if isinstance(text, str) and len(text.split()) >= max(1, min_words):
                    texts.append(text)
                    if len(texts) >= n:
                        return texts
    return texts


def write_input(texts: list[str], path: Path) -> Path:
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    return path


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run_engine(
    engine: str, actors: int, inp: Path, out: Path, model: str, batch_size: int,
) -> tuple[float, list[dict[str, Any]]]:
    opts = BatchOptions(input=inp, output=out, model=model, use_lm=model != "features-only", batch_size=batch_size)
    if engine == "local":
        seconds, _ = timed(lambda: run_batch(opts))
        return seconds, [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    seconds, _ = timed(lambda: run_ray_batch(opts, actors=actors))
    return seconds, read_output(out)


def max_prob_diff(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float:
    assert [r["id"] for r in a] == [r["id"] for r in b], "the runs disagree on the records"
    diffs = [abs(x["ai_probability"] - y["ai_probability"]) for x, y in zip(a, b, strict=True)
             if x["ai_probability"] is not None and y["ai_probability"] is not None]
    return max(diffs, default=0.0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="JSONL (.gz) file or glob with a 'text' field")
    ap.add_argument("--n", type=int, default=40, help="records to score")
    ap.add_argument("--model", default="default", help="packaged model name or model directory")
    ap.add_argument("--actors", default="1,2", help="actor counts to time, comma-separated")
    ap.add_argument("--batch-size", type=int, default=16,
                    help="records per model batch, and per Ray task: N / batch-size tasks share the actors")
    ap.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray cluster (default: all)")
    ap.add_argument("--min-words", type=int, default=40, help="skip shorter texts (they are not scored)")
    ap.add_argument("--startup", action="store_true", help="also time 1-record runs to separate start-up")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object too")
    args = ap.parse_args(argv)

    import ray

    texts = load_texts(args.data, args.n, args.min_words)
    if not texts:
        sys.exit(f"no texts in {args.data}")
    configs = [("local", 1)] + [("ray", int(a)) for a in args.actors.split(",") if a.strip()]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ghostscore-bench-ray-") as tmp:
        work = Path(tmp)
        inp = write_input(texts, work / "in.jsonl")
        one = write_input(texts[:1], work / "one.jsonl")
        half = write_input(texts[: len(texts) // 2], work / "half.jsonl")
        cluster_s, _ = timed(lambda: ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False,
                                              logging_level="WARNING"))
        rows, outputs = [], {}
        try:
            for engine, actors in configs:
                name = "local batch" if engine == "local" else f"ray, {actors} actor{'s' if actors > 1 else ''}"
                stem = work / f"{engine}{actors}"
                row: dict[str, Any] = {"config": name, "records": len(texts)}
                if args.startup:  # warm-up first, so the timed runs all find the cluster's worker pool started
                    row["one_record_s"], _ = run_engine(engine, actors, one, stem.with_name(stem.name + "-1.jsonl"),
                                                        args.model, args.batch_size)
                    row["half_s"], _ = run_engine(engine, actors, half, stem.with_name(stem.name + "-h.jsonl"),
                                                  args.model, args.batch_size)
                seconds, out = run_engine(engine, actors, inp, stem.with_suffix(".jsonl"), args.model, args.batch_size)
                outputs[name] = out
                row.update(seconds=seconds, per_s=len(texts) / seconds)
                if args.startup:
                    extra = len(texts) - len(texts) // 2
                    row["per_s_excl_startup"] = extra / max(1e-9, seconds - row["half_s"])
                rows.append(row)
                print(f"{name}: {seconds:.1f} s", file=sys.stderr, flush=True)
        finally:
            ray.shutdown()
    base = rows[0]
    for row in rows:
        row["vs_local"] = row["per_s"] / base["per_s"]
        row["max_prob_diff_vs_local"] = max_prob_diff(outputs[base["config"]], outputs[row["config"]])
    result = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="minutes"), "model": args.model,
        "batch_size": args.batch_size, "data": args.data, "n": len(texts),
        "median_words": sorted(len(t.split()) for t in texts)[len(texts) // 2],
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "ray": ray.__version__, "ray_cluster_start_s": cluster_s, "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(), "rows": rows,
    }
    startup = args.startup
    head = "| configuration | records | seconds (incl. model load) | articles/s | vs local |"
    head += " 1-record run (s) | articles/s excl. start-up |" if startup else ""
    print(head)
    print("|" + "---|" * (7 if startup else 5))
    for r in rows:
        line = f"| {r['config']} | {r['records']} | {r['seconds']:.1f} | {r['per_s']:.2f} | {r['vs_local']:.2f}x |"
        if startup:
            line += f" {r['one_record_s']:.1f} | {r['per_s_excl_startup']:.2f} |"
        print(line)
    print(f"\nRay cluster start: {cluster_s:.1f} s; largest probability difference from the local batch: "
          f"{max(r['max_prob_diff_vs_local'] for r in rows):.2e}; load average before/after: "
          f"{load_before[0]:.2f} / {result['loadavg_after'][0]:.2f}")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
