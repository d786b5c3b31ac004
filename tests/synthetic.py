"""Synthetic labeled articles for tests: our own templates, no corpus text.

"machine" texts are built from stock-phrase templates that restate a claim; "human" texts from concrete,
quoted, numbered report sentences with irregular lengths. Enough signal for a model to learn on a tiny
set, which is what the train/evaluate tests need.
"""

from __future__ import annotations

import importlib
import json
import random
import sys
from pathlib import Path
from types import ModuleType

TOPICS = ["the new park", "the bus network", "the library plan", "the school budget", "the harbor project",
          "the housing scheme", "the water upgrade", "the bike lanes", "the market hall", "the clinic"]
PEOPLE = ["Ana Ruiz", "Tom Becker", "Li Wei", "Sara Okafor", "Jon Meyer", "Priya Nair", "Ed Walsh", "Mia Costa"]
STOCK = [
    "In today's fast-paced world, {t} plays a crucial role in the community.",
    "It is important to note that {t} will bring significant benefits to the entire community.",
    "Officials emphasized that {t} represents a significant step forward.",
    "Furthermore, {t} highlights the importance of collaboration and dialogue.",
    "Ultimately, {t} is a testament to the power of working together.",
    "In conclusion, {t} will bring significant benefits to the entire community.",
    "Moreover, stakeholders remain committed to ensuring that {t} succeeds.",
    "As we navigate the ever-evolving landscape, {t} offers a vibrant vision for the future.",
]
CONCRETE = [
    "{p} said the first phase of {t} cost ${n} million, about {m} percent over the March estimate.",
    '"We argued about it for two years," {p} told reporters on Tuesday. "Nobody got what they wanted."',
    "The vote was {n} to {m}.",
    "Work stopped twice in {month} after a pipe burst under Elm Street.",
    "{p}, 54, who has lived on the block since 1998, called it late but welcome.",
    "A spokeswoman declined to say when {t} would open.",
    "Critics pointed to the {n} trees cut down near the old depot.",
    "Ticket prices rise from $2.10 to $2.45 on {month} 1.",
]
MONTHS = ["January", "March", "May", "August", "October"]


def machine_text(rng: random.Random) -> str:
    t = rng.choice(TOPICS)
    sents = [rng.choice(STOCK).format(t=t) for _ in range(rng.randint(7, 10))]
    return " ".join(sents)


def human_text(rng: random.Random) -> str:
    t = rng.choice(TOPICS)
    sents = [
        rng.choice(CONCRETE).format(t=t, p=rng.choice(PEOPLE), n=rng.randint(3, 90), m=rng.randint(2, 40),
                                    month=rng.choice(MONTHS))
        for _ in range(rng.randint(7, 10))
    ]
    return " ".join(sents)


def write_labeled_jsonl(path: Path, n_per_label: int = 30, seed: int = 0, with_split: bool = True) -> Path:
    rng = random.Random(seed)
    rows = []
    for i in range(n_per_label):
        split = "train" if i < n_per_label * 0.6 else "validation" if i < n_per_label * 0.8 else "test"
        for label, make in (("human", human_text), ("machine", machine_text)):
            row = {"text": make(rng), "label": label, "group": f"g{i}-{label}", "domain": "news",
                   "generator": "toy-llm" if label == "machine" else None, "dataset": "synthetic"}
            if with_split:
                row["split"] = split
            rows.append(row)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def benchmark_script(name: str) -> ModuleType:
    """A script of ``benchmarks/`` imported as a module (they import their sibling scripts by name)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)
