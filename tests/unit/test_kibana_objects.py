"""The Kibana saved objects: parseable, known types, references that resolve, and only
fields that exist in the index mappings. Kibana itself cannot run here; the import
command is checked against a local endpoint that answers like Kibana's."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipelines.alerts.state import ALERTS_MAPPING
from pipelines.es_admin import articles_template
from pipelines.kibana import KibanaImportError, import_objects

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NDJSON = DEPLOY / "kibana" / "newswatch.ndjson"
KNOWN_TYPES = {"index-pattern", "visualization", "search", "dashboard"}


def _objects() -> list[dict[str, Any]]:
    return [json.loads(line) for line in NDJSON.read_text().splitlines() if line.strip()]


def _fields(properties: dict[str, Any], prefix: str = "") -> set[str]:
    names = set()
    for name, spec in properties.items():
        names.add(prefix + name)
        names |= _fields(spec.get("properties", {}), f"{prefix}{name}.")
        names |= {f"{prefix}{name}.{sub}" for sub in spec.get("fields", {})}
    return names


FIELDS = {
    "newswatch-articles": _fields(
        articles_template(DEPLOY, "newswatch-articles")["template"]["mappings"]["properties"]),
    "newswatch-alerts": _fields(ALERTS_MAPPING["properties"]) | {
        f"scores.{label}" for label in ("tech_influence", "property_purchase",
                                        "infrastructure_dependency")},
}


def _used_fields(obj: dict[str, Any]) -> list[str]:
    attributes = obj["attributes"]
    if obj["type"] == "index-pattern":
        return [attributes["timeFieldName"]]
    if obj["type"] == "search":
        return [*attributes["columns"], *(field for field, _order in attributes["sort"])]
    if obj["type"] == "visualization":
        state = json.loads(attributes["visState"])
        used = [agg["params"]["field"] for agg in state["aggs"] if "field" in agg["params"]]
        used += [c["fieldName"] for c in state["params"].get("controls", [])]
        return used
    return []


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
            assert {p["panelRefName"] for p in panels} == names
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
        for field in _used_fields(obj):
            assert field in FIELDS[pattern], (obj["id"], field)


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
