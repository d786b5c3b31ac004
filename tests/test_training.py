"""`ghostscore train` and `ghostscore evaluate` end to end on a small labeled file we generate."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ghostscore import Detector
from ghostscore.classifiers import load_model
from ghostscore.cli import app

from .synthetic import write_labeled_jsonl

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    data = write_labeled_jsonl(tmp / "toy.jsonl", n_per_label=30)
    out = tmp / "model"
    r = runner.invoke(app, ["train", "--data", str(data), "--out", str(out), "--no-lm",
                            "--cache-dir", str(tmp / "cache")])
    assert r.exit_code == 0, r.output
    return tmp, data, out


def test_train_produces_a_loadable_model(trained) -> None:
    tmp, data, out = trained
    assert (out / "config.json").exists() and (out / "weights.safetensors").exists()
    assert (out / "MODEL_CARD.md").read_text().startswith("# ghostscore model card")
    assert not list(out.glob("*.pkl"))
    model = load_model(out)
    assert model.operating_point is not None
    det = Detector.load(str(out))
    s = det.score(json.loads(data.read_text().splitlines()[1])["text"])
    assert s.ai_probability is not None


def test_evaluate_writes_metrics_and_plots(trained) -> None:
    tmp, data, out = trained
    ev = tmp / "eval"
    r = runner.invoke(app, ["evaluate", "--data", str(data), "--model", str(out), "--split", "test",
                            "--out", str(ev), "--no-lm", "--cache-dir", str(tmp / "cache")])
    assert r.exit_code == 0, r.output
    m = json.loads((ev / "metrics.json").read_text())
    assert m["overall"]["n"] == 12  # 6 test rows per label
    assert m["overall"]["auroc"] > 0.9  # the synthetic classes are easy to tell apart
    assert "generator" in m["per_group"] and "roc" in m and "calibration" in m
    assert (ev / "roc.png").stat().st_size > 1000 and (ev / "calibration.png").stat().st_size > 1000


def test_label_mapping_is_respected(tmp_path) -> None:
    """Swapping the label names must flip the model: a silent wrong mapping would not."""
    data = write_labeled_jsonl(tmp_path / "toy.jsonl", n_per_label=30)
    out = tmp_path / "flipped"
    r = runner.invoke(app, ["train", "--data", str(data), "--out", str(out), "--no-lm", "--positive", "human",
                            "--negative", "machine", "--cache-dir", str(tmp_path / "cache")])
    assert r.exit_code == 0, r.output
    model = load_model(out)
    assert model.metrics["validation"]["auroc"] > 0.9  # it learned "human" as the positive class
    det = Detector.load(str(out))
    machine_text = json.loads(data.read_text().splitlines()[1])["text"]
    human_text = json.loads(data.read_text().splitlines()[0])["text"]
    assert det.score(human_text).ai_probability > det.score(machine_text).ai_probability


def test_unknown_labels_fail_clearly(tmp_path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": "a b c", "label": "robot"}\n')
    r = runner.invoke(app, ["train", "--data", str(p), "--out", str(tmp_path / "m"), "--no-lm"])
    assert r.exit_code == 2
    assert "neither" in r.output


def test_train_with_sign_consistent_filter_records_what_it_dropped(tmp_path) -> None:
    data = write_labeled_jsonl(tmp_path / "toy.jsonl", n_per_label=30)
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    for i, row in enumerate(rows):  # two generators, so directions can be compared
        if row["generator"]:
            row["generator"] = f"toy-llm-{'ab'[(i // 2) % 2]}"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "model"
    r = runner.invoke(app, ["train", "--data", str(data), "--out", str(out), "--no-lm", "--extractors",
                            "phrasing,bio", "--sign-consistent", "phrasing", "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    config = json.loads((out / "config.json").read_text())
    dropped = config["meta"]["sign_inconsistent_dropped"]
    assert not set(dropped) & set(config["feature_names"])
    assert config["meta"]["config"]["sign_consistent"] == ["phrasing"]
    assert load_model(out).feature_names == config["feature_names"]


def test_calibrate_refits_threshold_on_own_texts(trained, tmp_path) -> None:
    """`ghostscore calibrate` on the user's own texts: both labels refit Platt + threshold; humans only
    keep the calibration and replace the threshold; the weights never change."""
    _, data, out = trained
    original = load_model(out)
    both = tmp_path / "both"
    r = runner.invoke(app, ["calibrate", "--data", str(data), "--model", str(out), "--out", str(both),
                            "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    m = load_model(both)
    assert list(m.coef) == list(original.coef)
    assert m.meta["recalibration"]["n_human"] == 30 and "Platt" in m.meta["recalibration"]["how"]
    assert "## Recalibrated" in (both / "MODEL_CARD.md").read_text()
    humans = tmp_path / "humans.jsonl"
    humans.write_text("".join(line + "\n" for line in data.read_text().splitlines() if '"human"' in line))
    only = tmp_path / "only"
    r = runner.invoke(app, ["calibrate", "--data", str(humans), "--model", str(out), "--out", str(only),
                            "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    m2 = load_model(only)
    assert m2.calibration == original.calibration and "kept" in m2.meta["recalibration"]["how"]
    assert Detector.load(str(only)).score(json.loads(humans.read_text().splitlines()[0])["text"]).verdict
    few = tmp_path / "few.jsonl"
    few.write_text("".join(line + "\n" for line in humans.read_text().splitlines()[:5]))
    r = runner.invoke(app, ["calibrate", "--data", str(few), "--model", str(out), "--out", str(tmp_path / "x"),
                            "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code != 0 and "at least 20" in r.output
    keep = tmp_path / "not-a-model"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    r = runner.invoke(app, ["calibrate", "--data", str(data), "--model", str(out), "--out", str(keep),
                            "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code != 0 and "not a model directory" in r.output and (keep / "notes.txt").exists()
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(bytes(range(256)) * 8)
    r = runner.invoke(app, ["calibrate", "--data", str(binary), "--model", str(out), "--out", str(tmp_path / "y")])
    assert r.exit_code != 0 and "cannot be read" in r.output
