"""Scoring windows with the torch model: length-sorted batches under inference mode."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from classifiers.windows import Window

WindowScorer = Callable[[Sequence[Window]], np.ndarray]
# Windows per forward pass, for torch and int8 alike. Measured on 2 cores on 200 documents
# of bench/classify_bench.py's mix: torch 8 -> 20.6 docs/s at 1,051 MiB peak, 32 -> 17.2 at
# 1,223 MiB; int8 8 -> 33 docs/s at 850 MiB, 32 -> 28 at 1,250 MiB (its working memory
# grows with the batch).
WINDOWS_PER_BATCH = 8


def padded_batches(windows: Sequence[Window], batch_size: int,
                   pad_id: int) -> list[tuple[list[int], np.ndarray, np.ndarray]]:
    """(window indexes, input_ids, attention_mask) per batch, sorted by length so that
    each batch pads little."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
    batches = []
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        width = max(len(windows[i].input_ids) for i in index)
        ids = np.full((len(index), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(index), width), dtype=np.int64)
        for row, i in enumerate(index):
            tokens = windows[i].input_ids
            ids[row, :len(tokens)] = tokens
            mask[row, :len(tokens)] = 1
        batches.append((index, ids, mask))
    return batches


def torch_scorer(model: torch.nn.Module, pad_id: int,
                 batch_size: int = WINDOWS_PER_BATCH) -> WindowScorer:
    """Probabilities per window and label (sigmoid of the head's logits)."""
    def score(windows: Sequence[Window]) -> np.ndarray:
        out = np.zeros((len(windows), len(model.labels)), dtype=np.float32)
        model.eval()
        with torch.inference_mode():
            for index, ids, mask in padded_batches(windows, batch_size, pad_id):
                logits = model(torch.from_numpy(ids), torch.from_numpy(mask))
                out[index] = torch.sigmoid(logits).numpy()
        return out
    return score


def aggregate(windows: Sequence[Window], scores: np.ndarray,
              n_docs: int) -> tuple[np.ndarray, list[list[int]]]:
    """Per document and label: the max over its windows, and which window gave it."""
    doc_scores = np.zeros((n_docs, scores.shape[1]), dtype=np.float32)
    best = [[-1] * scores.shape[1] for _ in range(n_docs)]
    for i, window in enumerate(windows):
        for label in range(scores.shape[1]):
            if best[window.doc][label] < 0 or scores[i, label] > doc_scores[window.doc, label]:
                doc_scores[window.doc, label] = scores[i, label]
                best[window.doc][label] = i
    return doc_scores, best
