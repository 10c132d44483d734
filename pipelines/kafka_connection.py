"""The one place that builds Kafka clients: from the settings, with one policy.

Every stage (collector, pipeline, alerter, dead-letter tools, admin) gets its
producers, consumers and admin clients from a ``KafkaConnection``, so that a
deployment's security settings (TLS, SASL) and timeouts apply everywhere at once.
The connection is a frozen, picklable value: Beam ships it to workers inside the
transforms' configs, and each worker builds its own clients from it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

if TYPE_CHECKING:
    from pipelines.settings import Settings

log = logging.getLogger(__name__)

# The one retry policy. librdkafka retries and reconnects by itself; these bound how
# long a request may hang and how fast a lost broker is retried.
POLICY: dict[str, Any] = {
    "socket.timeout.ms": 30_000,
    "reconnect.backoff.ms": 100,
    "reconnect.backoff.max.ms": 10_000,
    "retry.backoff.ms": 200,
}
# Producers: every write acknowledged by all in-sync replicas; retries cannot
# duplicate or reorder within a partition; a message unsent after 2 minutes fails
# (the caller keeps it and retries, it is never dropped).
PRODUCER_POLICY: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "message.timeout.ms": 120_000,
}


@dataclass(frozen=True)
class KafkaConnection:
    """Where Kafka is and how to authenticate: everything a client needs but its role."""

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaConnection:
        return cls(bootstrap=settings.kafka_bootstrap,
                   security_protocol=settings.kafka_security_protocol,
                   sasl_mechanism=settings.kafka_sasl_mechanism,
                   sasl_username=settings.kafka_sasl_username,
                   sasl_password=settings.kafka_sasl_password,
                   ssl_ca_location=settings.kafka_ssl_ca_location)

    def __str__(self) -> str:
        return self.bootstrap

    def client_config(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """librdkafka configuration: connection, security, the retry policy, then ``options``
        (the role's own keys, in librdkafka's names)."""
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap,
                                  "security.protocol": self.security_protocol,
                                  "logger": log, **POLICY}
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location is not None:
            config["ssl.ca.location"] = str(self.ssl_ca_location)
        config.update(options or {})
        return config

    def producer(self, client_id: str, options: Mapping[str, Any] | None = None) -> Producer:
        """An acknowledged, idempotent producer (``PRODUCER_POLICY``), plus ``options``."""
        return Producer(self.client_config({"client.id": client_id, **PRODUCER_POLICY,
                                            **(options or {})}))

    def consumer(self, group_id: str, options: Mapping[str, Any] | None = None) -> Consumer:
        """A consumer that never commits by itself: each stage commits what it handled."""
        return Consumer(self.client_config({"group.id": group_id, "enable.auto.commit": False,
                                            **(options or {})}))

    def admin(self) -> AdminClient:
        return AdminClient(self.client_config())
