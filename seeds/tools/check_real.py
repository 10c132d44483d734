#!/usr/bin/env python3
"""Check slices of the real-events corpus against seeds/real/GUIDELINE.md.

  python3 seeds/tools/check_real.py seeds/real/japan.jsonl [more.jsonl ...]
  python3 seeds/tools/check_real.py seeds/real/japan.jsonl \
      --sources /tmp/real-work/japan/sources.jsonl

Prints every broken rule (schema, lengths, one item per story/URL), the coverage
counts, and with --sources every 8-word run an item shares with the excerpt it
was written from (copied wording). Runs on the system Python (standard library).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from classifiers.real_corpus import CorpusError, coverage, read_items, shared_runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--sources", type=Path, help="JSONL of checked excerpts (url, text)")
    args = parser.parse_args()
    try:
        items = read_items(args.files)
    except (CorpusError, OSError) as exc:
        print(f"error: {exc}")
        return 1
    print(json.dumps(coverage(items).as_dict(), indent=1))
    copied = 0
    if args.sources:
        excerpts: dict[str, str] = {}
        for line in args.sources.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                key = row.get("url", "").rstrip("/")
                excerpts[key] = excerpts.get(key, "") + "\n" + (row.get("text") or "")
        for item in items:
            source = excerpts.get(item.url.rstrip("/"))
            if source is None:
                print(f"{item.id}: no excerpt logged for {item.url}")
                continue
            runs = shared_runs(f"{item.title}\n{item.text}", source)
            if runs:
                copied += 1
                print(f"{item.id}: {len(runs)} copied 8-word runs, e.g. {runs[0]!r}")
    print(f"{len(items)} items ok" + (f", {copied} with copied wording" if copied else ""))
    return 1 if copied else 0


if __name__ == "__main__":
    sys.exit(main())
