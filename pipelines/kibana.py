"""``newswatch kibana import``: load the board's saved objects into a Kibana.

The objects (data views, visualisations, saved searches, dashboards) live in
``deploy/kibana/newswatch.ndjson`` with stable ids, so importing again
overwrites instead of duplicating. Kibana's saved-objects import API wants a
multipart upload and the ``kbn-xsrf`` header.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import typer

from pipelines.console import console
from pipelines.errors import NewswatchError
from pipelines.settings import Settings

app = typer.Typer(help="Kibana: the newswatch board.", no_args_is_help=True)

OBJECTS_FILE = "kibana/newswatch.ndjson"


class KibanaImportError(NewswatchError):
    """Kibana did not take every object."""


def import_objects(kibana_url: str, ndjson: Path, timeout_s: float = 60.0) -> int:
    """Upload, overwriting objects with the same ids; returns how many Kibana took."""
    url = f"{kibana_url.rstrip('/')}/api/saved_objects/_import"
    try:
        response = httpx.post(url, params={"overwrite": "true"}, headers={"kbn-xsrf": "true"},
                              files={"file": (ndjson.name, ndjson.read_bytes(),
                                              "application/ndjson")}, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise KibanaImportError(f"Kibana at {kibana_url} did not answer: {exc}") from exc
    if response.status_code != 200:
        raise KibanaImportError(f"Kibana refused the import: HTTP {response.status_code} "
                                f"{response.text[:300]}")
    body = response.json()
    if not body.get("success"):
        errors = [f"{e.get('type')}/{e.get('id')}: {e.get('error', {}).get('type')}"
                  for e in body.get("errors", [])]
        raise KibanaImportError(f"Kibana took {body.get('successCount', 0)} objects and "
                                f"refused {len(errors)}: {', '.join(errors[:10])}")
    return int(body.get("successCount", 0))


@app.command("import")
def import_command(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(help="Kibana's base URL, e.g. http://localhost:5601")],
) -> None:
    """Import the newswatch data views and dashboards (overwriting earlier imports)."""
    settings: Settings = ctx.obj
    count = import_objects(url, settings.deploy_dir / OBJECTS_FILE)
    console.print(f"imported {count} saved objects into {url}: open Dashboards -> "
                  "'newswatch: what is happening'")
