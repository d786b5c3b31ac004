"""Stock phrasing: learned and curated LLM phrases, AI vocabulary, and vagueness vs concreteness.

Why: content-farm rewrites lean on a small stock of phrases ("plays a crucial role", "in conclusion",
"navigate the ever-evolving landscape") and say little that can be checked (few numbers, names, dates,
quotes or attributions). Both are cheap to measure and easy to show to a moderator as spans.

Phrase lists live in ``resources/lexicon``: ``phrases.tsv`` is learned by ``benchmarks/build_lexicon.py``
(smoothed log-odds, machine vs human, train split only); ``curated.tsv`` and ``ai_vocab.txt`` are
hand-curated, partly from the AI-vocabulary list of the human_detectors annotation guide (MIT, GitHub
jenna-russell/human_detectors, prompts/detection_guide.txt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from ..document import Document
from .base import Extractor, FeatureSet, register

# One tokenizer for the lexicon builder and the matcher, so learned n-grams match at scoring time.
# Hyphens and punctuation split words ("ever-evolving" -> ever, evolving); apostrophes stay inside.
TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*|\d+(?:[.,]\d+)*")

# Function / generic words: a learned stock phrase must contain one (topic n-grams such as
# "climate change" or "white house" usually do not).
FUNCTION_WORDS = frozenset(
    """a about above across after again against all also although am an and any are around as at be
    because been before being below between both but by can could did do does doing down during each
    either even ever every few for from further had has have having he her here hers herself him himself
    his how however i if in into is it it's its itself just less many may me might more most much must my
    myself neither no nor not now of off on once one only or other our ours ourselves out over own per
    rather same several she should since so some such than that the their theirs them themselves then
    there these they this those though through throughout thus to too toward towards under unless until
    up upon us very via was we were what whatever when where whether which while who whom whose why will
    with within without would yet you your yours yourself""".split()
)


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Lowercased word tokens with their character offsets in ``text``."""
    return [(m.group().lower(), m.start(), m.end()) for m in TOKEN.finditer(text)]


def tokenize_words(text: str) -> list[str]:
    """Lowercased word tokens only (the builder's fast path)."""
    return TOKEN.findall(text.lower())


LEXICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "lexicon"


@dataclass(frozen=True)
class Phrase:
    """One stock phrase: where it comes from and how telling it is (weight ~ log-odds)."""

    text: str
    source: str  # "learned", "curated" or "curated+learned"
    weight: float
    log_odds: float | None = None
    category: str = "stock"

    def describe(self) -> str:
        if self.source == "curated":
            return f"curated {self.category} phrase"
        if self.log_odds is not None:
            return f"{self.source}, log-odds {self.log_odds:.1f}"
        return self.source


@dataclass
class Lexicon:
    """Token-sequence dictionaries for fast matching (longest match first)."""

    machine: dict[tuple[str, ...], Phrase]
    human: dict[tuple[str, ...], float]
    vocab: frozenset[str]
    header: dict[str, str]
    max_len: int
    machine_index: dict[str, tuple[int, ...]] = field(default_factory=dict)
    human_index: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.machine_index = build_index(self.machine)
        self.human_index = build_index(self.human)

    @property
    def version(self) -> str:
        return self.header.get("version", "?")


def parse_header(line: str) -> dict[str, str]:
    """``# ghostscore-lexicon version=1 date=... command=...`` -> dict (command takes the rest)."""
    out: dict[str, str] = {}
    body = line.lstrip("#").strip()
    if " command=" in body:
        body, cmd = body.split(" command=", 1)
        out["command"] = cmd
    parts = body.split()
    if parts:
        out["kind"] = parts[0]
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            out[k] = v
    return out


def _key(phrase: str) -> tuple[str, ...]:
    return tuple(tokenize_words(phrase))


def read_learned(text: str) -> tuple[dict[str, str], list[tuple[str, str, float]]]:
    """Parse phrases.tsv: (header, [(direction, phrase, log_odds)])."""
    header: dict[str, str] = {}
    rows: list[tuple[str, str, float]] = []
    for line in text.splitlines():
        if line.startswith("#"):
            if not header:
                header = parse_header(line)
            continue
        cols = line.split("\t")
        if len(cols) < 3 or cols[0] == "direction":
            continue
        rows.append((cols[0], cols[1], float(cols[2])))
    return header, rows


def load_lexicon_from(learned: str, curated: str, vocab: str) -> Lexicon:
    """Build a Lexicon from the three file texts (split out for tests)."""
    header, rows = read_learned(learned)
    machine: dict[tuple[str, ...], Phrase] = {}
    human: dict[tuple[str, ...], float] = {}
    for direction, phrase, lo in rows:
        key = _key(phrase)
        if not key:
            continue
        if direction == "machine":
            machine[key] = Phrase(" ".join(key), "learned", max(0.3, lo), lo)
        elif direction == "human":
            human[key] = lo
    for line in curated.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        key = _key(cols[0])
        if not key:
            continue
        weight = float(cols[1]) if len(cols) > 1 and cols[1] else 1.0
        category = cols[2].strip() if len(cols) > 2 and cols[2].strip() else "stock"
        old = machine.get(key)
        if old is not None:
            both = max(weight, old.weight)
            machine[key] = Phrase(old.text, "curated+learned", both, old.log_odds, category)
        else:
            machine[key] = Phrase(" ".join(key), "curated", weight, None, category)
    words: set[str] = set()
    for line in vocab.splitlines():
        if line.startswith("#"):
            continue
        words.update(w.lower() for w in line.split() if TOKEN.fullmatch(w))
    max_len = max((len(k) for k in [*machine, *human]), default=1)
    return Lexicon(machine, human, frozenset(words), header, max_len)


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """The packaged lexicon (cached: loading takes a few milliseconds, once)."""

    def read(name: str) -> str:
        f = LEXICON_DIR / name
        return f.read_text(encoding="utf-8") if f.is_file() else ""

    return load_lexicon_from(read("phrases.tsv"), read("curated.tsv"), read("ai_vocab.txt"))


def build_index(table: dict[tuple[str, ...], object]) -> dict[str, tuple[int, ...]]:
    """First word -> phrase lengths starting with it, longest first (skips most positions cheaply)."""
    idx: dict[str, set[int]] = {}
    for key in table:
        idx.setdefault(key[0], set()).add(len(key))
    return {w: tuple(sorted(ns, reverse=True)) for w, ns in idx.items()}


def match_phrases(
    tokens: list[tuple[str, int, int]], table: dict[tuple[str, ...], object],
    index: dict[str, tuple[int, ...]] | None = None,
) -> list[tuple[int, int]]:
    """Greedy longest, non-overlapping matches of ``table`` keys in ``tokens``: [(first, n)].

    One dict lookup per token plus one per candidate length: about a millisecond per article.
    """
    if index is None:
        index = build_index(table)
    out: list[tuple[int, int]] = []
    words = [t[0] for t in tokens]
    n_tok = len(words)
    i = 0
    while i < n_tok:
        hit = 0
        for n in index.get(words[i], ()):
            if i + n <= n_tok and tuple(words[i : i + n]) in table:
                hit = n
                break
        if hit:
            out.append((i, hit))
            i += hit
        else:
            i += 1
    return out


# ---------------------------------------------------------------- concreteness cues
_NUMBER = re.compile(
    r"\d|\b(?:hundreds?|thousands?|millions?|billions?|trillions?|percent|dozens?|half|quarter|"
    r"three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty)\b",
    re.I,
)
_DATE = re.compile(
    r"\b(?:January|February|March|April|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Aug|Sept?|Oct|Nov|Dec)\b\.?|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|"
    r"Sunday|yesterday|tonight|last (?:week|month|year|night)|(?:18|19|20)\d\d)\b|\bMay \d"
)
_ATTRIBUTION = re.compile(
    r"\b(?:said|says|told|according to|asked|added|reported|wrote|testified|recalled|declined to comment)\b",
    re.I,
)
_HEDGE = re.compile(
    r"\b(?:may|might|could|perhaps|possibly|probably|likely|unlikely|appears? to|seems? to|suggests?|"
    r"reportedly|allegedly|potentially|somewhat|arguably|apparently)\b",
    re.I,
)


def _has_entity(sentence: str) -> bool:
    """A capitalized word that is not the sentence's first word (named-entity-like)."""
    stripped = sentence.lstrip(" \"'([-")
    first = TOKEN.match(stripped)
    rest = stripped[first.end() :] if first else stripped
    for m in re.finditer(r"\b[A-Z][a-z]+", rest):
        if m.group() == "I":
            continue
        before = rest[: m.start()].rstrip()
        if before.endswith((".", "!", "?", ":", '"')):
            continue  # a new (quoted) sentence, not a name
        return True
    return False


@register
class PhrasingExtractor(Extractor):
    """Stock-phrase density (learned + curated), AI-vocabulary rate and concreteness of the body."""

    name: ClassVar[str] = "phrasing"
    family: ClassVar[str] = "phrasing"
    feature_names: ClassVar[tuple[str, ...]] = (
        "phrasing_stock_density",
        "phrasing_stock_weighted_density",
        "phrasing_learned_density",
        "phrasing_curated_density",
        "phrasing_stock_distinct",
        "phrasing_human_phrase_density",
        "phrasing_ai_vocab_rate",
        "phrasing_sent_number_share",
        "phrasing_sent_date_share",
        "phrasing_sent_entity_share",
        "phrasing_sent_quote_share",
        "phrasing_sent_attribution_share",
        "phrasing_sent_hedge_share",
        "phrasing_concreteness",
    )
    requires: ClassVar[tuple[str, ...]] = ()
    max_evidence: ClassVar[int] = 60

    def extract(self, doc: Document) -> FeatureSet:
        lex = load_lexicon()
        fs = FeatureSet()
        n_words = 0
        stock = learned = curated = 0
        weighted = 0.0
        human_hits = 0
        vocab_hits = 0
        distinct: set[tuple[str, ...]] = set()
        paragraphs = doc.region_paragraphs("body") or doc.paragraphs
        for para in paragraphs:
            chunk = doc.text[para.start : para.end]
            toks = tokenize(chunk)
            words = [t[0] for t in toks if not t[0][0].isdigit()]
            n_words += len(words)
            vocab_hits += sum(w in lex.vocab for w in words)
            human_hits += len(match_phrases(toks, lex.human, lex.human_index))
            for first, n in match_phrases(toks, lex.machine, lex.machine_index):
                key = tuple(t[0] for t in toks[first : first + n])
                phrase = lex.machine[key]
                stock += 1
                weighted += phrase.weight
                learned += "learned" in phrase.source
                curated += "curated" in phrase.source
                distinct.add(key)
                if len(fs.evidence) < self.max_evidence:
                    start = para.start + toks[first][1]
                    end = para.start + toks[first + n - 1][2]
                    fs.evidence.append(
                        self.evidence(
                            doc, start, end, "stock_phrase",
                            f"stock phrase '{phrase.text}' ({phrase.describe()})",
                            weight=round(min(0.6, 0.1 + 0.12 * phrase.weight), 3),
                        )
                    )
        per100 = 100.0 / max(1, n_words)
        v = fs.values
        v["phrasing_stock_density"] = stock * per100
        v["phrasing_stock_weighted_density"] = weighted * per100
        v["phrasing_learned_density"] = learned * per100
        v["phrasing_curated_density"] = curated * per100
        v["phrasing_stock_distinct"] = float(len(distinct))
        v["phrasing_human_phrase_density"] = human_hits * per100
        v["phrasing_ai_vocab_rate"] = vocab_hits * per100
        v.update(self._concreteness(doc))
        fs.extra["phrasing_lexicon_version"] = lex.version
        return fs

    def _concreteness(self, doc: Document) -> dict[str, float]:
        """Share of body sentences with checkable detail: numbers, dates, names, quotes, attributions."""
        sents = [doc.text[s.start : s.end] for s in doc.body_sentences]
        sents = [s for s in sents if len(TOKEN.findall(s)) >= 4]
        if not sents:
            return {
                k: 0.0
                for k in self.feature_names
                if k.startswith("phrasing_sent_") or k == "phrasing_concreteness"
            }
        n = len(sents)
        num = sum(bool(_NUMBER.search(s)) for s in sents) / n
        date = sum(bool(_DATE.search(s)) for s in sents) / n
        ent = sum(_has_entity(s) for s in sents) / n
        quote = sum('"' in s for s in sents) / n
        attr = sum(bool(_ATTRIBUTION.search(s)) for s in sents) / n
        hedge = sum(bool(_HEDGE.search(s)) for s in sents) / n
        return {
            "phrasing_sent_number_share": num,
            "phrasing_sent_date_share": date,
            "phrasing_sent_entity_share": ent,
            "phrasing_sent_quote_share": quote,
            "phrasing_sent_attribution_share": attr,
            "phrasing_sent_hedge_share": hedge,
            "phrasing_concreteness": (num + date + ent + quote + attr) / 5.0,
        }
