"""Detector: Document -> extractors -> classifier -> Score. Load once, then score many.

Hugging Face pipeline shape: ``preprocess`` (text -> Document), ``featurize`` (batched extractors),
``postprocess`` (classifier -> calibrated probability -> verdict -> ranked evidence).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .backbones import ModelProvider
from .classifiers import Classifier, load_model, resolve_model
from .classifiers.calibration import Domain, check_domain, known_domains
from .classifiers.registry import PACKAGED_MODELS, packaged_model_dir
from .document import DEFAULT_MAX_CHARS, MIN_WORDS, Document
from .errors import InputError, ModelError
from .features import FeatureSet, available, build_extractors
from .features.pipeline import featurize, model_extractors
from .results import Score

__all__ = ["PACKAGED_MODELS", "Detector", "packaged_model_dir", "resolve_model"]
# Extractors run for their evidence even when the model does not read their features. The cheap ones
# always run; MiniLM restatements and style only with ``explain=True`` (interactive use, reports).
CHEAP_EVIDENCE = ("bio", "phrasing")
EXPLAIN_EVIDENCE = ("bio", "phrasing", "redundancy", "style")


class Detector:
    """The public entry point: ``Detector.load().score(text)``.

    Thread-safe: extractors are stateless and each heavy model serializes its own forward passes.
    """

    def __init__(
        self, model: Classifier, *, provider: ModelProvider | None = None, fpr: float | None = None,
        max_chars: int = DEFAULT_MAX_CHARS, min_words: int = MIN_WORDS, explain: bool = True,
        domain: str | None = None,
    ) -> None:
        self.model = model
        self.provider = provider or ModelProvider()
        self.fpr = fpr
        self.max_chars = max_chars
        self.min_words = min_words
        registry = available()
        missing = [n for n in model.extractors if n not in registry]
        if missing:
            raise ModelError(f"model needs extractors {missing} that this ghostscore does not have")
        emitted = {f for n in model.extractors for f in registry[n].feature_names}
        unknown = [f for f in model.feature_names if f not in emitted]
        if unknown:
            raise ModelError(
                f"model expects features {unknown[:8]} that its extractors {model.extractors} do not "
                "emit: the model was trained with another feature set; retrain or upgrade ghostscore"
            )
        self.explain = explain
        names = list(model.extractors)
        for extra in CHEAP_EVIDENCE:
            if extra in registry and extra not in names:
                names.append(extra)
        # the lm extractor scores the token budget the model was trained on
        self.extractors = model_extractors(names, models=self.provider,
                                           lm_budget=(model.meta or {}).get("lm_token_budget"),
                                           lm_hidden=model.needs_hidden_states)
        # evidence-only extractors that cost model time; run when explain is asked for (per call or default)
        extra = [n for n in EXPLAIN_EVIDENCE if n in registry and n not in names]
        self.explain_extractors = build_extractors(extra, models=self.provider)
        if fpr is not None and model.operating_point is None:
            raise ModelError("this model has no stored operating point; cannot choose an FPR")
        self.domain = self.check_domain(domain)

    @classmethod
    def load(
        cls, model: str | Path | None = None, device: str = "cpu", *, use_lm: bool = True,
        fpr: float | None = None, cache_dir: str | Path | None = None, lm_backend: str = "auto",
        threads: int | None = None, max_chars: int = DEFAULT_MAX_CHARS, explain: bool = True,
        domain: str | None = None,
    ) -> Detector:
        """Load a packaged or saved model once; ``use_lm=False`` picks the fast features-only model.

        ``explain=False`` skips evidence-only extractors that cost model time (MiniLM restatements when
        the model does not use them): what batch jobs want. ``domain`` states the texts' domain when the
        caller knows it (e.g. every text is news): its threshold applies instead of the domain classifier's guess.
        """
        path = resolve_model(model, use_lm=use_lm)
        provider = ModelProvider(cache_dir=cache_dir, device=device, lm_backend=lm_backend, threads=threads)
        clf = load_model(path)
        clf.attach(provider)
        return cls(clf, provider=provider, fpr=fpr, max_chars=max_chars, explain=explain, domain=domain)

    # ---------------------------------------------------------------- pipeline steps
    def preprocess(self, item: str | Document, *, format: str | None = None) -> Document:
        if isinstance(item, Document):
            return item
        if isinstance(item, bytes):
            return Document.from_bytes(item, format=format, max_chars=self.max_chars)
        if not isinstance(item, str):
            raise InputError("not_text", f"expected text, got {type(item).__name__}")
        if format == "html":
            return Document.from_html(item, max_chars=self.max_chars)
        return Document.from_text(item, format=format or "text", max_chars=self.max_chars)

    def featurize(self, docs: Sequence[Document], *, explain: bool | None = None) -> list[FeatureSet]:
        """The model's extractors (+ evidence-only ones with ``explain``; then the LM scores whole texts so
        every sentence can be highlighted, leaving the verdict's features unchanged)."""
        explain = self.explain if explain is None else explain
        extractors = [*self.extractors, *(self.explain_extractors if explain else [])]
        return featurize(docs, extractors, full=explain)

    def forward(self, docs: Sequence[Document], fsets: Sequence[FeatureSet]) -> list[float]:
        """Calibrated P(machine) for each document, in one batched model call."""
        if not docs:
            return []
        import numpy as np

        X = np.stack([self.model.vectorize(fs.values) for fs in fsets])
        return [float(p) for p in self.model.predict_proba(X, docs=list(docs), extras=[fs.extra for fs in fsets])]

    def known_domains(self) -> list[str]:
        """Domains a caller may state: those the operating point was calibrated on."""
        return known_domains(self.model.operating_point)

    def check_domain(self, domain: str | None) -> str | None:
        """``domain`` if this model can apply it, else a ``ModelError`` naming the domains it knows."""
        try:
            return check_domain(self.model.operating_point, domain)
        except ValueError as exc:
            raise ModelError(str(exc)) from None

    def domains(self, docs: Sequence[Document]) -> list[dict[str, float] | None]:
        """Each document's domain probabilities, which weigh the per-domain thresholds (None: the strictest)."""
        dm = self.model.domain_model
        op = self.model.operating_point
        if dm is None or not docs or op is None or not any(map(op.has_own_threshold, op.domain_quantiles)):
            # no domain has a threshold of its own: the prediction would change nothing
            return [None] * len(docs)
        return dm.posteriors([doc.body_text for doc in docs])

    def postprocess(
        self, doc: Document, fs: FeatureSet, probability: float | None, problems: list[str] | None = None,
        *, fpr: float | None = None, domain: Domain = None,
    ) -> Score:
        op = self.model.operating_point
        fpr = self.fpr if fpr is None else fpr
        if fpr is not None and op is None:
            raise ModelError("this model has no stored operating point; cannot choose an FPR")
        band = op.band(fpr, domain) if op else None
        if problems or probability is None or not math.isfinite(probability):
            return Score(
                ai_probability=None, verdict="unsupported", features=fs.values, evidence=fs.evidence,
                reasons=problems or ["model produced no finite score"], model=self.model.name,
            )
        verdict = op.verdict(probability, fpr, domain) if op else ("ai" if probability >= 0.5 else "human")
        contributions = self.model.contributions(self.model.vectorize(fs.values), fs.extra)
        return Score(
            ai_probability=probability, verdict=verdict, features=fs.values,
            evidence=_rank_evidence(fs, contributions), model=self.model.name,
            threshold=band[1] if band else 0.5, uncertain_band=band, contributions=contributions,
            sentence_scores=fs.extra.get("sentence_scores", []), domain=self._domain_name(domain),
        )

    def _domain_name(self, domain: Domain) -> str | None:
        """The domain shown on the Score: the most probable one when the domain classifier is confident."""
        if not isinstance(domain, Mapping):
            return domain
        name, p = max(domain.items(), key=lambda kv: kv[1])
        return name if p >= self.model.domain_model.min_confidence else None

    # ---------------------------------------------------------------- public API
    def score(
        self, text: str | bytes | Document, *, format: str | None = None, explain: bool | None = None,
        fpr: float | None = None, domain: str | None = None,
    ) -> Score:
        """Score one text. Raises ``InputError`` on empty, binary, undecodable or too-long input.

        ``explain`` (default: as loaded) adds evidence-only extractors (MiniLM restatements, style); the
        probability and verdict do not depend on it. ``fpr`` (default: as loaded) picks the operating point
        for this call only; ``domain`` (default: as loaded, else the domain classifier's) the text's domain.
        """
        return next(self.score_many([text], format=format, explain=explain, fpr=fpr, domain=domain))

    def score_many(
        self, texts: Iterable[str | bytes | Document], *, batch_size: int = 16, format: str | None = None,
        explain: bool | None = None, fpr: float | None = None, domain: str | None = None,
    ) -> Iterator[Score]:
        """Yield Scores in input order, batching documents through the models.

        Bad inputs raise ``InputError`` when reached; use ``score_records`` for pipelines that must keep
        going past bad records.
        """
        batch: list[Document] = []
        for item in texts:
            batch.append(self.preprocess(item, format=format))
            if len(batch) >= batch_size:
                yield from self._score_docs(batch, explain=explain, fpr=fpr, domain=domain)
                batch = []
        if batch:
            yield from self._score_docs(batch, explain=explain, fpr=fpr, domain=domain)

    def score_records(
        self, texts: Iterable[Any], *, batch_size: int = 16, format: str | None = None,
        explain: bool | None = None, fpr: float | None = None, domain: str | None = None,
    ) -> Iterator[Score | InputError]:
        """Like ``score_many`` but yields an ``InputError`` in place of each record that cannot be scored."""
        batch: list[tuple[int, Document | InputError]] = []

        def flush() -> Iterator[Score | InputError]:
            docs = [d for _, d in batch if isinstance(d, Document)]
            scored = iter(self._score_docs(docs, explain=explain, fpr=fpr, domain=domain)) if docs else iter(())
            for _, d in batch:
                yield d if isinstance(d, InputError) else next(scored)

        for i, item in enumerate(texts):
            try:
                batch.append((i, self.preprocess(item, format=format)))
            except InputError as exc:
                batch.append((i, exc))
            if len(batch) >= batch_size:
                yield from flush()
                batch = []
        if batch:
            yield from flush()

    def _score_docs(
        self, docs: Sequence[Document], *, explain: bool | None = None, fpr: float | None = None,
        domain: str | None = None,
    ) -> list[Score]:
        stated = self.check_domain(domain) or self.domain
        problems = [d.support_problems(min_words=self.min_words) for d in docs]
        fsets = self.featurize(docs, explain=explain)
        ok = [i for i, pr in enumerate(problems) if not pr]
        probs: list[float | None] = [None] * len(docs)
        for i, p in zip(ok, self.forward([docs[i] for i in ok], [fsets[i] for i in ok]), strict=True):
            probs[i] = p
        domains: list[Domain] = [stated] * len(docs) if stated else list(self.domains(docs))
        return [self.postprocess(d, fs, p, pr, fpr=fpr, domain=dom)
                for d, fs, p, pr, dom in zip(docs, fsets, probs, problems, domains, strict=True)]


def _rank_evidence(fs: FeatureSet, contributions: dict[str, float]) -> list:
    """Rank evidence by weight, boosted where the extractor's features pushed this score towards 'ai'.

    The strongest item of each kind comes first (a moderator should see the bio slot, the restated
    claim and the stock phrasing at a glance, not nine variations of one finding), then the rest.
    """
    push: dict[str, float] = {}
    for name, cls in available().items():
        push[name] = sum(max(0.0, contributions.get(f, 0.0)) for f in cls.feature_names)
    top = max(push.values(), default=0.0) or 1.0
    ranked = sorted(fs.evidence, key=lambda e: -(e.weight * (0.5 + 0.5 * push.get(e.extractor, 0.0) / top)))
    seen: set[str] = set()
    first, rest = [], []
    for e in ranked:
        (rest if e.kind in seen else first).append(e)
        seen.add(e.kind)
    return first + rest
