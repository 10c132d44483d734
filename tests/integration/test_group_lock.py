"""The pipeline's group lock: lost only to another pipeline, never to a broker that was
away longer than the session timeout."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from pipelines.settings import Settings
from pipelines.stack import local_stack
from pipelines.stack.processes import read_pidfile, stop_group
from pipelines.stream.group_lock import SESSION_TIMEOUT_MS, GroupLock

pytestmark = pytest.mark.integration

HOLDER = """
import sys, time
from pipelines.settings import load_settings
from pipelines.stream.group_lock import GroupLock
lock = GroupLock(load_settings().kafka, sys.argv[1])
lock.acquire()
print("held", flush=True)
while not lock.lost:
    time.sleep(0.2)
print("lost", flush=True)
"""


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_broker_away_longer_than_the_session_does_not_lose_the_lock(stack: Settings,
                                                                        unique: str):
    lock = GroupLock(stack.kafka, f"lock-{unique}")
    lock.acquire()
    try:
        kafka = local_stack.servers(stack)[0]
        pid = read_pidfile(kafka.pidfile)
        assert pid is not None
        stop_group(pid)
        # The session runs out with the broker away: the assignment is revoked...
        wait_until(lambda: lock._revoked_at is not None, 3 * SESSION_TIMEOUT_MS / 1000,
                   "the assignment was never revoked")
        assert not lock.lost
        local_stack.up(stack)
        # ...and comes back once the broker does; the lock was never lost.
        wait_until(lambda: lock._revoked_at is None, 60, "the lock was not regained")
        assert not lock.lost
    finally:
        lock.release()


def test_the_lock_is_lost_to_another_pipeline_that_took_it(stack: Settings, unique: str):
    group = f"lock-{unique}"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, group], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        holder.send_signal(signal.SIGSTOP)  # a hung pipeline: its session runs out
        taker = GroupLock(stack.kafka, group)
        taker.acquire()  # waits out the stopped holder's session, then holds the lock
        try:
            holder.send_signal(signal.SIGCONT)
            assert holder.stdout.readline().strip() == "lost"
            assert not taker.lost
        finally:
            taker.release()
    finally:
        holder.kill()
        holder.wait()
