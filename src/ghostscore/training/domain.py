"""Training the domain classifier (``classifiers/domain.py``) on the corpus's domain labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..classifiers.domain import DomainModel, hashed_counts

N_FEATURES = 4096


def fit_domain_model(texts: Sequence[str], domains: Sequence[str], *, n_features: int = N_FEATURES,
                     C: float = 4.0, seed: int = 0) -> DomainModel | None:
    """The hashed bag-of-words domain classifier; None when the training texts span fewer than two domains
    (nothing to tell apart: every text gets the pooled threshold)."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(domains, dtype=object).astype(str)
    if len(set(y)) < 2:
        return None
    X = hashed_counts(list(texts), n_features)
    clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced", random_state=seed)
    clf.fit(X, y)
    return DomainModel(labels=[str(c) for c in clf.classes_], weight=clf.coef_.T.astype(np.float32),
                       bias=clf.intercept_.astype(np.float32))


def domain_sample(df: pd.DataFrame, per_domain: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Up to ``per_domain`` texts of each domain, both labels mixed, so no domain dominates the fit."""
    return (df.groupby("domain", group_keys=False)
              .apply(lambda g: g.sample(min(len(g), per_domain), random_state=seed)))
