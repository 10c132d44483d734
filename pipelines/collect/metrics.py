"""Collector counters, exposed for Prometheus-style scraping (``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class CollectorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.polls = Counter("newswatch_collector_polls", "feed polls by outcome",
                             ["feed", "status"], registry=self.registry)
        self.published = Counter("newswatch_collector_items_published",
                                 "articles acknowledged by Kafka", ["feed"],
                                 registry=self.registry)
        self.errors = Counter("newswatch_collector_errors", "failed polls", ["feed"],
                              registry=self.registry)
        self.last_success = Gauge("newswatch_collector_last_success_timestamp_seconds",
                                  "unix time of the last successful poll", ["feed"],
                                  registry=self.registry)

    def serve(self, port: int) -> None:
        start_http_server(port, addr="127.0.0.1", registry=self.registry)
