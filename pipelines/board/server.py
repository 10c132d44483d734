"""Serving the board with uvicorn: in the foreground (``newswatch board``) or on a
background thread (tests, the benchmark).

The listening socket is bound here, before uvicorn starts, so that port 0 gives a
free port whose number is known at once and a port in use is one clear error.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import FrameType

import uvicorn

from pipelines.board.app import Board
from pipelines.board.security import check_exposure
from pipelines.errors import ConfigError
from pipelines.settings import Settings

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_S = 3  # open Live pages hold event streams; they reconnect by themselves


def board_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the board."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    shown = "[::1]" if shown == "::" else shown
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only
    # when the listening socket says TCP; without it Nagle holds a page's last segment
    # for a delayed ACK, ~40 ms per response on a kept-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"the board cannot listen on {host}:{port} ({exc.strerror}): "
                          "another program holds the port? Set NEWSWATCH_BOARD_PORT") from None
    sock.listen(128)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, telling the board's event streams to end when it stops."""

    def __init__(self, config: uvicorn.Config, board: Board) -> None:
        super().__init__(config)
        self.board = board

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.board.closing.set()
        super().handle_exit(sig, frame)


class BoardServer:
    """The board on a socket of its own; ``start`` runs it on a thread, ``run`` here."""

    def __init__(self, settings: Settings, live_poll_s: float | None = None) -> None:
        check_exposure(settings.board_host, settings.board_token)
        self.settings = settings
        self.socket = bind(settings.board_host, settings.board_port)
        self.port = self.socket.getsockname()[1]
        extra = {"live_poll_s": live_poll_s} if live_poll_s is not None else {}
        self.board = Board(settings, **extra)
        config = uvicorn.Config(self.board.application(), log_level="warning",
                                access_log=False, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
                                lifespan="off")
        self.server = _Server(config, self.board)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return board_url(self.settings.board_host, self.port)

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM (uvicorn's own handlers stop it gracefully)."""
        self.server.run(sockets=[self.socket])

    def start(self, timeout_s: float = 20.0) -> BoardServer:
        """Serve on a daemon thread; return once it accepts connections."""
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]},
                                       name="newswatch-board", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the board did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.board.closing.set()
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=GRACEFUL_SHUTDOWN_S + 5)
        self.socket.close()
