"""llama.cpp on SmolLM2 beside the shipped ONNX Runtime path: is it a faster honest route? (issue 3)

Not a dependency of ghostscore: llama-cpp-python is source-only on PyPI (a 6-7 minute compile here). Build
it once, without the AMX kernels (they die with SIGILL on this VM's CPU, at ``tilezero`` in a worker thread):

    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON \
      -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON -DLLAVA_BUILD=OFF" .venv/bin/pip install llama-cpp-python==0.3.36
    .venv/bin/python benchmarks/bench_llamacpp.py --tokens 4000

For each weight format (the shipped Q4_1 GGUF, and re-quantized copies made with llama.cpp's own quantizer:
Q8_0, which its tinyBLAS kernels support, and Q4_0, which it repacks for AVX2/AVX-512) it prints tokens/s
of the transformer alone (logits of the last token only), tokens/s with every position's logits (which the
LM features need), and the mean log-prob of the same 512-token windows against the fp32 ONNX reference.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ghostscore.backbones.language_model import WINDOW, FastTokenizer, gguf_path, load_scorer, torch_dir
from ghostscore.training.lm_bench import bench_documents

FTYPES = {"q8_0": 7, "q4_0": 2}  # llama_ftype values


def windows(tokens: int) -> list[list[int]]:
    tok = FastTokenizer(torch_dir())
    out = []
    for ids, _ in tok.encode_batch(bench_documents(tokens)):
        out += [ids[s : s + WINDOW] for s in range(0, len(ids), WINDOW) if len(ids[s : s + WINDOW]) > 1]
    return out


def log_softmax_at(logits: np.ndarray, targets: list[int]) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    return z[np.arange(len(targets)), targets] - np.log(np.exp(z).sum(1))


def run_llama(path: Path, wins: list[list[int]], threads: int) -> dict[str, float]:
    import llama_cpp

    res: dict[str, float] = {}
    for logits_all in (False, True):
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=WINDOW, n_batch=WINDOW, n_ubatch=WINDOW,
                              logits_all=logits_all, n_threads=threads, n_threads_batch=threads, verbose=False)
        lps, n, t0 = [], 0, time.perf_counter()
        for w in wins:
            llm.reset()
            llm.eval(w)
            n += len(w)
            if logits_all:
                lps.append(log_softmax_at(np.asarray(llm.scores[: len(w) - 1]), w[1:]))
        key = "tok_s_all_logits" if logits_all else "tok_s_trunk"
        # the log-softmax above is not timed apart: it is part of what the features need
        res[key] = n / (time.perf_counter() - t0)
        if logits_all:
            res["mean_logprob"] = float(np.mean(np.concatenate(lps)))
        del llm
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import llama_cpp

    wins = windows(args.tokens)
    ref = load_scorer(backend="onnx", threads=args.threads)
    t0 = time.perf_counter()
    lps = []
    for w in wins:
        ids = np.asarray([w], np.int64)
        lps.append(ref.backend.stats(ids)["logprob"][0])
    n = sum(len(w) for w in wins)
    ref_tok_s = n / (time.perf_counter() - t0)
    ref_lp = float(np.mean(np.concatenate(lps)))
    rows = [("ONNX Runtime fp32 (shipped, reference; stats in-graph)", None, ref_tok_s, ref_lp)]
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"llama.cpp Q4_1 (as shipped)": gguf_path()}
        for name, ftype in FTYPES.items():
            p = llama_cpp.llama_model_quantize_default_params()
            p.ftype, p.allow_requantize, p.nthread = ftype, True, args.threads
            out = Path(tmp) / f"{name}.gguf"
            if llama_cpp.llama_model_quantize(str(gguf_path()).encode(), str(out).encode(), ctypes.byref(p)) == 0:
                paths[f"llama.cpp {name.upper()} (re-quantized)"] = out
        for label, path in paths.items():
            r = run_llama(path, wins, args.threads)
            rows.append((label, r["tok_s_trunk"], r["tok_s_all_logits"], r["mean_logprob"]))
    print(f"{n} tokens in {len(wins)} windows of <= {WINDOW}, {args.threads} threads", file=sys.stderr)
    print("| route | tokens/s (transformer) | tokens/s (all logits + log-softmax) | mean log-prob | vs reference |")
    print("|---|---|---|---|---|")
    for label, trunk, full, lp in rows:
        trunk_s = "-" if trunk is None else f"{trunk:.0f}"
        print(f"| {label} | {trunk_s} | {full:.0f} | {lp:.4f} | {lp - ref_lp:+.4f} |")


if __name__ == "__main__":
    main()
