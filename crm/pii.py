"""Personal data: the keyed hash, the policy the dbt YAML declares, the analytics copy.

A build file holds the full golden record and the identity state. Publication
makes two files of it (crm/publish.py): the build file itself becomes the
restricted output (owner-only), and a NEW file, written here, becomes the
analytics warehouse. The analytics file is written from scratch rather than
hashed in place: DuckDB does not overwrite the blocks an UPDATE or DROP frees,
so plain values would survive in the file's free space.

The policy comes from the dbt manifest, so the YAML tags drive it:
  - column `config: {meta: {pii: <kind>, analytics: hash | redact | keep}}`:
    hash = keyed hash (VARCHAR columns only), redact = null of the same type,
    keep = as is; a tagged column without `analytics` stops publication;
  - model/seed `meta: {analytics: exclude}`: not in the analytics file at all.
Every table of the build must be a dbt model or seed of the manifest (or in
`meta`, the publication's own record): an unknown table stops publication
rather than being copied unchecked.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from crm.files import wal_path, write_private
from crm.rawstore import quote_ident, quote_literal

KEY_ENV = "CRM_PII_KEY"
MIN_KEY_CHARS = 32
POLICIES = ("hash", "redact", "keep")
# Tables the publication itself writes (warehouse_info, the quality gate's record).
OWN_SCHEMAS = ("meta",)
# The nested keyed hash: sha256(key || sha256(key || value)), lower-case hex. The
# outer round keeps a length-extension of the inner one useless (no HMAC in DuckDB).
HASH_SQL = "sha256(getvariable('crm_pii_key') || sha256(getvariable('crm_pii_key') || {value}))"


class PiiPolicyError(RuntimeError):
    """The build cannot be published without leaking or guessing: fix the YAML."""


@dataclass(frozen=True)
class TablePolicy:
    exclude: bool = False
    # column name (lower case) -> (kind, analytics policy or None)
    columns: dict[str, tuple[str, str | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    tables: dict[tuple[str, str], TablePolicy]

    def table(self, schema: str, name: str) -> TablePolicy | None:
        if schema in OWN_SCHEMAS:
            return TablePolicy()
        return self.tables.get((schema.lower(), name.lower()))


def _meta(props: dict) -> dict:
    return {**(props.get("meta") or {}), **((props.get("config") or {}).get("meta") or {})}


def read_policy(manifest_path: Path) -> Policy:
    """The PII tags and analytics policies of every model and seed in a dbt manifest."""
    manifest = json.loads(Path(manifest_path).read_text())
    tables = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] not in ("model", "seed", "snapshot"):
            continue
        meta = _meta(node)
        columns = {}
        for column in node.get("columns", {}).values():
            column_meta = _meta(column)
            if column_meta.get("pii"):
                columns[column["name"].lower()] = (
                    str(column_meta["pii"]),
                    column_meta.get("analytics"),
                )
        name = node.get("alias") or node["name"]
        tables[(node["schema"].lower(), name.lower())] = TablePolicy(
            exclude=meta.get("analytics") == "exclude", columns=columns
        )
    return Policy(tables)


def keyed_hash(key: str, value: str) -> str:
    """The Python twin of HASH_SQL (tests, and anyone matching a value by hand)."""
    import hashlib

    inner = hashlib.sha256((key + value).encode()).hexdigest()
    return hashlib.sha256((key + inner).encode()).hexdigest()


def key_file(home: Path) -> Path:
    return home / "secrets" / "pii.key"


def private_dir(path: Path) -> Path:
    """Create a directory only its owner can enter (0700), or tighten an existing one."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _check_key(key: str, where: str) -> str:
    key = key.strip()
    if len(key) < MIN_KEY_CHARS:
        raise PiiPolicyError(f"{where}: the PII key must be at least {MIN_KEY_CHARS} characters")
    return key


def load_key(home: Path) -> str:
    """CRM_PII_KEY, else $CRM_HOME/secrets/pii.key, created on first use (32 random
    bytes as hex, file 0600 in a 0700 folder). Never logged, never written to a warehouse."""
    if os.environ.get(KEY_ENV):
        return _check_key(os.environ[KEY_ENV], KEY_ENV)
    path = key_file(home)
    if not path.exists():
        private_dir(path.parent)
        try:
            write_private(path, secrets.token_hex(32) + "\n")
        except FileExistsError:  # made by another process meanwhile
            return load_key(home)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PiiPolicyError(
            f"{path} is readable by others (mode {mode:o}): `chmod 600 {path}` and consider "
            "the key leaked (docs/personal-data.md: rotating the key)"
        )
    return _check_key(path.read_text(), str(path))


def key_source(home: Path) -> str:
    """Where the key comes from, for `crm status` (never the key itself)."""
    if os.environ.get(KEY_ENV):
        return f"{KEY_ENV} (environment)"
    path = key_file(home)
    if not path.exists():
        return f"{path} (created by the next refresh)"
    return f"{path} (mode {stat.S_IMODE(path.stat().st_mode):o})"


@dataclass(frozen=True)
class AnalyticsPatch:
    """How to update a copy of the previous analytics file instead of writing it whole
    (crm/publish.py decides when that is safe): for each table an incremental build
    replaced keys in, (key column and relation of the build's change list, the
    table's columns matched against it), as crm.incremental.replaced_keys says."""

    previous: Path
    replaced: dict[tuple[str, str], tuple[str, str, tuple[str, ...]]]


# A keyed hash of a constant, stored in the analytics file: the next publication can
# tell whether the file was hashed with the same key (no better oracle for the key
# than any hashed value in the file already is).
KEY_CHECK_VALUE = "crm:pii-key-check"


def key_check(key: str) -> str:
    return keyed_hash(key, KEY_CHECK_VALUE)


def write_analytics(
    build: Path,
    out: Path,
    key: str,
    policy: Policy,
    patch: AnalyticsPatch | None = None,
    config: dict[str, str] | None = None,
) -> str:
    """Write the analytics copy of a finished build file to `out` (replaced): every
    published table whole, or with `patch` a copy of the previous analytics file where
    the replaced tables get only their changed keys' rows again. Returns how it was
    written ('whole' or 'patched'). `config`: DuckDB's settings (Settings.duckdb_config:
    its memory limit and temp directory; without them DuckDB takes 80% of the machine)."""
    out.unlink(missing_ok=True)
    wal_path(out).unlink(missing_ok=True)
    if patch is not None:
        from crm.incremental import copy_file

        copy_file(patch.previous, out)  # a new inode: the published file is not touched
    con = duckdb.connect(str(out), config=dict(config or {}))
    try:
        con.execute(f"attach {quote_literal(str(build))} as build (read_only)")
        tables = con.execute(
            "select schema_name, table_name, sql, comment from duckdb_tables() "
            "where database_name = 'build' order by schema_name, table_name"
        ).fetchall()
        unknown = [f"{s}.{t}" for s, t, _, _ in tables if policy.table(s, t) is None]
        if unknown:
            raise PiiPolicyError(
                "tables that no dbt model or seed declares, so their personal data is "
                f"unknown: {', '.join(unknown)}; refusing to publish"
            )
        views = con.execute(
            "select schema_name || '.' || view_name from duckdb_views() "
            "where database_name = 'build' and not internal"
        ).fetchall()
        if views:
            raise PiiPolicyError(f"views are not published: {', '.join(v[0] for v in views)}")
        # A session variable: bound once, used by every hash, never stored in the file.
        con.execute("set variable crm_pii_key = ?", [key])
        published = {(s, t) for s, t, _, _ in tables if not policy.table(s, t).exclude}
        existing = set(
            con.execute(
                "select schema_name, table_name from duckdb_tables() "
                "where database_name = current_database()"
            ).fetchall()
        )
        for schema, table in sorted(existing - published):  # gone, or now excluded
            con.execute(f"drop table {quote_ident(schema)}.{quote_ident(table)}")
        for schema, table, ddl, comment in tables:
            if (schema, table) not in published:
                continue
            target = f"{quote_ident(schema)}.{quote_ident(table)}"
            columns, select, notes = _published_columns(con, schema, table, policy)
            replaced = patch.replaced.get((schema, table)) if patch is not None else None
            if replaced is not None and (schema, table) in existing:
                # the incremental build deleted and re-appended these keys: so does this
                # as macros/incremental.sql's changed_keys_match: any of the columns listed
                key_column, changed, matched = replaced
                keys = " or ".join(
                    f"{quote_ident(column)} in (select changed_keys.{quote_ident(key_column)} "
                    f"from build.{changed} as changed_keys)"
                    for column in matched
                )
                con.execute(f"delete from {target} where {keys}")
                con.execute(
                    f"insert into {target} select {', '.join(select)} "
                    f"from build.{target} where {keys}"
                )
                continue
            con.execute(f"create schema if not exists {quote_ident(schema)}")
            con.execute(f"drop table if exists {target}")
            con.execute(ddl)
            con.execute(f"insert into {target} select {', '.join(select)} from build.{target}")
            if comment:
                con.execute(f"comment on table {target} is {quote_literal(comment)}")
            for name, _, column_comment in columns:
                text = " ".join(t for t in (column_comment, notes.get(name)) if t)
                if text:
                    column = f"{target}.{quote_ident(name)}"
                    con.execute(f"comment on column {column} is {quote_literal(text)}")
        written = "whole" if patch is None else "patched"
        con.execute(
            "create or replace table meta.analytics_info as select "
            "cast(? as varchar) as written, cast(? as varchar) as pii_key_check",
            [written, key_check(key)],
        )
        con.execute("reset variable crm_pii_key")
        con.execute("detach build")
        con.execute("checkpoint")
    except BaseException:
        con.close()
        out.unlink(missing_ok=True)
        raise
    con.close()
    return written


def _published_columns(con, schema: str, table: str, policy: Policy):
    """A build table's columns, the select list that publishes them (kept, hashed or
    nulled per the policy) and the comment noting each treated column."""
    rules = policy.table(schema, table)
    columns = con.execute(
        "select column_name, data_type, comment from duckdb_columns() "
        "where database_name = 'build' and schema_name = ? and table_name = ? "
        "order by column_index",
        [schema, table],
    ).fetchall()
    select, notes = [], {}
    for name, data_type, _ in columns:
        kind, rule = rules.columns.get(name.lower(), (None, None))
        if kind is None or rule == "keep":
            select.append(quote_ident(name))
        elif rule == "hash":
            if data_type != "VARCHAR":
                raise PiiPolicyError(
                    f"{schema}.{table}.{name} ({data_type}) has analytics: hash, which "
                    "is for VARCHAR columns: use redact (or a derived column)"
                )
            select.append(HASH_SQL.format(value=quote_ident(name)))
            notes[name] = f"Personal data ({kind}): keyed hash in this file."
        elif rule == "redact":
            select.append(f"cast(null as {data_type})")
            notes[name] = f"Personal data ({kind}): null in this file."
        else:
            raise PiiPolicyError(
                f"{schema}.{table}.{name} is tagged pii: {kind} but its analytics "
                f"policy is {rule!r}: set config.meta.analytics to one of {POLICIES}"
            )
    return columns, select, notes
