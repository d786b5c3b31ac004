"""benchmarks/lens_features.py: logit-lens statistics stored beside a feature table are built resumably, refused
when built for other layers, joined by key, and reach only the benchmark candidates that ask for them."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from .test_feature_table import _fake_table_data

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


class FakeLens:
    """Stand-in for LensScorer: a value per text from its length, and a record of what it scored."""

    def __init__(self, max_tokens: int = 128, layers: tuple[int, ...] = (24,)) -> None:
        self.max_tokens, self.layers, self.seen = max_tokens, list(layers), []

    def columns(self) -> list[str]:
        return [f"lens_{s}{L}" for L in self.layers for s in ("xent", "kl", "lp")]

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        self.seen += texts
        return [{c: float(len(t) + i) for i, c in enumerate(self.columns())} for t in texts]


def test_lens_set_builds_resumably_joins_by_key_and_reaches_only_candidates_that_ask(tmp_path: Path) -> None:
    lf = _bench("lens_features")
    tb = _bench("transfer_benchmark")
    from ghostscore.training.candidates import CANDIDATES
    from ghostscore.training.feature_table import TableVersionError, flat_view

    _, td = _fake_table_data(tmp_path, n=30)
    texts = dict(zip(td.rows.key, td.rows.text, strict=True))
    keys = list(texts)
    half = {k: texts[k] for k in keys[: len(keys) // 2]}
    assert lf.build_lens(tmp_path / "t", half, FakeLens()) == len(half)
    scorer = FakeLens()
    assert lf.build_lens(tmp_path / "t", texts, scorer) == len(keys) - len(half)  # resumes: only the rest
    assert len(scorer.seen) == len(keys) - len(half)
    frame = lf.read_lens(tmp_path / "t", 128)
    assert sorted(frame.key) == sorted(keys) and lf.covered(td, frame).all()
    with pytest.raises(TableVersionError):
        lf.read_lens(tmp_path / "t", 128, layers=[28])
    assert lf.read_lens(tmp_path / "t", 64).empty

    # joined by key, whatever the order of either side
    part = td.subset(np.arange(len(td.rows)) % 2 == 0)
    joined = lf.with_lens(part, frame.iloc[::-1], ("lens_xent24",))
    expect = [len(flat_view(t)) for t in part.rows.text]  # FakeLens: xent = the flat view's length
    assert np.allclose(joined.features["lens_xent24"], expect)
    assert list(joined.features.columns[:-1]) == list(part.features.columns)
    assert lf.with_lens(part, frame, ()) is part
    with pytest.raises(ValueError, match="lens_kl28"):
        lf.with_lens(part, frame, ("lens_kl28",))

    # the candidate syntax and the guard against a setting nobody reads
    assert tb.parse_candidate("hidden@128:lens=xent24+kl24") == ("hidden", 128, {"lens": ("lens_xent24",
                                                                                           "lens_kl24")})
    with pytest.raises(SystemExit, match="lens="):
        tb.parse_candidate("hidden@128:lens=foo24")
    with pytest.raises(SystemExit, match="lens="):
        tb.run_fold("hidden", td, td, td, lens=("lens_xent24",))
    plain = CANDIDATES["hidden"](td).names
    asked = CANDIDATES["hidden"](lf.with_lens(td, frame, ("lens_xent24", "lens_kl24"))).names
    assert not any(n.startswith("lens_") for n in plain)
    assert list(asked) == [*plain, "lens_xent24", "lens_kl24"]
