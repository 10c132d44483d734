"""The deploy folder: versions pinned once, a valid compose file, a template fit for the schema,
an image that builds (Go for Prism, CPU torch, a dependency layer) and a compose file whose
policies survive a first run. No Docker runs here: the files are read and checked."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.alerts.state import AlertState
from pipelines.es_admin import articles_template
from pipelines.feedback.store import FeedbackStore
from pipelines.schema import ClassifiedArticle
from pipelines.settings import Settings
from pipelines.stack.versions import load_versions, parse_env_file

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ROOT = DEPLOY.parent
BEAM_MODULE = "github.com/apache/beam/sdks/v2"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def _dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = tuple(int(part) for part in text.split("."))
    return parts + (0,) * (3 - len(parts))


def test_versions_are_pinned_in_one_file():
    versions = load_versions(DEPLOY)
    assert versions.kafka and versions.elasticsearch and versions.log4j
    # docker compose reads deploy/.env: a plain copy (a link breaks in Windows checkouts).
    env = DEPLOY / ".env"
    assert env.is_file() and not env.is_symlink()
    assert parse_env_file(env.read_text()) == parse_env_file(
        (DEPLOY / "versions.env").read_text()), "copy deploy/versions.env to deploy/.env"
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


def test_no_symlink_in_deploy():
    """Links check out as small text files on Windows (core.symlinks=false) and break there."""
    links = [path for path in DEPLOY.rglob("*") if path.is_symlink()]
    assert not links, links


def _beam_go_mod(beam: str, scratch: Path) -> str:
    """The pinned Beam's go.mod: from the Go module cache, downloaded only when missing."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed (the local stack needs it to build Prism)")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    cache = subprocess.run([go, "env", "GOMODCACHE"], capture_output=True, text=True,
                           env=env, check=True).stdout.strip()
    mod = Path(cache) / "cache" / "download" / BEAM_MODULE / "@v" / f"v{beam}.mod"
    if not mod.is_file():
        result = subprocess.run([go, "mod", "download", "-json", f"{BEAM_MODULE}@v{beam}"],
                                capture_output=True, text=True, env=env, cwd=scratch,
                                timeout=540, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        mod = Path(json.loads(result.stdout)["GoMod"])
    return mod.read_text()


def test_the_image_go_can_build_the_pinned_prism(tmp_path):
    """The official golang images set GOTOOLCHAIN=local: a Go older than the `go` directive
    of the pinned Beam's go.mod refuses to build Prism instead of fetching a newer one."""
    go_mod = _beam_go_mod(load_versions(DEPLOY).beam, tmp_path)
    required = re.search(r"^go\s+(\d+(?:\.\d+){1,2})\s*$", go_mod, re.MULTILINE)
    assert required, "no go directive in the Beam go.mod"
    lines = _dockerfile()
    (image,) = [match for line in lines
                if (match := re.fullmatch(r"FROM golang:(\d+\.\d+(?:\.\d+)?)(-[\w.]+)? AS (\w+)",
                                          line))]
    assert _version_tuple(image.group(1)) >= _version_tuple(required.group(1)), (
        f"deploy/Dockerfile builds Prism with Go {image.group(1)}; Beam "
        f"{load_versions(DEPLOY).beam} needs go {required.group(1)}")
    # That Go is the one that builds Prism, with newswatch's own build (the binary where
    # `newswatch run` looks for it), and never fetches another toolchain.
    (build,) = [line for line in lines if "ensure_prism" in line]
    assert f"from={image.group(3)},source=/usr/local/go,target=/usr/local/go" in build
    assert "GOTOOLCHAIN=local" in build


def test_the_image_takes_cpu_torch_in_a_dependency_layer():
    lines = _dockerfile()
    final = lines[max(i for i, line in enumerate(lines) if line.upper().startswith("FROM ")):]
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in final
    # The CPU index is for the image only: the project's own dependencies name no index.
    assert "download.pytorch.org" not in (ROOT / "pyproject.toml").read_text()

    def first(predicate: Any) -> int:
        return next(i for i, line in enumerate(final) if predicate(line))

    copy_pyproject = first(lambda line: line == "COPY pyproject.toml ./")
    torch = first(lambda line: '--index-url "${TORCH_INDEX_URL}" torch' in line)
    dependencies = first(lambda line: "-r /tmp/requirements.txt -c /tmp/constraints.txt" in line)
    first_source = first(lambda line: line.startswith("COPY ") and "pyproject.toml" not in line)
    project = first(lambda line: "pip install" in line and "-e ." in line)
    assert copy_pyproject < torch <= dependencies < first_source < project
    assert "--no-deps" in final[project]


def test_dockerignore_keeps_the_context_small_but_complete():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert {".git", ".venv"} <= set(patterns)
    copied = [word for line in _dockerfile() if line.startswith("COPY ") and "--from" not in line
              for word in line.split()[1:-1]]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch.fnmatch(source, pattern.removeprefix("**/"))
                       for pattern in patterns), source


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(duration))
    assert match and any(match.groups()), duration
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def test_compose_policies_survive_a_first_run():
    services = _compose()["services"]
    for name in ("kafka", "elasticsearch", "kibana", "newswatch"):
        assert services[name]["restart"] == "unless-stopped", name
    newswatch = services["newswatch"]
    assert newswatch["init"] is True  # reaps Prism and the stages, passes SIGTERM on
    # The stop grace covers the pipeline's drain (then a cancel) and `newswatch run`'s 90 s
    # wait for its stages; Docker's default 10 s would SIGKILL a drain half-way.
    drain = Settings.model_fields["pipeline_drain_timeout_s"].default
    assert _seconds(newswatch["stop_grace_period"]) >= max(90, drain + 30)
    assert newswatch["build"]["dockerfile"] == "deploy/Dockerfile"
    # kibana-setup runs the image newswatch builds, and gives up after a few tries.
    setup = services["kibana-setup"]
    assert "build" not in setup
    assert setup["image"] == newswatch["image"]
    assert setup["pull_policy"] == "never"
    retries = re.fullmatch(r"on-failure:(\d+)", setup["restart"])
    assert retries and 1 <= int(retries.group(1)) <= 10, setup["restart"]
    # Heaps set, the same as the local stack's.
    heaps = {"kafka_heap": services["kafka"]["environment"]["KAFKA_HEAP_OPTS"],
             "es_heap": services["elasticsearch"]["environment"]["ES_JAVA_OPTS"]}
    for setting, options in heaps.items():
        heap = Settings.model_fields[setting].default
        assert options == f"-Xms{heap} -Xmx{heap}", (setting, options)


class _RecordingIndices:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def exists(self, index: str) -> bool:
        return False

    def create(self, **kwargs: Any) -> None:
        self.created.append(kwargs)


class _RecordingClient:
    def __init__(self) -> None:
        self.indices = _RecordingIndices()


@pytest.mark.parametrize("store", [AlertState, FeedbackStore])
def test_newswatch_indices_ask_for_no_replica(store):
    """One node cannot hold a replica: asking for one keeps the cluster yellow."""
    client = _RecordingClient()
    store(client, "newswatch-x").ensure_index()
    (created,) = client.indices.created
    assert created["settings"]["number_of_replicas"] == 0
    template = articles_template(DEPLOY, "newswatch-articles")
    assert template["template"]["settings"]["number_of_replicas"] == 0
