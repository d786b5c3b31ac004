"""Side-by-side LM backend benchmark: tokens/s, agreement with the fp32 reference and peak RSS.

Every backend scores the same documents in its own child process (so peak RSS is its own), one after
the other, in one run. On a shared machine wall-clock numbers are noisy, so CPU seconds are reported
too: tokens per CPU-second times the thread count estimates throughput on otherwise idle cores.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import random
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

# Written for this benchmark (no corpus text in the repository): varied registers, plain prose.
BENCH_TEXTS = (
    "The old railway bridge over the river has been closed to walkers since the spring floods, and the "
    "council says repairs will not start before next year. Engineers found that two of the stone piers "
    "had shifted by several centimetres, enough to crack the deck in three places. For the people of the "
    "village on the far bank the closure means a detour of almost four miles to reach the shops, the "
    "doctor and the primary school. A temporary ferry was suggested at a packed meeting in the church hall, "
    "but the parish clerk pointed out that nobody could agree who would pay for the insurance.",
    "To make the dough, mix the flour and salt in a large bowl, then add the yeast on one side so that it "
    "does not touch the salt directly. Pour in most of the warm water and bring everything together with "
    "your hand until it forms a rough ball. Knead on a lightly floured surface for about ten minutes; the "
    "dough is ready when it springs back slowly after you press it with a finger. Leave it covered in a "
    "warm place until it has doubled in size, which can take anything from one to three hours depending on "
    "the kitchen.",
    "I never meant to keep the dog. She turned up on the porch in the middle of a storm in November, soaked "
    "and shivering, with a frayed rope around her neck and no tag. I gave her a towel and a bowl of rice "
    "because that was all I had, and I told myself I would call the shelter in the morning. The morning came "
    "and went. So did the next one. By the end of the week she had claimed the armchair by the window, and "
    "I had bought a lead, a bed she refused to use and a bag of food far too expensive for my budget.",
    "Photosynthesis converts light energy into chemical energy stored in sugars. In the light-dependent "
    "reactions, which take place in the thylakoid membranes, water molecules are split, oxygen is released "
    "and the energy carriers ATP and NADPH are produced. These carriers then power the Calvin cycle in the "
    "stroma, where carbon dioxide from the air is fixed into three-carbon molecules. Because the enzyme "
    "responsible for fixing carbon also reacts with oxygen, plants in hot, dry climates have evolved "
    "additional mechanisms to concentrate carbon dioxide around it.",
    "Quarterly revenue rose eleven percent compared with the same period last year, driven mainly by "
    "subscription sales in Europe and a stronger than expected holiday season. Operating costs grew more "
    "slowly than revenue for the first time in two years, which the finance director attributed to the "
    "consolidation of three regional warehouses into one. The company kept its forecast for the full year "
    "unchanged, citing uncertainty about shipping prices, and announced that it would buy back shares worth "
    "up to forty million dollars over the next twelve months.",
    "Honestly the match was a mess from start to finish. We conceded after four minutes from a corner we "
    "should have cleared twice, and after that nobody seemed to want the ball. The second half was a bit "
    "better once the manager switched to three at the back, and the equaliser was a proper goal, a low "
    "shot from the edge of the box that the keeper never saw. Then, with the last kick of the game, our "
    "own defender headed it past his own goalkeeper. I have been going to games for thirty years and I "
    "still do not know whether to laugh or cry.",
    "When choosing a laptop for university, think first about how you will actually use it. If you will "
    "carry it to lectures every day, weight and battery life matter more than raw speed, and a model under "
    "one and a half kilograms with at least eight hours of battery is a sensible target. Students in "
    "engineering or design may need a more powerful processor and a dedicated graphics card, but they "
    "should check which software their course requires before spending extra. A good keyboard and a "
    "reliable warranty are easy to overlook and hard to live without.",
    "The archive holds more than four hundred letters written by the lighthouse keepers between 1870 and "
    "1925. Most of them are requests for supplies: lamp oil, tinned meat, window glass, once a new pair of "
    "boots for a keeper whose own had been carried off by a wave. A few are more personal. In one, a young "
    "assistant keeper asks to be moved to a station on the mainland so that he can marry; the reply, filed "
    "with it, refuses him in a single line. Historians have used the collection to reconstruct the daily "
    "routine of the stations and the slow arrival of new technology.",
)


def bench_documents(tokens: int, seed: int = 0) -> list[str]:
    """Documents of 2-6 of the bench texts in shuffled order, enough for ``tokens`` (at ~1.3 tok/word)."""
    rng = random.Random(seed)
    docs: list[str] = []
    total = 0
    while total < tokens:
        parts = rng.sample(BENCH_TEXTS, rng.randint(2, 6))
        doc = " ".join(parts)
        docs.append(doc)
        total += int(len(doc.split()) * 1.3)
    return docs


def _read_jsonl(path: Path, tokens: int) -> list[str]:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    docs: list[str] = []
    total = 0
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if total >= tokens:
                break
            text = json.loads(line).get("text") or ""
            if text.strip():
                docs.append(" ".join(text.split()))
                total += int(len(text.split()) * 1.3)
    return docs


def _child(backend: str, docs: list[str], threads: int, cache_dir: str | None, queue: Any) -> None:
    """Load one backend, warm it up, score the documents; report timings, stats and peak RSS."""
    try:
        from ..backbones.language_model import load_scorer

        t0 = time.perf_counter()
        scorer = load_scorer(cache_dir=cache_dir, backend=backend, threads=threads)
        load_s = time.perf_counter() - t0
        scorer.score_tokens([docs[0][:400]])  # warm-up: first-call allocations
        t0, c0 = time.perf_counter(), time.process_time()
        stats = scorer.score_tokens(docs)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        queue.put({
            "backend": backend, "resolved": scorer.backend_name, "load_s": load_s, "wall_s": wall,
            "cpu_s": cpu,
            "logprob": [s.logprob for s in stats], "rank": [s.rank for s in stats],
            "entropy": [s.entropy for s in stats],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        })
    except Exception as exc:  # report, do not hang the parent
        queue.put({"backend": backend, "error": f"{type(exc).__name__}: {exc}"})


def run_bench(
    tokens: int = 20_000, backends: list[str] | tuple[str, ...] = ("auto", "torch"), *, threads: int = 2,
    data: str | Path | None = None, cache_dir: str | None = None, echo: Any = print,
) -> list[dict[str, Any]]:
    """Score the same documents with each backend in turn and print one comparable line per backend.

    The reference for log-prob differences is ``torch`` when it is among ``backends``, else the first.
    """
    docs = _read_jsonl(Path(data), tokens) if data else bench_documents(tokens)
    ctx = mp.get_context("spawn")
    results = []
    for backend in backends:
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(backend, docs, threads, cache_dir, queue))
        proc.start()
        res = queue.get()
        proc.join()
        results.append(res)
    ok = [r for r in results if "error" not in r]
    ref = next((r for r in ok if r["resolved"] == "torch"), ok[0] if ok else None)
    echo(f"{len(docs)} documents, threads={threads}; reference: {ref['backend'] if ref else '-'}")
    echo(f"{'backend':<12}{'tokens':>8}{'load s':>8}{'tok/s':>8}{'tok/cpu-s':>10}{'mean lp':>10}"
         f"{'d mean lp':>10}{'|d| tok':>9}{'rank=':>7}{'peak RSS MB':>12}")
    summary = []
    for r in results:
        if "error" in r:
            echo(f"{r['backend']:<12} failed: {r['error']}")
            summary.append(r)
            continue
        lp = np.concatenate(r["logprob"])
        n = int(lp.size)
        row = {
            "backend": r["backend"], "resolved": r["resolved"], "tokens": n, "load_s": r["load_s"],
            "tokens_per_s": n / r["wall_s"], "tokens_per_cpu_s": n / max(r["cpu_s"], 1e-9),
            "mean_logprob": float(lp.mean()), "peak_rss_mb": r["peak_rss_mb"],
        }
        if ref is not None:
            ref_lp = np.concatenate(ref["logprob"])
            row["mean_logprob_diff"] = float(lp.mean() - ref_lp.mean())
            row["mean_abs_token_diff"] = float(np.abs(lp - ref_lp).mean())
            row["rank_agreement"] = float(np.mean(np.concatenate(r["rank"]) == np.concatenate(ref["rank"])))
        echo(
            f"{r['backend'] + ('=' + r['resolved'] if r['backend'] != r['resolved'] else ''):<12}{n:>8}"
            f"{row['load_s']:>8.1f}{row['tokens_per_s']:>8.0f}{row['tokens_per_cpu_s']:>10.0f}"
            f"{row['mean_logprob']:>10.4f}{row.get('mean_logprob_diff', float('nan')):>+10.4f}"
            f"{row.get('mean_abs_token_diff', float('nan')):>9.4f}"
            f"{row.get('rank_agreement', float('nan')):>7.3f}"
            f"{row['peak_rss_mb']:>12.0f}"
        )
        summary.append(row)
    return summary
