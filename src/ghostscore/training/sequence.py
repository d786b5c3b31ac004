"""Training the sequence classifier (``classifiers/sequence.py``) on the stored feature table, in PyTorch;
the result is exported as plain arrays that numpy serves.

Recipe: standardize the document features (z) and the token channels (with padded positions zeroed after
standardizing, exactly as serving pads), then either train the whole network jointly or, ``residual``,
start the skip path from a fitted logistic regression and keep it frozen so the CNN learns a correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..classifiers.calibration import fit_scaler, standardize
from ..classifiers.sequence import SequenceModel

ARCH = {"channels": 32, "kernel1": 5, "kernel2": 5, "dilation": 2, "hidden": 32, "dropout": 0.1}


def _net(cin: int, d: int, arch: dict[str, Any]) -> Any:
    import torch
    from torch import nn

    c, h = arch["channels"], arch["hidden"]

    class SeqNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv1d(cin, c, arch["kernel1"], padding=arch["kernel1"] // 2)
            self.conv2 = nn.Conv1d(c, c, arch["kernel2"], padding=(arch["kernel2"] // 2) * arch["dilation"],
                                   dilation=arch["dilation"])
            self.head1 = nn.Linear(2 * c + d, h)
            self.head2 = nn.Linear(h, 1)
            self.drop = nn.Dropout(arch["dropout"])
            self.skip = nn.Linear(d, 1)

        def forward(self, seq: Any, mask: Any, z: Any) -> Any:
            x = torch.relu(self.conv1(seq.transpose(1, 2)))
            x = torch.relu(self.conv2(x))
            m = mask[:, None, :]
            mean = (x * m).sum(-1) / m.sum(-1).clamp(min=1.0)
            mx = (x * m + (m - 1.0) * 1e4).max(-1).values * (mask.sum(-1, keepdim=True) > 0)
            hid = torch.relu(self.head1(self.drop(torch.cat([mean, mx, z], dim=1))))
            return self.skip(z).squeeze(-1) + self.head2(self.drop(hid)).squeeze(-1)

    return SeqNet()


def fit_sequence(
    seqs: np.ndarray, lengths: np.ndarray, X: np.ndarray, y: np.ndarray, *, feature_names: Sequence[str],
    extractors: Sequence[str], epochs: int = 8, batch_size: int = 128, lr: float = 3e-3, seed: int = 0,
    residual: tuple[np.ndarray, float] | None = None, progress: bool = False,
) -> SequenceModel:
    """Fit on (n, T, C) token channels, their lengths, (n, d) document features and labels.

    ``residual=(coef, bias)`` fixes the skip path to a linear model on the same standardized features.
    """
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mean, scale = fit_scaler(X)
    Z = standardize(X, mean, scale).astype(np.float32)
    mask = (np.arange(seqs.shape[1])[None, :] < lengths[:, None]).astype(np.float32)
    flat = seqs[mask.astype(bool)]
    seq_mean, seq_scale = flat.mean(0), flat.std(0) + 1e-6
    S = ((seqs - seq_mean) / seq_scale * mask[:, :, None]).astype(np.float32)
    net = _net(seqs.shape[2], Z.shape[1], ARCH)
    if residual is not None:
        with torch.no_grad():
            net.skip.weight.copy_(torch.tensor(np.asarray(residual[0], np.float32))[None, :])
            net.skip.bias.fill_(float(residual[1]))
            net.head2.weight.zero_()
            net.head2.bias.zero_()
        net.skip.requires_grad_(False)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-3)
    yt = torch.tensor(y, dtype=torch.float32)
    pos = max(1.0, float(y.sum()))
    neg = max(1.0, float(len(y) - y.sum()))
    w = torch.where(yt > 0, len(y) / (2 * pos), len(y) / (2 * neg))
    St, Mt, Zt = torch.from_numpy(S), torch.from_numpy(mask), torch.from_numpy(Z)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    for ep in range(epochs):
        net.train()
        order = rng.permutation(len(y))
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = torch.from_numpy(order[i : i + batch_size])
            out = net(St[idx], Mt[idx], Zt[idx])
            loss = (loss_fn(out, yt[idx]) * w[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        if progress:
            print(f"epoch {ep + 1}/{epochs} loss {total / len(y):.4f}", flush=True)
    net.eval()
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    tensors = {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32),
               "seq_mean": seq_mean.astype(np.float32), "seq_scale": seq_scale.astype(np.float32),
               **{k: sd[k] for k in ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "head1.weight",
                                     "head1.bias", "head2.weight", "head2.bias", "skip.weight", "skip.bias")}}
    return SequenceModel(feature_names=list(feature_names), extractors=list(extractors), tensors=tensors,
                         config={**ARCH, "recipe": "residual" if residual is not None else "joint",
                                 "epochs": epochs, "max_tokens": int(seqs.shape[1]) + 1})


def sequence_logits(model: SequenceModel, seqs: np.ndarray, lengths: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The exported model's logits on table rows (numpy, the serving code path)."""
    Z = model.standardize(X).astype(np.float32)
    pooled = np.stack([model.pooled(s[:n]) for s, n in zip(seqs, lengths, strict=True)])
    return model.logit_from(Z, pooled).astype(np.float64)
