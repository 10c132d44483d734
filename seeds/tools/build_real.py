#!/usr/bin/env python3
"""Build step of the real-events corpus: eval-guard, checks, and the frozen split.

  python seeds/tools/build_real.py            # check, drop eval-set overlaps, assign splits
  python seeds/tools/build_real.py --check    # change nothing; exit 1 if anything would change

1. Every slice (seeds/real/*.jsonl) goes through ../shared/eval-guard/check.py
   --drop: an item whose URL (or two sentences) the independent evaluation set
   shares is removed from the slice, and the removal is printed. Long items'
   `other_urls` are checked too.
2. Every item is validated against seeds/real/GUIDELINE.md (classifiers.real_corpus).
3. Sites without a split are assigned (classifiers.splits.assign, grouped by
   story, site and the related pairs of related.json, stratified by label);
   sites already in splits.json keep theirs, so the test split never moves.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from classifiers.real_corpus import CorpusError, corpus_files, coverage, read_items
from classifiers.splits import SPLITS, SPLITS_FILE, assign, read_related, save

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "seeds" / "real"
GUARD = ROOT.parent / "shared" / "eval-guard" / "check.py"


def guard_rows(rows: list[dict], guard: Path) -> set[int]:
    """Indexes of rows the eval-guard reports (their own URL, text, or any other_urls)."""
    probes, owner = [], []
    for index, row in enumerate(rows):
        probes.append({"id": row["id"], "url": row["url"], "title": row["title"],
                       "text": row["text"]})
        owner.append(index)
        for url in row.get("other_urls") or []:
            probes.append({"id": row["id"], "url": url})
            owner.append(index)
    with tempfile.TemporaryDirectory() as tmp:
        probe_file, kept_file = Path(tmp) / "probe.jsonl", Path(tmp) / "kept.jsonl"
        probe_file.write_text("".join(json.dumps(p) + "\n" for p in probes), encoding="utf-8")
        subprocess.run([sys.executable, str(guard), str(probe_file), "--drop", str(kept_file)],
                       check=True, capture_output=True, text=True)
        kept = kept_file.read_text(encoding="utf-8").splitlines()
    kept_keys = {(json.loads(line)["id"], json.loads(line)["url"]) for line in kept if line}
    return {owner[i] for i, p in enumerate(probes) if (p["id"], p["url"]) not in kept_keys}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on a change")
    parser.add_argument("--real", type=Path, default=REAL, help=f"corpus folder [{REAL}]")
    parser.add_argument("--guard", type=Path, default=GUARD, help=f"eval-guard [{GUARD}]")
    args = parser.parse_args()
    if not args.guard.is_file():
        print(f"error: the eval-guard is not at {args.guard} (it sits in ../shared beside "
              "the clone)")
        return 2
    real = args.real
    changed = False
    for path in corpus_files(real):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
        dropped = guard_rows(rows, args.guard)
        for index in sorted(dropped):
            print(f"{path.name}: {rows[index]['id']} overlaps the evaluation set: dropped")
        if dropped:
            changed = True
            if not args.check:
                path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                        for i, r in enumerate(rows) if i not in dropped),
                                encoding="utf-8")
    try:
        items = read_items(corpus_files(real))
    except CorpusError as exc:
        print(f"error: {exc}")
        return 1
    splits_path = real / SPLITS_FILE
    existing = json.loads(splits_path.read_text())["sites"] if splits_path.exists() else {}
    sites = assign(items, existing, read_related(real))
    if sites != existing:
        changed = True
        print(f"{len(set(sites) - set(existing))} new sites assigned a split")
        if not args.check:
            save(sites, splits_path)
    counts = {split: sum(sites[i.site] == split for i in items) for split in SPLITS}
    print(json.dumps({"splits": counts, **coverage(items).as_dict()}, indent=1))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
