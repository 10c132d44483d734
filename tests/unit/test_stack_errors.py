"""`newswatch stack up` fails with one clear sentence, never a stack trace, and starts nothing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.errors import ConfigError
from pipelines.stack.fetch import extract_zip
from pipelines.stack.processes import port_is_open
from pipelines.stack.versions import parse_env_file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    """A stack configuration on free ports with its own state and cache dirs."""
    return {
        "PATH": os.environ["PATH"],
        "NEWSWATCH_STATE_DIR": str(tmp_path / "state"),
        "NEWSWATCH_CACHE_DIR": str(tmp_path / "cache"),
        "NEWSWATCH_KAFKA_BOOTSTRAP": f"localhost:{_free_port()}",
        "NEWSWATCH_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "NEWSWATCH_ES_URL": f"http://localhost:{_free_port()}",
        "NEWSWATCH_ES_TRANSPORT_PORT": str(_free_port()),
    }


@pytest.fixture
def listener() -> Iterator[int]:
    """Something that accepts connections but is not Kafka."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def stack_up(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines", "stack", "up"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def assert_clear_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    for needle in needles:
        assert needle in message, message


def test_port_in_use_by_a_stranger(isolated_env, listener):
    isolated_env["NEWSWATCH_KAFKA_BOOTSTRAP"] = f"localhost:{listener}"
    assert_clear_failure(stack_up(isolated_env), f"port {listener} is in use",
                         "not by a working kafka")


def test_missing_java(isolated_env, tmp_path):
    isolated_env["NEWSWATCH_JAVA_HOME"] = str(tmp_path / "no-jdk-here")
    assert_clear_failure(stack_up(isolated_env), "Java 17+ is needed", "NEWSWATCH_JAVA_HOME")


def test_failed_download_starts_nothing(isolated_env, tmp_path):
    deploy = tmp_path / "deploy"
    shutil.copytree(Path(__file__).resolve().parents[2] / "deploy", deploy, symlinks=True)
    (deploy / "versions.env").write_text(
        "KAFKA_VERSION=0.0.0-does-not-exist\nLOG4J_VERSION=2.24.3\nELASTICSEARCH_VERSION=8.19.21\n"
        "BEAM_VERSION=2.77.0\n")
    isolated_env["NEWSWATCH_DEPLOY_DIR"] = str(deploy)
    assert_clear_failure(stack_up(isolated_env), "fetching Kafka 0.0.0-does-not-exist",
                         "Maven Central failed")
    kafka_port = int(isolated_env["NEWSWATCH_KAFKA_BOOTSTRAP"].rpartition(":")[2])
    assert not port_is_open(kafka_port)
    assert not (tmp_path / "state" / "kafka.pid").exists()


def test_extract_zip_keeps_the_executable_bit(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("dist/bin/run")
        info.external_attr = 0o755 << 16
        zf.writestr(info, "#!/bin/sh\n")
        zf.writestr("dist/README", "hi")
    extract_zip(archive, tmp_path / "out")
    assert os.access(tmp_path / "out" / "dist" / "bin" / "run", os.X_OK)
    assert (tmp_path / "out" / "dist" / "README").read_text() == "hi"


def test_env_file_parsing():
    assert parse_env_file("# c\n\nA=1\nB = two \n") == {"A": "1", "B": "two"}
    with pytest.raises(ConfigError, match="line 2"):
        parse_env_file("A=1\nnonsense\n")


@pytest.mark.parametrize("args", [["--help"], ["stack", "--help"], ["stack", "up", "--help"],
                                  ["stack", "down", "--help"], ["stack", "status", "--help"],
                                  ["run", "--help"]])
def test_every_command_has_help(args):
    result = subprocess.run([sys.executable, "-m", "pipelines", *args], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_a_pid_file_names_one_process_by_pid_and_start_time(tmp_path):
    import os

    from pipelines.stack.processes import read_pidfile, started_at, write_pidfile

    path = tmp_path / "x.pid"
    write_pidfile(path, os.getpid())
    assert read_pidfile(path) == os.getpid()
    assert path.read_text() == f"{os.getpid()} {started_at(os.getpid())}\n"
    path.write_text(f"{os.getpid()} 1\n")  # the pid, recycled by another process
    assert read_pidfile(path) is None
    path.write_text(f"{os.getpid()}\n")  # no start time: cannot be told apart, so not ours
    assert read_pidfile(path) is None


def test_no_write_goes_through_a_planted_symlink(tmp_path):
    import pytest

    from pipelines.errors import StackError
    from pipelines.stack.safe_files import write_no_follow

    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "file").symlink_to(victim)
    with pytest.raises(StackError, match="is a symbolic link where newswatch writes a file"):
        write_no_follow(tmp_path / "home" / "file", "evil", within=tmp_path)
    (tmp_path / "linked").symlink_to(tmp_path / "home", target_is_directory=True)
    with pytest.raises(StackError, match="linked is a symbolic link"):
        write_no_follow(tmp_path / "linked" / "new", "evil", within=tmp_path)
    assert victim.read_text() == "keep"
    write_no_follow(tmp_path / "home" / "plain", "ok", within=tmp_path)
    assert (tmp_path / "home" / "plain").read_text() == "ok"
