"""The one path from texts to features, for serving and training alike.

``make_documents`` reads texts into ``Document``s (recording why a text is unsupported),
``featurize`` runs extractors over documents into ``FeatureSet``s (numbers + evidence: what the Detector
scores), and ``feature_frame`` does the same for a training table, reusing cached numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..document import MIN_WORDS, Document
from ..errors import InputError
from ..textkey import text_key
from .base import Extractor, FeatureSet
from .cache import FeatureCache


def model_extractors(names: Sequence[str], *, models: object = None, lm_budget: int | None = None,
                     lm_hidden: bool = False) -> list[Extractor]:
    """Extractors as a model needs them: the lm extractor scores the token budget the model was trained on
    and, for a hidden-state head, pools the middle layer in the same pass."""
    from . import build_extractors

    out = build_extractors(names, models=models)
    for ex in out:
        if ex.name == "lm":
            if lm_budget:
                ex.budget = int(lm_budget)  # type: ignore[attr-defined]
            ex.hidden = lm_hidden  # type: ignore[attr-defined]
    return out


def featurize(docs: Sequence[Document], extractors: Sequence[Extractor], *, full: bool = False) -> list[FeatureSet]:
    """Every extractor over every document (batched per extractor), merged per document; the document's
    own normalization signals come first. ``full`` asks the LM to score whole texts (reports)."""
    sets = [FeatureSet(values=dict(d.signals)) for d in docs]
    for extractor in extractors:
        parts = extractor.extract_many(docs, full=full) if extractor.name == "lm" else extractor.extract_many(docs)
        for fs, part in zip(sets, parts, strict=True):
            fs.merge(part)
    return sets


def default_cache_path(cache_dir: str | None) -> Path:
    if cache_dir:
        return Path(cache_dir) / "features.sqlite"
    import platformdirs

    return Path(platformdirs.user_cache_dir("ghostscore")) / "features.sqlite"


def make_documents(texts: Sequence[str]) -> tuple[list[Document | None], list[list[str]]]:
    docs: list[Document | None] = []
    problems: list[list[str]] = []
    for t in texts:
        try:
            d = Document.from_text(t)
            docs.append(d)
            problems.append(d.support_problems(min_words=MIN_WORDS))
        except InputError as exc:
            docs.append(None)
            problems.append([str(exc)])
    return docs, problems


def feature_frame(
    texts: Sequence[str], extractors: Sequence[Extractor], *, cache: FeatureCache | None = None,
    batch_size: int = 32, progress: bool = True, desc: str = "features",
    docs: Sequence[Document | None] | None = None,
) -> tuple[pd.DataFrame, list[list[str]]]:
    """Feature table (one row per text, NaN where a text could not be read) and support problems."""
    from tqdm.auto import tqdm

    keys = [text_key(t) for t in texts]
    rows: list[dict[str, float]] = [dict() for _ in texts]
    if docs is None:
        docs, problems = make_documents(texts)
    else:
        problems = [["unreadable"] if d is None else d.support_problems(min_words=MIN_WORDS) for d in docs]
    for ex in extractors:
        cached = cache.get_many(ex, keys) if cache else {}
        todo = [i for i, k in enumerate(keys) if k not in cached and docs[i] is not None]
        for i, k in enumerate(keys):
            if k in cached:
                rows[i].update(cached[k])
        bar = tqdm(total=len(todo), desc=f"{desc}:{ex.name}", disable=not progress or not todo, mininterval=5)
        for s in range(0, len(todo), batch_size):
            idx = todo[s : s + batch_size]
            sets = featurize([docs[i] for i in idx], [ex])
            fresh = {}
            for i, fs in zip(idx, sets, strict=True):
                vals = {n: float(fs.values.get(n, math.nan)) for n in ex.feature_names}
                rows[i].update(vals)
                fresh[keys[i]] = vals
            if cache:
                cache.put_many(ex, fresh)
            bar.update(len(idx))
        bar.close()
    return pd.DataFrame(rows, index=range(len(texts))), problems
