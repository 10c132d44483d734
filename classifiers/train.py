"""Fine-tuning the classifier: a plain fine-tune, or SetFit-style contrastive tuning + head.

Deterministic for a given config: every random choice draws from generators
seeded by ``config.seed``, and the thread count is fixed (it changes the order
of floating-point sums, hence the weights).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from classifiers.data import Example
from classifiers.labels import LABELS
from classifiers.model import MultiLabelClassifier, load_tokenizer

Progress = Callable[[str, int, int], None]
APPROACHES = ("plain", "setfit")


def no_progress(_description: str, _done: int, _total: int) -> None:
    return None


@dataclass
class TrainingConfig:
    """Everything that decides the trained weights (saved with them)."""

    approach: str = "auto"  # "plain", "setfit", or "auto": the better by cross-validation
    seed: int = 13
    threads: int = 2
    folds: int = 4
    max_length: int = 96  # tokens per training example (passages are short)
    window_tokens: int = 256  # tokens per inference window
    window_stride: int = 64  # tokens shared by consecutive windows
    batch_size: int = 16
    # plain fine-tune
    epochs: int = 4
    lr_encoder: float = 5e-5
    lr_head: float = 2e-3
    # SetFit-style
    pairs_per_example: int = 2
    setfit_epochs: int = 1
    setfit_lr: float = 2e-5
    head_steps: int = 300
    head_lr: float = 1e-2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown training options: {sorted(unknown)}")
        return cls(**values)


def seed_everything(config: TrainingConfig) -> torch.Generator:
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    return torch.Generator().manual_seed(config.seed)


def _encode(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
            max_length: int) -> dict[str, torch.Tensor]:
    return tokenizer(list(texts), truncation=True, max_length=max_length, padding=True,
                     return_tensors="pt")


def fit(config: TrainingConfig, approach: str, examples: Sequence[Example], base_dir: Path,
        progress: Progress = no_progress) -> tuple[MultiLabelClassifier, PreTrainedTokenizerBase]:
    if approach not in APPROACHES:
        raise ValueError(f"approach must be one of {APPROACHES}, got {approach!r}")
    generator = seed_everything(config)
    tokenizer = load_tokenizer(base_dir)
    model = MultiLabelClassifier.from_base(base_dir, LABELS)
    if approach == "plain":
        _fit_plain(config, model, tokenizer, examples, generator, progress)
    else:
        _fit_setfit(config, model, tokenizer, examples, generator, progress)
    model.eval()
    return model, tokenizer


def _pos_weight(targets: torch.Tensor) -> torch.Tensor:
    positives = targets.sum(0).clamp(min=1)
    return ((len(targets) - positives) / positives).clamp(1.0, 4.0)


def _fit_plain(config: TrainingConfig, model: MultiLabelClassifier,
               tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example],
               generator: torch.Generator, progress: Progress) -> None:
    """Encoder and head trained together with a weighted multi-label BCE loss."""
    targets = torch.tensor([e.targets() for e in examples])
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=_pos_weight(targets))
    optimizer = torch.optim.AdamW([
        {"params": model.encoder.parameters(), "lr": config.lr_encoder},
        {"params": model.head.parameters(), "lr": config.lr_head},
    ], weight_decay=0.01)
    steps_per_epoch = -(-len(examples) // config.batch_size)
    total, done = config.epochs * steps_per_epoch, 0
    model.train()
    for _epoch in range(config.epochs):
        order = torch.randperm(len(examples), generator=generator).tolist()
        for start in range(0, len(order), config.batch_size):
            index = order[start:start + config.batch_size]
            batch = _encode(tokenizer, [examples[i].full_text for i in index], config.max_length)
            loss = loss_fn(model(batch["input_ids"], batch["attention_mask"]), targets[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
            progress("fine-tuning", done, total)


def contrastive_pairs(examples: Sequence[Example], per_example: int,
                      rng: random.Random) -> list[tuple[int, int, float]]:
    """SetFit's pairs: same label set -> similarity 1, different label set -> 0."""
    by_labels: dict[tuple[str, ...], list[int]] = {}
    for i, example in enumerate(examples):
        by_labels.setdefault(tuple(sorted(example.labels)), []).append(i)
    pairs = []
    for i, example in enumerate(examples):
        same = [j for j in by_labels[tuple(sorted(example.labels))] if j != i]
        other = [j for j in range(len(examples))
                 if tuple(sorted(examples[j].labels)) != tuple(sorted(example.labels))]
        for _ in range(per_example):
            if same:
                pairs.append((i, rng.choice(same), 1.0))
            if other:
                pairs.append((i, rng.choice(other), 0.0))
    rng.shuffle(pairs)
    return pairs


def _fit_setfit(config: TrainingConfig, model: MultiLabelClassifier,
                tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example],
                generator: torch.Generator, progress: Progress) -> None:
    """Contrastive tuning of the body (cosine-similarity loss on pairs), then a
    logistic-regression head on the frozen, normalised embeddings."""
    rng = random.Random(config.seed)
    pairs = contrastive_pairs(examples, config.pairs_per_example, rng)
    optimizer = torch.optim.AdamW(model.encoder.parameters(), lr=config.setfit_lr,
                                  weight_decay=0.01)
    steps_per_epoch = -(-len(pairs) // config.batch_size)
    embed_steps = -(-len(examples) // 64)
    total = config.setfit_epochs * steps_per_epoch + embed_steps + config.head_steps
    done = 0
    model.train()
    texts = [e.full_text for e in examples]
    for _epoch in range(config.setfit_epochs):
        for start in range(0, len(pairs), config.batch_size):
            chunk = pairs[start:start + config.batch_size]
            left = _encode(tokenizer, [texts[a] for a, _, _ in chunk], config.max_length)
            right = _encode(tokenizer, [texts[b] for _, b, _ in chunk], config.max_length)
            similarity = (model.embed(left["input_ids"], left["attention_mask"])
                          * model.embed(right["input_ids"], right["attention_mask"])).sum(-1)
            loss = nn.functional.mse_loss(similarity, torch.tensor([t for _, _, t in chunk]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
            progress("contrastive tuning", done, total)
    model.eval()
    embeddings = []
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            batch = _encode(tokenizer, texts[start:start + 64], config.max_length)
            embeddings.append(model.embed(batch["input_ids"], batch["attention_mask"]))
            done += 1
            progress("embedding", done, total)
    features = torch.cat(embeddings).clone()
    targets = torch.tensor([e.targets() for e in examples])
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=_pos_weight(targets))
    head_optimizer = torch.optim.Adam(model.head.parameters(), lr=config.head_lr,
                                      weight_decay=1e-4)
    for _step in range(config.head_steps):
        loss = loss_fn(model.head(features), targets)
        head_optimizer.zero_grad()
        loss.backward()
        head_optimizer.step()
        done += 1
        if done % 25 == 0 or _step == config.head_steps - 1:
            progress("head", done, total)
