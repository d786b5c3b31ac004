"""Learn stock phrasing (word 2-4-grams) that machine text over-uses, from the TRAIN split only.

Why: a hand list of LLM phrases goes stale and misses house styles; a learned list adds phrases that
several generators share. Scored with the log-odds ratio with an informative Dirichlet prior (Monroe,
Colaresi & Quinn 2008, "Fightin' Words") over document frequencies, so one text repeating a phrase counts
once. Corpus-construction artefacts are kept out:

* only English rows of the train split;
* a phrase must appear in several generators and datasets (not one source's habit);
* instruction-tuned generators weigh more than base models that only continued a human prefix;
* chat preambles ("Sure, here's ...") are cut before counting, and n-grams with prompt/preamble words
  are dropped (those are leftovers, handled by the bio/leftover extractor);
* n-grams must contain a function word, no digits, no single letters (split contractions), no word of a
  short topic list, and must not be mostly capitalized mid-sentence (named entities);
* machine rows are re-weighted per domain to the domain's human count (genre mix is not style).

Two passes keep memory small on a shared 2-core machine: pass 1 counts hashed n-grams in a fixed numpy
table, pass 2 counts exactly only n-grams whose hash bucket passed the thresholds.

    python benchmarks/build_lexicon.py --data /work/shared/data/corpus/*.jsonl.gz \
        --out src/ghostscore/resources/lexicon/phrases.tsv
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ghostscore.features.phrasing import FUNCTION_WORDS, TOKEN

LEXICON_VERSION = 1
N_MIN, N_MAX = 2, 4
TABLE_BITS = 22

# Weight of a machine document by generator: chat/instruction-tuned models write whole texts the way
# content farms do; base models (gpt2, opt, neo, gpt-j, neox) only continued a human prefix.
INSTRUCT_PREFIXES = ("gpt-3.5", "claude", "vicuna", "palm", "llm-2026", "gpt-4")
INSTRUCT_PATTERNS = (re.compile(r"^llama-2-.*-chat$"),)
MID_WEIGHT = {"text-davinci-003": 0.6, "flan-t5-xxl": 0.4}
BASE_WEIGHT = 0.25

# Preamble / prompt-echo words: n-grams containing them are leftovers, not style.
BLOCK_TOKENS = frozenset(
    """sure here here's certainly paraphrase paraphrased paraphrasing rephrase rephrased rewrite rewritten
    rewriting passage prompt ai sentence sentences word words title headline subtitle okay ok hope
    assistant chatbot fictional hypothetical review abstract essay paragraph paragraphs
    s m t d ve re ll given""".split()
)
# Topic words and scraping chrome that one source's subject matter (COVID misinformation, restaurant
# reviews, BBC page furniture) makes look like style.
TOPIC_TOKENS = frozenset(
    """virus viruses vaccine vaccines vaccination covid coronavirus pandemic restaurant restaurants menu staff
    food dishes atmosphere playback""".split()
)
PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|certainly|of course|absolutely|okay|ok)\b[^\n]{0,20}?\bhere\b|here(?:'s| is| are)\b|"
    r"title:|headline:|(?:possible |rewritten |paraphrased )?(?:news )?article:)[^\n]{0,300}?(?::\s|\n)",
    re.I,
)


def generator_weight(generator: str | None) -> float:
    g = (generator or "").lower()
    if g.startswith(INSTRUCT_PREFIXES) or any(p.match(g) for p in INSTRUCT_PATTERNS):
        return 1.0
    return MID_WEIGHT.get(g, BASE_WEIGHT)


def read_rows(paths: list[Path], split: str) -> Iterator[dict]:
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if row.get("split") != split or row.get("lang", "en") != "en":
                    continue
                if row.get("label") not in ("human", "machine") or not row.get("text"):
                    continue
                yield row


def strip_preamble(text: str) -> str:
    """Drop a leading chat preamble line ("Sure, here's a news article:") before counting; fold curly
    apostrophes as Document does (else "it’s" would count as "it s")."""
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    m = PREAMBLE.match(text)
    return text[m.end() :] if m else text


_SENT_BREAK = re.compile(r"[.!?:\"\n]")


def doc_ngrams(text: str, with_caps: bool = False) -> dict[str, bool]:
    """Distinct admissible n-grams of a text; value: True when a non-initial token is capitalized
    mid-sentence (named-entity-like) in at least one occurrence."""
    out: dict[str, bool] = {}
    toks: list[str] = []
    caps: list[bool] = []
    prev_end = 0
    for m in TOKEN.finditer(text):
        w = m.group()
        gap = text[prev_end : m.start()]
        prev_end = m.end()
        if w[0].isdigit():
            toks.append("")  # digits break n-grams
            caps.append(False)
            continue
        toks.append(w.lower())
        if with_caps and w[0].isupper() and w != "I" and len(toks) > 1:
            caps.append(not _SENT_BREAK.search(gap))  # capitalized mid-sentence
        else:
            caps.append(False)
    n_tok = len(toks)
    for i in range(n_tok):
        for n in range(N_MIN, N_MAX + 1):
            j = i + n
            if j > n_tok:
                break
            gram = toks[i:j]
            if "" in gram:
                break
            if any(t in BLOCK_TOKENS or t in TOPIC_TOKENS or (len(t) == 1 and t not in "ai") for t in gram):
                continue
            if not any(t in FUNCTION_WORDS for t in gram) or all(t in FUNCTION_WORDS for t in gram):
                continue
            key = " ".join(gram)
            cap = any(caps[i + 1 : j]) if with_caps else False
            out[key] = out.get(key, False) or cap
    return out


def log_odds(
    y_m: np.ndarray, y_h: np.ndarray, n_m: float, n_h: float, prior_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Monroe et al. log-odds with informative Dirichlet prior; returns (delta, z)."""
    total = y_m + y_h
    alpha = prior_scale * total / max(1.0, total.sum())
    a0 = alpha.sum()
    lm = np.log((y_m + alpha) / (n_m + a0 - y_m - alpha))
    lh = np.log((y_h + alpha) / (n_h + a0 - y_h - alpha))
    delta = lm - lh
    var = 1.0 / (y_m + alpha) + 1.0 / (y_h + alpha)
    return delta, delta / np.sqrt(var)


def data_hash(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def build(
    paths: list[Path], *, top_machine: int, top_human: int, min_df: int, min_generators: int,
    min_datasets: int, max_docs: int, split: str = "train", min_log_odds: float = 1.5, log: bool = True,
) -> tuple[list[tuple], dict]:
    """Return (rows, stats); a row is (direction, phrase, delta, z, df_m, df_h, n_gen, n_ds)."""
    t0 = time.time()
    size = 1 << TABLE_BITS
    mask = size - 1
    tab_m = np.zeros(size, dtype=np.float32)
    tab_h = np.zeros(size, dtype=np.float32)
    n_seen = 0
    dom_h: dict[str, float] = {}
    dom_m: dict[str, float] = {}
    for row in read_rows(paths, split):
        if max_docs and n_seen >= max_docs:
            break
        n_seen += 1
        dom = row.get("domain") or "?"
        if row["label"] == "machine":
            dom_m[dom] = dom_m.get(dom, 0.0) + generator_weight(row.get("generator"))
        else:
            dom_h[dom] = dom_h.get(dom, 0.0) + 1.0
        grams = doc_ngrams(strip_preamble(row["text"]))
        if not grams:
            continue
        idx = np.fromiter((hash(g) & mask for g in grams), dtype=np.int64, count=len(grams))
        idx = np.unique(idx)
        if row["label"] == "machine":
            tab_m[idx] += generator_weight(row.get("generator"))
        else:
            tab_h[idx] += 1.0
    # Domain balance: machine mass per domain is scaled to that domain's human count, so an n-gram is not
    # "machine" just because machine rows over-represent a genre (reviews, essays). Domains without human
    # rows use the global ratio.
    global_ratio = sum(dom_h.values()) / max(1e-9, sum(dom_m.values()))
    dom_scale = {d: (dom_h[d] / m if dom_h.get(d) else global_ratio) for d, m in dom_m.items()}
    keep_arr = (tab_m >= min_df * 0.5) | (tab_h >= min_df)
    keep = keep_arr.astype(np.uint8).tobytes()  # bytes indexing is much faster than numpy scalars
    if log:
        print(f"pass 1: {n_seen} docs, {int(keep_arr.sum())} candidate buckets, {time.time() - t0:.1f}s",
              file=sys.stderr)

    # pass 2: exact counts for candidates
    stats: dict[str, list] = {}
    gens: dict[str, int] = {}
    dsets: dict[str, int] = {}
    n_m = n_h = 0.0
    n_seen = 0
    for row in read_rows(paths, split):
        if max_docs and n_seen >= max_docs:
            break
        n_seen += 1
        is_m = row["label"] == "machine"
        w = 1.0
        if is_m:
            w = generator_weight(row.get("generator")) * dom_scale.get(row.get("domain") or "?", 1.0)
        if is_m:
            n_m += w
        else:
            n_h += 1.0
        gbit = 1 << gens.setdefault(row.get("generator") or "human", len(gens))
        dbit = 1 << dsets.setdefault(row.get("dataset") or "?", len(dsets))
        for g, cap in doc_ngrams(strip_preamble(row["text"]), with_caps=True).items():
            if not keep[hash(g) & mask]:
                continue
            s = stats.get(g)
            if s is None:
                # weighted df machine, df human, raw df machine, gen bits (machine), ds bits machine,
                # ds bits human, capitalized count
                s = stats[g] = [0.0, 0.0, 0, 0, 0, 0, 0]
            if is_m:
                s[0] += w
                s[2] += 1
                s[3] |= gbit
                s[4] |= dbit
            else:
                s[1] += 1.0
                s[5] |= dbit
            s[6] += cap
    if log:
        print(f"pass 2: {len(stats)} exact candidates, {time.time() - t0:.1f}s", file=sys.stderr)
    if not stats:
        return [], {"docs": n_seen, "seconds": time.time() - t0}
    keys = list(stats)
    arr = np.array([stats[k][:3] for k in keys], dtype=np.float64)
    # Prior scale: total document mass (a moderately strong prior shrinks rare n-grams toward zero).
    delta, z = log_odds(arr[:, 0], arr[:, 1], n_m, n_h, prior_scale=max(n_m + n_h, 1.0))
    rows: list[tuple] = []
    order_m = np.argsort(-z)
    for i in order_m:
        if len(rows) >= top_machine or z[i] <= 0:
            break
        if delta[i] < min_log_odds:
            continue
        k = keys[i]
        s = stats[k]
        n_gen = bin(s[3]).count("1")
        n_ds = bin(s[4]).count("1")
        occurrences = s[2] + s[1]
        if s[2] < min_df or n_gen < min_generators or n_ds < min_datasets:
            continue
        if s[6] > 0.3 * occurrences:  # mostly capitalized mid-sentence: a name, not phrasing
            continue
        rows.append(("machine", k, float(delta[i]), float(z[i]), s[2], int(s[1]), n_gen, n_ds))
    n_machine = len(rows)
    for i in np.argsort(z):
        if len(rows) - n_machine >= top_human or z[i] >= 0:
            break
        if delta[i] > -min_log_odds:
            continue
        k = keys[i]
        s = stats[k]
        n_ds_h = bin(s[5]).count("1")
        if s[1] < min_df or n_ds_h < max(2, min_datasets):
            continue
        if s[6] > 0.3 * (s[2] + s[1]):
            continue
        rows.append(("human", k, float(delta[i]), float(z[i]), s[2], int(s[1]), 0, n_ds_h))
    info = {"docs": n_seen, "machine_mass": n_m, "human_docs": n_h, "candidates": len(stats),
            "seconds": time.time() - t0}
    return rows, info


def write_tsv(out: Path, rows: list[tuple], header: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(header + "\n")
        fh.write("direction\tphrase\tlog_odds\tz\tdf_machine\tdf_human\tn_generators\tn_datasets\n")
        for d, p, delta, z, dfm, dfh, ng, nd in rows:
            fh.write(f"{d}\t{p}\t{delta:.3f}\t{z:.2f}\t{dfm}\t{dfh}\t{ng}\t{nd}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", required=True, help="corpus *.jsonl.gz files")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--split", default="train", help="only this split is read (default: train)")
    ap.add_argument("--top-machine", type=int, default=400)
    ap.add_argument("--top-human", type=int, default=200)
    ap.add_argument("--min-df", type=int, default=15, help="min machine docs (human docs for human list)")
    ap.add_argument("--min-generators", type=int, default=3)
    ap.add_argument("--min-datasets", type=int, default=2)
    ap.add_argument("--min-log-odds", type=float, default=1.5, help="min |log-odds| (1.5 = 4.5x the odds)")
    ap.add_argument("--max-docs", type=int, default=0, help="read at most this many rows (0 = all)")
    args = ap.parse_args(argv)
    paths = [Path(p) for p in args.data]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        ap.error(f"no such file(s): {missing}")
    rows, info = build(
        paths, top_machine=args.top_machine, top_human=args.top_human, min_df=args.min_df,
        min_generators=args.min_generators, min_datasets=args.min_datasets, max_docs=args.max_docs,
        split=args.split, min_log_odds=args.min_log_odds,
    )
    cmd = "python benchmarks/build_lexicon.py --data " + " ".join(p.name for p in paths) + (
        f" --split {args.split} --top-machine {args.top_machine} --top-human {args.top_human}"
        f" --min-df {args.min_df} --min-generators {args.min_generators} --min-datasets {args.min_datasets}"
        f" --min-log-odds {args.min_log_odds}"
        + (f" --max-docs {args.max_docs}" if args.max_docs else "")
    )
    header = (
        f"# ghostscore-lexicon version={LEXICON_VERSION} date={dt.date.today().isoformat()}"
        f" data_sha256={data_hash(paths)} docs={info['docs']} command={cmd}"
    )
    write_tsv(args.out, rows, header)
    n_mach = sum(r[0] == "machine" for r in rows)
    print(f"wrote {args.out}: {n_mach} machine-leaning, {len(rows) - n_mach} human-leaning phrases "
          f"in {info['seconds']:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
