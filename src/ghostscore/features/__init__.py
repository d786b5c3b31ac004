"""Feature extractors: a registry of small units, each turning a ``Document`` into numbers + evidence.

Each extractor declares its ``name``, the ``family`` it belongs to (used for ablations), the
``feature_names`` it emits and which backbones it ``requires``; ``extract`` turns a ``Document`` into a
``FeatureSet``: numbers plus the Evidence spans that justify them. ``pipeline.py`` is the one path from
texts to feature vectors (serving and training alike); ``cache.py`` stores computed numbers.

Features listed in ``layout_dependent`` read paragraph breaks or other layout that training corpora
destroyed for one label only; they are reported and shown as evidence but the classifiers do not use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import REGISTRY, Extractor, FeatureSet, register

__all__ = ["REGISTRY", "Extractor", "FeatureSet", "all_feature_names", "available", "build_extractors",
           "layout_free_feature_names", "register"]


def _load_builtins() -> None:
    # Imported for their @register side effect; kept in one place so the registry is always complete.
    from . import bio, lexical, lm, phrasing, redundancy, style  # noqa: F401


def available() -> dict[str, type[Extractor]]:
    _load_builtins()
    return dict(REGISTRY)


def build_extractors(names: Iterable[str] | None = None, *, models: Any = None) -> list[Extractor]:
    """Instantiate extractors by name (all registered ones when ``names`` is None)."""
    reg = available()
    names = list(names) if names is not None else list(reg)
    unknown = [n for n in names if n not in reg]
    if unknown:
        raise KeyError(f"unknown extractor(s) {unknown}; available: {sorted(reg)}")
    return [reg[n](models=models) for n in names]


def all_feature_names(names: Iterable[str] | None = None) -> list[str]:
    reg = available()
    out: list[str] = []
    for n in names if names is not None else reg:
        out.extend(reg[n].feature_names)
    return out


def layout_free_feature_names(names: Iterable[str] | None = None) -> list[str]:
    reg = available()
    out: list[str] = []
    for n in names if names is not None else reg:
        out.extend(f for f in reg[n].feature_names if f not in reg[n].layout_dependent)
    return out
