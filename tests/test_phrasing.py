"""PhrasingExtractor, the packaged lexicon and benchmarks/build_lexicon.py."""

from __future__ import annotations

import gzip
import importlib.util
import json
import time
from pathlib import Path

import pytest

from ghostscore.document import Document
from ghostscore.features import available
from ghostscore.features.phrasing import (
    LEXICON_DIR,
    PhrasingExtractor,
    load_lexicon,
    load_lexicon_from,
    match_phrases,
    tokenize,
)

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parent.parent


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_lexicon", ROOT / "benchmarks" / "build_lexicon.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _extract(path: Path):
    doc = Document.from_path(path)
    return doc, PhrasingExtractor().extract(doc)


# ---------------------------------------------------------------- lexicon files
def test_learned_lexicon_has_version_header_and_is_small() -> None:
    path = LEXICON_DIR / "phrases.tsv"
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# ghostscore-lexicon version=")
    for field in ("date=", "data_sha256=", "command="):
        assert field in first
    assert "--split train" in first
    assert path.stat().st_size < 200_000


def test_lexicon_loads() -> None:
    lex = load_lexicon()
    assert lex.version == "1"
    learned = [p for p in lex.machine.values() if "learned" in p.source]
    assert len(learned) >= 100
    assert all(p.log_odds is not None and p.log_odds > 0 for p in learned)
    assert lex.human, "human-leaning phrases are kept too"
    assert lex.machine[("in", "conclusion")].source.startswith("curated")
    assert ("plays", "a", "crucial", "role") in lex.machine
    assert {"delve", "tapestry"} <= lex.vocab
    assert not any(any(t[0].isdigit() for t in k) for k, p in lex.machine.items() if p.source == "learned")


def test_match_is_longest_first_and_non_overlapping() -> None:
    lex = load_lexicon_from(
        "", "plays a crucial role\t2.5\tstock\ncrucial role\t1.0\tstock\nrole\t0.5\tstock\n", "delve\n"
    )
    toks = tokenize("It plays a crucial role. The role matters.")
    hits = match_phrases(toks, lex.machine, lex.machine_index)
    assert hits == match_phrases(toks, lex.machine)
    assert [(toks[i][0], n) for i, n in hits] == [("plays", 4), ("role", 1)]


# ---------------------------------------------------------------- extractor
def test_registered_with_prefixed_features() -> None:
    assert available()["phrasing"] is PhrasingExtractor
    assert all(n.startswith("phrasing_") for n in PhrasingExtractor.feature_names)
    assert PhrasingExtractor.requires == ()


def test_stock_phrases_found_with_spans_and_reasons() -> None:
    doc, fs = _extract(FIXTURES / "bio_templated_unfilled.txt")
    ev = {e.text.lower(): e for e in fs.evidence}
    assert "plays a crucial role" in ev
    e = ev["plays a crucial role"]
    assert e.kind == "stock_phrase"
    assert doc.text[e.start : e.end] == "plays a crucial role"
    assert e.reason.startswith("stock phrase 'plays a crucial role' (")
    assert any(t.startswith("in conclusion") for t in ev) and any("important to note" in t for t in ev)
    assert fs.values["phrasing_stock_density"] > 5.0
    assert fs.values["phrasing_stock_distinct"] >= 10
    assert fs.values["phrasing_ai_vocab_rate"] > 2.0
    assert set(fs.values) == set(PhrasingExtractor.feature_names)


def test_human_report_is_concrete_with_low_density() -> None:
    _, human = _extract(FIXTURES / "phr_human_report.txt")
    _, farm = _extract(FIXTURES / "bio_templated_unfilled.txt")
    h, f = human.values, farm.values
    assert h["phrasing_stock_density"] < 1.0
    assert h["phrasing_stock_weighted_density"] < f["phrasing_stock_weighted_density"] / 5
    assert h["phrasing_ai_vocab_rate"] < 0.5
    assert h["phrasing_concreteness"] > f["phrasing_concreteness"] + 0.2
    assert h["phrasing_sent_number_share"] > 0.4
    assert h["phrasing_sent_attribution_share"] > 0.3
    assert h["phrasing_sent_quote_share"] > 0.1


def test_bio_is_not_counted_as_body_phrasing() -> None:
    doc, fs = _extract(FIXTURES / "bio_templated_unfilled.txt")
    bio = doc.region_paragraphs("bio")[0]
    assert not any(bio.start <= e.start < bio.end for e in fs.evidence)


def test_fast_enough() -> None:
    text = (FIXTURES / "bio_templated_unfilled.txt").read_text(encoding="utf-8") * 3
    doc = Document.from_text(text)
    ex = PhrasingExtractor()
    ex.extract(doc)  # warm-up: lexicon load, sentence segmentation
    t0 = time.process_time()  # CPU time: wall time on a shared machine says more about the neighbours
    for _ in range(20):
        ex.extract(doc)
    per_doc = (time.process_time() - t0) / 20
    assert per_doc < 0.025, per_doc  # about 2-3 ms of CPU for ~530 words; generous for slow CI machines


# ---------------------------------------------------------------- builder
def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def _row(text: str, label: str, generator: str | None, dataset: str, split: str = "train", lang: str = "en"):
    return {"text": text, "label": label, "generator": generator, "dataset": dataset, "split": split,
            "lang": lang, "group": "g", "domain": "news", "attack": None}


def test_build_lexicon_on_synthetic_corpus(tmp_path: Path) -> None:
    mod = _load_builder()
    machine_text = "The new policy plays a crucial role in the region and it is worth noting the plan today."
    human_text = "The mayor said on the phone that the plan was fine and then she left the room early."
    rows_a, rows_b = [], []
    for i in range(6):
        gen = ["gpt-3.5-turbo", "claude-instant-1.2", "llama-2-70b-chat"][i % 3]
        rows_a.append(_row(f"{machine_text} Item {i}.", "machine", gen, "alpha"))
        rows_b.append(_row(f"{machine_text} Entry {i}.", "machine", gen, "beta"))
        rows_a.append(_row(f"{human_text} Note {i}.", "human", None, "alpha"))
        rows_b.append(_row(f"{human_text} Memo {i}.", "human", None, "beta"))
    # rows that must be ignored: other splits and other languages
    for _ in range(6):
        rows_a.append(_row("zebras wander across the quiet meadow at dusk", "machine", "gpt-3.5-turbo",
                           "alpha", split="validation"))
        rows_b.append(_row("otters gather along the muddy river in spring", "machine", "claude-instant-1.2",
                           "beta", lang="de"))
    _write_jsonl(tmp_path / "alpha.jsonl.gz", rows_a)
    _write_jsonl(tmp_path / "beta.jsonl.gz", rows_b)
    out = tmp_path / "lex" / "phrases.tsv"
    rc = mod.main([
        "--data", str(tmp_path / "alpha.jsonl.gz"), str(tmp_path / "beta.jsonl.gz"), "--out", str(out),
        "--min-df", "3", "--min-generators", "2", "--min-datasets", "2", "--top-machine", "50",
        "--top-human", "50",
    ])
    assert rc == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ghostscore-lexicon version=")
    assert "docs=24" in lines[0]  # 12 machine + 12 human train rows; validation and German rows skipped
    rows = [line.split("\t") for line in lines[2:]]
    machine = {r[1] for r in rows if r[0] == "machine"}
    human = {r[1] for r in rows if r[0] == "human"}
    assert "plays a crucial role" in machine
    assert "it is worth noting" in machine
    assert any("said" in p for p in human)
    assert not any("zebras" in p or "otters" in p for p in machine | human)
    assert not machine & human
    # the written file loads as a lexicon
    lex = load_lexicon_from(out.read_text(encoding="utf-8"), "", "")
    assert ("plays", "a", "crucial", "role") in lex.machine


def test_build_lexicon_strips_preamble() -> None:
    mod = _load_builder()
    assert mod.strip_preamble("Sure, here's a news article:\nThe city met.") == "The city met."
    assert mod.strip_preamble("The city met. Sure, here it is:") == "The city met. Sure, here it is:"
    grams = mod.doc_ngrams("Sure here is the article about the city council", with_caps=False)
    assert not any("here" in g or "sure" in g for g in grams)


def test_build_lexicon_rejects_missing_files(tmp_path: Path) -> None:
    mod = _load_builder()
    with pytest.raises(SystemExit):
        mod.main(["--data", str(tmp_path / "nope.jsonl.gz"), "--out", str(tmp_path / "x.tsv")])
