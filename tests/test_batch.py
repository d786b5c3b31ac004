"""ghostscore.batch: formats, bad records, order, resume after a crash, workers, the CLI and the fault test."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ghostscore.batch import BatchOptions, run_batch

from .conftest import make_article, packaged_features_only

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_detector(tiny_model_dir: Path) -> Any:
    from ghostscore.detector import Detector

    return Detector.load(tiny_model_dir)


def write_records(path: Path, records: list[dict[str, Any]]) -> None:
    fmt = path.suffix
    if fmt == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif fmt == ".csv":
        pd.DataFrame(records).to_csv(path, index=False)
    else:
        pd.DataFrame(records).to_parquet(path, index=False)


def read_records(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()  # None for nulls, lists for lists: comparable with ==


def _evidence(value: Any) -> list[str]:
    if isinstance(value, str):  # CSV cells hold JSON
        return json.loads(value)
    return list(value)


def _null(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and value != value)


@pytest.mark.parametrize(
    "src,dst",
    [(".jsonl", ".jsonl"), (".jsonl", ".csv"), (".csv", ".parquet"), (".parquet", ".jsonl"),
     (".parquet", ".parquet"), (".csv", ".csv"), (".jsonl", ".parquet")],
)
def test_round_trip_formats(tmp_path: Path, tiny_detector: Any, articles: list[str], src: str, dst: str) -> None:
    records = [{"id": f"a{i}", "source": "news" if i % 2 else "blog", "text": t} for i, t in enumerate(articles)]
    records[4]["text"] = ""  # one bad record survives every format
    inp, out = tmp_path / f"in{src}", tmp_path / f"out{dst}"
    write_records(inp, records)
    summary = run_batch(BatchOptions(input=inp, output=out, detector=tiny_detector, chunk_size=7))
    rows = read_records(out)
    assert summary.records == len(records) == len(rows)
    assert [str(r["id"]) for r in rows] == [r["id"] for r in records]  # same records, same order
    assert [r["source"] for r in rows] == [r["source"] for r in records]
    assert rows[0]["text"] == records[0]["text"]
    good = [r for i, r in enumerate(rows) if i != 4]
    assert all(_null(r["error"]) for r in good)
    assert all(r["verdict"] in ("ai", "human", "uncertain") for r in good)
    assert all(0.0 <= float(r["ai_probability"]) <= 1.0 for r in good)
    assert all(isinstance(_evidence(r["evidence"]), list) for r in rows)
    assert str(rows[4]["error"]).startswith("empty:")
    assert _null(rows[4]["ai_probability"]) and _null(rows[4]["verdict"])
    assert summary.errors == {"empty": 1}
    assert not (tmp_path / f"out{dst}.parts").exists()


def test_bad_jsonl_records_become_error_records(tmp_path: Path, tiny_detector: Any) -> None:
    good = make_article(__import__("random").Random(1))
    lines = [
        json.dumps({"id": 1, "text": good}),
        "{not json",
        json.dumps({"id": 3, "body": good}),
        json.dumps({"id": 4, "text": 42}),
        json.dumps({"id": 5, "text": "x" * 5000}),
        json.dumps({"id": 6, "text": "\x00\x01\x02\x03 junk"}),
        json.dumps([1, 2, 3]),
        "",  # blank lines are not records
        json.dumps({"id": 8, "text": "   "}),
        json.dumps({"id": 9, "text": None}),
        json.dumps({"text": good}),  # no id: gets _line
        json.dumps({"id": 11, "text": "Too short to judge."}),
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": 12, "text": "caf\xe9"}\n')
    out = tmp_path / "out.jsonl"
    summary = run_batch(BatchOptions(input=inp, output=out, detector=tiny_detector, max_chars=4000, chunk_size=4))
    rows = read_records(out)
    assert len(rows) == 12 == summary.records
    codes = [r["error"].split(":", 1)[0] if r["error"] else None for r in rows]
    assert codes == [None, "invalid_json", "missing_field", "not_text", "too_long", "binary", "invalid_record",
                     "empty", "missing_field", None, None, "encoding"]
    assert rows[1]["_line"] == 2 and rows[1]["raw"] == "{not json" and "id" not in rows[1]
    assert rows[9]["_line"] == 11 and "_line" not in rows[0]  # _line only where the id is missing
    assert rows[10]["verdict"] == "unsupported" and rows[10]["evidence"][0].startswith("unsupported: too short")
    assert rows[2]["body"] == good  # input fields are carried through, even on error records
    assert summary.n_errors == 9


def test_bad_csv_rows_become_error_records(tmp_path: Path, tiny_detector: Any, articles: list[str]) -> None:
    inp = tmp_path / "in.csv"
    with open(inp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        w.writerow(["1", articles[0]])
        w.writerow(["2", articles[1], "extra cell"])
        w.writerow(["3"])
        w.writerow(["4", ""])
        w.writerow(["5", "multi\nline " + articles[2]])
    out = tmp_path / "out.jsonl"
    run_batch(BatchOptions(input=inp, output=out, detector=tiny_detector))
    rows = read_records(out)
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert [r["error"].split(":")[0] if r["error"] else None for r in rows] == [
        None, "invalid_csv", "invalid_csv", "empty", None]


def test_parquet_null_and_missing_text_column(tmp_path: Path, tiny_detector: Any, articles: list[str]) -> None:
    inp = tmp_path / "in.parquet"
    pd.DataFrame({"text": [articles[0], None, articles[1]]}).to_parquet(inp, index=False)
    out = tmp_path / "out.parquet"
    run_batch(BatchOptions(input=inp, output=out, detector=tiny_detector))
    df = pd.read_parquet(out)
    assert list(df["_index"]) == [0, 1, 2]  # no id column: the row index identifies records
    assert df["error"].isna().tolist() == [True, False, True]
    out2 = tmp_path / "out2.jsonl"
    run_batch(BatchOptions(input=inp, output=out2, detector=tiny_detector, text_field="body"))
    assert all(r["error"].startswith("missing_field") for r in read_records(out2))


def test_overlong_line_is_one_error_record_with_its_id(tmp_path: Path, tiny_detector: Any) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "big", "text": "word " * 5000}) + "\n" + json.dumps({"id": "next", "text": ""})
                   + "\n")
    out = tmp_path / "out.jsonl"
    run_batch(BatchOptions(input=inp, output=out, detector=tiny_detector, max_line_bytes=1000))
    rows = read_records(out)
    assert [r["id"] for r in rows] == ["big", "next"]
    assert rows[0]["error"].startswith("too_long: line 1") and rows[0]["_line"] == 1


class Interrupt(BaseException):
    """Like Ctrl-C or a kill: not an Exception, so nothing in batch swallows it."""


class DiesAfter:
    """Wraps a detector and interrupts the run on its n-th batch call."""

    def __init__(self, inner: Any, n: int) -> None:
        self.inner, self.n, self.model = inner, n, inner.model

    def score_records(self, texts: Any, **kw: Any) -> Any:
        self.n -= 1
        if self.n <= 0:
            raise Interrupt
        return self.inner.score_records(texts, **kw)


@pytest.mark.parametrize("fmt", [".jsonl", ".csv", ".parquet"])
def test_resume_after_interruption_equals_clean_run(
    tmp_path: Path, tiny_detector: Any, articles: list[str], fmt: str,
) -> None:
    records = [{"id": i, "text": t if i % 9 else ""} for i, t in enumerate(articles)]
    inp = tmp_path / "in.jsonl"
    write_records(inp, records)
    clean, out = tmp_path / f"clean{fmt}", tmp_path / f"out{fmt}"
    run_batch(BatchOptions(input=inp, output=clean, detector=tiny_detector, chunk_size=6))
    with pytest.raises(Interrupt):
        run_batch(BatchOptions(input=inp, output=out, detector=DiesAfter(tiny_detector, 4), chunk_size=6))
    summary = run_batch(BatchOptions(input=inp, output=out, detector=tiny_detector, chunk_size=6, resume=True))
    assert summary.resumed_past == 18 and summary.records == len(records) - 18
    assert read_records(out) == read_records(clean)


@pytest.mark.parametrize("fmt", [".jsonl", ".csv"])
def test_resume_cuts_a_torn_last_record(tmp_path: Path, tiny_detector: Any, articles: list[str], fmt: str) -> None:
    records = [{"id": i, "text": t} for i, t in enumerate(articles[:20])]
    inp = tmp_path / "in.jsonl"
    write_records(inp, records)
    clean, out = tmp_path / f"clean{fmt}", tmp_path / f"out{fmt}"
    run_batch(BatchOptions(input=inp, output=clean, detector=tiny_detector))
    data = clean.read_bytes()
    lines = data.splitlines(keepends=True)
    keep = 8 if fmt == ".jsonl" else 9  # the CSV has a header line
    out.write_bytes(b"".join(lines[:keep]) + lines[keep][: len(lines[keep]) // 2])  # killed mid-write
    summary = run_batch(BatchOptions(input=inp, output=out, detector=tiny_detector, resume=True))
    assert summary.resumed_past == 8
    assert out.read_bytes() == data
    ids = [str(r["id"]) for r in read_records(out)]
    assert ids == [str(i) for i in range(20)]  # each id exactly once, in order


def test_resume_of_a_finished_run_adds_nothing(tmp_path: Path, tiny_detector: Any, articles: list[str]) -> None:
    inp = tmp_path / "in.jsonl"
    write_records(inp, [{"id": i, "text": t} for i, t in enumerate(articles[:5])])
    out = tmp_path / "out.parquet"
    run_batch(BatchOptions(input=inp, output=out, detector=tiny_detector))
    before = read_records(out)
    summary = run_batch(BatchOptions(input=inp, output=out, detector=tiny_detector, resume=True))
    assert summary.records == 0 and summary.resumed_past == 5
    assert read_records(out) == before


def test_workers_give_the_same_output_in_order(tmp_path: Path, tiny_model_dir: Path, articles: list[str]) -> None:
    inp = tmp_path / "in.jsonl"
    write_records(inp, [{"id": i, "text": t if i % 7 else "\x00bin"} for i, t in enumerate(articles)])
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    run_batch(BatchOptions(input=inp, output=one, model=str(tiny_model_dir), chunk_size=3))
    summary = run_batch(BatchOptions(input=inp, output=two, model=str(tiny_model_dir), chunk_size=3, workers=2))
    assert two.read_text() == one.read_text()
    assert summary.records == len(articles) and summary.errors["binary"] == 6


def test_summary_describe(tmp_path: Path, tiny_detector: Any, articles: list[str]) -> None:
    inp = tmp_path / "in.jsonl"
    write_records(inp, [{"id": 1, "text": articles[0]}, {"id": 2, "text": ""}])
    summary = run_batch(BatchOptions(input=inp, output=tmp_path / "o.jsonl", detector=tiny_detector))
    text = summary.describe()
    assert "2 records" in text and "records/s" in text and "empty 1" in text


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "ghostscore.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_cli_batch_and_bad_model_keeps_existing_output(tmp_path: Path, tiny_model_dir: Path,
                                                       articles: list[str]) -> None:
    inp = tmp_path / "in.csv"
    write_records(inp, [{"id": i, "text": t} for i, t in enumerate(articles[:6])])
    out = tmp_path / "out.jsonl"
    r = _cli("batch", str(inp), "-o", str(out), "--model", str(tiny_model_dir), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert len(read_records(out)) == 6 and "6 records" in r.stderr
    before = out.read_bytes()
    r = _cli("batch", str(inp), "-o", str(out), "--model", str(tmp_path / "nope"), "--no-progress")
    assert r.returncode == 3 and "no model found" in r.stderr
    assert out.read_bytes() == before


def test_fault_test_small(tmp_path: Path, tiny_model_dir: Path) -> None:
    """benchmarks/faulttest.py end to end on 300 records (10 bad): counts, SIGKILL mid-run, --resume."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "faulttest.py"), "--records", "300", "--bad", "10",
         "--workdir", str(tmp_path), "--model", str(tiny_model_dir), "--chunk-size", "16", "--big-mb", "1"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["ok"] and report["records"] == 300 and report["errors"] == 10


@pytest.mark.skipif(packaged_features_only() is None, reason="packaged features-only model not trained yet")
def test_real_packaged_model_batch(tmp_path: Path, articles: list[str]) -> None:
    inp = tmp_path / "in.jsonl"
    write_records(inp, [{"id": i, "text": t} for i, t in enumerate(articles[:6])] + [{"id": 6, "text": ""}])
    out = tmp_path / "out.jsonl"
    summary = run_batch(BatchOptions(input=inp, output=out, model="features-only", use_lm=False))
    rows = read_records(out)
    assert len(rows) == 7 and summary.errors == {"empty": 1}
    assert all(r["verdict"] in ("ai", "human", "uncertain", "unsupported") for r in rows[:6])


class CountingDetector:
    def __init__(self, inner: Any) -> None:
        self.inner, self.model, self.calls = inner, inner.model, 0

    def score_records(self, texts: Any, **kw: Any) -> Any:
        self.calls += 1
        return self.inner.score_records(texts, **kw)


def test_chunks_also_end_at_a_byte_budget(tmp_path: Path, stub_detector: Any, articles: list[str]) -> None:
    inp = tmp_path / "in.jsonl"
    write_records(inp, [{"id": i, "text": t} for i, t in enumerate(articles[:10])])
    counting = CountingDetector(stub_detector)
    out = tmp_path / "out.jsonl"
    run_batch(BatchOptions(input=inp, output=out, detector=counting, chunk_size=100, max_chunk_bytes=1))
    assert counting.calls == 10 and [r["id"] for r in read_records(out)] == list(range(10))


@pytest.mark.parametrize("fmt", [".jsonl", ".csv"])
def test_memory_stays_bounded_while_streaming(tmp_path: Path, stub_detector: Any, fmt: str) -> None:
    """A 20 MB input is never held whole: peak traced memory stays near a few chunks."""
    import tracemalloc

    inp = tmp_path / f"in{fmt}"
    big = "word " * 20_000  # 100 kB per record
    if fmt == ".jsonl":
        inp.write_text("".join(json.dumps({"id": i, "text": big}) + "\n" for i in range(200)))
    else:
        inp.write_text("id,text\n" + "".join(f"{i},{big}\n" for i in range(200)))
    assert inp.stat().st_size > 19_000_000
    tracemalloc.start()
    try:
        run_batch(BatchOptions(input=inp, output=tmp_path / "out.jsonl", detector=stub_detector, chunk_size=8))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000, f"peak {peak:,} bytes"
    assert len(read_records(tmp_path / "out.jsonl")) == 200
