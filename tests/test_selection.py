"""Sign-consistent feature selection: a feature that flips direction between generators is dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ghostscore.training.selection import generator_directions, sign_consistent_features


def _frame(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows, feats = [], []
    for gen, flip in (("gpt-3.5-turbo", 1.0), ("llama-2-70b-chat", -1.0), (None, 0.0)):
        for _ in range(60):
            machine = gen is not None
            rows.append({"y": int(machine), "generator": gen, "dataset": "d", "domain": "news"})
            feats.append({
                "lm_steady": rng.normal(1.0 if machine else 0.0),      # higher for both generators
                "lm_flipping": rng.normal(flip if machine else 0.0),   # higher for one, lower for the other
                "phrasing_flipping": rng.normal(flip if machine else 0.0),
            })
    return pd.DataFrame(feats), pd.DataFrame(rows)


def test_flipping_features_of_the_checked_family_are_dropped() -> None:
    X, frame = _frame()
    names = ["lm_steady", "lm_flipping", "phrasing_flipping"]
    dirs = generator_directions(X, frame, names)
    assert set(dirs) == {"gpt-3.5-turbo", "llama-2-70b-chat"}
    assert dirs["gpt-3.5-turbo"]["lm_flipping"] > 0.2 > -0.2 > dirs["llama-2-70b-chat"]["lm_flipping"]
    assert sign_consistent_features(X, frame, names, ["lm"]) == ["lm_steady", "phrasing_flipping"]
    assert sign_consistent_features(X, frame, names, ["lm", "phrasing"]) == ["lm_steady"]
    assert sign_consistent_features(X, frame, names, []) == names


def test_one_generator_cannot_be_checked_so_everything_is_kept() -> None:
    X, frame = _frame()
    keep = (frame.generator != "llama-2-70b-chat").to_numpy()
    names = ["lm_steady", "lm_flipping"]
    assert sign_consistent_features(X[keep], frame[keep], names, ["lm"]) == names
