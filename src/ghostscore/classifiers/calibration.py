"""Calibration shared by every classifier: feature scaling, Platt scaling and the operating point.

Operating point: ``human_quantiles`` stores the calibrated probabilities of validation *human* texts at
1,000 quantiles, so the threshold for any false-positive rate (``fpr``) can be chosen at load time. The
``ai`` verdict needs p >= threshold(fpr); texts between threshold(fpr * uncertain_factor) and that
threshold are ``uncertain``; below, ``human``.

Per-domain guard: a threshold that holds 1% false positives on the pooled validation humans can still
accuse 2-4% of one domain's writers. ``domain_quantiles`` keeps the same quantiles per validation
domain (only domains with at least ``MIN_DOMAIN_HUMANS`` human texts, so one noisy domain cannot set the
threshold), and the threshold is the highest of the pooled and per-domain ones: the stated FPR then holds
in every domain the model was calibrated on, at the price of some recall. A text of a recognized domain gets
that domain's own threshold only when at least ``MIN_OWN_THRESHOLD_HUMANS`` humans set it; a smaller
domain's quantile still raises the guard, but its own 1% quantile is too close to its maximum to trust.

Domain-weighted threshold: the domain classifier is rarely sure (about half of texts get no domain above 0.8),
and giving every unsure text the guard costs a third of the recall. With the classifier's probabilities
``w_d`` the threshold is instead the lowest ``t`` at which the text's expected human false-positive rate,
``sum_d w_d * P(human of d scores >= t)``, is at most the target: a sure text gets its domain's threshold, an
unsure one a threshold between its candidates', and mass on a domain without a threshold of its own counts
at the guard's (worst) rate. If the probabilities are calibrated, the stated FPR holds over the texts served.

Machine bound on ``human``, group by group: the ``ai`` threshold holds in every domain; ``human`` holds its miss
rate in every group of machine texts (generator x attack, scored by models that never saw the generator or the
source) with at least ``MIN_MACHINE_GROUP`` texts. A pooled 5% hid 58% of the 2026 model's texts that were told to
sound human, and a fifth to a third of older base models' (BENCHMARKS.md): the pool is dominated by easy groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_FPR = 0.01
UNCERTAIN_FACTOR = 5.0  # the uncertain band starts at the threshold for 5x the target FPR
MIN_DOMAIN_HUMANS = 50  # fewer validation humans than this: the domain's 1% quantile is noise
# A domain's own threshold needs this many: with n humans the 1% quantile lies among the top n/100 scores; at
# 50-70 that is their maximum, and fresh texts of the same source pass it far more often than 1% (BENCHMARKS.md:
# 13% of unseen SQuAD paragraphs over a wikipedia threshold set by 70 humans). 200 leaves two humans above it.
MIN_OWN_THRESHOLD_HUMANS = 200
DEFAULT_MAX_MISS = 0.05  # 'human' only where at most this share of (unseen-generator) machine texts fall
MIN_MACHINE_GROUP = 50  # a machine group's own miss bound needs this many texts (its 5% quantile: 2-3 below it)
GROUP_POINTS = 101  # a machine group keeps its percentiles only: its bound reads the low tail, and 40+ groups at
# 1,001 points would quadruple the model's config
# which threshold applies: one domain's (a name), the domain-weighted one (the domain classifier's
# probabilities), or the guard (None)
Domain = str | Mapping[str, float] | None


def known_domains(op: OperatingPoint | None) -> list[str]:
    """Domains a caller may state: those ``op`` was calibrated on."""
    return sorted(op.domain_quantiles) if op is not None else []


def check_domain(op: OperatingPoint | None, domain: str | None) -> str | None:
    """A domain a caller states, if ``op`` was calibrated on it (one without a threshold of its own gets the
    guard); else ``ValueError`` naming the domains it knows."""
    if domain is None:
        return None
    known = known_domains(op)
    if domain not in known:
        raise ValueError(f"unknown domain {domain!r}; this model knows: "
                         + (", ".join(known) or "none (it has no per-domain thresholds)"))
    return domain


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def fit_scaler(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of training rows, ignoring NaN; constant or empty columns get scale 1."""
    mean = np.nanmean(X, axis=0)
    std = np.nanstd(X, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-9), std, 1.0)
    return mean, std


def standardize(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """z-scores clipped to [-6, 6]; missing values (NaN) sit at the training mean: no evidence either way."""
    Z = (np.asarray(X, dtype=np.float64) - mean) / scale
    return np.clip(np.where(np.isfinite(Z), Z, 0.0), -6.0, 6.0)


@dataclass
class OperatingPoint:
    """Maps calibrated probabilities of validation texts to the verdict's thresholds.

    ``human_quantiles`` (validation humans) set the ``ai`` threshold for a chosen FPR. ``machine_quantiles``
    (validation machine texts, scored by models that never saw their generator) keep ``human`` honest:
    ``human`` is said only below the score under which at most ``max_miss`` of them fall, pooled and within
    each group of ``machine_group_quantiles``; above that and below the ``ai`` threshold the verdict is
    ``uncertain``.
    """

    human_quantiles: list[float]
    fpr: float = DEFAULT_FPR
    domain_quantiles: dict[str, list[float]] = field(default_factory=dict)
    machine_quantiles: list[float] | None = None
    max_miss: float = DEFAULT_MAX_MISS
    domain_counts: dict[str, int] = field(default_factory=dict)  # humans behind each domain's quantiles
    machine_group_quantiles: dict[str, list[float]] = field(default_factory=dict)  # generator/attack -> quantiles
    machine_group_counts: dict[str, int] = field(default_factory=dict)

    def has_own_threshold(self, domain: str | None) -> bool:
        """Whether ``domain`` gets its own threshold (calibrated on enough humans; artifacts that predate the
        counts trust every stored domain, as they were trained to)."""
        if domain is None or domain not in self.domain_quantiles:
            return False
        return not self.domain_counts or self.domain_counts.get(domain, 0) >= MIN_OWN_THRESHOLD_HUMANS

    @staticmethod
    def _quantile_threshold(quantiles: list[float], fpr: float) -> float:
        q = np.asarray(quantiles, dtype=float)
        # threshold = (1 - fpr) quantile of human scores; nudge above so exactly fpr of humans exceed it
        return float(min(1.0, np.interp(1.0 - fpr, np.linspace(0, 1, len(q)), q) + 1e-9))

    def threshold(self, fpr: float | None = None, domain: Domain = None) -> float:
        """The ``ai`` threshold: the text's own domain's when that domain was calibrated on enough humans
        (per-domain thresholds), else the strictest of the pooled and every per-domain one (the guard).
        ``domain`` may also be the domain classifier's probabilities: then the domain-weighted threshold."""
        fpr = self.fpr if fpr is None else fpr
        if not 0 < fpr < 1:
            raise ValueError(f"fpr must lie in (0, 1), got {fpr}")
        if isinstance(domain, Mapping):
            return self._weighted_threshold(domain, fpr)
        if self.has_own_threshold(domain):
            return self._quantile_threshold(self.domain_quantiles[domain], fpr)
        return max(self._quantile_threshold(q, fpr)
                   for q in [self.human_quantiles, *self.domain_quantiles.values()])

    @staticmethod
    def _exceed_share(quantiles: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Share of a domain's validation humans scoring at or above each ``t`` (the quantiles, inverted)."""
        return 1.0 - np.interp(t, quantiles, np.linspace(0, 1, len(quantiles)), left=0.0, right=1.0)

    def _weighted_threshold(self, weights: Mapping[str, float], fpr: float) -> float:
        """Lowest t whose human exceed share, averaged over the domains by ``weights``, is at most ``fpr``;
        a domain without its own threshold (or unknown) counts at the worst stored domain's share."""
        total = sum(w for w in weights.values() if w > 0)
        if total <= 0:
            return self.threshold(fpr)
        own = {d: w / total for d, w in weights.items() if w > 0 and self.has_own_threshold(d)}
        rest = 1.0 - sum(own.values())
        arrays = {d: np.asarray(q, dtype=float) for d, q in self.domain_quantiles.items()}
        everyone = [np.asarray(self.human_quantiles, dtype=float), *arrays.values()]

        def expected_fpr(t: np.ndarray) -> np.ndarray:
            out = sum((w * self._exceed_share(arrays[d], t) for d, w in own.items()), np.zeros_like(t))
            if rest > 1e-12:
                out += rest * np.max([self._exceed_share(q, t) for q in everyone], axis=0)
            return out

        lo, hi = 0.0, 1.0  # expected_fpr falls as t rises: narrow to its first t that keeps it, 256 steps a round
        for _ in range(3):
            ts = np.linspace(lo, hi, 257)
            k = int(np.argmax(expected_fpr(ts) <= fpr))  # t = 1 always keeps it (no human exceeds it)
            lo, hi = ts[max(k - 1, 0)], ts[k]
        # the guard keeps every domain's rate, so it bounds the answer; min() drops the grid's last step above it
        return min(float(min(1.0, hi + 1e-9)), self.threshold(fpr))

    def band(self, fpr: float | None = None, domain: Domain = None, by_group: bool = True) -> tuple[float, float]:
        """(``human`` below, ``ai`` at or above); ``by_group=False`` bounds ``human`` by the pooled machine scores
        only (the rule before machine groups, for side-by-side benchmarks)."""
        fpr = self.fpr if fpr is None else fpr
        hi = self.threshold(fpr, domain)
        lo = self.threshold(min(0.5, fpr * UNCERTAIN_FACTOR), domain)
        if self.machine_quantiles:
            lo = min(lo, self.human_cut(by_group))
        return min(lo, hi), hi

    def _miss_quantile(self, quantiles: list[float]) -> float:
        q = np.asarray(quantiles, dtype=float)
        return float(np.interp(self.max_miss, np.linspace(0, 1, len(q)), q))

    def human_cut(self, by_group: bool = True) -> float:
        """The score below which at most ``max_miss`` of validation machine texts fall: pooled and, with
        ``by_group``, within every stored machine group too (the lowest of those scores)."""
        cut = self._miss_quantile(self.machine_quantiles or [0.0])
        if by_group and self.machine_group_quantiles:
            cut = min(cut, *(self._miss_quantile(q) for q in self.machine_group_quantiles.values()))
        return cut

    @staticmethod
    def _below_share(quantiles: list[float], t: float) -> float:
        q = np.asarray(quantiles, dtype=float)
        return float(np.interp(t, q, np.linspace(0, 1, len(q)), left=0.0, right=1.0))

    def miss_rate(self, fpr: float | None = None) -> float | None:
        """Share of validation machine texts that get the verdict ``human`` (None without machine quantiles)."""
        if not self.machine_quantiles:
            return None
        return self._below_share(self.machine_quantiles, self.band(fpr)[0])

    def group_miss_rates(self, fpr: float | None = None) -> dict[str, float]:
        """The same share within each stored machine group (generator/attack), so the worst one can be stated."""
        lo = self.band(fpr)[0]
        return {g: self._below_share(q, lo) for g, q in self.machine_group_quantiles.items()}

    def verdict(self, p: float, fpr: float | None = None, domain: Domain = None) -> str:
        lo, hi = self.band(fpr, domain)
        if p >= hi:
            return "ai"
        if p >= lo:
            return "uncertain"
        return "human"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fpr": self.fpr, "human_quantiles": self.human_quantiles}
        if self.domain_quantiles:
            out["domain_quantiles"] = self.domain_quantiles
        if self.machine_quantiles:
            out["machine_quantiles"] = self.machine_quantiles
            out["max_miss"] = self.max_miss
        if self.domain_counts:
            out["domain_counts"] = self.domain_counts
        if self.machine_group_quantiles:
            out["machine_group_quantiles"] = self.machine_group_quantiles
            out["machine_group_counts"] = self.machine_group_counts
        return out

    @staticmethod
    def from_json(op: dict[str, Any] | None) -> OperatingPoint | None:
        if not op:
            return None
        return OperatingPoint(op["human_quantiles"], op["fpr"], dict(op.get("domain_quantiles") or {}),
                              op.get("machine_quantiles"), float(op.get("max_miss", DEFAULT_MAX_MISS)),
                              {k: int(v) for k, v in (op.get("domain_counts") or {}).items()},
                              dict(op.get("machine_group_quantiles") or {}),
                              {k: int(v) for k, v in (op.get("machine_group_counts") or {}).items()})

    @staticmethod
    def from_scores(
        human_probs: np.ndarray, fpr: float = DEFAULT_FPR, domains: Any = None,
        min_domain_humans: int = MIN_DOMAIN_HUMANS, machine_probs: np.ndarray | None = None,
        max_miss: float = DEFAULT_MAX_MISS, machine_groups: Any = None, min_machine_group: int = MIN_MACHINE_GROUP,
    ) -> OperatingPoint:
        """Quantiles of validation human scores; with ``domains`` (one label per score), per domain too;
        with ``machine_probs``, the machine quantiles that bound the ``human`` verdict, and with
        ``machine_groups`` (one label per machine score), those of each group of at least ``min_machine_group``."""
        probs = np.asarray(human_probs, dtype=float)
        per_domain, counts = _quantiles_by_label(probs, domains, min_domain_humans, "domains", "human")
        machine = None
        groups: dict[str, list[float]] = {}
        group_counts: dict[str, int] = {}
        if machine_probs is not None and len(machine_probs):
            mp = np.asarray(machine_probs, dtype=float)
            machine = _quantiles(mp)
            groups, group_counts = _quantiles_by_label(mp, machine_groups, min_machine_group, "machine_groups",
                                                       "machine", points=GROUP_POINTS)
        return OperatingPoint(_quantiles(probs), fpr, per_domain, machine, max_miss, counts, groups, group_counts)


def _quantiles(probs: np.ndarray, points: int = 1001) -> list[float]:
    """The quantiles an operating point stores for a set of scores (1,001 unless told)."""
    return [float(x) for x in np.quantile(probs, np.linspace(0, 1, points))]


def _quantiles_by_label(probs: np.ndarray, labels: Any, min_n: int, what: str, kind: str,
                        points: int = 1001) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Quantiles and counts of the scores of each label with at least ``min_n`` of them (none without labels)."""
    if labels is None:
        return {}, {}
    labels = np.asarray(labels, dtype=object).astype(str)
    if len(labels) != len(probs):
        raise ValueError(f"{what} must give one label per {kind} score")
    out, counts = {}, {}
    for label in sorted(set(labels)):
        m = labels == label
        if m.sum() >= min_n:
            out[label], counts[label] = _quantiles(probs[m], points), int(m.sum())
    return out, counts


def platt(logits: np.ndarray, calibration: tuple[float, float]) -> np.ndarray:
    """Calibrated probability from a raw logit: sigmoid(a * logit + b)."""
    a, b = calibration
    return sigmoid(a * np.asarray(logits, dtype=np.float64) + b)
