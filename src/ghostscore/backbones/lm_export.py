"""ONNX export of the SmolLM2 scoring graph: a plain-torch Llama forward ending in the per-token statistics
(and, for the feature table, pooled hidden states), traced once and cached beside the converted weights;
plus the int8 variants kept for the benchmark (``int8``: every transformer MatMul; ``int8-safe``:
the down_proj and LM head MatMuls left in fp32)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .cache import ensure_artifact
from .smollm2 import (
    _STAT_FIELDS,
    EXPORT_VERSION,
    TABLE_EXPORT_VERSION,
    VOCAB,
    _source_meta,
    head_stats,
    model_dir,
    torch_dir,
)


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
            states = [x]  # HF hidden_states: the embeddings, then each layer's output (the last one normed)
            for layer in self.layers:
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
                states.append(x)
            x = rms(x, self.norm.weight, self.norm.variance_epsilon)
            states[-1] = x
            logits = self.lm_head(x[:, :-1])
            stats = head_stats(logits, input_ids[:, 1:])
            if with_hidden:  # mean-pooled over each row's own positions (right padding excluded)
                keep = (torch.arange(n, device=input_ids.device)[None, :] < lengths[:, None]).float()[..., None]
                count = keep.sum(1).clamp(min=1.0)
                layers = torch.stack([(h * keep).sum(1) / count for h in states], dim=1)
                # h_mid = HF hidden_states[n_layers // 2], h_last = the normed last state: rows of h_layers
                return (*stats, layers[:, len(self.layers) // 2], layers[:, -1], layers)
            return stats

    return ExportLlama().eval()


def _export_onnx(hf_path: Path, out: Path, with_hidden: bool = False) -> None:
    """Trace ``_export_module`` to ``out/model.onnx`` (fp32, one file: it is under the 2 GB limit).

    ``with_hidden`` adds mean-pooled middle- and last-layer hidden states (``h_mid``, ``h_last``) and every
    layer's (``h_layers``: batch x (layers + 1) x hidden, HF ``hidden_states`` order): the feature table's
    graph, and the served one for hidden-state heads (a head picks its layers from ``h_layers``)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(hf_path), local_files_only=True, dtype=torch.float32)
    module = _export_module(model.eval(), with_hidden=with_hidden)
    dummy = torch.randint(0, 1000, (2, 16), dtype=torch.int64)
    args = (dummy, torch.tensor([16, 12], dtype=torch.int64)) if with_hidden else (dummy,)
    inputs = ["input_ids", "lengths"] if with_hidden else ["input_ids"]
    outs = list(_STAT_FIELDS)
    names = outs + (["h_mid", "h_last", "h_layers"] if with_hidden else [])
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


def int8_safe_exclusions(model: Any) -> list[str]:
    """MatMul nodes the ``int8-safe`` variant keeps in fp32: every MLP ``down_proj`` (its input, the
    SiLU-gated product, reaches ~2,400 in the last layers: outliers that per-tensor uint8 activations
    cannot represent) and the LM head (the 576 x 49152 weight, tied to the embeddings or not).

    A node counts as ``down_proj`` by its name (the exporter names it after the module) or, if names
    were lost, by a constant weight of shape (intermediate, hidden) with intermediate > hidden, the
    hidden size read from the head's weight."""
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    matmuls = [n for n in model.graph.node if n.op_type == "MatMul"]

    def weight(n: Any) -> list[int]:
        return next((inits[i] for i in n.input if i in inits and len(inits[i]) == 2), [])

    head = [n.name for n in matmuls if "lm_head" in n.name or VOCAB in weight(n)]
    hidden = {weight(n)[0] for n in matmuls if VOCAB in weight(n)}
    down = [n.name for n in matmuls if n.name not in head and (
        "down_proj" in n.name
        or (len(w := weight(n)) == 2 and w[1] in hidden and w[0] > w[1] and w[0] != VOCAB)
    )]
    return head + down


def _quantize_int8_safe(src: Path, dst: Path) -> None:
    """ORT dynamic int8 (per-channel 7-bit weights) on the attention projections, gate_proj and up_proj;
    ``int8_safe_exclusions`` (every down_proj and the LM head) stay fp32. BENCHMARKS.md: int8 fidelity.

    ``reduce_range``: on AVX2 CPUs without VNNI, ORT's u8 x s8 kernels (VPMADDUBSW) saturate their int16
    pair sums; with full-range per-channel weights that cost 4.4 nats of mean log-prob here, with 7-bit
    weights 0.06."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = int8_safe_exclusions(onnx.load(str(src), load_external_data=False))
    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
        op_types_to_quantize=["MatMul"], nodes_to_exclude=keep, extra_options={"MatMulConstBOnly": True},
    )


ONNX_VARIANTS: dict[str, Any] = {
    "fp32": None, "table": None, "int8": _quantize_int8_dynamic, "int8-safe": _quantize_int8_safe,
}


