"""Every listening socket that the local stack and a running pipeline open (Kafka,
Elasticsearch, Prism's job service and workers) is on loopback, as `ss` sees it."""

from __future__ import annotations

import ipaddress
import re
import signal
import subprocess
import time
from pathlib import Path

from pipelines.stack import local_stack
from tests.integration.pipeline_helpers import PipelineEnv, stop


def session_pids(leader: int) -> set[int]:
    """Every process in the session a process started (start_new_session)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == leader:  # session id
            pids.add(int(stat.parent.name))
    return pids


def command_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None  # it ended meanwhile


def listeners() -> list[tuple[str, int]]:
    """(local address, pid) of every listening TCP socket, from `ss -ltnpH`."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        local = line.split()[3]
        for pid in re.findall(r"pid=(\d+)", line):
            found.append((local, int(pid)))
    return found


def is_loopback(local: str) -> bool:
    host = local.rsplit(":", 1)[0].strip("[]")
    address = ipaddress.ip_address(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def test_the_local_stack_listens_on_loopback_only(stack):
    leaders = {s.pid for s in local_stack.status(stack) if s.pid is not None}
    assert len(leaders) == 2, local_stack.status(stack)  # Kafka and Elasticsearch, ours
    sessions = {leader: session_pids(leader) for leader in leaders}
    theirs = [(local, pid) for local, pid in listeners()
              if any(pid in pids for pids in sessions.values())]
    assert all({pid for _, pid in theirs} & pids for pids in sessions.values()), theirs
    assert [(local, pid) for local, pid in theirs if not is_loopback(local)] == []


def test_a_running_pipeline_listens_on_loopback_only(pipeline_env: PipelineEnv):
    """Prism's job service (bound to 127.0.0.1 by its build, pipelines/stack/prism.py) and
    the in-process worker pool (pipelines/stream/worker_pool.py): both listen, on loopback."""
    penv = pipeline_env
    process = penv.start("run")
    try:
        deadline = time.monotonic() + 120
        while "pipeline started" not in penv.log_text():
            assert process.poll() is None, penv.log_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        ours = session_pids(process.pid)
        mine = [(local, pid) for local, pid in listeners() if pid in ours]
        prism = {pid for _, pid in mine if command_name(pid) == "prism"}
        # Both listeners are there (the job service in Prism, the worker pool in Python)...
        assert {pid for _, pid in mine} == {process.pid, *prism}, mine
        # ...and neither is on an address anyone else could reach.
        assert [(local, pid) for local, pid in mine if not is_loopback(local)] == []
    finally:
        code = stop(process, signal.SIGTERM)
        assert code == 0, penv.log_text()[-4000:]
