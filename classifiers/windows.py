"""Overlapping token windows over long articles, mapped back to the original text."""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class Window:
    doc: int
    input_ids: list[int]
    text: str  # the slice of the original text this window covers


def make_windows(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_tokens: int = 256,
                 stride: int = 64) -> list[Window]:
    """Every text as windows of at most max_tokens tokens (special tokens included),
    consecutive windows overlapping by ``stride`` tokens. A short text is one window."""
    encoded = tokenizer(texts, truncation=True, max_length=max_tokens, stride=stride,
                        return_overflowing_tokens=True, return_offsets_mapping=True,
                        add_special_tokens=True)
    windows = []
    for ids, offsets, doc in zip(encoded["input_ids"], encoded["offset_mapping"],
                                 encoded["overflow_to_sample_mapping"], strict=True):
        spans = [(s, e) for s, e in offsets if e > s]
        text = texts[doc][spans[0][0]:spans[-1][1]] if spans else ""
        windows.append(Window(doc, ids, text))
    return windows
