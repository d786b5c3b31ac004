"""Extractor base class, FeatureSet and the registry that extractors join with ``@register``.

Each extractor is a small class that declares its ``name``, the ``family`` it belongs to (used for
ablations), the ``feature_names`` it emits and which models it ``requires``; ``extract`` turns a
``Document`` into a ``FeatureSet``: numbers plus the Evidence spans that justify them.

Features listed in ``layout_dependent`` read paragraph breaks or other layout that training corpora
destroyed for one label only; they are reported and shown as evidence but the default classifiers do
not use them (see the data notes on shortcut cues).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..document import Document
from ..results import Evidence

REGISTRY: dict[str, type[Extractor]] = {}


@dataclass
class FeatureSet:
    """Named numbers plus evidence; ``extra`` carries non-scalar data (e.g. per-sentence arrays)."""

    values: dict[str, float] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: FeatureSet) -> FeatureSet:
        self.values.update(other.values)
        self.evidence.extend(other.evidence)
        self.extra.update(other.extra)
        return self


class Extractor:
    """Base class: subclasses set the ClassVars and implement ``extract``."""

    name: ClassVar[str]
    family: ClassVar[str]
    feature_names: ClassVar[tuple[str, ...]]
    layout_dependent: ClassVar[frozenset[str]] = frozenset()
    requires: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "1"  # bump when outputs change, so cached features are recomputed

    def __init__(self, models: Any = None) -> None:
        self.models = models

    @property
    def cache_version(self) -> str:
        """Key of this extractor's outputs in the feature cache: its version plus any setting that changes them."""
        return self.version

    def extract(self, doc: Document) -> FeatureSet:
        raise NotImplementedError

    def extract_many(self, docs: Sequence[Document]) -> list[FeatureSet]:
        """Batched extraction; the default loops, model-backed extractors override it."""
        return [self.extract(d) for d in docs]

    def empty(self) -> FeatureSet:
        return FeatureSet({n: math.nan for n in self.feature_names})

    def evidence(
        self, doc: Document, start: int, end: int, kind: str, reason: str, weight: float = 0.5,
        related: Iterable[tuple[int, int]] = (),
    ) -> Evidence:
        return Evidence(
            start=start, end=end, extractor=self.name, kind=kind, reason=reason,
            weight=float(max(0.0, min(1.0, weight))), text=doc.text[start:end], related=tuple(related),
        )


def register(cls: type[Extractor]) -> type[Extractor]:
    """Class decorator adding an extractor to the registry under its ``name``."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"extractor {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls
