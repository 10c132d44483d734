"""Fetching the server distributions from Maven Central, once, into the cache dir.

Maven does the fetching (``mvn dependency:...``): it resolves Kafka's runtime
class path from its POM, verifies checksums, honours the user's mirrors and
proxies in ``~/.m2/settings.xml``, and keeps its own cache in ``~/.m2``. A fetch
goes to a temporary folder first and is renamed into place only when complete,
so an interrupted download is never mistaken for a finished one.
"""

from __future__ import annotations

import logging
import shutil
import stat
import subprocess
import tempfile
import zipfile
from pathlib import Path

from pipelines.errors import DownloadError
from pipelines.stack.versions import StackVersions

log = logging.getLogger(__name__)

ES_ARTIFACT = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"


def kafka_libs_dir(cache_dir: Path, versions: StackVersions) -> Path:
    return cache_dir / f"kafka-{versions.kafka}-log4j-{versions.log4j}" / "libs"


def elasticsearch_home(cache_dir: Path, versions: StackVersions) -> Path:
    return cache_dir / f"elasticsearch-{versions.elasticsearch}"


def _mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DownloadError("Maven (mvn) is needed to fetch Kafka and Elasticsearch from Maven "
                            "Central the first time: install it (Debian: apt-get install maven)")
    return mvn


def _run_mvn(args: list[str], what: str) -> None:
    command = [_mvn(), "-B", "-q", *args]
    log.info("fetching %s: %s", what, " ".join(command))
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=1800, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise DownloadError(
            f"fetching {what} from Maven Central timed out after 30 minutes"
        ) from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        errors = [line for line in output if "ERROR" in line]
        detail = "\n".join(errors or output[-10:])[-1500:]
        raise DownloadError(
            f"fetching {what} from Maven Central failed (mvn exit {result.returncode}). "
            f"Check network access to Maven Central or the mirror in ~/.m2/settings.xml.\n{detail}"
        )


def ensure_kafka_libs(cache_dir: Path, deploy_dir: Path, versions: StackVersions) -> Path:
    """The broker's class path folder, fetched on first use."""
    target = kafka_libs_dir(cache_dir, versions)
    if target.is_dir() and any(target.glob("kafka_2.13-*.jar")):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        _run_mvn(
            [
                "-f", str(deploy_dir / "local" / "kafka-pom.xml"),
                f"-Dkafka.version={versions.kafka}",
                f"-Dlog4j.version={versions.log4j}",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={tmp}/libs",
            ],
            f"Kafka {versions.kafka}",
        )
        Path(tmp, "libs").rename(target)
    return target


def ensure_elasticsearch_home(cache_dir: Path, versions: StackVersions) -> Path:
    """The unpacked Elasticsearch distribution (ES_HOME), fetched on first use."""
    target = elasticsearch_home(cache_dir, versions)
    if (target / "bin" / "elasticsearch").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".fetch-") as tmp:
        _run_mvn(
            [
                "dependency:copy",
                f"-Dartifact={ES_ARTIFACT.format(version=versions.elasticsearch)}",
                f"-DoutputDirectory={tmp}",
            ],
            f"Elasticsearch {versions.elasticsearch}",
        )
        archives = list(Path(tmp).glob("*.zip"))
        if len(archives) != 1:
            raise DownloadError(f"expected one Elasticsearch zip from Maven, found {archives}")
        unpacked = Path(tmp, "unpacked")
        extract_zip(archives[0], unpacked)
        tops = list(unpacked.iterdir())
        if len(tops) != 1 or not (tops[0] / "bin" / "elasticsearch").is_file():
            raise DownloadError(f"{archives[0].name} does not hold an Elasticsearch distribution")
        make_world_readable(tops[0])
        tops[0].rename(target)
    return target


def extract_zip(archive: Path, destination: Path) -> None:
    """Unzip keeping the Unix permission bits (``zipfile`` drops them, the scripts need +x)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                path = Path(zf.extract(info, destination))
                mode = info.external_attr >> 16
                if mode & 0o777:
                    path.chmod(mode & 0o777)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive} is not a valid zip: {exc}") from exc


def make_world_readable(root: Path) -> None:
    """Elasticsearch runs as an unprivileged user: it must read (not write) its distribution."""
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        extra = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
        if path.is_dir() or mode & stat.S_IXUSR:
            extra |= stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
        path.chmod(mode | extra)
