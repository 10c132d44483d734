"""The one train / validation / test split of the real corpus, grouped by story and by site.

Items that share a story or a source site, or that tell related events
(``related.json``: a deal and its follow-up, found by seeds/tools/related_items.py),
form one group (connected components), and a group sits wholly in one split: no
outlet's wording, and no story, is on two sides. Groups are dealt out greedily,
largest first, each to the split that most needs what the group holds (items,
each label's positives, `none` items), so every split is stratified by label.
The result is frozen in ``seeds/real/splits.json`` (site -> split): the split is
made once, and the test split never moves when items are added.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from classifiers.data import Example
from classifiers.labels import LABELS
from classifiers.real_corpus import CorpusError, RealItem, corpus_files, read_items

SPLITS = ("train", "validation", "test")
FRACTIONS = {"train": 0.56, "validation": 0.2, "test": 0.24}
SPLITS_FILE = "splits.json"
RELATED_FILE = "related.json"


def groups(items: Sequence[RealItem],
           related: Sequence[Sequence[str]] = ()) -> list[list[RealItem]]:
    """Connected components of items linked by a shared story, a shared site, or a
    related pair (ids)."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for item in items:
        parent[find(f"story:{item.story}")] = find(f"site:{item.site}")
    site_of_id = {item.id: item.site for item in items}
    for first, second, *_ in related:
        if first in site_of_id and second in site_of_id:
            parent[find(f"site:{site_of_id[first]}")] = find(f"site:{site_of_id[second]}")
    members: dict[str, list[RealItem]] = {}
    for item in items:
        members.setdefault(find(f"site:{item.site}"), []).append(item)
    return list(members.values())


def _profile(group: Sequence[RealItem]) -> list[int]:
    """What a group brings: items, each label's positives, none items."""
    return [len(group), *[sum(label in i.labels for i in group) for label in LABELS],
            sum(not i.labels for i in group)]


def assign(items: Sequence[RealItem], existing: Mapping[str, str] | None = None,
           related: Sequence[Sequence[str]] = (),
           fractions: Mapping[str, float] = FRACTIONS) -> dict[str, str]:
    """site -> split for every site of the items (deterministic for the same items).

    Sites in ``existing`` keep their split (the split is made once); only new sites
    are dealt out, towards the same fractions.
    """
    existing = dict(existing or {})
    totals = _profile(items)
    held = {split: [0] * len(totals) for split in SPLITS}
    for item in items:
        if item.site in existing:
            split = existing[item.site]
            held[split] = [h + p for h, p in zip(held[split], _profile([item]), strict=True)]

    def need(split: str, profile: list[int]) -> float:
        # How far below its share the split is, on what this group brings.
        return sum(p * (fractions[split] * t - h) / max(t, 1)
                   for p, t, h in zip(profile, totals, held[split], strict=True))

    def order(group: list[RealItem]) -> tuple[int, str]:
        key = min(i.site for i in group)
        return (-len(group), hashlib.sha256(key.encode()).hexdigest())

    sites = {site: split for site, split in existing.items()
             if any(i.site == site for i in items)}
    for group in sorted(groups(items, related), key=order):
        known = {sites[i.site] for i in group if i.site in sites}
        if len(known) > 1:
            raise CorpusError(f"a story links sites of different splits {sorted(known)}: "
                              f"{sorted({i.site for i in group})}")
        new = [i for i in group if i.site not in sites]
        profile = _profile(new)
        split = known.pop() if known else max(
            SPLITS, key=lambda s: (need(s, profile), -SPLITS.index(s)))
        held[split] = [h + p for h, p in zip(held[split], profile, strict=True)]
        for item in new:
            sites[item.site] = split
    return sites


def read_related(directory: Path) -> list[list[str]]:
    path = directory / RELATED_FILE
    return json.loads(path.read_text())["pairs"] if path.exists() else []


def save(sites: Mapping[str, str], path: Path) -> None:
    path.write_text(json.dumps({"fractions": FRACTIONS, "sites": dict(sorted(sites.items()))},
                               indent=1) + "\n", encoding="utf-8")


def as_example(item: RealItem) -> Example:
    return Example(item.id, f"real/{item.story}", item.title, item.text, item.labels)


@dataclass(frozen=True)
class RealSplits:
    """The real corpus as the three splits of Examples (and the items behind them)."""

    train: list[Example]
    validation: list[Example]
    test: list[Example]
    items: dict[str, RealItem]

    @classmethod
    def from_dir(cls, directory: Path) -> RealSplits:
        items = read_items(corpus_files(directory))
        return cls.from_items(items, json.loads((directory / SPLITS_FILE).read_text())["sites"])

    @classmethod
    def from_items(cls, items: Sequence[RealItem], sites: Mapping[str, str]) -> RealSplits:
        unassigned = sorted({i.site for i in items} - set(sites))
        if unassigned:
            raise CorpusError(f"sites without a split: {unassigned[:10]}; run "
                              "`python seeds/tools/build_real.py` to assign new sites")
        by_split: dict[str, list[Example]] = {split: [] for split in SPLITS}
        for item in items:
            by_split[sites[item.site]].append(as_example(item))
        return cls(by_split["train"], by_split["validation"], by_split["test"],
                   {i.id: i for i in items})
