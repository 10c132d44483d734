"""The real-events corpus as shipped: its schema, its coverage (computed here from the files),
no overlap with the independent evaluation set, and a split that keeps stories and source
sites on one side."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from classifiers.labels import LABELS
from classifiers.real_corpus import (
    CorpusError,
    RealItem,
    check_unique,
    corpus_files,
    parse_item,
    read_items,
)
from classifiers.splits import SPLITS, RealSplits, assign, groups, read_related

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "seeds" / "real"
GUARD = ROOT.parent / "shared" / "eval-guard" / "check.py"
SITES = json.loads((REAL / "splits.json").read_text())["sites"]
RELATED = read_related(REAL)


@pytest.fixture(scope="module")
def items() -> list[RealItem]:
    return read_items(corpus_files(REAL))  # every line checked against the guideline


def test_every_item_is_a_rewritten_real_article_with_its_source(items):
    for item in items:
        assert item.url.startswith(("http://", "https://")) and item.outlet and item.site
        assert item.rationale and item.title and item.labelled_by.startswith("slice-")
        low, high = (3000, 6000) if item.long else (400, 2000)
        assert low <= len(item.text) <= high, item.id


def test_coverage_meets_the_corpus_targets(items):
    counts = Counter(label for item in items for label in item.labels)
    none = [i for i in items if not i.labels]
    hard = [i for i in none if i.kind == "hard_negative"]
    years = {i.year for i in items if i.year}
    assert len(items) >= 600
    assert min(counts[label] for label in LABELS) >= 120, counts
    assert len(none) >= 0.35 * len(items)
    assert len(hard) >= 2 / 3 * len(none)
    assert len({i.receiving_country for i in items if i.labels}) >= 20
    assert len({i.actor_country for i in items if i.labels}) >= 10
    assert min(years) <= 2012 and max(years) >= 2025 and len(years) >= 12
    assert sum(i.long for i in items) >= 20
    assert len({i.negative_kind for i in hard}) >= 5


def test_one_item_per_story_and_per_url(items):
    for key in ("id", "story", "url"):
        values = Counter(getattr(i, key).rstrip("/").lower() for i in items)
        assert max(values.values()) == 1, [v for v, n in values.items() if n > 1]


@pytest.mark.skipif(not GUARD.is_file(), reason="../shared/eval-guard is not beside this clone")
def test_nothing_overlaps_the_independent_evaluation_set():
    rows = []
    for path in corpus_files(REAL):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows.append(line)
            rows += [json.dumps({"id": row["id"], "url": url})
                     for url in row.get("other_urls") or []]
    result = subprocess.run([sys.executable, str(GUARD), "-"], input="\n".join(rows),
                            capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, "no overlap"), result.stdout


def test_the_split_keeps_stories_and_sites_on_one_side(items):
    real = RealSplits.from_items(items, SITES)
    sides = {split: getattr(real, split) for split in SPLITS}
    for key in ("site", "story"):
        seen: dict[str, str] = {}
        for split, examples in sides.items():
            for example in examples:
                value = getattr(real.items[example.id], key)
                assert seen.setdefault(value, split) == split, (key, value)
    split_of = {e.id: split for split, examples in sides.items() for e in examples}
    for first, second, _similarity in RELATED:  # related events sit on one side too
        assert split_of[first] == split_of[second], (first, second)
    assert sum(len(e) for e in sides.values()) == len(items)
    assert len(real.test) >= 0.2 * len(items)
    for split, examples in sides.items():  # stratified: every label on every side
        for label in LABELS:
            share = sum(label in e.labels for e in examples) / sum(label in i.labels
                                                                   for i in items)
            assert 0.1 <= share <= 0.7, (split, label, share)


# The split was made once from the first round's slices; later slices (focus-*) were
# added to it, each new site dealt to a split while every existing site kept its own.
FIRST_ROUND = [path for path in corpus_files(REAL) if not path.name.startswith("focus-")]


def test_the_shipped_split_is_what_the_build_gives(items):
    assert assign(items, SITES, RELATED) == {i.site: SITES[i.site] for i in items}
    assert set(SITES) == {i.site for i in items}
    first = read_items(FIRST_ROUND)
    ids = {i.id for i in first}
    first_related = [pair for pair in RELATED if pair[0] in ids and pair[1] in ids]
    # Made once, from the first round's items, as shipped: adding items moved no site.
    assert assign(first, {}, first_related) == {i.site: SITES[i.site] for i in first}


def _item(n: int, site: str, story: str, labels: list[str]) -> RealItem:
    return parse_item({
        "id": f"x-{n}", "story": story, "url": f"https://{site}/{n}", "outlet": site,
        "site": site, "year": 2020, "receiving_country": "Kenya",
        "actor_country": "China" if labels else None, "title": "t", "text": "x" * 500,
        "labels": labels, "kind": "positive" if labels else "hard_negative",
        "negative_kind": None if labels else "domestic_it", "long": False,
        "rationale": "r", "labelled_by": "slice-test"}, f"item {n}")


def test_a_story_reported_by_two_sites_joins_them_in_one_split():
    linked = [_item(0, "a.com", "s1", ["tech_influence"]), _item(1, "b.com", "s1", [])]
    others = [_item(n, f"site{n}.com", f"s{n}", [LABELS[n % 3]] if n % 2 else [])
              for n in range(2, 30)]
    with pytest.raises(CorpusError, match="story used by more than one item"):
        check_unique(linked)
    assert len(groups(linked + others)) == 29
    sites = assign(linked + others)
    assert sites["a.com"] == sites["b.com"]
    assert set(sites.values()) == set(SPLITS)


def test_sites_already_split_keep_their_side():
    items = [_item(n, f"site{n}.com", f"s{n}", [LABELS[n % 3]] if n % 2 else [])
             for n in range(30)]
    frozen = {"site0.com": "test", "site1.com": "train"}
    sites = assign(items, frozen)
    assert sites["site0.com"] == "test" and sites["site1.com"] == "train"
    assert assign(items, sites) == sites


@pytest.mark.parametrize(("change", "message"), [
    ({"labels": ["tech_influense"]}, "labels"),
    ({"text": "short"}, "text has 5 characters, not 400-2000"),
    ({"kind": "positive", "labels": []}, "does not agree with labels"),
    ({"site": "other.com"}, "is not the URL's host 'a.com'"),
    ({"year": 2031}, "year 2031"),
])
def test_a_broken_item_is_named_with_what_is_wrong(change, message):
    row = {"id": "x-1", "story": "s", "url": "https://a.com/1", "outlet": "A", "site": "a.com",
           "year": 2020, "receiving_country": "Kenya", "actor_country": "China", "title": "t",
           "text": "x" * 500, "labels": ["tech_influence"], "kind": "positive",
           "negative_kind": None, "long": False, "rationale": "r", "labelled_by": "slice-t"}
    with pytest.raises(CorpusError, match=message) as caught:
        parse_item({**row, **change}, "file.jsonl:3")
    assert "file.jsonl:3 (x-1)" in str(caught.value)
