"""The embedded local stack: one Kafka broker and one Elasticsearch node, no Docker.

``up`` is idempotent (a healthy stack is left alone), waits for both servers to
answer, then creates the topics, the index template and the articles alias.
``down`` stops what this state dir started and checks that no port is left
listening. A file lock keeps two ``up``/``down`` calls from racing.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import StackError
from pipelines.es_admin import ensure_articles_index, es_answers, es_client
from pipelines.kafka_admin import ensure_topics, kafka_answers, topic_specs
from pipelines.settings import Settings
from pipelines.stack.elasticsearch_server import LocalElasticsearch
from pipelines.stack.java import find_java
from pipelines.stack.kafka_server import LocalKafka
from pipelines.stack.prism import ensure_prism
from pipelines.stack.processes import (
    pid_alive,
    port_is_open,
    read_pidfile,
    start_detached,
    stop_group,
    tail,
    write_pidfile,
)
from pipelines.stack.safe_files import append_no_follow
from pipelines.stack.versions import load_versions

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ServerStatus:
    name: str
    address: str
    answers: bool
    pid: int | None

    @property
    def managed(self) -> bool:
        """Started by this state dir (and still alive)."""
        return self.pid is not None


def servers(settings: Settings) -> list[LocalKafka | LocalElasticsearch]:
    versions = load_versions(settings.deploy_dir)
    return [LocalKafka(settings, versions), LocalElasticsearch(settings, versions)]


@contextlib.contextmanager
def stack_lock(settings: Settings) -> Iterator[None]:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    # Others may pass through (the Elasticsearch user, to its own folder) but not list
    # or read: every file the stack writes here is its owner's only.
    settings.state_dir.chmod(0o711)
    lock = append_no_follow(settings.state_dir / "stack.lock", within=settings.state_dir)
    with os.fdopen(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _live_pid(pidfile: Path) -> int | None:
    pid = read_pidfile(pidfile)  # None when stale: never signal a process that is not ours
    return pid if pid is not None and pid_alive(pid) else None


def status(settings: Settings) -> list[ServerStatus]:
    kafka, elastic = servers(settings)
    return [
        ServerStatus("kafka", settings.kafka_bootstrap,
                     kafka_answers(settings.kafka, 2.0), _live_pid(kafka.pidfile)),
        ServerStatus("elasticsearch", settings.elasticsearch.shown_url,
                     es_answers(settings.elasticsearch, 2.0), _live_pid(elastic.pidfile)),
    ]


def up(settings: Settings) -> list[ServerStatus]:
    """Fetch (first time), start and wait for both servers; create topics and index."""
    with stack_lock(settings):
        needed = []
        for server in servers(settings):
            if server.healthy():
                if _live_pid(server.pidfile) is None:
                    log.warning(f"{server.name}: something that answers like it is already "
                                f"listening on port {server.ports[0]}, but newswatch did not "
                                "start it (no live pid file): using it as it is; `stack down` "
                                "will not stop it")
                else:
                    log.info(f"{server.name} already running")
                continue
            busy = [port for port in server.ports if port_is_open(port)]
            if busy:
                raise StackError(
                    f"port {', '.join(map(str, busy))} is in use, but not by a working "
                    f"{server.name}: stop whatever listens there (see `ss -ltnp`) or move "
                    "newswatch to free ports with NEWSWATCH_KAFKA_BOOTSTRAP, NEWSWATCH_ES_URL, "
                    "NEWSWATCH_KAFKA_CONTROLLER_PORT, NEWSWATCH_ES_TRANSPORT_PORT"
                )
            needed.append(server)
        if not needed:
            ensure_stores(settings)
            ensure_prism(settings)
            return status(settings)
        java = find_java(settings.java_executable)
        # Fetch and configure everything before starting anything, so that a failed
        # download does not leave half a stack running.
        for server in needed:
            log.info(f"preparing {server.name} (the first time fetches it from Maven Central)")
            server.prepare(java)
        pending: list[tuple[LocalKafka | LocalElasticsearch, int]] = []
        for server in needed:
            stale = _live_pid(server.pidfile)
            if stale is not None:
                stop_group(stale)
            argv, env, user = server.command(java)
            pid = start_detached(argv, cwd=server.log_dir, env=env, log_path=server.stdout_log,
                                 user=user)
            write_pidfile(server.pidfile, pid)
            log.info(f"{server.name} starting (pid {pid}, logs in {server.log_dir})")
            pending.append((server, pid))
        deadline = time.monotonic() + settings.stack_start_timeout_s
        for server, pid in pending:
            _wait_healthy(server, pid, deadline)
            log.info(f"{server.name} is up")
        ensure_stores(settings)
        ensure_prism(settings)  # the pipeline's runner; built once, after the servers are up
        return status(settings)


def _wait_healthy(server: LocalKafka | LocalElasticsearch, pid: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.healthy():
            return
        if not pid_alive(pid):
            raise StackError(f"{server.name} exited during start-up; last lines of "
                             f"{server.stdout_log}:\n{tail(server.stdout_log)}")
        time.sleep(0.5)
    raise StackError(f"{server.name} did not answer within the start timeout; it is still "
                     f"running (pid {pid}); see {server.log_dir}:\n{tail(server.stdout_log)}")


def ensure_stores(settings: Settings) -> None:
    """Topics, index template and alias: idempotent, safe to call from every stage."""
    ensure_topics(settings.kafka, topic_specs(settings))
    ensure_articles_index(es_client(settings), settings.deploy_dir, settings.articles_alias)


def down(settings: Settings) -> list[int]:
    """Stop the servers this state dir started; returns ports still listening (not ours)."""
    with stack_lock(settings):
        for server in servers(settings):
            pid = read_pidfile(server.pidfile)
            if pid is not None and stop_group(pid):
                log.info(f"{server.name} stopped (pid {pid})")
            else:
                log.info(f"{server.name} was not running")
            server.pidfile.unlink(missing_ok=True)
        still_open = []
        for server in servers(settings):
            still_open += [port for port in server.ports if port_is_open(port)]
        return still_open
