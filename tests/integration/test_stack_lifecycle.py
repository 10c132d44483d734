"""A second, private stack on other ports: up, no-op up, status, down leaves nothing behind.

It runs the real `newswatch` command in a subprocess, as a user would, with its
own state dir and ports, so the shared stack of the other tests is untouched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pipelines.stack.processes import group_members, port_is_open, read_pidfile

pytestmark = pytest.mark.integration

PORTS = {"kafka": 19092, "controller": 19093, "es": 19200, "transport": 19300}


def newswatch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args], env=env, capture_output=True, text=True,
        timeout=400, check=False,
    )


@pytest.fixture
def private_stack_env(settings):
    if any(port_is_open(p) for p in PORTS.values()):
        pytest.fail(f"ports {PORTS} must be free for the private-stack test")
    # Not under pytest's tmp_path: the Elasticsearch user must be able to enter it.
    state = Path(tempfile.mkdtemp(prefix="newswatch-stack-test-"))
    state.chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "NEWSWATCH_STATE_DIR": str(state),
        "NEWSWATCH_CACHE_DIR": str(settings.cache_dir),
        "NEWSWATCH_KAFKA_BOOTSTRAP": f"localhost:{PORTS['kafka']}",
        "NEWSWATCH_KAFKA_CONTROLLER_PORT": str(PORTS["controller"]),
        "NEWSWATCH_ES_URL": f"http://localhost:{PORTS['es']}",
        "NEWSWATCH_ES_TRANSPORT_PORT": str(PORTS["transport"]),
        "NEWSWATCH_ES_HEAP": "512m",
    }
    yield env, state
    newswatch(env, "stack", "down")


def test_up_is_idempotent_and_down_leaves_no_port_and_no_process(private_stack_env):
    env, state = private_stack_env
    assert newswatch(env, "stack", "status").returncode == 1  # nothing answers yet

    first = newswatch(env, "stack", "up")
    assert first.returncode == 0, first.stderr
    pids = {name: read_pidfile(path) for name, path in
            {"kafka": state / "kafka.pid", "es": state / "elasticsearch.pid"}.items()}
    assert all(pids.values()), pids
    assert all(port_is_open(p) for p in PORTS.values())

    second = newswatch(env, "stack", "up")
    assert second.returncode == 0, second.stderr
    assert "kafka already running" in second.stderr
    assert "elasticsearch already running" in second.stderr
    assert read_pidfile(state / "kafka.pid") == pids["kafka"]  # nothing restarted

    status = newswatch(env, "stack", "status")
    assert status.returncode == 0, status.stdout + status.stderr

    down = newswatch(env, "stack", "down")
    assert down.returncode == 0, down.stderr
    assert [p for p in PORTS.values() if port_is_open(p)] == []
    assert {name: group_members(pid) for name, pid in pids.items()} == {"kafka": [], "es": []}
    assert newswatch(env, "stack", "status").returncode == 1


def test_the_state_folder_is_private_a_planted_symlink_is_refused_and_a_stale_pid_spared(
        private_stack_env, tmp_path):
    import stat

    env, state = private_stack_env
    up = newswatch(env, "stack", "up")
    assert up.returncode == 0, up.stderr
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in
            (state, state / "kafka", state / "elasticsearch", state / "kafka.pid",
             state / "elasticsearch.pid", state / "stack.lock")}
    assert mode == {state.name: 0o711, "kafka": 0o700, "elasticsearch": 0o700,
                    "kafka.pid": 0o600, "elasticsearch.pid": 0o600, "stack.lock": 0o600}
    if os.geteuid() == 0:  # the Elasticsearch user owns its folder, and only that
        import pwd

        assert pwd.getpwuid((state / "elasticsearch").stat().st_uid).pw_name == "newswatch"
    assert newswatch(env, "stack", "down").returncode == 0

    # What the Elasticsearch user could plant in its own folder: root must not write there.
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    config = state / "elasticsearch" / "config" / "elasticsearch.yml"
    config.unlink()
    config.symlink_to(victim)
    refused = newswatch(env, "stack", "up")
    assert refused.returncode != 0
    assert f"{config} is a symbolic link where newswatch writes a file; refused" in \
        " ".join(refused.stderr.split())
    assert victim.read_text() == "untouched\n" and "Traceback" not in refused.stderr
    config.unlink()

    # A pid file whose process is gone and whose pid now belongs to another process.
    stranger = subprocess.Popen(["sleep", "120"])
    try:
        (state / "kafka.pid").write_text(f"{stranger.pid} 12345\n")  # another start time
        down = newswatch(env, "stack", "down")
        assert down.returncode == 0, down.stderr
        assert stranger.poll() is None  # not signalled: not ours
    finally:
        stranger.kill()
        stranger.wait()
