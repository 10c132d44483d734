"""The local single-node Elasticsearch, from Maven Central's integ-test-zip distribution.

That distribution carries only the transport modules and x-pack core/security:
no analysis-common (so no ``english`` analyzer), painless, percolator,
``_reindex``, ingest or data streams. newswatch's mappings and features use
none of those. Elasticsearch refuses to run as root, so when we are root it
runs as an unprivileged system user (created on first use) that owns its data.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import StackError
from pipelines.es_admin import es_answers
from pipelines.stack.fetch import elasticsearch_home, ensure_elasticsearch_home
from pipelines.stack.java import java_home_of
from pipelines.stack.layout import ServerLayout
from pipelines.stack.safe_files import write_no_follow

ELASTICSEARCH_YML = """\
# Written by `newswatch stack up`; edits are overwritten.
cluster.name: newswatch-local
node.name: newswatch-local
discovery.type: single-node
network.host: 127.0.0.1
http.port: {http_port}
transport.port: {transport_port}
path.data: {data_dir}
path.logs: {log_dir}
xpack.security.enabled: false
# A developer machine's disk may be fuller than a production watermark allows.
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: true
"""


@dataclass(frozen=True)
class LocalElasticsearch(ServerLayout):
    name: str = "elasticsearch"

    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.es_port, self.settings.es_transport_port)

    @property
    def run_as(self) -> str | None:
        return self.settings.es_run_as_user if os.geteuid() == 0 else None

    def healthy(self) -> bool:
        return es_answers(self.settings.elasticsearch, timeout_s=2.0)

    def prepare(self, java: Path) -> None:
        es_home = ensure_elasticsearch_home(self.settings.cache_dir, self.versions)
        if self.run_as:
            ensure_system_user(self.run_as)
            for path in (es_home, self.settings.state_dir):
                require_reachable_by_others(path, self.run_as)
        state = self.settings.state_dir
        fresh = not self.home.exists()
        for folder in (self.data_dir, self.log_dir, self.home / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)
        if self.config_dir.is_symlink():
            raise StackError(f"{self.config_dir} is a symbolic link; refused (remove it)")
        if not self.config_dir.exists():
            shutil.copytree(es_home / "config", self.config_dir)
        write_no_follow(self.config_dir / "elasticsearch.yml", ELASTICSEARCH_YML.format(
            http_port=self.settings.es_port,
            transport_port=self.settings.es_transport_port,
            data_dir=self.data_dir,
            log_dir=self.log_dir,
        ), within=state, mode=0o644)
        self.home.chmod(0o700)
        if self.run_as and fresh:
            # -h: a symlink in the folder is chowned itself, never what it points to.
            subprocess.run(["chown", "-R", "-h", self.run_as, str(self.home)], check=True)
        elif self.run_as:
            os.chown(self.config_dir / "elasticsearch.yml", pwd.getpwnam(self.run_as).pw_uid,
                     -1, follow_symlinks=False)

    def command(self, java: Path) -> tuple[list[str], dict[str, str], str | None]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "ES_JAVA_HOME": str(java_home_of(java)),
            "ES_PATH_CONF": str(self.config_dir),
            "ES_TMPDIR": str(self.home / "tmp"),
            "ES_JAVA_OPTS": f"-Xms{self.settings.es_heap} -Xmx{self.settings.es_heap}",
        }
        es_home = elasticsearch_home(self.settings.cache_dir, self.versions)
        return [str(es_home / "bin" / "elasticsearch")], env, self.run_as


def ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise StackError(f"Elasticsearch refuses to run as root and there is no user {name!r}; "
                         "useradd is missing, so create the user yourself or run as non-root")
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise StackError(f"could not create the system user {name!r} that runs Elasticsearch: "
                         f"{result.stderr.strip()}")


def require_reachable_by_others(path: Path, user: str) -> None:
    """Every parent folder must let the unprivileged user through (o+x)."""
    for parent in path.resolve().parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise StackError(
                f"Elasticsearch runs as user {user!r}, which cannot enter {parent} on the way to "
                f"{path}; choose a NEWSWATCH_STATE_DIR / NEWSWATCH_CACHE_DIR it can reach "
                "(the defaults for root are /var/lib/newswatch and /var/cache/newswatch)"
            )
