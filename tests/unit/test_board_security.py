"""The board's exposure, CSRF and host rules (pipelines/board/security.py), no server."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from pipelines.board import security
from pipelines.board.server import BoardServer, board_url
from pipelines.errors import ConfigError
from pipelines.settings import load_settings


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1", "[::1]",
                                  "board.localhost"])
def test_loopback_hosts(host):
    assert security.is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "board.example",
                                  ""])
def test_hosts_beyond_this_machine(host):
    assert not security.is_loopback(host)


def test_binding_beyond_loopback_needs_a_long_enough_token():
    security.check_exposure("127.0.0.1", None)
    for token in (None, SecretStr("short")):
        with pytest.raises(ConfigError, match="NEWSWATCH_BOARD_TOKEN"):
            security.check_exposure("0.0.0.0", token)
    security.check_exposure("0.0.0.0", SecretStr("x" * 24))


def test_the_server_refuses_to_start_exposed_without_a_token():
    settings = load_settings(board_host="0.0.0.0", board_port=0)
    with pytest.raises(ConfigError, match="beyond this machine, without a token"):
        BoardServer(settings)


def test_board_settings_defaults_and_an_empty_token_is_none():
    settings = load_settings(board_token="  ")
    assert (settings.board_host, settings.board_port, settings.board_token) == (
        "127.0.0.1", 8765, None)
    assert "secret-token" not in repr(load_settings(board_token="secret-token"))


def test_host_header_on_loopback_must_name_loopback():
    assert security.host_allowed("127.0.0.1:8765", "127.0.0.1")
    assert security.host_allowed("localhost:8765", "127.0.0.1")
    assert security.host_allowed("[::1]:8765", "127.0.0.1")
    assert not security.host_allowed("rebind.evil.test:8765", "127.0.0.1")
    assert not security.host_allowed("", "127.0.0.1")
    assert security.host_allowed("board.example:8765", "0.0.0.0")


def test_csrf_token_is_bound_to_the_session_and_the_process_secret():
    secret = security.new_secret()
    token = security.csrf_token(secret, "session-a")
    assert security.csrf_valid(secret, "session-a", token)
    assert not security.csrf_valid(secret, "session-b", token)
    assert not security.csrf_valid(security.new_secret(), "session-a", token)
    assert not security.csrf_valid(secret, None, token)
    assert not security.csrf_valid(secret, "session-a", None)


def test_token_and_bearer():
    assert security.token_valid(None, None)
    assert security.token_valid(SecretStr("abc"), "abc")
    assert not security.token_valid(SecretStr("abc"), "abd")
    assert not security.token_valid(SecretStr("abc"), None)
    assert security.bearer("Bearer  tok ") == "tok"
    assert security.bearer("Basic x") is None


def test_csp_forbids_inline_script():
    policy = security.CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_board_url():
    assert board_url("127.0.0.1", 8765) == "http://127.0.0.1:8765/"
    assert board_url("0.0.0.0", 80) == "http://127.0.0.1:80/"
    assert board_url("::1", 8765) == "http://[::1]:8765/"


def test_the_listening_socket_is_tcp_so_asyncio_turns_nagle_off():
    # A socket made with proto 0 gets no TCP_NODELAY from asyncio: +40 ms a page.
    import socket

    server = BoardServer(load_settings(board_port=0))
    try:
        assert server.socket.proto == socket.IPPROTO_TCP
        assert server.url == f"http://127.0.0.1:{server.port}/" and server.port > 0
    finally:
        server.socket.close()
