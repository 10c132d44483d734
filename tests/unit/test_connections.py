"""The one adapter layer: every Kafka and Elasticsearch client is built from the settings
by pipelines/kafka_connection.py and pipelines/es_connection.py, with the deployment's
security settings, and no secret is ever shown."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

from pipelines.errors import ConfigError
from pipelines.es_connection import ElasticsearchConnection
from pipelines.kafka_connection import POLICY, PRODUCER_POLICY, KafkaConnection
from pipelines.settings import REPO_ROOT, load_settings

CA_FILE = Path("/etc/ssl/certs/ca-certificates.crt")
SECURE_ENV = {
    "NEWSWATCH_KAFKA_BOOTSTRAP": "broker-1:9093,broker-2:9093",
    "NEWSWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "NEWSWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "NEWSWATCH_KAFKA_SASL_USERNAME": "newswatch",
    "NEWSWATCH_KAFKA_SASL_PASSWORD": "kafka-s3cret-pw",
    "NEWSWATCH_KAFKA_SSL_CA_LOCATION": str(CA_FILE),
    "NEWSWATCH_ES_URL": "https://search.example:9243",
    "NEWSWATCH_ES_USERNAME": "elastic",
    "NEWSWATCH_ES_PASSWORD": "es-s3cret-pw",
    "NEWSWATCH_ES_CA_CERTS": str(CA_FILE),
}
SECRETS = ("kafka-s3cret-pw", "es-s3cret-pw", "QXBpS2V5OnNlY3JldA==")


@pytest.fixture
def secure(monkeypatch):
    for name, value in SECURE_ENV.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def test_kafka_clients_get_the_deployments_security_settings(secure):
    config = secure.kafka.client_config({"group.id": "g"})
    config.pop("logger")
    assert config == {
        "bootstrap.servers": "broker-1:9093,broker-2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "newswatch",
        "sasl.password": "kafka-s3cret-pw",
        "ssl.ca.location": str(CA_FILE),
        **POLICY,
        "group.id": "g",
    }


def test_librdkafka_accepts_the_security_configuration_of_every_role(secure):
    # Creating a client validates its configuration (mechanism, CA file) without a broker.
    secure.kafka.producer("newswatch-test").flush(0)
    secure.kafka.consumer("newswatch-test").close()
    secure.kafka.admin()


def test_producers_are_acknowledged_and_idempotent_and_consumers_never_autocommit():
    kafka = KafkaConnection("localhost:1")
    producer_keys = {**kafka.client_config({"client.id": "x", **PRODUCER_POLICY})}
    assert (producer_keys["acks"], producer_keys["enable.idempotence"]) == ("all", True)
    assert kafka.client_config() == {"bootstrap.servers": "localhost:1",
                                     "security.protocol": "PLAINTEXT",
                                     "logger": kafka.client_config()["logger"], **POLICY}
    consumer = kafka.consumer("g", {"auto.offset.reset": "earliest"})
    consumer.close()


def test_elasticsearch_clients_get_user_and_password_or_an_api_key_and_the_ca(secure):
    assert secure.elasticsearch.client_options() == {
        "request_timeout": 60.0, "retry_on_timeout": True, "max_retries": 3,
        "basic_auth": ("elastic", "es-s3cret-pw"), "ca_certs": str(CA_FILE)}
    keyed = load_settings(es_url="https://search.example:9243",
                          es_api_key="QXBpS2V5OnNlY3JldA==")
    assert keyed.elasticsearch.client_options()["api_key"] == "QXBpS2V5OnNlY3JldA=="
    client = keyed.elasticsearch.client()
    assert client._headers["authorization"] == "ApiKey QXBpS2V5OnNlY3JldA=="


def test_the_sink_builds_its_client_without_transport_retries():
    # The sink's while_reachable is its retry policy; the transport must not add its own.
    client = ElasticsearchConnection("http://localhost:9200").client(max_retries=0)
    assert client._max_retries == 0  # what each request is sent with
    assert ElasticsearchConnection("http://localhost:9200").client()._max_retries == 3


def test_no_secret_is_shown_by_settings_connections_or_their_errors(secure, monkeypatch):
    shown = " ".join([repr(secure), str(secure), repr(secure.kafka), str(secure.kafka),
                      repr(secure.elasticsearch), str(secure.elasticsearch)])
    assert not [s for s in SECRETS if s in shown]
    # A URL with credentials inside is shown redacted.
    inline = ElasticsearchConnection("https://elastic:es-s3cret-pw@search.example:9243")
    assert inline.shown_url == "https://***@search.example:9243"
    assert str(inline) == "https://***@search.example:9243"
    # A rejected setting is named, but its value (which may be a secret) is not repeated.
    monkeypatch.setenv("NEWSWATCH_ES_URL", "ftp://elastic:es-s3cret-pw@search.example")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "es_url" in str(error.value)
    assert "es-s3cret-pw" not in str(error.value)


def test_empty_security_settings_mean_not_set(monkeypatch):
    # docker compose passes an unset variable as "".
    for name in ("NEWSWATCH_KAFKA_SASL_PASSWORD", "NEWSWATCH_ES_API_KEY",
                 "NEWSWATCH_ES_CA_CERTS", "NEWSWATCH_KAFKA_SASL_MECHANISM"):
        monkeypatch.setenv(name, "")
    settings = load_settings()
    assert settings.kafka == KafkaConnection(settings.kafka_bootstrap)
    assert settings.elasticsearch.client_options() == {
        "request_timeout": 60.0, "retry_on_timeout": True, "max_retries": 3}


def test_connections_pickle_into_beam_workers_with_their_secrets(secure):
    kafka, es = pickle.loads(pickle.dumps((secure.kafka, secure.elasticsearch)))
    assert kafka == secure.kafka
    assert kafka.sasl_password.get_secret_value() == "kafka-s3cret-pw"
    assert es.password.get_secret_value() == "es-s3cret-pw"


CLIENT_CLASSES = {"Producer", "Consumer", "AdminClient", "Elasticsearch"}
CONNECTION_MODULES = {"pipelines/kafka_connection.py", "pipelines/es_connection.py"}


def test_no_module_but_the_two_connection_modules_builds_a_client():
    builders = []
    for path in sorted((REPO_ROOT / "pipelines").rglob("*.py")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        if relative in CONNECTION_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in CLIENT_CLASSES:
                    builders.append(f"{relative}:{node.lineno} {name}(")
    assert builders == []
