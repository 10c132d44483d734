"""Per-feed state in SQLite: validators, outcome counters, and the ids already published.

Why SQLite in the state dir (see docs/adr/0002-collector-state.md): it is one
local file, transactional, survives a SIGKILL with no lost write (WAL), needs
no server, and answers "which of these ids are new?" with an index lookup, so
memory stays bounded however long the history. The state for a feed is
committed only after Kafka acknowledged that feed's articles: a crash between
the two re-sends that feed's items (same ids) and never skips one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    moved_to TEXT,
    gone INTEGER NOT NULL DEFAULT 0,
    next_poll_at REAL NOT NULL DEFAULT 0,
    last_success_at REAL,
    last_error TEXT,
    last_error_at REAL,
    items_published INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    consecutive_errors INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seen (
    article_id TEXT PRIMARY KEY,
    feed_url TEXT NOT NULL,
    seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_by_age ON seen (seen_at);
"""


@dataclass(frozen=True)
class FeedState:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None
    gone: bool = False
    next_poll_at: float = 0.0
    last_success_at: float | None = None
    last_error: str | None = None
    items_published: int = 0
    errors: int = 0
    consecutive_errors: int = 0


class StateStore:
    """One SQLite file; used from one thread (the collector's event loop)."""

    def __init__(self, path: Path, seen_ids_kept: int = 200_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.seen_ids_kept = seen_ids_kept
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process; an OS crash may lose the last
        # commits, which only means re-sending (state never runs ahead of Kafka).
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._seen_rows = self.db.execute("SELECT count(*) FROM seen").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    def feed(self, url: str) -> FeedState:
        row = self.db.execute(
            "SELECT url, etag, last_modified, moved_to, gone, next_poll_at, last_success_at, "
            "last_error, items_published, errors, consecutive_errors FROM feeds WHERE url = ?",
            (url,),
        ).fetchone()
        if row is None:
            return FeedState(url)
        return FeedState(row[0], row[1], row[2], row[3], bool(row[4]), *row[5:])

    def unseen(self, ids: Iterable[str]) -> set[str]:
        """The ids never published before."""
        wanted = list(dict.fromkeys(ids))
        known: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            known |= {r[0] for r in self.db.execute(
                f"SELECT article_id FROM seen WHERE article_id IN ({marks})", chunk)}
        return set(wanted) - known

    def record_success(self, url: str, *, published_ids: list[str], etag: str | None,
                       last_modified: str | None, next_poll_at: float,
                       moved_to: str | None = None, now: float | None = None) -> None:
        """After Kafka acknowledged them: remember the ids and the validators, atomically."""
        now = time.time() if now is None else now
        with self._transaction():
            self._ensure(url)
            self.db.executemany(
                "INSERT OR REPLACE INTO seen (article_id, feed_url, seen_at) VALUES (?, ?, ?)",
                [(i, url, now) for i in published_ids],
            )
            self.db.execute(
                "UPDATE feeds SET etag = ?, last_modified = ?, moved_to = COALESCE(?, moved_to), "
                "next_poll_at = ?, last_success_at = ?, items_published = items_published + ?, "
                "consecutive_errors = 0 WHERE url = ?",
                (etag, last_modified, moved_to, next_poll_at, now, len(published_ids), url),
            )
            self._seen_rows += len(published_ids)
            if self._seen_rows > self.seen_ids_kept * 1.1:
                self._prune()

    def record_error(self, url: str, error: str, *, next_poll_at: float, gone: bool = False,
                     now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._transaction():
            self._ensure(url)
            self.db.execute(
                "UPDATE feeds SET last_error = ?, last_error_at = ?, errors = errors + 1, "
                "consecutive_errors = consecutive_errors + 1, next_poll_at = ?, "
                "gone = MAX(gone, ?) WHERE url = ?",
                (error, now, next_poll_at, int(gone), url),
            )

    def _ensure(self, url: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO feeds (url) VALUES (?)", (url,))

    def _prune(self) -> None:
        """Forget the oldest ids beyond the bound (amortised: runs at 110% of it)."""
        count = self.db.execute("SELECT count(*) FROM seen").fetchone()[0]
        if count > self.seen_ids_kept:
            self.db.execute("DELETE FROM seen WHERE rowid IN (SELECT rowid FROM seen "
                            "ORDER BY seen_at LIMIT ?)", (count - self.seen_ids_kept,))
        self._seen_rows = min(count, self.seen_ids_kept)

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
