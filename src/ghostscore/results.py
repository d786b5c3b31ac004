"""The result objects: Evidence (a span with a reason) and Score (what a user gets back)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .jsonsafe import to_jsonable

VERDICTS = ("ai", "human", "uncertain", "unsupported")


@dataclass(frozen=True)
class Evidence:
    """One justification for a feature value: a span of ``Document.text`` and why it matters.

    ``weight`` is the evidence strength in [0, 1] as judged by its extractor (ranking only, not a
    probability). ``related`` links spans that belong together, e.g. a claim and its restatement.
    """

    start: int
    end: int
    extractor: str
    kind: str
    reason: str
    weight: float = 0.5
    text: str = ""
    related: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["related"] = [list(r) for r in self.related]
        return d


@dataclass
class Score:
    """Calibrated probability, verdict, every feature value and the ranked evidence for one text."""

    ai_probability: float | None
    verdict: str
    features: dict[str, float] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    model: str = ""
    threshold: float | None = None
    uncertain_band: tuple[float, float] | None = None
    sentence_scores: list[dict[str, Any]] = field(default_factory=list)
    contributions: dict[str, float] = field(default_factory=dict)
    domain: str | None = None  # the stated domain, else the one the domain classifier is sure of (display only)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.ai_probability is not None and not 0.0 <= self.ai_probability <= 1.0:
            raise ValueError(f"ai_probability must lie in [0, 1], got {self.ai_probability}")

    def top_evidence(self, n: int = 5) -> list[Evidence]:
        """The first ``n`` items of the evidence list, which the Detector has already ranked."""
        return self.evidence[:n]

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "ai_probability": self.ai_probability,
                "verdict": self.verdict,
                "reasons": list(self.reasons),
                "model": self.model,
                "threshold": self.threshold,
                "uncertain_band": list(self.uncertain_band) if self.uncertain_band else None,
                "domain": self.domain,
                "features": dict(self.features),
                "contributions": dict(self.contributions),
                "evidence": [e.to_dict() for e in self.evidence],
                "sentence_scores": list(self.sentence_scores),
            }
        )

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    def short_evidence(self, n: int = 3) -> list[str]:
        """One line per top evidence item, for batch output and terminals."""
        return [f"{e.extractor}: {e.reason}" for e in self.top_evidence(n)]
