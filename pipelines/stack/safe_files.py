"""Files that root writes where an unprivileged server's user could plant a symlink.

As root, the local stack writes into the Elasticsearch user's own folder (its
config, the log its output goes to). A symlink planted there would turn root's
write into a write anywhere (``config/elasticsearch.yml -> /etc/passwd``), so
these writes refuse to follow a symlink, in the file or in any folder between it
and the state folder.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pipelines.errors import StackError


def _no_links(path: Path, within: Path) -> None:
    for part in (path, *path.parents):
        if part == within:
            return
        try:
            mode = part.lstat().st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode):
            raise StackError(f"{part} is a symbolic link where newswatch writes a file; "
                             "refused (remove it: somebody may have planted it)")


def open_no_follow(path: Path, flags: int, within: Path, mode: int = 0o600) -> int:
    """os.open that refuses a symlink at the path or in a folder between it and ``within``."""
    _no_links(path, within)
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    os.fchmod(fd, mode)
    return fd


def write_no_follow(path: Path, text: str, within: Path, mode: int = 0o600) -> None:
    fd = open_no_follow(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, within, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def append_no_follow(path: Path, within: Path, mode: int = 0o600) -> int:
    return open_no_follow(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, within, mode)
