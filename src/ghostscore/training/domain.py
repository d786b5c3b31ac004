"""Training the domain classifier (``classifiers/domain.py``) on the corpus's domain labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..classifiers.domain import DomainModel, hashed_counts

N_FEATURES = 4096


def fit_domain_model(texts: Sequence[str], domains: Sequence[str], *, n_features: int = N_FEATURES,
                     C: float = 4.0, seed: int = 0, val_texts: Sequence[str] | None = None,
                     val_domains: Sequence[str] | None = None) -> DomainModel | None:
    """The hashed bag-of-words domain classifier; None when the training texts span fewer than two domains
    (nothing to tell apart: every text gets the pooled threshold). With validation texts, its temperature is
    fitted on them (``fit_temperature``)."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(domains, dtype=object).astype(str)
    if len(set(y)) < 2:
        return None
    X = hashed_counts(list(texts), n_features)
    clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced", random_state=seed)
    clf.fit(X, y)
    weight, bias = clf.coef_.T, clf.intercept_
    if len(clf.classes_) == 2:  # sklearn keeps one column for two classes: (-z/2, z/2) has the same softmax
        weight, bias = np.hstack([-weight / 2, weight / 2]), np.r_[-bias / 2, bias / 2]
    model = DomainModel(labels=[str(c) for c in clf.classes_], weight=weight.astype(np.float32),
                        bias=bias.astype(np.float32))
    if val_texts is not None and val_domains is not None:
        model.temperature = fit_temperature(model, val_texts, val_domains)
    return model


def fit_temperature(model: DomainModel, texts: Sequence[str], domains: Sequence[str]) -> float:
    """The temperature (at least 1) that minimizes the log-loss of held-out texts' domains: the domain-weighted
    threshold trusts these probabilities, so an over-confident fit is softened. It is never sharpened: the
    validation texts come from the training corpora, and texts unlike them deserve no more certainty than the
    fit gives (on lm-v2 the unclamped fit, 0.7, added no recall and more false positives on unseen humans).
    Texts of domains the model does not know are skipped; with none left the temperature stays 1."""
    idx = np.array([model.labels.index(str(d)) if str(d) in model.labels else -1 for d in domains])
    keep = idx >= 0
    if not keep.any():
        return 1.0
    Z = model.logits([t for t, k in zip(texts, keep, strict=True) if k])
    rows = np.arange(int(keep.sum()))

    def log_loss(T: float) -> float:
        z = Z / T
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z[rows, idx[keep]] - np.log(np.exp(z).sum(axis=1))).mean())

    grid = np.exp(np.linspace(0.0, np.log(16.0), 121))
    return float(min(grid, key=log_loss))

