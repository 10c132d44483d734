"""The deploy folder: versions pinned once, a valid compose file, a template fit for the schema."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import yaml

from pipelines.es_admin import articles_template
from pipelines.schema import ClassifiedArticle
from pipelines.stack.versions import load_versions

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_versions_are_pinned_in_one_file():
    versions = load_versions(DEPLOY)
    assert versions.kafka and versions.elasticsearch and versions.log4j
    assert (DEPLOY / ".env").resolve() == (DEPLOY / "versions.env").resolve()
    pom = (DEPLOY / "local" / "kafka-pom.xml").read_text()
    assert "${kafka.version}" in pom and versions.kafka not in pom


def test_python_client_matches_the_server_major_version():
    server_major = load_versions(DEPLOY).elasticsearch.split(".")[0]
    assert version("elasticsearch").split(".")[0] == server_major


def test_compose_file_is_valid_and_uses_the_pinned_versions():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"kafka", "elasticsearch", "kibana", "newswatch", "kibana-setup"}
    assert services["newswatch"]["command"] == ["newswatch", "run", "--no-stack"]
    assert services["kibana-setup"]["command"][:3] == ["newswatch", "kibana", "import"]
    assert services["kafka"]["image"].startswith("apache/kafka:${KAFKA_VERSION")
    assert "${ELASTICSEARCH_VERSION" in services["elasticsearch"]["image"]
    assert "${ELASTICSEARCH_VERSION" in services["kibana"]["image"]
    for name in ("kafka", "elasticsearch", "kibana"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("kafka", "elasticsearch", "newswatch"):
        assert services[name]["volumes"], name
        for volume in services[name]["volumes"]:
            assert volume.split(":")[0] in compose["volumes"]
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert (DEPLOY / "Dockerfile").is_file()
    published = [(name, port) for name, service in services.items()
                 for port in service.get("ports", [])]
    assert {name for name, _ in published} == {"kafka", "elasticsearch", "kibana"}
    for name, port in published:  # on this host's loopback only, unless a user opens them
        assert str(port).startswith("127.0.0.1:"), (name, port)


def test_template_maps_every_field_of_the_classified_article():
    template = articles_template(DEPLOY, "newswatch-articles")
    assert template["index_patterns"] == ["newswatch-articles-*"]
    mappings = template["template"]["mappings"]
    assert mappings["dynamic"] == "strict"
    assert set(mappings["properties"]) == set(ClassifiedArticle.model_fields)


def test_template_uses_only_analyzers_of_the_server_core():
    def analyzers(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("analyzer", "search_analyzer", "normalizer"):
                    yield value
                else:
                    yield from analyzers(value)
    used = set(analyzers(articles_template(DEPLOY, "x")))
    assert used <= {"standard", "keyword", "simple", "whitespace"}, used


def test_beam_sdk_matches_the_prism_runner_version():
    """The Python SDK and the Prism binary built by `stack up` must be the same release."""
    assert version("apache-beam") == load_versions(DEPLOY).beam
    pyproject = (DEPLOY.parent / "pyproject.toml").read_text()
    assert f'"apache-beam=={load_versions(DEPLOY).beam}"' in pyproject
