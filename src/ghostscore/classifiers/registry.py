"""Where classifiers come from: packaged model names, model directories, and the type -> class table."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ..errors import ModelError
from .base import Classifier
from .domain import DomainModel
from .fused import FusedModel
from .hidden import HiddenStateModel
from .linear import LinearModel
from .sequence import SequenceModel

PACKAGED_MODELS = ("default", "evidence", "features-only")
# Packaged until 2026-12-05; the default beats each on every held-out-generator mean on the same folds
# (BENCHMARKS.md, fifteenth session), so they left the package rather than ship a weaker verdict. Their recipes
# still train: the message says how.
_TRAIN = "ghostscore train --data '<corpus>' --features-table data/features/lm-v2 --out <dir>"
RETIRED_MODELS = {
    "linear": f"train its recipe with {_TRAIN} --kind linear --lm-budget 256",
    "sequence": f"train its recipe with {_TRAIN} --kind sequence --lm-budget 256",
    "hidden": "the default is the same kind of head (SmolLM2 hidden states), over 128 tokens",
}
MODEL_TYPES: dict[str, type] = {"linear": LinearModel, "fused": FusedModel, "sequence": SequenceModel,
                               "hidden": HiddenStateModel}


def packaged_model_dir(name: str) -> Path:
    return Path(str(resources.files("ghostscore") / "resources" / "models" / name))


def resolve_model(model: str | Path | None, *, use_lm: bool = True) -> Path:
    """A packaged model name ("default", "features-only", ...) or a directory path."""
    if model is None:
        model = "default" if use_lm else "features-only"
    if isinstance(model, str) and model in PACKAGED_MODELS:
        path = packaged_model_dir(model)
    elif isinstance(model, str) and model in RETIRED_MODELS and not Path(model).exists():
        raise ModelError(
            f"the packaged model {model!r} was retired (the default ranks held-out generators better; BENCHMARKS.md, "
            f"fifteenth session); packaged models: {', '.join(PACKAGED_MODELS)}; {RETIRED_MODELS[model]}")
    else:
        path = Path(model)
    if not (path / "config.json").exists():
        raise ModelError(f"no model found at {path}; packaged models: {', '.join(PACKAGED_MODELS)}")
    return path


def load_model(directory: str | Path) -> Classifier:
    """Load a saved classifier; the class comes from ``config["type"]``."""
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.exists():
        raise ModelError(f"no model at {directory} (config.json missing)")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{config_path} is not valid JSON: {exc}") from exc
    kind = config.get("type")
    if kind not in MODEL_TYPES:
        raise ModelError(f"{directory}: unknown model type {kind!r}")
    model = MODEL_TYPES[kind].from_config(config, directory)
    if config.get("domain_model"):
        model.domain_model = DomainModel.load(directory, config["domain_model"])
    return model
