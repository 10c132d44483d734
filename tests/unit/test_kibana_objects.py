"""The Kibana saved objects: parseable, known types, references that resolve, and only
fields that exist in the index mappings, with the types each use needs; the board says what it
shows (controls, links, time field, counts). Kibana itself cannot run here; the import
command is checked against a local endpoint that answers like Kibana's."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, get_args

import pytest

from pipelines.alerts.state import ALERTS_MAPPING
from pipelines.es_admin import articles_template
from pipelines.kibana import KibanaImportError, import_objects
from pipelines.schema import Alert, ClassifiedArticle

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NDJSON = DEPLOY / "kibana" / "newswatch.ndjson"
KNOWN_TYPES = {"index-pattern", "visualization", "search", "dashboard"}


def _objects() -> list[dict[str, Any]]:
    return [json.loads(line) for line in NDJSON.read_text().splitlines() if line.strip()]


def _fields(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Every field name with its mapping type ("object" for an object without one)."""
    types = {}
    for name, spec in properties.items():
        types[prefix + name] = spec.get("type", "object")
        types |= _fields(spec.get("properties", {}), f"{prefix}{name}.")
        types |= {f"{prefix}{name}.{sub}": sub_spec["type"]
                  for sub, sub_spec in spec.get("fields", {}).items()}
    return types


ARTICLES_MAPPING = articles_template(DEPLOY, "newswatch-articles")["template"]["mappings"]
FIELDS = {
    "newswatch-articles": _fields(ARTICLES_MAPPING["properties"]),
    "newswatch-alerts": _fields(ALERTS_MAPPING["properties"]) | {  # scores: dynamic floats
        f"scores.{label}": "float" for label in ("tech_influence", "property_purchase",
                                                 "infrastructure_dependency")},
}
AGGREGATABLE = {"keyword", "date", "float", "integer", "long", "boolean"}


def _controls(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """A dashboard's controls (its control group), each with its data view reference."""
    group = obj["attributes"].get("controlGroupInput")
    if not group:
        return []
    refs = {r["name"]: r for r in obj["references"]}
    controls = []
    for control_id, panel in json.loads(group["panelsJSON"]).items():
        ref = refs[f"controlGroup_{control_id}:{panel['type'].removesuffix('Control')}DataView"]
        controls.append({**panel, "id": control_id, "dataView": ref["id"]})
    return controls


def _used_fields(obj: dict[str, Any]) -> list[tuple[str, set[str] | None]]:
    """(field, the mapping types that use allows, None for any) for every field obj uses."""
    attributes = obj["attributes"]
    if obj["type"] == "index-pattern":
        formats = json.loads(attributes.get("fieldFormatMap", "{}"))
        return [(attributes["timeFieldName"], {"date"}), *((field, None) for field in formats)]
    if obj["type"] == "search":
        return [*((column, None) for column in attributes["columns"]),
                *((field, AGGREGATABLE) for field, _order in attributes["sort"])]
    if obj["type"] == "visualization":
        state = json.loads(attributes["visState"])
        assert state["type"] != "input_control_vis", "deprecated: use a dashboard control"
        return [(agg["params"]["field"], AGGREGATABLE) for agg in state["aggs"]
                if "field" in agg["params"]]
    if obj["type"] == "dashboard":
        return [(control["explicitInput"]["fieldName"], {"keyword"}) for control in _controls(obj)]
    return []


def _by_id(kind: str, object_id: str) -> dict[str, Any]:
    (obj,) = [o for o in _objects() if o["type"] == kind and o["id"] == object_id]
    return obj


def _search_source(obj: dict[str, Any]) -> dict[str, Any]:
    return json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])


def test_every_line_parses_with_a_known_type_and_a_unique_stable_id():
    objects = _objects()
    assert {o["type"] for o in objects} == KNOWN_TYPES
    ids = [(o["type"], o["id"]) for o in objects]
    assert len(ids) == len(set(ids))
    assert all(o["id"].startswith("newswatch-") for o in objects)
    titles = {o["attributes"]["title"] for o in objects if o["type"] == "dashboard"}
    assert titles == {"newswatch: what is happening", "newswatch: alerts sent"}


def test_references_resolve_and_panels_name_their_references():
    objects = _objects()
    present = {(o["type"], o["id"]) for o in objects}
    for obj in objects:
        names = {r["name"] for r in obj["references"]}
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in present, (obj["id"], ref)
        if obj["type"] == "dashboard":
            panels = json.loads(obj["attributes"]["panelsJSON"])
            controls = {f"controlGroup_{c['id']}:optionsListDataView" for c in _controls(obj)}
            assert {p["panelRefName"] for p in panels} | controls == names
        source = json.loads(obj["attributes"].get("kibanaSavedObjectMeta", {}).get(
            "searchSourceJSON", "{}"))
        if "indexRefName" in source:
            assert source["indexRefName"] in names


def test_every_field_a_visualisation_uses_exists_in_the_mapping():
    objects = _objects()
    patterns = {o["id"]: o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"}
    for obj in objects:
        refs = [r["id"] for r in obj["references"] if r["type"] == "index-pattern"]
        pattern = patterns[obj["id"]] if obj["type"] == "index-pattern" else (
            patterns[refs[0]] if refs else None)
        for field, types in _used_fields(obj):
            assert field in FIELDS[pattern], (obj["id"], field)
            assert types is None or FIELDS[pattern][field] in types, (
                obj["id"], field, FIELDS[pattern][field])


def test_the_label_filter_is_an_options_list_control():
    """Input controls are deprecated; the overview filters labels with a dashboard control."""
    (control,) = _controls(_by_id("dashboard", "newswatch-overview"))
    assert control["type"] == "optionsListControl"
    assert control["explicitInput"]["fieldName"] == "labels"
    assert control["dataView"] == "newswatch-articles"
    assert control["explicitInput"].get("dataViewId", control["dataView"]) == control["dataView"]
    assert not [o for o in _objects() if o["type"] == "visualization" and json.loads(
        o["attributes"]["visState"])["type"] == "input_control_vis"]


def test_article_urls_are_links():
    for pattern in ("newswatch-articles", "newswatch-alerts"):
        formats = json.loads(_by_id("index-pattern", pattern)["attributes"]["fieldFormatMap"])
        assert formats["url"]["id"] == "url", pattern
        assert formats["url"]["params"]["type"] == "a", pattern


def test_articles_are_placed_in_time_by_arrival_not_by_the_feed_date():
    """published_at comes from the feed: a back-filled or mis-dated article would fall outside
    "the last 7 days". The board places articles by when newswatch collected them."""
    time_field = _by_id("index-pattern", "newswatch-articles")["attributes"]["timeFieldName"]
    assert time_field == "collected_at"
    assert FIELDS["newswatch-articles"][time_field] == "date"
    assert ClassifiedArticle.model_fields[time_field].is_required()  # on every document
    for obj in _objects():
        on_articles = any(r["id"] == "newswatch-articles" for r in obj["references"])
        if obj["type"] == "visualization" and on_articles:
            for agg in json.loads(obj["attributes"]["visState"])["aggs"]:
                if agg["type"] == "date_histogram":
                    assert agg["params"]["field"] == time_field, obj["id"]
    latest = _by_id("search", "newswatch-latest-matches")["attributes"]
    assert latest["sort"] == [[time_field, "desc"]]
    assert "published_at" in latest["columns"]  # still shown, as the feed's claim


def test_alerts_sent_lists_only_sent_alerts():
    search = _by_id("search", "newswatch-alerts-sent")
    assert _search_source(search)["query"] == {"query": "status:sent", "language": "kuery"}
    assert "sent" in get_args(Alert.model_fields["status"].annotation)
    assert search["attributes"]["sort"] == [["sent_at", "desc"]]


def test_top_sources_counts_labelled_articles_and_says_so():
    top = _by_id("visualization", "newswatch-top-sources")
    assert _search_source(top)["query"] == {"query": "labels:*", "language": "kuery"}
    assert "labelled articles" in top["attributes"]["title"]
    (count,) = [a for a in json.loads(top["attributes"]["visState"])["aggs"]
                if a["type"] == "count"]
    assert count["params"]["customLabel"] == "labelled articles"


class _FakeKibana:
    """Answers like Kibana's saved-objects import endpoint; records what it got."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, dict(self.headers), data))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


def test_import_posts_the_file_with_the_xsrf_header_and_overwrite():
    kibana = _FakeKibana(200, {"success": True, "successCount": 10})
    try:
        assert import_objects(kibana.url, NDJSON) == 10
    finally:
        kibana.httpd.shutdown()
    (path, headers, body), = kibana.requests
    assert path == "/api/saved_objects/_import?overwrite=true"
    assert headers["kbn-xsrf"] == "true"
    assert headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="file"; filename="newswatch.ndjson"' in body
    assert NDJSON.read_bytes() in body


def test_a_partial_import_is_a_clear_error():
    kibana = _FakeKibana(200, {"success": False, "successCount": 9, "errors": [
        {"type": "dashboard", "id": "newswatch-overview",
         "error": {"type": "missing_references"}}]})
    try:
        with pytest.raises(KibanaImportError,
                           match="took 9 objects and refused 1: dashboard/newswatch-overview: "
                                 "missing_references"):
            import_objects(kibana.url, NDJSON)
    finally:
        kibana.httpd.shutdown()
