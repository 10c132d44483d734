"""`newswatch run`: the whole product on the embedded local stack, in one command.

Stack up -> a model (when none is promoted, the first one: a head on the frozen
encoder, trained on the shipped corpus in about a minute) ->
collector on config/feeds.yaml plus the seed articles served locally -> pipeline ->
alerter -> the analyst's board (its URL is printed). The stages run as child
processes of this one, in its process group, so Ctrl-C reaches all of them and each
stops cleanly (the pipeline drains); SIGTERM is passed on. If one stage dies, the
others are stopped and the exit code says so; except the board, which only shows
what the others make: if it cannot start (its port taken), that is reported and
the monitor runs on.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import yaml

from classifiers.registry import Registry
from pipelines.board.server import board_url
from pipelines.console import console
from pipelines.errors import NewswatchError
from pipelines.seed_feed import SeedFeedServer
from pipelines.settings import Settings

log = logging.getLogger("newswatch.run")

FIRST_MODEL = ["--approach", "head", "--no-onnx"]
# Stages that only show what the others make: their exit is reported, not fatal.
OPTIONAL_STAGES = frozenset({"board"})


class StageFailed(NewswatchError):
    """A stage of `newswatch run` exited on its own."""


def feeds_with_seeds(feeds_file: Path, seed_url: str, target: Path) -> Path:
    """The user's feeds file plus the local seed feed, written beside the state."""
    body = yaml.safe_load(feeds_file.read_text(encoding="utf-8")) or {}
    feeds = list(body.get("feeds") or [])
    feeds.append({"url": seed_url, "name": "seed articles (local)", "interval_s": 300,
                  "allow_private": True})
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump({**body, "feeds": feeds}, sort_keys=False))
    return target


def _newswatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines", *args]


def ensure_model(settings: Settings) -> None:
    if Registry(settings.models_dir).current() is not None:
        return
    console.print("No model yet: training the first one, a head on the frozen encoder, on the "
                  "shipped corpus (about a minute on 2 cores). `newswatch train --promote` "
                  "trains and compares the full approaches (about 22 minutes); the running "
                  "pipeline switches to the promoted model.")
    result = subprocess.run(_newswatch("train", "--promote", *FIRST_MODEL), check=False)
    if result.returncode != 0:
        raise StageFailed(f"making the first model failed (exit {result.returncode})")


def run_product(settings: Settings, config_file: Path | None, feeds_file: Path) -> None:
    ensure_model(settings)
    seeds = SeedFeedServer(settings.seeds_dir)
    feeds = feeds_with_seeds(feeds_file, seeds.url, settings.state_dir / "run-feeds.yaml")
    common = ["--config", str(config_file)] if config_file else []
    stages = {
        "collector": subprocess.Popen(_newswatch(*common, "collect", "--feeds", str(feeds))),
        "pipeline": subprocess.Popen(_newswatch(*common, "pipeline", "run")),
        "alerter": subprocess.Popen(_newswatch(*common, "alert", "run")),
        "board": subprocess.Popen(_newswatch(*common, "board")),
    }
    es = settings.elasticsearch.shown_url
    console.print(
        f"newswatch is running: collector, pipeline, alerter, board (pids "
        f"{', '.join(str(p.pid) for p in stages.values())}).\n"
        f"  board:   {board_url(settings.board_host, settings.board_port)}  (Live, Search, "
        "Triage, Trends, Alerts, Health)\n"
        f"  search:  curl '{es}/{settings.articles_alias}/_search?q=labels:*&pretty'\n"
        f"  alerts:  curl '{es}/{settings.alerts_index}/_search?pretty' "
        f"(Slack when NEWSWATCH_SLACK_WEBHOOK_URL is set, else printed here)\n"
        f"  feeds:   {feeds}\n"
        "Ctrl-C stops everything; `newswatch stack down` stops Kafka and Elasticsearch.")
    stopping = {"signal": None}

    def forward(signum: int, _frame: FrameType | None) -> None:
        stopping["signal"] = signum  # type: ignore[assignment]
        if signum == signal.SIGTERM:  # Ctrl-C already reached the whole process group
            for process in stages.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    failed = None
    stopped_optional: set[str] = set()
    try:
        while stopping["signal"] is None:
            for name, process in stages.items():
                if process.poll() is None or name in stopped_optional:
                    continue
                if name in OPTIONAL_STAGES:
                    stopped_optional.add(name)
                    log.warning("the %s exited with %s; the monitor runs on without it",
                                name, process.returncode)
                    continue
                failed = f"{name} exited with {process.returncode}"
                break
            if failed:
                break
            time.sleep(0.5)
    finally:
        for process in stages.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 90
        for process in stages.values():
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        seeds.close()
    if failed:
        raise StageFailed(f"{failed}; the other stages were stopped (see the log above)")
    console.print("newswatch stopped.")
