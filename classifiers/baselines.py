"""Two baselines the fine-tuned model must beat on the same cross-validation.

* Keyword rules in the style of the EU's Europe Media Monitor: per label, a
  boolean rule "a foreign actor AND a pattern term in the same sentence".
* Zero-shot: cosine similarity between the base model's embedding of each
  window and of each label's description (from the label guideline), maximum
  over windows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from classifiers.labels import LABELS
from classifiers.model import MultiLabelClassifier, load_tokenizer
from classifiers.scoring import aggregate, padded_batches
from classifiers.windows import make_windows

FOREIGN = (r"\b(chin(a|ese)|beijing|shenzhen|hong kong|foreign|overseas|abroad|"
           r"american|u\.s\.|us|united states|russia(n)?|korea(n)?|singapore(an)?|"
           r"gulf|saudi|qatar|emirat\w*|taiwan(ese)?|india(n)?|europe(an)?|german|"
           r"amazon|google|microsoft|oracle|alibaba|tencent|huawei|byd|ping an|megvii)\b")
RULES = {
    "tech_influence": (FOREIGN, r"\b(technolog\w*|tech|app|apps|platform\w*|standard\w*|"
                                r"iso|iec|know-how|expertise|joint research|junket\w*|"
                                r"surveillance|facial recognition|ai|artificial intelligence|"
                                r"iot|internet of things|semiconductor\w*|data|software|"
                                r"digital silk road)\b"),
    "property_purchase": (FOREIGN, r"\b(bought|buy\w*|purchas\w*|acquir\w*|shareholder\w*|"
                                   r"stake|land|forest\w*|farmland|water rights|propert\w*|"
                                   r"real estate|hotel\w*|ryokan|inn|inns|condo\w*|resort\w*|"
                                   r"island\w*|machiya)\b"),
    "infrastructure_dependency": (FOREIGN, r"\b(cloud|telecom\w*|network\w*|submarine cable\w*|"
                                           r"data cent(er|re)\w*|port|ports|grid|bus|buses|"
                                           r"transit|railway\w*|payment\w*|settlement|"
                                           r"infrastructure|lock-in|hyperscaler\w*)\b"),
}
DESCRIPTIONS = {
    "tech_influence": "A foreign state or foreign company gains influence through technology: "
                      "foreign apps, platforms, AI and surveillance technology spreading into "
                      "a country, acquiring technical know-how, joint research, shaping "
                      "technical standards, data flowing to a foreign government.",
    "property_purchase": "Foreign buyers acquire land, forests, water rights, islands, hotels, "
                         "condos and other real estate, or become major shareholders of "
                         "domestic companies; laws that screen foreign purchases.",
    "infrastructure_dependency": "A country's critical infrastructure or public services "
                                 "depend on foreign providers: government cloud on foreign "
                                 "hyperscalers, telecom equipment, submarine cables, data "
                                 "centres, ports, grid, transport vehicles, payment systems.",
}
_SENTENCES = re.compile(r"(?<=[.!?。])\s+|\n+")


def keyword_scores(texts: Sequence[str]) -> np.ndarray:
    """1.0 where the label's rule fires in some sentence, else 0.0."""
    compiled = {label: (re.compile(actor, re.I), re.compile(pattern, re.I))
                for label, (actor, pattern) in RULES.items()}
    scores = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
    for i, text in enumerate(texts):
        for sentence in _SENTENCES.split(text):
            for j, label in enumerate(LABELS):
                actor, pattern = compiled[label]
                if actor.search(sentence) and pattern.search(sentence):
                    scores[i, j] = 1.0
    return scores


def description_vectors(model: MultiLabelClassifier, tokenizer: PreTrainedTokenizerBase,
                        max_length: int) -> torch.Tensor:
    """The embedding of each label's description (rows in LABELS order)."""
    labels = tokenizer([DESCRIPTIONS[label] for label in LABELS], padding=True,
                       truncation=True, max_length=max_length, return_tensors="pt")
    model.eval()
    with torch.inference_mode():
        return model.embed(labels["input_ids"], labels["attention_mask"])


def zero_shot_scores(texts: Sequence[str], base_dir: Path, window_tokens: int = 256,
                     stride: int = 64) -> np.ndarray:
    """Cosine similarity of each label description to the best-matching window."""
    tokenizer = load_tokenizer(base_dir)
    model = MultiLabelClassifier.from_base(base_dir, LABELS)
    label_vectors = description_vectors(model, tokenizer, window_tokens)
    windows = make_windows(tokenizer, list(texts), window_tokens, stride)
    sims = np.zeros((len(windows), len(LABELS)), dtype=np.float32)
    with torch.inference_mode():
        for index, ids, mask in padded_batches(windows, 32, tokenizer.pad_token_id):
            vectors = model.embed(torch.from_numpy(ids), torch.from_numpy(mask))
            sims[index] = (vectors @ label_vectors.T).numpy()
    return aggregate(windows, sims, len(texts))[0]
