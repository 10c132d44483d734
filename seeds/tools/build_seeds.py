"""Build seeds/articles.jsonl, seeds/passages.jsonl and seeds/written.jsonl.

    python seeds/tools/build_seeds.py

Article labels are the reference labels of LABELS.md. Passage labels follow the
guideline: a passage carries a label only where it shows the pattern itself
(a passage about China's domestic surveillance in an article about standards is
"none"). They were assigned by hand, passage by passage, in PASSAGE_LABELS.
"""

from __future__ import annotations

import json
from pathlib import Path

from split_seeds import SEEDS, articles, passages
from written_examples import INFRA, WRITTEN, P, T

TITLES = {
    "000": "Japan coming under Chinese influence",
    "001": "Japan wary of China's smart-city standard proposals at ISO/IEC",
    "002": "China covets Japan's IoT expertise, a missing piece in tech quest",
    "003": "China's Digital Platforms",
}
ARTICLE_LABELS = {
    "000": [T, INFRA], "001": [T], "002": [T], "003": [T, INFRA], "004-0": [INFRA], "004-1": [],
    "004-2": [], "004-3": [], "004-4": [T, INFRA], "004-5": [P], "004-6": [P], "004-7": [],
    "004-8": [], "004-9": [],
}
# (article, passage number) -> labels; every passage not listed is "none".
PASSAGE_LABELS = {
    **{("000", n): [T] for n in (2, 3, 6, 7, 8, 13, 15)},
    **{("000", n): [T, INFRA] for n in (9, 10, 12, 14, 16)},
    **{("001", n): [T] for n in (0, 1, 2, 3, 4, 5, 6, 7, 12, 14, 15)},
    **{("002", n): [T] for n in (0, 1, 2, 3, 4, 7, 8, 9, 12, 13, 14)},
    **{("003", n): [T] for n in (2, 3, 6, 10)},
    **{("003", n): [T, INFRA] for n in (1, 4, 5, 7)},
    **{("004-0", n): [INFRA] for n in (0, 1, 2, 3, 4, 5)},
    **{("004-4", n): [T, INFRA] for n in (0, 2, 3, 4)},
    **{("004-5", n): [P] for n in range(11)},
    **{("004-6", n): [P] for n in (0, 1, 4, 5, 6)},
}


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if len(line.strip()) > 20), "")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")


def main() -> None:
    article_rows, passage_rows = [], []
    for article_id, text in articles():
        title = TITLES.get(article_id) or first_line(text)
        article_rows.append({"id": article_id, "title": title, "text": text.strip(),
                             "labels": ARTICLE_LABELS[article_id], "source": "seed"})
        for number, passage in enumerate(passages(text)):
            passage_rows.append({"id": f"{article_id}/p{number:02d}", "article": article_id,
                                 "title": None, "text": passage,
                                 "labels": PASSAGE_LABELS.get((article_id, number), []),
                                 "source": "seed-passage"})
    written_rows = [{"id": f"w-{n:03d}", "article": f"w-{n:03d}", "title": None, "text": text,
                     "labels": labels, "source": "written"}
                    for n, (text, labels) in enumerate(WRITTEN, start=1)]
    write_jsonl(SEEDS / "articles.jsonl", article_rows)
    write_jsonl(SEEDS / "passages.jsonl", passage_rows)
    write_jsonl(SEEDS / "written.jsonl", written_rows)
    print(f"{len(article_rows)} articles, {len(passage_rows)} passages, "
          f"{len(written_rows)} written examples")


if __name__ == "__main__":
    main()
