"""WAL checkpoints for a SQLite database file, taken off the writers' path.

By default SQLite checkpoints inside the commit that takes the write-ahead log
past 1,000 pages: that commit copies the log into the database file and syncs
it while its writer still holds the writer lock (:mod:`openem.db.engine`), so
every other writer waits too. A :class:`WalCheckpointer` thread copies the log
in the background instead (``PRAGMA wal_checkpoint(PASSIVE)``, which never
blocks readers or writers). Writers still checkpoint themselves once the log
reaches :data:`WRITER_CHECKPOINT_PAGES`; with the thread keeping up, that
copies only the last few frames and lets the log start again from its beginning.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from openem.logs import get_logger

log = get_logger(__name__)
# Writers' own auto-checkpoint threshold (PRAGMA wal_autocheckpoint), in pages: a bound
# on the log when no background checkpointer runs or it falls behind.
WRITER_CHECKPOINT_PAGES = 4_000
CHECKPOINT_INTERVAL_S = 0.1


@dataclass(frozen=True)
class Checkpoint:
    """What one ``PRAGMA wal_checkpoint`` reported (pages -1: not in WAL mode)."""

    busy: bool
    log_pages: int
    checkpointed_pages: int


class WalCheckpointer:
    """Checkpoints the write-ahead log of the SQLite file at ``path`` every ``interval_s``."""

    def __init__(self, path: str, *, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        self._path = path
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        failing = False
        try:
            while not self._stop.wait(self._interval_s):
                try:
                    connection = connection or _open_existing(self._path)
                    if checkpoint(connection).log_pages < 0:
                        # Opened before the database was switched to WAL: this connection
                        # would not notice, so open another next time.
                        connection.close()
                        connection = None
                    failing = False
                except sqlite3.Error as error:
                    if not failing:  # once per run of failures, not every interval
                        log.warning("wal_checkpoint_failed", error_type=type(error).__name__)
                    failing = True
        finally:
            if connection is not None:
                connection.close()


def _open_existing(path: str) -> sqlite3.Connection:
    """A connection to the database at ``path``; an error, not a new empty file, if there
    is none yet."""
    uri = f"{Path(path).absolute().as_uri()}?mode=rw"
    return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)


def checkpoint(connection: sqlite3.Connection) -> Checkpoint:
    """A passive checkpoint: copies what no reader still needs, waits for nobody."""
    busy, log_pages, checkpointed = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return Checkpoint(busy=bool(busy), log_pages=log_pages, checkpointed_pages=checkpointed)
