"""Stand-ins for a current model told to sound human: does training on them teach the held-out 2026 model?

SmolLM2-135M-Instruct (the scoring LM's own weights; the only generator on this machine) writes texts under prompts
like the 2026 model's ("write it like a real person: vary the sentence lengths, avoid stock phrases"). They join a
copy of the feature table as one more training generator (``smollm2-standin``, never a LOGO fold), and LOGO shows
what they do to the 2026 model held out. Measured, not kept (BENCHMARKS.md, nineteenth session): 0.642 -> 0.651-0.661
while the other generators lose. The texts go where ``--out`` says, never into the repository.

    python benchmarks/standin_texts.py generate --n 480 --seed 1 --out runs/standin.jsonl.gz
    cp -r data/features/lm-v2 runs/lm-v2s
    python benchmarks/build_feature_table.py --data runs/standin.jsonl.gz --out runs/lm-v2s --cap 1000 --test-cap 1000
    python benchmarks/pool_hidden.py --data runs/standin.jsonl.gz --tokens 128 --layers 15,18,24 --tables runs/lm-v2s
    python benchmarks/standin_texts.py logo --weight 4 --candidates hidden@128 --protocols logo \\
        --shipped-calibration none --table runs/lm-v2s --data '../shared/data/corpus/*.jsonl.gz' \\
        runs/standin.jsonl.gz --cache-dir cache --out runs/logo-w4

``logo`` passes every argument after ``--weight`` to ``transfer_benchmark.py``, with the stand-ins' machine rows
weighing ``--weight`` times as much in every fit (before class balancing).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import runpy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

GENERATOR = "smollm2-standin"
# Invented subjects, written for this script (no corpus text): local news, daily life, opinion prompts.
TOPICS = (
    "a town council vote on a new bike lane", "a bakery closing after forty years", "a flood that cut off a rural road",
    "a high school robotics team", "rising rents in a small city", "a missing dog found after a week",
    "a new library branch", "a local election recount", "a factory adding night shifts",
    "a heat wave and the power grid", "a marathon in the rain", "a hospital changing visiting hours",
    "a farmers market moving downtown", "a bridge closed for repairs", "a teacher strike", "a community garden",
    "a house fire on a quiet street", "a minor league baseball season", "a restaurant's health inspection",
    "a museum reopening", "a school bus driver shortage", "a zoning fight over a warehouse",
    "a retired nurse volunteering", "a tech startup laying off staff", "a snowstorm closing schools",
    "a recycling program change", "a jazz festival", "a used car purchase", "a broken washing machine",
    "learning to bake sourdough", "a first apartment", "a hiking trip that went wrong", "a noisy neighbor",
    "a part-time job at a grocery store", "a college roommate", "moving to a new country", "a grandmother's recipe",
    "a cheap pair of headphones", "a dentist appointment", "a hotel stay near the airport", "an online course",
    "a city parking app", "a local hardware store", "a camping stove", "whether homework should be banned",
    "social media and teenagers", "school uniforms", "public transport in small towns",
    "a coffee shop that changed owners", "fixing a leaking faucet", "planting tomatoes on a balcony",
    "training for a 5k", "a lost wallet returned", "a power outage during a storm",
    "a wedding that almost got cancelled", "an old family photo",
)
GENRES = (  # (corpus domain, prompt)
    ("news", "Write a news article about {t}, the way a veteran local reporter would write it."),
    ("news", "Write a short news story about {t}. Include quotes from people involved."),
    ("social", "Write a personal blog post about {t}."),
    ("qa", "Write a forum answer from someone who has dealt with {t}."),
    ("review", "Write a customer review about {t}."),
    ("essay", "Write a student essay about {t}."),
    ("story", "Write a short story about {t}."),
    ("howto", "Write a how-to guide related to {t}."),
)
HUMANIZE = (  # what the 2026 model was told (DATA.md: vary rhythm, avoid stock phrases, sound like a person)
    " Make it sound like a real person wrote it: vary the sentence lengths, use plain everyday words, avoid cliches "
    "and stock phrases, no headings or lists.",
    " Write it like a human, not an AI: some short sentences, some long ones, a few casual asides, nothing generic.",
    " Sound natural and human. Do not use phrases like 'in conclusion' or 'it is important to note'. Mix short and "
    "long sentences.",
)


def prompts(n: int, seed: int, humanize_share: float = 0.67) -> list[tuple[str, bool, str]]:
    """``n`` (domain, told to sound human, prompt) triples drawn with ``seed``."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        domain, template = rng.choice(GENRES)
        humanize = rng.random() < humanize_share
        prompt = template.format(t=rng.choice(TOPICS)) + (rng.choice(HUMANIZE) if humanize else "")
        out.append((domain, humanize, prompt))
    return out


def corpus_row(text: str, domain: str, humanize: bool, seed: int, index: int) -> dict[str, Any]:
    """One row in the corpus schema (DATA.md), split by the hash of its own group as the corpus splits."""
    group = f"standin:{seed}:{index}"
    bucket = int(hashlib.sha1(group.encode()).hexdigest()[:8], 16) % 100
    return {"id": f"standin-{seed:02d}{index:05d}", "text": text, "label": "machine", "generator": GENERATOR,
            "domain": domain, "dataset": "standin", "attack": "humanize-prompt" if humanize else None,
            "group": group, "lang": "en", "split": "train" if bucket < 80 else "validation" if bucket < 90 else "test"}


def generate(args: argparse.Namespace) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ghostscore.backbones.language_model import torch_dir

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed + 1)
    path = torch_dir(args.cache_dir)
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=torch.float32).eval()
    jobs, rows, t0 = prompts(args.n, args.seed), [], time.time()
    for start in range(0, len(jobs), args.batch):
        chunk = jobs[start:start + args.batch]
        chats = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
                 for _, _, p in chunk]
        enc = tok(chats, return_tensors="pt", padding=True)
        with torch.inference_mode():  # one temperature per batch, 0.7-1.1: plain to loose writing
            out = model.generate(**enc, do_sample=True, temperature=0.7 + 0.4 * rng.random(), top_p=0.95,
                                 repetition_penalty=1.15, max_new_tokens=args.max_new_tokens,
                                 pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        for (domain, humanize, _), ids in zip(chunk, out[:, enc["input_ids"].shape[1]:], strict=True):
            text = tok.decode(ids, skip_special_tokens=True).strip()
            if text:
                rows.append(corpus_row(text, domain, humanize, args.seed, len(rows)))
        print(f"{len(rows)}/{args.n} texts, {time.time() - t0:.0f} s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def weigh_standins(base: Callable[..., np.ndarray], weight: float) -> Callable[..., np.ndarray]:
    """``candidates.current_weights`` with the stand-ins' machine rows times ``weight`` (every other row as ``base``
    weighs it)."""

    def weighted(rows: Any, current: float, humanized: float) -> np.ndarray:
        w = base(rows, current, humanized)
        if "generator" in rows:
            mine = (rows["generator"].to_numpy() == GENERATOR) & (rows["y"].to_numpy() == 1)
            w = w * np.where(mine, weight, 1.0)
        return w

    return weighted


def logo(weight: float, rest: list[str]) -> None:
    """``transfer_benchmark.py`` with the stand-ins' machine rows weighted ``weight`` in every fit."""
    from ghostscore.training import candidates

    candidates.current_weights = weigh_standins(candidates.current_weights, weight)  # fit_hidden looks it up per call
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    sys.argv = ["transfer_benchmark.py", *rest]
    runpy.run_path(str(here / "transfer_benchmark.py"), run_name="__main__")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write stand-in texts (corpus schema, JSONL.gz)")
    g.add_argument("--n", type=int, default=480)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--out", required=True)
    g.add_argument("--batch", type=int, default=16)
    g.add_argument("--max-new-tokens", type=int, default=220)
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--cache-dir", default=None)
    lo = sub.add_parser("logo", help="transfer_benchmark.py with the stand-ins weighted; the other arguments go to it")
    lo.add_argument("--weight", type=float, default=1.0)
    args, rest = ap.parse_known_args(argv)
    if args.cmd == "logo":
        logo(args.weight, rest)
    elif rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    else:
        generate(args)


if __name__ == "__main__":
    main()
