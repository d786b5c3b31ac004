"""Shared pytest fixtures. Each engineer keeps their fixtures in their own group below."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# ====================================================================================================
# Batch / server / API fixtures (tests/test_batch.py, test_api.py, test_server.py)
# ====================================================================================================

_SUBJECTS = ["The council", "A local teacher", "The new report", "Our neighbour", "The small bakery",
             "The river authority", "A group of students", "The mayor", "Researchers", "The museum"]
_VERBS = ["said that", "announced that", "argued that", "noted that", "explained that", "found that"]
_CLAUSES = ["the plan would help families over the next year", "the road works will finish in the spring",
            "prices at the market have risen since the winter", "the old bridge needs urgent repairs",
            "more people are cycling to work than before", "the library will open on Sundays again",
            "the water in the lake is cleaner than it was", "young players joined the club this season",
            "the bus timetable changes at the end of the month", "the festival drew a record crowd"]


def make_article(rng: random.Random, n_sentences: int = 12) -> str:
    """A plain English article of templated sentences: long enough to be 'supported' by the detector."""
    return " ".join(f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_CLAUSES)}."
                    for _ in range(n_sentences))


@pytest.fixture(scope="session")
def articles() -> list[str]:
    rng = random.Random(7)
    return [make_article(rng, rng.randint(8, 16)) for _ in range(40)]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real saved LinearModel with no extractor features (a constant logit): loads in any process,
    whatever extractors exist, so subprocess and worker tests run the real Detector path fast."""
    from ghostscore.classifiers.calibration import OperatingPoint
    from ghostscore.classifiers.linear import LinearModel

    model = LinearModel(
        feature_names=[], extractors=[], mean=np.zeros(0), scale=np.ones(0), coef=np.zeros(0), bias=0.4,
        operating_point=OperatingPoint.from_scores(np.linspace(0.05, 0.9, 200)),
        metrics={"auroc": 0.5}, name="tiny-test", meta={"version": "test-1"},
    )
    return model.save(tmp_path_factory.mktemp("models") / "tiny")


class StubModel:
    name = "stub"
    type = "stub"
    extractors: list[str] = []
    feature_names: list[str] = []
    metrics = {"auroc": 0.5}
    meta = {"version": "stub-1"}
    operating_point = None


class StubDetector:
    """A fast fake Detector: P(machine) from the text length; ``delay`` / ``gate`` make it slow.

    Raises the real ``InputError`` for empty and non-string input so error paths are the real ones.
    """

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.model = StubModel()
        self.fpr = None
        self.delay = delay
        self.gate = gate
        self.calls = 0
        self.explain_seen: list[bool | None] = []
        self.started = threading.Event()

    def _one(self, text: Any) -> Any:
        from ghostscore.errors import InputError
        from ghostscore.results import Score

        if not isinstance(text, str):
            return InputError("not_text", f"expected text, got {type(text).__name__}")
        if not text.strip():
            return InputError("empty", "input is empty or whitespace only")
        return Score(ai_probability=(len(text) % 100) / 100, verdict="human", model="stub",
                     reasons=[], features={"length": float(len(text))})

    def known_domains(self) -> list[str]:
        return []

    def check_domain(self, domain: str | None) -> str | None:
        from ghostscore.errors import ModelError

        if domain is not None:
            raise ModelError(f"unknown domain {domain!r}; this model knows: none")
        return None

    def score_records(
        self, texts: Any, *, batch_size: int = 16, format: str | None = None, explain: bool | None = None,
        fpr: float | None = None, domain: str | None = None,
    ) -> Any:
        self.calls += 1
        self.explain_seen.append(explain)
        self.started.set()
        if self.gate is not None:
            self.gate.wait(30)
        if self.delay:
            time.sleep(self.delay)
        for t in texts:
            yield self._one(t)

    def score_many(
        self, texts: Any, *, batch_size: int = 16, format: str | None = None, explain: bool | None = None,
    ) -> Any:
        for item in self.score_records(texts, batch_size=batch_size, format=format):
            if isinstance(item, Exception):
                raise item
            yield item

    def score(self, text: Any, *, format: str | None = None) -> Any:
        return next(self.score_many([text], format=format))


@pytest.fixture
def stub_detector() -> StubDetector:
    return StubDetector()


@pytest.fixture
def make_stub_detector() -> Any:
    return StubDetector


def packaged_features_only() -> Path | None:
    """The lead's packaged features-only model, when it has been trained and its extractors exist."""
    from ghostscore.classifiers import packaged_model_dir

    path = packaged_model_dir("features-only")
    return path if (path / "config.json").exists() else None
