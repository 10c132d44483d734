"""`newswatch alerts list | add | remove` on a rules file (no servers needed)."""

from __future__ import annotations

import subprocess
import sys

import yaml


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines", "alerts", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_add_list_remove_round_trip(tmp_path):
    rules = tmp_path / "alerts.yaml"
    rules.write_text(yaml.safe_dump({"rules": [{"name": "tech", "labels": {"tech_influence": 0.5}},
                                               {"name": "typo", "labels": {"nope": 1}}]}))
    added = _cli("add", "land", "--query", "title:land", "--label", "property_purchase=0.6",
                 "--source", "Kyodo", "--rules", str(rules))
    assert added.returncode == 0, added.stderr
    body = yaml.safe_load(rules.read_text())
    assert [r["name"] for r in body["rules"]] == ["tech", "land"]  # the broken one is dropped
    assert body["rules"][1] | {} == {"name": "land", "query": "title:land",
                                     "labels": {"property_purchase": 0.6}, "sources": ["Kyodo"],
                                     "realert_minutes": 60.0, "digest_minutes": None,
                                     "enabled": True}
    listed = _cli("list", "--rules", str(rules))
    assert listed.returncode == 0
    assert "land" in listed.stdout and "property_purchase 0.6" in listed.stdout
    removed = _cli("remove", "tech", "--rules", str(rules))
    assert removed.returncode == 0
    assert [r["name"] for r in yaml.safe_load(rules.read_text())["rules"]] == ["land"]


def test_bad_input_is_a_clear_error_and_changes_nothing(tmp_path):
    rules = tmp_path / "alerts.yaml"
    rules.write_text(yaml.safe_dump({"rules": [{"name": "tech"}]}))
    before = rules.read_text()
    for args, message in [
        (("add", "tech"), "a rule named 'tech' exists"),
        (("add", "x", "--label", "tech_influense=0.5"), "unknown labels ['tech_influense']"),
        (("add", "x", "--label", "tech_influence=high"), "expected LABEL=MIN_SCORE"),
        (("remove", "nope"), "no rule named 'nope'"),
    ]:
        result = _cli(*args, "--rules", str(rules))
        assert result.returncode == 2, result.stderr
        assert message in " ".join(result.stderr.split())
        assert "Traceback" not in result.stderr
        assert rules.read_text() == before
