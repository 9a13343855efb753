"""Dagster's SQLite event log, with one pooled connection per database.

Dagster's SqliteEventLogStorage builds a new SQLAlchemy engine, opens the file,
commits with a full fsync and throws the engine away for every event; an asset
event is written twice (the run's database and the index). A refresh writes
about two events per dbt model and test, so on this 2-core machine that work
took ~10 s of CPU next to dbt's own. This subclass keeps one engine (and one
connection) per database file for the few files a process writes, in WAL mode
with synchronous=NORMAL: a power cut may lose the last events of a run, never
corrupt a file; the run's record and log under CRM_HOME/runs stay the source of
truth. Everything else (files, schema, the webserver's reads) is Dagster's own.
`crm refresh` writes it into CRM_HOME/dagster/dagster.yaml (DECISIONS 54).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.storage.event_log.sqlite import sqlite_event_log as _sqlite
from sqlalchemy.pool import QueuePool

# Engines kept open per process: a refresh writes two files (its run and the
# index); the webserver reads many runs, the least recently used close.
MAX_OPEN_DATABASES = 8


def _fast_commits(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class PooledSqliteEventLogStorage(_sqlite.SqliteEventLogStorage):
    """SqliteEventLogStorage that reuses its connections (same files, same schema)."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._tables: set[str] = set()
        self._asset_key_columns: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    def has_table(self, table_name: str) -> bool:
        """Dagster asks this for every asset-check event and builds a new engine
        and reflects the index to answer (~1 s of a 200-customer refresh): a table
        found once stays (a migration adds tables, none removes them)."""
        if table_name in self._tables:
            return True
        engine = self._engine(_sqlite.INDEX_SHARD_NAME)
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._tables.add(table_name)
        return found

    def has_asset_key_col(self, column_name: str) -> bool:
        if column_name in self._asset_key_columns:
            return True
        return super().has_asset_key_col(column_name)

    def _has_asset_key_col_on_connection(self, conn, column_name: str) -> bool:
        """Dagster reflects the asset-key table's columns for every asset event it
        stores (~0.5 s of a 200-customer refresh): a column found once stays."""
        if column_name in self._asset_key_columns:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)
        if found:
            self._asset_key_columns.add(column_name)
        return found

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str):
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = _sqlite.create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                pool_size=1,
                # Dagster nests a second connection inside a first in places
                # (schema checks while a transaction is open).
                max_overflow=4,
                connect_args={
                    "timeout": _sqlite.SQLITE_BUSY_TIMEOUT_SECONDS,
                    "check_same_thread": False,
                },
            )
            db.event.listen(engine, "connect", _fast_commits)
            self._engines[shard] = engine
            while len(self._engines) > MAX_OPEN_DATABASES:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.engine.Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _close_all(self) -> None:
        with self._engines_lock:
            while self._engines:
                _, engine = self._engines.popitem()
                engine.dispose()

    def wipe(self) -> None:
        self._close_all()  # the run files are deleted: no connection may outlive them
        self._tables.clear()
        self._asset_key_columns.clear()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._close_all()
