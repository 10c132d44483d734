"""Training the classifier: a head on the frozen encoder, a plain fine-tune, or SetFit-style
contrastive tuning of the encoder followed by a head.

Every approach learns what inference does: an article is cut into token windows,
each window is scored, and the article's score per label is the maximum over its
windows (multiple-instance learning). So a long article whose pattern sits in one
paragraph is learnt from that paragraph's window, not from a truncated beginning.

Deterministic for a given config: every random choice draws from generators
seeded by ``config.seed``, and the thread count is fixed (it changes the order
of floating-point sums, hence the weights).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from classifiers.data import Example
from classifiers.labels import LABELS
from classifiers.model import Head, MultiLabelClassifier, load_tokenizer
from classifiers.scoring import padded_batches
from classifiers.windows import Window, make_windows

Progress = Callable[[str, int, int], None]
APPROACHES = ("head", "plain", "setfit")
# What "auto" trains and compares on validation. SetFit is left out: on the 909-item corpus
# it scored 0.83 validation macro-F1 against plain's 0.87 and added a third of the time.
AUTO_APPROACHES = ("head", "plain")


def no_progress(_description: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class HeadRecipe:
    """How a head is fitted on fixed window embeddings."""

    hidden: int  # 0: a linear head
    steps: int
    lr: float
    weight_decay: float
    standardise: bool  # fit on standardised embeddings, then fold the scaling into the weights


@dataclass
class TrainingConfig:
    """Everything that decides the trained weights (saved with them)."""

    approach: str = "auto"  # "head", "plain", "setfit", or "auto": AUTO_APPROACHES's best
    seed: int = 13
    threads: int = 2
    max_length: int = 128  # tokens per text of a SetFit pair
    window_tokens: int = 256  # tokens per window (training and inference)
    window_stride: int = 64  # tokens shared by consecutive windows
    batch_size: int = 16
    # plain fine-tune (batch_size articles a step, all their windows)
    epochs: int = 6  # chosen on the validation split: 3 epochs 0.84, 6 epochs 0.89 macro-F1
    lr_encoder: float = 5e-5
    lr_head: float = 2e-3
    # SetFit-style
    pairs_per_example: int = 2
    setfit_epochs: int = 1
    setfit_lr: float = 2e-5
    setfit_head_steps: int = 300  # SetFit's linear head on its tuned encoder
    setfit_head_lr: float = 1e-2
    # the head on the frozen base encoder (approach "head", the first model of `newswatch
    # run`), chosen on the validation split: a hidden layer on standardised embeddings of
    # 128-token windows 0.86 macro-F1; 256-token windows 0.85; a linear head 0.82
    head_hidden: int = 256
    head_steps: int = 200
    head_lr: float = 1e-3
    head_weight_decay: float = 1e-2
    head_window_tokens: int = 128
    head_window_stride: int = 32

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def for_approach(self, approach: str) -> TrainingConfig:
        """The config a model of this approach is trained and served with: the head on the
        frozen encoder reads its own, shorter windows."""
        if approach != "head":
            return self
        return replace(self, window_tokens=self.head_window_tokens,
                       window_stride=self.head_window_stride)

    def frozen_head(self) -> HeadRecipe:
        return HeadRecipe(self.head_hidden, self.head_steps, self.head_lr,
                          self.head_weight_decay, standardise=True)

    def setfit_head(self) -> HeadRecipe:
        return HeadRecipe(0, self.setfit_head_steps, self.setfit_head_lr, 1e-4,
                          standardise=False)

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
    elif approach == "setfit":
        _fit_setfit(config, model, tokenizer, examples, progress)
    else:
        fit_head(config.for_approach("head"), config.frozen_head(), model, tokenizer, examples,
                 progress)
    model.eval()
    return model, tokenizer


def _pos_weight(targets: torch.Tensor) -> torch.Tensor:
    positives = targets.sum(0).clamp(min=1)
    return ((len(targets) - positives) / positives).clamp(1.0, 4.0)


def _document_max(window_logits: torch.Tensor, docs: torch.Tensor, n_docs: int) -> torch.Tensor:
    """Per document and label, the largest window logit (what inference reports)."""
    out = torch.full((n_docs, window_logits.shape[1]), float("-inf"),
                     dtype=window_logits.dtype)
    index = docs.unsqueeze(1).expand_as(window_logits)
    return out.scatter_reduce(0, index, window_logits, reduce="amax", include_self=True)


def _windows(tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example],
             config: TrainingConfig) -> list[Window]:
    return make_windows(tokenizer, [e.full_text for e in examples], config.window_tokens,
                        config.window_stride)


def _fit_plain(config: TrainingConfig, model: MultiLabelClassifier,
               tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example],
               generator: torch.Generator, progress: Progress) -> None:
    """Encoder and head trained together: a weighted multi-label BCE on each article's
    maximum window logit."""
    targets = torch.tensor([e.targets() for e in examples])
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=_pos_weight(targets))
    optimizer = torch.optim.AdamW([
        {"params": model.encoder.parameters(), "lr": config.lr_encoder},
        {"params": model.head.parameters(), "lr": config.lr_head},
    ], weight_decay=0.01)
    windows = _windows(tokenizer, examples, config)
    of_doc: list[list[int]] = [[] for _ in examples]
    for i, window in enumerate(windows):
        of_doc[window.doc].append(i)
    steps_per_epoch = -(-len(examples) // config.batch_size)
    total, done = config.epochs * steps_per_epoch, 0
    model.train()
    for _epoch in range(config.epochs):
        order = torch.randperm(len(examples), generator=generator).tolist()
        for start in range(0, len(order), config.batch_size):
            docs = order[start:start + config.batch_size]
            chosen = [w for d in docs for w in of_doc[d]]
            position = {d: k for k, d in enumerate(docs)}
            _index, ids, mask = padded_batches([windows[w] for w in chosen], len(chosen),
                                               tokenizer.pad_token_id)[0]
            ordered = [chosen[k] for k in _index]
            logits = model(torch.from_numpy(ids), torch.from_numpy(mask))
            doc_of_row = torch.tensor([position[windows[w].doc] for w in ordered])
            loss = loss_fn(_document_max(logits, doc_of_row, len(docs)), targets[docs])
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
                progress: Progress) -> None:
    """Contrastive tuning of the body (cosine-similarity loss on pairs), then the head on
    the tuned, frozen encoder."""
    rng = random.Random(config.seed)
    pairs = contrastive_pairs(examples, config.pairs_per_example, rng)
    optimizer = torch.optim.AdamW(model.encoder.parameters(), lr=config.setfit_lr,
                                  weight_decay=0.01)
    steps_per_epoch = -(-len(pairs) // config.batch_size)
    total = config.setfit_epochs * steps_per_epoch
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
    fit_head(config, config.setfit_head(), model, tokenizer, examples, progress)


def embed_windows(model: MultiLabelClassifier, windows: Sequence[Window], pad_id: int,
                  progress: Progress = no_progress, what: str = "embedding windows",
                  ) -> torch.Tensor:
    """The encoder's embedding of every window (rows in window order), without gradients."""
    model.eval()
    features = torch.zeros((len(windows), model.encoder.config.hidden_size))
    batches = padded_batches(windows, 32, pad_id)
    with torch.inference_mode():
        for number, (index, ids, mask) in enumerate(batches, start=1):
            features[index] = model.embed(torch.from_numpy(ids), torch.from_numpy(mask))
            progress(what, number, len(batches))
    return features.clone()


def fit_head(config: TrainingConfig, recipe: HeadRecipe, model: MultiLabelClassifier,
             tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example],
             progress: Progress = no_progress, features: torch.Tensor | None = None,
             windows: Sequence[Window] | None = None) -> None:
    """A new head on the frozen encoder's window embeddings, trained on each article's
    maximum window logit. ``features``/``windows`` may be given when the caller has
    embedded the windows already (the frozen base encoder's are shared).

    Mean-pooled, normalised embeddings vary little per dimension; standardising them
    lets a small learning rate and weight decay work, and the scaling is then folded
    into the first layer's weights, so the saved head reads raw embeddings.
    """
    if windows is None:
        windows = _windows(tokenizer, examples, config)
    if features is None:
        features = embed_windows(model, windows, tokenizer.pad_token_id, progress)
    mean = features.mean(0) if recipe.standardise else torch.zeros(features.shape[1])
    scale = features.std(0) + 1e-6 if recipe.standardise else torch.ones(features.shape[1])
    inputs = (features - mean) / scale
    head = Head(features.shape[1], len(LABELS), recipe.hidden)
    docs = torch.tensor([w.doc for w in windows])
    targets = torch.tensor([e.targets() for e in examples])
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=_pos_weight(targets))
    optimizer = torch.optim.AdamW(head.parameters(), lr=recipe.lr,
                                  weight_decay=recipe.weight_decay)
    dropout = nn.Dropout(0.1 if recipe.hidden else 0.0)
    head.train()
    for step in range(1, recipe.steps + 1):
        logits = head(dropout(inputs))
        loss = loss_fn(_document_max(logits, docs, len(examples)), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0 or step == recipe.steps:
            progress("head", step, recipe.steps)
    head.eval()
    first = head.hidden if head.hidden is not None else head.out
    with torch.no_grad():  # W(x - m)/s + b == (W/s)x + (b - (W/s)m)
        first.weight.div_(scale)
        first.bias.sub_(first.weight @ mean)
    model.head = head
