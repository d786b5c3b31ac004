"""Fused model: LoRA fine-tuning on cached lower layers, export, reload, identical predictions."""

from __future__ import annotations

import numpy as np
import pytest

from ghostscore.classifier import load_model
from ghostscore.document import Document
from ghostscore.fused_train import FrozenBottom, export_fused, fit_fused, predict_logits

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
