"""Fused model: LoRA fine-tuning on cached lower layers, export, reload, identical predictions."""

from __future__ import annotations

import numpy as np
import pytest

from ghostscore.classifiers import load_model
from ghostscore.document import Document
from ghostscore.training.fused import FrozenBottom, export_fused, fit_fused, predict_logits

pytestmark = pytest.mark.models

MACHINE = (
    "In today's fast-paced world, it is important to note that technology plays a crucial role in our lives. "
    "Furthermore, it is essential to navigate the ever-evolving landscape with care. "
)
HUMAN = (
    "We got to the ferry at ten past six and the gate was already shut, so Dad swore and we drove around "
    "the bay instead. Forty minutes, two wrong turns. "
)


def test_fit_export_reload_predicts_the_same(tmp_path) -> None:
    texts = [MACHINE * (1 + i % 3) for i in range(6)] + [HUMAN * (1 + i % 3) for i in range(6)]
    y = np.array([1] * 6 + [0] * 6)
    Z = np.random.default_rng(0).normal(size=(12, 3))
    bottom = FrozenBottom(tuned_layers=1, max_len=64)
    cache = bottom.encode(texts, max_chunks=2, desc="t")
    assert cache["n_docs"] == 12 and len(cache["states"]) >= 12
    layers, head, wrappers = fit_fused(bottom=bottom, train_cache=cache, Z_train=Z, y_train=y, epochs=8,
                                       batch_size=4, lr=5e-3, head_hidden=8, rank=2, log=lambda *_: None)
    logits = predict_logits(bottom, layers, head, bottom.encode(texts, max_chunks=16), Z)
    assert logits[:6].mean() > logits[6:].mean()  # learned something on this toy task
    arch = {"tuned_layers": 1, "lora_rank": 2, "lora_alpha": 16.0, "head_hidden": 8, "max_len": 64,
            "max_chunks": 16, "train_chunks": 2}
    model = export_fused(name="toy", feature_names=["a", "b", "c"], extractors=["style"], mean=np.zeros(3),
                         scale=np.ones(3), bottom=bottom, head=head, wrappers=wrappers, arch=arch)
    model.save(tmp_path / "toy")
    loaded = load_model(tmp_path / "toy")
    assert loaded.type == "fused"
    docs = [Document.from_text(t) for t in texts]
    reloaded = loaded.logit(Z, docs=docs)
    np.testing.assert_allclose(reloaded, logits, atol=2e-2)


def test_residual_recipe_starts_from_the_linear_model_and_keeps_it() -> None:
    """With ``init_linear`` the untrained network equals the linear model, and training leaves that path as is:
    the encoder can only add a correction, and per-feature contributions stay the linear model's."""
    texts = [MACHINE * (1 + i % 3) for i in range(4)] + [HUMAN * (1 + i % 3) for i in range(4)]
    y = np.array([1] * 4 + [0] * 4)
    Z = np.random.default_rng(1).normal(size=(8, 3))
    coef, bias = np.array([0.5, -1.0, 2.0]), 0.25
    bottom = FrozenBottom(tuned_layers=1, max_len=64)
    cache = bottom.encode(texts, max_chunks=2, desc="t")
    layers, head, _ = fit_fused(bottom=bottom, train_cache=cache, Z_train=Z, y_train=y, epochs=0, head_hidden=8,
                                rank=2, init_linear=(coef, bias), log=lambda *_: None)
    np.testing.assert_allclose(predict_logits(bottom, layers, head, cache, Z), Z @ coef + bias, atol=1e-5)
    layers, head, _ = fit_fused(bottom=bottom, train_cache=cache, Z_train=Z, y_train=y, epochs=3, batch_size=4,
                                lr=5e-3, head_hidden=8, rank=2, init_linear=(coef, bias), log=lambda *_: None)
    np.testing.assert_allclose(head.skip.weight.detach().numpy().ravel(), coef, rtol=1e-6)
    assert float(head.skip.bias) == pytest.approx(bias)
    assert not np.allclose(predict_logits(bottom, layers, head, cache, Z), Z @ coef + bias, atol=1e-3)


def test_cli_trains_and_evaluates_a_fused_model(tmp_path) -> None:
    """`ghostscore train --kind fused` on a small generated file: a loadable fused model whose skip path is
    the linear model of the same features, and `ghostscore evaluate` writes its metrics and plots."""
    import json

    from typer.testing import CliRunner

    from ghostscore.cli import app

    from .synthetic import write_labeled_jsonl

    runner = CliRunner()
    data = write_labeled_jsonl(tmp_path / "toy.jsonl", n_per_label=30)
    cache = str(tmp_path / "cache")
    r = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "fused"), "--kind", "fused",
                            "--no-lm", "--cache-dir", cache])
    assert r.exit_code == 0, r.output
    model = load_model(tmp_path / "fused")
    assert model.type == "fused" and model.operating_point is not None
    assert model.meta["config"]["recipe"] == "residual"
    assert "Recipe: residual" in (tmp_path / "fused" / "MODEL_CARD.md").read_text()
    r = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "linear"), "--no-lm",
                            "--cache-dir", cache])
    assert r.exit_code == 0, r.output
    linear = load_model(tmp_path / "linear")
    assert model.feature_names == linear.feature_names
    np.testing.assert_allclose(model.tensors["head.skip.weight"].ravel(), linear.coef, rtol=1e-5, atol=1e-6)
    r = runner.invoke(app, ["evaluate", "--data", str(data), "--model", str(tmp_path / "fused"), "--split", "test",
                            "--out", str(tmp_path / "eval"), "--no-lm", "--cache-dir", cache])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert m["overall"]["n"] == 12 and m["overall"]["auroc"] > 0.9
    assert (tmp_path / "eval" / "roc.png").exists()


def test_long_texts_are_covered_from_start_to_end() -> None:
    """Beyond ``max_chunks`` the chunks are spread over the whole text, not just its beginning."""
    from transformers import AutoTokenizer

    from ghostscore.backbones.encoder import minilm_dir
    from ghostscore.classifiers.fused import ChunkEncoder

    tok = AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)
    enc = ChunkEncoder(tok, model=None, max_len=32, max_chunks=3)
    text = " ".join(f"w{i}" for i in range(400)) + " finale"
    chunks, owner = enc.chunks([text, "short text"])
    assert owner == [0, 0, 0, 1]
    last_piece = tok.convert_ids_to_tokens(chunks[2])
    assert "final" in "".join(last_piece[-4:]).replace("##", "")  # the last chunk ends where the text ends
