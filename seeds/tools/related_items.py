#!/usr/bin/env python3
"""Find items of the real corpus that tell related events (a deal and its follow-up, two
quarters of one statistic) so that the split keeps them on one side.

  .venv/bin/python seeds/tools/related_items.py [--threshold 0.8]

Embeds title + start of text with the base MiniLM and writes every pair whose
cosine similarity reaches the threshold to seeds/real/related.json. These pairs
are different stories (the corpus keeps one item per story), but a model that
trained on one would have seen the other's facts: classifiers.splits unites them
like items of one site. Run before seeds/tools/build_real.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

from classifiers.base_model import base_model_dir
from classifiers.labels import LABELS
from classifiers.model import MultiLabelClassifier, load_tokenizer
from classifiers.real_corpus import corpus_files, read_items
from classifiers.splits import RELATED_FILE

REAL = Path(__file__).resolve().parents[2] / "seeds" / "real"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.8)
    args = parser.parse_args()
    items = read_items(corpus_files(REAL))
    base = base_model_dir()
    tokenizer = load_tokenizer(base)
    model = MultiLabelClassifier.from_base(base, LABELS).eval()
    texts = [f"{i.title}\n{i.text[:600]}" for i in items]
    vectors = []
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            batch = tokenizer(texts[start:start + 64], truncation=True, max_length=160,
                              padding=True, return_tensors="pt")
            vectors.append(model.embed(batch["input_ids"], batch["attention_mask"]))
    similarity = torch.cat(vectors) @ torch.cat(vectors).T
    pairs = [[items[a].id, items[b].id, round(float(similarity[a, b]), 3)]
             for a in range(len(items)) for b in range(a + 1, len(items))
             if similarity[a, b] >= args.threshold]
    lines = ",\n".join(json.dumps(pair) for pair in pairs)
    (REAL / RELATED_FILE).write_text(f'{{"threshold": {args.threshold}, "pairs": [\n{lines}\n]}}\n',
                                     encoding="utf-8")
    print(f"{len(pairs)} related pairs -> {REAL / RELATED_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
