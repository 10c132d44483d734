"""Feed parsing in worker processes, each parse under a time and a memory cap.

feedparser is pure Python over untrusted bytes: an entity-expansion bomb, a huge
attribute or a pathological document can take minutes or gigabytes. Each worker
process limits its own address space (``RLIMIT_AS``) and each parse runs under an
interval timer, so such a feed ends as that feed's clear error; a worker that dies
anyway is replaced, and the other feeds are parsed as usual.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pipelines.collect.normalize import ParsedFeed, parse_feed


class ParseRefused(Exception):
    """This feed's document could not be parsed within the caps; the message says which."""


class _TimeUp(Exception):
    pass


def _init_worker(parent_pid: int, memory_bytes: int) -> None:
    """In each worker: end with the collector (even after its SIGKILL), ignore the
    terminal's Ctrl-C (stopping is the collector's decision), cap the address space."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_bytes:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _on_alarm(_signum: int, _frame: object) -> None:
    raise _TimeUp


def capped_parse(timeout_s: float, body: bytes, headers: dict[str, str],
                 **kwargs: Any) -> ParsedFeed:
    """parse_feed under an interval timer, in the worker (its main thread gets SIGALRM)."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return parse_feed(body, headers, **kwargs)
    except _TimeUp:
        raise ParseRefused(f"parsing took longer than {timeout_s:g}s; refused") from None
    except MemoryError:
        raise ParseRefused("parsing needed more memory than the parse cap; refused") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class ParsePool:
    """A process pool for ``capped_parse`` that replaces itself when a worker dies."""

    def __init__(self, workers: int, *, timeout_s: float, memory_mb: int) -> None:
        self.workers, self.timeout_s = workers, timeout_s
        self.memory_bytes = memory_mb * 1024 * 1024
        self._pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker,
                                   initargs=(os.getpid(), self.memory_bytes))

    async def parse(self, body: bytes, headers: dict[str, str], **kwargs: Any) -> ParsedFeed:
        call: Callable[[], ParsedFeed] = functools.partial(
            capped_parse, self.timeout_s, body, headers, **kwargs)
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, call)
        except BrokenProcessPool:
            if self._pool is pool:  # the first feed to notice replaces it
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new()
            raise ParseRefused("the parse worker died on this document (over its memory "
                               "cap?); refused") from None

    def shutdown(self) -> None:
        self._pool.shutdown(cancel_futures=True)
