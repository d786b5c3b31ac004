"""Fault test for ``ghostscore batch``: bad records, a SIGKILL mid-run and ``--resume``.

    python benchmarks/faulttest.py --records 10000 --bad 100 --no-lm          # the full test
    python benchmarks/faulttest.py --records 300 --bad 10 --model DIR --big-mb 1   # the CI-sized one

1. Writes ``--records`` JSONL lines of synthetic articles (templated sentences, ~150-300 words), of
   which ``--bad`` are bad, spread through the file: empty text, binary junk (invalid UTF-8 bytes or
   control characters), a huge text (``--big-mb``), an invalid JSON line, a wrong field name.
2. Runs ``ghostscore batch`` as a subprocess: exactly ``--records`` output records, exactly ``--bad``
   with an ``error``, every record identity (``id``, or ``_line`` for unparseable lines) exactly once.
3. Runs again, SIGKILLs the process group once about a third of the output is written, tears the last
   line (as a kill mid-write would), reruns with ``--resume`` and checks the output equals run 2.

Prints one JSON line with the counts and timings; exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

TOPICS = ["the harbour", "the school board", "the new clinic", "local farmers", "the city budget",
          "the football club", "the old mill", "the library", "public transport", "the town festival"]
OPENERS = ["On Tuesday,", "Last month,", "According to residents,", "In a statement,", "Earlier this year,",
           "For the first time,", "After a long debate,", "As expected,"]
ACTORS = ["officials", "a spokesperson", "volunteers", "the committee", "two councillors", "local traders",
          "parents", "engineers", "the regional office", "a group of neighbours"]
ACTIONS = ["said the plans for {t} would be reviewed", "raised concerns about {t}",
           "agreed to spend more on {t}", "asked for a public meeting about {t}",
           "published figures showing changes at {t}", "warned that {t} could face delays",
           "welcomed the decision on {t}", "described {t} as a priority for the coming year"]
TAILS = ["", " before the summer", " despite the costs", " after months of talks", " in the next budget",
         " according to a report seen by this paper", " while others disagreed"]
BAD_KINDS = ("empty", "binary", "big", "invalid_json", "wrong_field")


def synthetic_article(rng: random.Random, min_words: int = 150, max_words: int = 300) -> str:
    """Templated news-style sentences combined at random, in paragraphs; min_words..max_words long."""
    target = rng.randint(min_words, max_words)
    sentences: list[str] = []
    words = 0
    while words < target:
        t = rng.choice(TOPICS)
        s = f"{rng.choice(OPENERS)} {rng.choice(ACTORS)} {rng.choice(ACTIONS).format(t=t)}{rng.choice(TAILS)}."
        sentences.append(s)
        words += len(s.split())
    paras = []
    while sentences:
        k = rng.randint(2, 5)
        paras.append(" ".join(sentences[:k]))
        sentences = sentences[k:]
    return "\n\n".join(paras)


def make_input(path: Path, n: int, n_bad: int, seed: int, big_mb: float) -> tuple[set[str], int]:
    """Write the JSONL input; return the expected record identities and how many are bad."""
    rng = random.Random(seed)
    bad_at = set(rng.sample(range(n), n_bad)) if n_bad else set()
    identities: set[str] = set()
    big_text = ("All work and no play makes a very long article. " * (int(big_mb * 1_000_000) // 49 + 1))
    with open(path, "wb") as f:
        bad_seen = 0
        for i in range(n):
            line_no = i + 1
            rid = f"r{i:06d}"
            if i not in bad_at:
                f.write(json.dumps({"id": rid, "text": synthetic_article(rng), "n": i}).encode() + b"\n")
                identities.add(rid)
                continue
            kind = BAD_KINDS[bad_seen % len(BAD_KINDS)]
            variant = (bad_seen // len(BAD_KINDS)) % 2
            bad_seen += 1
            if kind == "empty":
                line = json.dumps({"id": rid, "text": "" if variant else "   \n\t "}).encode()
                identities.add(rid)
            elif kind == "binary" and variant:  # raw bytes that are not UTF-8 (no newlines in them)
                junk = bytes(b for b in rng.randbytes(300) if b not in (10, 13))
                line = b'{"id": "' + rid.encode() + b'", "text": "' + junk.replace(b'"', b"") + b'"}'
                if all(b < 128 for b in junk):
                    line += b"\xff"
                identities.add(f"line:{line_no}")
            elif kind == "binary":  # a valid JSON string full of control characters
                junk_s = "".join(chr(rng.randrange(0, 32)) for _ in range(200))
                line = json.dumps({"id": rid, "text": junk_s}).encode()
                identities.add(rid)
            elif kind == "big":
                line = json.dumps({"id": rid, "text": big_text}).encode()
                identities.add(rid)
            elif kind == "invalid_json":
                line = b'{"id": "' + rid.encode() + b'", "text": "unterminated'
                identities.add(f"line:{line_no}")
            else:
                line = json.dumps({"id": rid, "body": synthetic_article(rng)}).encode()
                identities.add(rid)
            f.write(line + b"\n")
    return identities, n_bad


def identity(record: dict[str, Any]) -> str:
    return str(record["id"]) if "id" in record else f"line:{record['_line']}"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def batch_cmd(args: argparse.Namespace, inp: Path, out: Path, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "ghostscore.cli", "batch", str(inp), "-o", str(out), "--chunk-size",
           str(args.chunk_size), "--workers", str(args.workers), "--no-progress", *extra]
    if args.model:
        cmd += ["--model", args.model]
    if args.no_lm:
        cmd.append("--no-lm")
    return cmd


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def check(records: list[dict[str, Any]], expected: set[str], n: int, n_bad: int, problems: list[str],
          label: str) -> None:
    if len(records) != n:
        problems.append(f"{label}: {len(records)} output records, expected {n}")
    errors = sum(1 for r in records if r.get("error"))
    if errors != n_bad:
        problems.append(f"{label}: {errors} records with an error, expected {n_bad}")
    counts = Counter(identity(r) for r in records)
    dupes = [k for k, v in counts.items() if v > 1]
    missing = expected - set(counts)
    extra = set(counts) - expected
    if dupes or missing or extra:
        problems.append(f"{label}: duplicated {dupes[:5]}, missing {sorted(missing)[:5]}, "
                        f"unexpected {sorted(extra)[:5]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--bad", type=int, default=100)
    ap.add_argument("--workdir", type=Path, default=None, help="Default: a temporary directory.")
    ap.add_argument("--model", default=None, help="Model directory or packaged name.")
    ap.add_argument("--no-lm", action="store_true")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--chunk-size", type=int, default=64)
    ap.add_argument("--big-mb", type=float, default=5.0, help="Size of the huge-text records.")
    ap.add_argument("--kill-at", type=float, default=0.33, help="Kill once this share of output exists.")
    ap.add_argument("--timeout", type=float, default=3600, help="Seconds allowed per batch run.")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.bad > args.records:
        ap.error("--bad cannot exceed --records")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ghostscore-faulttest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    inp, full, killed_out = workdir / "input.jsonl", workdir / "full.jsonl", workdir / "resumed.jsonl"
    expected, n_bad = make_input(inp, args.records, args.bad, args.seed, args.big_mb)
    problems: list[str] = []
    report: dict[str, Any] = {"records": args.records, "bad": n_bad, "workdir": str(workdir)}

    # 1. a clean run
    t0 = time.perf_counter()
    r = subprocess.run(batch_cmd(args, inp, full), capture_output=True, text=True, timeout=args.timeout)
    report["full_run_s"] = round(time.perf_counter() - t0, 2)
    if r.returncode != 0:
        print(r.stderr[-3000:], file=sys.stderr)
        problems.append(f"clean run exited {r.returncode}")
        print(json.dumps({**report, "ok": False, "problems": problems}))
        return 1
    full_records = read_jsonl(full)
    check(full_records, expected, args.records, n_bad, problems, "clean run")
    report["errors"] = sum(1 for x in full_records if x.get("error"))
    report["records_per_s"] = round(args.records / report["full_run_s"], 1)
    report["error_codes"] = dict(Counter(x["error"].split(":")[0] for x in full_records if x.get("error")))

    # 2. killed mid-run, the last line torn, then resumed
    kill_after = max(1, int(args.records * args.kill_at))
    proc = subprocess.Popen(batch_cmd(args, inp, killed_out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + args.timeout
    while proc.poll() is None and count_lines(killed_out) < kill_after and time.monotonic() < deadline:
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: workers too
    proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()
    lines_at_kill = count_lines(killed_out)
    if not killed:  # finished before we could kill it: simulate the crash on its output instead
        data = killed_out.read_bytes().splitlines(keepends=True)
        killed_out.write_bytes(b"".join(data[:kill_after]))
        lines_at_kill = kill_after
    with open(killed_out, "ab") as f:  # a torn last line, as a kill during a write leaves
        f.write(b'{"id": "r999999", "text": "half a rec')
    report.update(killed=killed, lines_at_kill=lines_at_kill)
    t0 = time.perf_counter()
    r = subprocess.run(batch_cmd(args, inp, killed_out, "--resume"), capture_output=True, text=True,
                       timeout=args.timeout)
    report["resume_run_s"] = round(time.perf_counter() - t0, 2)
    if r.returncode != 0:
        print(r.stderr[-3000:], file=sys.stderr)
        problems.append(f"resumed run exited {r.returncode}")
    else:
        resumed = read_jsonl(killed_out)
        check(resumed, expected, args.records, n_bad, problems, "resumed run")
        if resumed != full_records:
            diff = next((i for i, (a, b) in enumerate(zip(resumed, full_records, strict=False)) if a != b), None)
            problems.append(f"resumed output differs from the clean run (first difference at record {diff})")
    report.update(ok=not problems, problems=problems)
    print(json.dumps(report))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
