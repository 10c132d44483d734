"""Split the seed documents into articles and paragraphs (how seeds/*.jsonl were made).

    python seeds/tools/split_seeds.py            # prints articles and numbered passages

004 holds ten articles separated by lines that start with '###' (the rest of such a
line is part of the separator). A passage is one line of at least MIN_CHARS
characters: shorter lines are page furniture (menus, counters, bylines).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[1]
MIN_CHARS = 80


def articles() -> list[tuple[str, str]]:
    out = []
    for path in sorted(SEEDS.glob("00[0-9]_*.txt")):
        number = path.name[:3]
        text = path.read_text(encoding="utf-8")
        if number != "004":
            out.append((number, text))
            continue
        parts, current = [], []
        for line in text.splitlines():
            if line.startswith("###"):
                parts.append("\n".join(current))
                current = []
            else:
                current.append(line)
        parts.append("\n".join(current))
        out += [(f"004-{i}", part) for i, part in enumerate(parts) if part.strip()]
    return out


def passages(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if len(line.strip()) >= MIN_CHARS]


if __name__ == "__main__":
    width = int(sys.argv[1]) if len(sys.argv) > 1 else 220
    for article_id, text in articles():
        for number, passage in enumerate(passages(text)):
            print(json.dumps([article_id, number, passage[:width]], ensure_ascii=False))
