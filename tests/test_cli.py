"""CLI: exit codes and messages on bad input; readable and JSON output on the bundled example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ghostscore.cli import EXIT_INPUT, EXIT_MODEL, app

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "content_farm_article.txt"
runner = CliRunner()


def test_missing_file(tmp_path) -> None:
    r = runner.invoke(app, ["score", str(tmp_path / "nope.txt"), "--no-lm"])
    assert r.exit_code == EXIT_INPUT
    assert "no such file" in r.output


def test_empty_file(tmp_path) -> None:
    p = tmp_path / "empty.txt"
    p.write_text("   \n")
    r = runner.invoke(app, ["score", str(p), "--no-lm"])
    assert r.exit_code == EXIT_INPUT
    assert "empty" in r.output


def test_binary_file(tmp_path) -> None:
    p = tmp_path / "img.bin"
    p.write_bytes(bytes(range(256)) * 40)
    r = runner.invoke(app, ["score", str(p), "--no-lm"])
    assert r.exit_code == EXIT_INPUT
    assert "binary" in r.output


def test_ten_megabyte_input_is_refused_quickly(tmp_path) -> None:
    p = tmp_path / "huge.txt"
    p.write_text("All work and no play makes a long file. " * 260_000)
    assert p.stat().st_size > 10_000_000
    r = runner.invoke(app, ["score", str(p), "--no-lm"])
    assert r.exit_code == EXIT_INPUT
    assert "limit" in r.output


def test_wrong_encoding(tmp_path) -> None:
    p = tmp_path / "latin1.txt"
    p.write_bytes("Le café était fermé à cause de la grève.".encode("latin-1"))
    r = runner.invoke(app, ["score", str(p), "--no-lm"])
    assert r.exit_code == EXIT_INPUT
    assert "UTF-8" in r.output


def test_json_output_on_example_names_bio_and_slot() -> None:
    r = runner.invoke(app, ["score", str(EXAMPLE), "--no-lm", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["verdict"] in {"ai", "human", "uncertain"}
    assert 0.0 <= data["ai_probability"] <= 1.0
    kinds = {e["kind"] for e in data["evidence"]}
    assert "unfilled_slot" in kinds
    assert "restatement" in kinds


def test_readable_output_and_stdin() -> None:
    r = runner.invoke(app, ["score", "-", "--no-lm"], input=EXAMPLE.read_bytes())
    assert r.exit_code == 0, r.output
    assert "P(machine)" in r.output
    assert "unfilled" in r.output.lower()


def test_short_text_is_unsupported(tmp_path) -> None:
    p = tmp_path / "short.txt"
    p.write_text("Just a few words here.")
    r = runner.invoke(app, ["score", str(p), "--no-lm", "--json"])
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["verdict"] == "unsupported" and data["ai_probability"] is None
    assert any("too short" in x for x in data["reasons"])


@pytest.mark.models
def test_default_model_with_language_model() -> None:
    r = runner.invoke(app, ["score", str(EXAMPLE), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert any(k.startswith("lm_") for k in data["features"])
    assert data["verdict"] in {"ai", "human", "uncertain"}


def test_a_stated_domain_sets_the_threshold_and_an_unknown_one_is_refused(tmp_path) -> None:
    from ghostscore import Detector

    op = Detector.load(use_lm=False).model.operating_point
    r = runner.invoke(app, ["score", str(EXAMPLE), "--no-lm", "--json", "--domain", "review"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["domain"] == "review" and out["threshold"] == pytest.approx(op.threshold(domain="review"))
    r = runner.invoke(app, ["score", str(EXAMPLE), "--no-lm", "--domain", "poetry"])
    assert r.exit_code == EXIT_MODEL and "unknown domain 'poetry'" in r.output and "news" in r.output
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "text": EXAMPLE.read_text()}) + "\n")
    r = runner.invoke(app, ["batch", str(src), "-o", str(tmp_path / "out.jsonl"), "--no-lm", "--domain", "poetry"])
    assert r.exit_code == EXIT_MODEL and "unknown domain" in r.output
    r = runner.invoke(app, ["batch", str(src), "-o", str(tmp_path / "out.jsonl"), "--no-lm", "--domain", "news"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "out.jsonl").read_text())["verdict"] in ("ai", "uncertain", "human")


def test_every_command_ends_bad_input_and_model_problems_with_their_exit_code(tmp_path) -> None:
    """One message line and exit 2 / 3, never a traceback: score, evaluate and train share one error path."""
    f = tmp_path / "a.txt"
    f.write_text("Plain words here. " * 30)
    r = runner.invoke(app, ["score", str(f), "--model", "no-such-model"])
    assert r.exit_code == EXIT_MODEL and "no model found at no-such-model" in r.output
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a b c", "label": "human"}\n')
    r = runner.invoke(app, ["evaluate", "--data", str(data), "--model", "no-such-model", "--out", str(tmp_path / "e")])
    assert r.exit_code == EXIT_MODEL and "packaged models" in r.output
    r = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "m"),
                            "--features-table", str(tmp_path / "none")])
    assert r.exit_code == EXIT_INPUT and "no feature table shards" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
