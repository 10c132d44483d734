"""The classifier network: a transformer encoder, mean pooling and a multi-label head.

Both training approaches (a plain fine-tune, and SetFit-style contrastive tuning
of the body plus a head) produce this one architecture, so saving, loading,
inference and ONNX export are shared. On disk (Hugging Face format):

    encoder/            config.json, model.safetensors, tokenizer files
    head.safetensors    weight [labels, hidden], bias [labels]
    labels.json         the label order of the head's outputs
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import logging as transformers_logging

# A "Loading weights" bar per model load would drown our own progress (CV loads many).
transformers_logging.disable_progress_bar()


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class MultiLabelClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, labels: tuple[str, ...], dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.labels = labels
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, len(labels))

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """L2-normalised mean-pooled sentence embeddings."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return nn.functional.normalize(mean_pool(hidden, attention_mask), dim=-1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits, one per label."""
        return self.head(self.dropout(self.embed(input_ids, attention_mask)))

    @classmethod
    def from_base(cls, base_dir: Path, labels: tuple[str, ...]) -> MultiLabelClassifier:
        return cls(AutoModel.from_pretrained(base_dir, local_files_only=True), labels)

    def save(self, directory: Path, tokenizer: PreTrainedTokenizerBase) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(directory / "encoder", safe_serialization=True)
        tokenizer.save_pretrained(directory / "encoder")
        save_file({"weight": self.head.weight.detach().contiguous(),
                   "bias": self.head.bias.detach().contiguous()}, directory / "head.safetensors")
        (directory / "labels.json").write_text(json.dumps(list(self.labels)))

    @classmethod
    def load(cls, directory: Path) -> tuple[MultiLabelClassifier, PreTrainedTokenizerBase]:
        labels = tuple(json.loads((directory / "labels.json").read_text()))
        encoder = AutoModel.from_pretrained(directory / "encoder", local_files_only=True)
        model = cls(encoder, labels)
        head = load_file(directory / "head.safetensors")
        model.head.load_state_dict({"weight": head["weight"], "bias": head["bias"]})
        model.eval()
        return model, AutoTokenizer.from_pretrained(directory / "encoder", local_files_only=True)


def load_tokenizer(directory: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(directory, local_files_only=True)
