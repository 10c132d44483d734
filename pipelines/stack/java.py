"""Finding a Java runtime good enough for both servers (Kafka 4 and Elasticsearch 8 need 17+)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from pipelines.errors import StackError

MIN_JAVA = 17
_INSTALL_HINT = (
    "install one (Debian: apt-get install openjdk-17-jre-headless) "
    "or point NEWSWATCH_JAVA_HOME at a JDK/JRE 17 or newer"
)


def find_java(java_executable: str) -> Path:
    """Resolve the java binary and check its version; raise a clear StackError otherwise."""
    resolved = shutil.which(java_executable)
    if resolved is None:
        raise StackError(f"Java {MIN_JAVA}+ is needed to run Kafka and Elasticsearch, but "
                         f"{java_executable!r} was not found: {_INSTALL_HINT}")
    java = Path(resolved).resolve()
    version = java_major_version(java)
    if version < MIN_JAVA:
        raise StackError(f"{java} is Java {version}; Kafka and Elasticsearch need Java "
                         f"{MIN_JAVA}+: {_INSTALL_HINT}")
    return java


def java_major_version(java: Path) -> int:
    result = subprocess.run(
        [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
    )
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if result.returncode != 0 or match is None:
        raise StackError(f"could not run {java} -version: {result.stderr.strip()[:300]}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_home_of(java: Path) -> Path:
    """The JAVA_HOME that contains bin/java (Elasticsearch wants ES_JAVA_HOME, not a binary)."""
    return java.parent.parent
