"""Side-by-side speed and accuracy of MiniLM sentence-encoder variants on the same sentences, one process.

    .venv/bin/python benchmarks/bench_encoder.py --n 1000 --rounds 3 [--real '../shared/data/corpus/iu-news.jsonl.gz']

The machine is shared, so every variant runs once per round, rounds interleaved, and the table reports the
median round: sentences/s (wall), CPU seconds per 1,000 sentences (``time.process_time``, all threads of
this process) and the max abs difference / mean and min cosine of the embeddings to the fp32 torch
reference (the original implementation: threads=2, batch 64, max_length 128). ``--real`` also counts how
many real body sentences exceed 64 word pieces (the cost of ``max_length=64``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ghostscore.backbones import encoder as enc

_WORDS = (
    "the council said new report local teacher market prices have risen since winter river authority group "
    "students mayor researchers museum announced plan would help families over next year road works will "
    "finish spring old bridge needs urgent repairs more people are cycling work than before library open "
    "sundays again water lake cleaner young players joined club season bus timetable changes end month "
    "festival drew record crowd however officials warned that funding remains uncertain while residents "
    "complained about noise and traffic during construction unprecedented infrastructure investment "
    "spokeswoman confirmed quarterly earnings exceeded analysts expectations despite supply disruptions "
    "hospital emergency department reported longer waiting times patients elderly according figures "
    "published on tuesday government ministry environment agency flooding coastal towns evacuated storm "
    "electricity outages thousands households insurance claims climbed percent compared previous decade"
).split()
_NAMES = ["Smith", "Okonkwo", "García", "Nakamura", "Brighton", "Leicester", "Oslo", "Dr. Patel", "Ms. Chen"]


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` news-like sentences of 5-45 words (mode ~18), with names, numbers and punctuation."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = int(round(rng.triangular(5, 45, 18)))
        words = [rng.choice(_WORDS) for _ in range(k)]
        for _ in range(rng.randint(0, 2)):
            words.insert(rng.randrange(k), rng.choice(_NAMES))
        if rng.random() < 0.4:
            words.insert(rng.randrange(k), f"{rng.randint(2, 990)}{rng.choice(['', '%', ',000', 'm'])}")
        if k > 12 and rng.random() < 0.6:
            words[rng.randrange(3, k - 3)] += ","
        text = " ".join(words)
        out.append(text[0].upper() + text[1:] + rng.choice([".", ".", ".", "?", "!", '."']))
    return out


def real_sentences(path: str, docs: int) -> list[str]:
    """Body sentences of the first ``docs`` documents, as the redundancy extractor selects them."""
    from ghostscore.document import Document
    from ghostscore.features.redundancy import MIN_SENTENCE_WORDS
    from ghostscore.features.textview import WORD_RE, flat_view

    out: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= docs:
                break
            view = flat_view(Document.from_text(json.loads(line)["text"]))
            out += [s for s in view.sentences if len(WORD_RE.findall(s)) >= MIN_SENTENCE_WORDS]
    return out


def legacy_encode(tokenizer, model, texts: list[str], batch_size: int = 64, max_length: int = 128) -> np.ndarray:
    """The original ``SentenceEncoder.encode`` (char-length sort, tokenizer padding): the reference."""
    import torch

    out = []
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            e = tokenizer([texts[j] for j in idx], padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt")
            hidden = model(**e).last_hidden_state
            mask = e["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)
            out.append((idx, emb.numpy()))
    result = np.zeros((len(texts), enc.DIM), dtype=np.float32)
    for idx, emb in out:
        result[idx] = emb
    return result


def quantize_int8(src: Path, dst: Path, *, per_channel: bool) -> Path:
    """ORT dynamic int8 quantization (weights int8, activations quantized per call)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel)
    return dst


class _Provider:
    """Just enough of ``ModelProvider`` for the redundancy extractor: a fixed encoder."""

    def __init__(self, encoder: object) -> None:
        self._encoder = encoder

    def encoder(self) -> object:
        return self._encoder


def bench_docs(args: argparse.Namespace) -> None:
    """End-to-end redundancy extraction (sentence split + encoder + features) per backend, interleaved."""
    from ghostscore.document import Document
    from ghostscore.features.redundancy import RedundancyExtractor

    with gzip.open(args.real, "rt", encoding="utf-8") as fh:
        docs = [Document.from_text(json.loads(line)["text"]) for _, line in zip(range(args.docs), fh, strict=False)]
    words = np.array([len(d.text.split()) for d in docs])
    print(f"{len(docs)} documents, words median {np.median(words):.0f}")
    import torch

    configs = [("torch", 2), ("torch", 1), ("auto", 2), ("auto", 1)]
    extractors = {
        f"{b} t{t}": RedundancyExtractor(_Provider(enc.SentenceEncoder.load(backend=b, threads=t,
                                                                            cache_dir=args.cache_dir)))
        for b, t in configs
    }
    threads = {f"{b} t{t}": t for b, t in configs}
    feats: dict[str, list] = {}
    walls: dict[str, list[float]] = {k: [] for k in extractors}
    cpus: dict[str, list[float]] = {k: [] for k in extractors}
    for k, ex in extractors.items():
        torch.set_num_threads(threads[k])  # process-global: set before every torch run
        ex.extract_many(docs[:4])
    for _ in range(args.rounds):
        for k, ex in extractors.items():
            torch.set_num_threads(threads[k])
            c0, w0 = time.process_time(), time.perf_counter()
            feats[k] = ex.extract_many(docs)
            walls[k].append(time.perf_counter() - w0)
            cpus[k].append(time.process_time() - c0)
    ref = feats["torch t2"]
    print("\n| redundancy extractor | docs/s (wall) | CPU s / doc | max abs feature diff vs torch t2 |")
    print("|---|---:|---:|---:|")
    for k in extractors:
        diff = max(
            abs(float(x.values[f]) - float(y.values[f]))
            for x, y in zip(feats[k], ref, strict=True) for f in x.values
            if not (np.isnan(x.values[f]) and np.isnan(y.values[f]))
        )
        w, c = statistics.median(walls[k]), statistics.median(cpus[k])
        backend = extractors[k].models.encoder().backend
        print(f"| {k} ({backend}) | {len(docs) / w:.1f} | {c / len(docs):.3f} | {diff:.1e} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="generated sentences")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cache-dir", default=None, help="ghostscore cache dir (default: user cache / env)")
    ap.add_argument("--real", default=None, help="jsonl.gz corpus: count real sentences over 64 word pieces")
    ap.add_argument("--real-docs", type=int, default=300)
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--quick", action="store_true", help="only reference, best torch and shipped default")
    ap.add_argument("--docs", type=int, default=0,
                    help="instead: redundancy-extractor docs/s on this many --real documents, torch vs default")
    args = ap.parse_args()
    if args.docs:
        if not args.real:
            ap.error("--docs needs --real")
        bench_docs(args)
        return

    import torch
    from transformers import AutoModel

    texts = make_sentences(args.n)
    tokenizer = enc.load_tokenizer()
    n_tok = np.array([len(x) for x in tokenizer(texts)["input_ids"]])
    print(f"{len(texts)} sentences, word pieces (with CLS/SEP): median {np.median(n_tok):.0f}, "
          f"p95 {np.percentile(n_tok, 95):.0f}, max {n_tok.max()}, >64: {(n_tok > 64).sum()}")
    if args.real:
        real = real_sentences(args.real, args.real_docs)
        r_tok = np.array([len(x) for x in tokenizer(real)["input_ids"]])
        print(f"real: {len(real)} sentences from {args.real_docs} docs, word pieces median {np.median(r_tok):.0f}, "
              f"p99 {np.percentile(r_tok, 99):.0f}, >64: {(r_tok > 64).sum()} ({(r_tok > 64).mean():.2%}), "
              f">128: {(r_tok > 128).sum()}")

    hf = AutoModel.from_pretrained(str(enc.minilm_dir()), local_files_only=True).eval()
    t0 = time.perf_counter()
    onnx_file = enc.onnx_path(args.cache_dir)
    print(f"ONNX artifact: {onnx_file} (ready in {time.perf_counter() - t0:.1f}s incl. manifest check)")

    Fn = Callable[[list[str]], np.ndarray]

    def torch_threads(n: int, fn: Fn) -> Fn:
        def run(xs: list[str]) -> np.ndarray:
            torch.set_num_threads(n)
            return fn(xs)
        return run

    def new_encoder(runner: object, batch: int, max_length: int = 128) -> Fn:
        e = enc.SentenceEncoder(tokenizer, runner, max_length=max_length)
        return lambda xs: e.encode(xs, batch_size=batch)

    torch_runner = enc.TorchRunner(module=enc.pooled_module(hf))
    variants: dict[str, Fn] = {
        "torch legacy t2 b64 L128 (reference)": torch_threads(2, lambda xs: legacy_encode(tokenizer, hf, xs)),
    }
    if not args.quick:
        variants.update({
            "torch legacy t1 b64 L128": torch_threads(1, lambda xs: legacy_encode(tokenizer, hf, xs)),
            "torch legacy t2 b32 L128": torch_threads(2, lambda xs: legacy_encode(tokenizer, hf, xs, 32)),
            "torch legacy t2 b128 L128": torch_threads(2, lambda xs: legacy_encode(tokenizer, hf, xs, 128)),
            "torch legacy t2 b64 L64": torch_threads(2, lambda xs: legacy_encode(tokenizer, hf, xs, 64, 64)),
        })
    variants["torch new t2 b64 (token sort)"] = torch_threads(2, new_encoder(torch_runner, 64))
    ort_cfgs = [(2, False, 64)] if args.quick else [
        (2, True, 64), (1, True, 64), (2, False, 32), (2, False, 64), (2, False, 128), (1, False, 64)]
    for threads, spin, batch in ort_cfgs:
        runner = enc.OrtRunner(onnx_file, threads, spinning=spin)
        variants[f"onnx fp32 t{threads} b{batch}{'' if spin else ' nospin'}"] = new_encoder(runner, batch)
    tmp = Path(tempfile.mkdtemp(prefix="bench-encoder-"))
    if not args.no_int8 and not args.quick:
        for per_channel in (False, True):
            q = quantize_int8(onnx_file, tmp / f"int8-{per_channel}.onnx", per_channel=per_channel)
            label = f"onnx int8{' per-channel' if per_channel else ''} t2 b64"
            variants[label] = new_encoder(enc.OrtRunner(q, 2), 64)

    ref_name = next(iter(variants))
    walls: dict[str, list[float]] = {k: [] for k in variants}
    cpus: dict[str, list[float]] = {k: [] for k in variants}
    embs: dict[str, np.ndarray] = {}
    for fn in variants.values():  # warm-up (first calls allocate, ORT plans kernels)
        fn(texts[:: max(1, len(texts) // 128)])
    for r in range(args.rounds):
        for name, fn in variants.items():
            c0, w0 = time.process_time(), time.perf_counter()
            embs[name] = fn(texts)
            walls[name].append(time.perf_counter() - w0)
            cpus[name].append(time.process_time() - c0)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    torch.set_num_threads(2)

    ref = embs[ref_name]
    n = len(texts)
    print("\n| variant | sent/s (wall) | CPU s / 1k sent | max abs diff | mean cos | min cos |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in variants:
        w, c = statistics.median(walls[name]), statistics.median(cpus[name])
        e = embs[name]
        cos = (e * ref).sum(1) / (np.linalg.norm(e, axis=1) * np.linalg.norm(ref, axis=1))
        print(f"| {name} | {n / w:.0f} | {c / n * 1000:.2f} | {np.abs(e - ref).max():.1e} | "
              f"{cos.mean():.6f} | {cos.min():.6f} |")


if __name__ == "__main__":
    main()
