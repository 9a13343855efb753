"""`crm status`: what was loaded, quarantined and published, and when."""

from __future__ import annotations

import stat
from pathlib import Path

import duckdb

from crm.config import Settings
from crm.pii import key_source
from crm.quality.suites import failure_detail
from crm.runs import read_run_records


def _section(title: str) -> None:
    print(f"\n== {title}")


def _quality_section(settings: Settings, last_run: dict | None) -> None:
    """The quality gate of the last refresh: from its kept build file if it failed,
    else from the published warehouse (meta.quality_runs / meta.quality_results)."""
    _section("quality gate (last refresh)")
    if last_run is None:
        print("no refresh recorded")
        return
    run_id = last_run.get("run_id", "")
    build = settings.builds_dir / f"build-{run_id}.duckdb"
    source = build if build.exists() else settings.warehouse
    if not source.exists():
        print("no results: the refresh failed before the gate")
        return
    try:
        con = duckdb.connect(str(source), read_only=True)
    except duckdb.Error as exc:
        print(f"results not readable now: {exc}")
        return
    try:
        has = con.execute(
            "select count(*) from duckdb_tables() "
            "where schema_name = 'meta' and table_name = 'quality_runs'"
        ).fetchone()[0]
        # Warehouses published before n_accepted/unexpected_rows existed lack them.
        columns = {
            r[0]
            for r in con.execute(
                "select column_name from duckdb_columns() where schema_name = 'meta' "
                "and table_name = 'quality_runs'"
            ).fetchall()
        }
        accepted = "n_accepted > 0" if "n_accepted" in columns else "false"
        rows = (
            con.execute(
                "select suite, case when skipped is not null then 'skipped' "
                "when blocks then 'BLOCKED' "
                f"when {accepted} then 'ACCEPTED' "
                "when not success then 'WARNING' else 'passed' end, "
                "batch_kind, batch_rows, seconds from meta.quality_runs where run_id = ? "
                "order by suite",
                [run_id],
            ).fetchall()
            if has
            else []
        )
        if not rows:
            print("no results: the refresh failed before the gate")
            return
        for suite, state, kind, n, seconds in rows:
            print(f"{state:<8} {suite:<28} {kind} batch, {n:,} rows, {seconds:.2f}s")
        failures = con.execute(
            "select * from meta.quality_results where run_id = ? and not success "
            "order by suite, severity, expectation",
            [run_id],
        ).df()
        failures = failures.astype(object).where(failures.notna(), None)
        for f in failures.to_dict(orient="records"):
            severity = "accepted" if f.get("accepted") is True else f["severity"]
            detail = failure_detail(
                f["unexpected_count"],
                f["observed"],
                f["unexpected_sample"],
                f.get("unexpected_rows"),
            )
            where = f"{f['expectation']}({f['column_name'] or ''})"
            print(f"    [{severity}] {f['suite']}: {where} {detail}")
        print(f"data docs: {settings.warehouse.parent / 'data_docs' / 'index.html'}")
    finally:
        con.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _restricted_section(settings: Settings) -> None:
    """Where the restricted output is and whether only its owner can read it."""
    _section("restricted output (full golden record, identity state; owner-only)")
    path = settings.restricted
    print(f"path     {path}")
    print(f"PII key  {key_source(settings.home)}")
    _other_private_files(settings)
    if not path.exists():
        print("not published yet: the next refresh writes it")
        return
    file_mode, dir_mode = _mode(path), _mode(path.parent)
    owner_only = not (file_mode & 0o077) and not (dir_mode & 0o077)
    print(
        f"mode     file {file_mode:04o}, folder {dir_mode:04o}, owner uid {path.stat().st_uid}: "
        + (
            "owner-only"
            if owner_only
            else f"WARNING: readable by others, run `chmod 600 {path}; chmod 700 {path.parent}`"
        )
    )
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        print(f"not readable now: {exc}")
        return
    try:
        run_id, published_at = con.execute(
            "select run_id, published_at from meta.warehouse_info"
        ).fetchone()
        print(
            f"published {published_at:%Y-%m-%d %H:%M:%S} UTC, run {run_id}, "
            f"{path.stat().st_size / 1e6:.1f} MB"
        )
    finally:
        con.close()


def _other_private_files(settings: Settings) -> None:
    """The rest of what can hold personal data (raw store, builds, logs, ...): owner-only?"""
    from crm.privacy import readable_by_others

    open_paths = readable_by_others(settings)
    if not open_paths:
        print("others   raw store, builds, run logs, Dagster, spills, data docs: owner-only")
        return
    shown = ", ".join(str(p) for p in open_paths[:3]) + (" ..." if len(open_paths) > 3 else "")
    print(
        f"others   WARNING: {len(open_paths)} file(s) or folder(s) that can hold personal data "
        f"are readable by other accounts ({shown}): the next refresh makes them owner-only"
    )


def print_status(settings: Settings) -> int:
    print(
        f"CRM_HOME       {settings.home}\nCRM_INBOX      {settings.inbox}\n"
        f"CRM_WAREHOUSE  {settings.warehouse}\nCRM_RESTRICTED {settings.restricted}"
    )

    _section("published warehouse")
    if settings.warehouse.exists():
        con = duckdb.connect(str(settings.warehouse), read_only=True)
        try:
            run_id, as_of, published_at = con.execute(
                "select run_id, as_of, published_at from meta.warehouse_info"
            ).fetchone()
            print(
                f"published {published_at:%Y-%m-%d %H:%M:%S} UTC, as of {as_of}, run {run_id}, "
                f"{settings.warehouse.stat().st_size / 1e6:.1f} MB"
            )
            con.sql(
                "select table_name as mart, estimated_size as rows from duckdb_tables() "
                "where schema_name = 'marts' order by table_name"
            ).show(max_rows=100)
        finally:
            con.close()
    else:
        print("nothing published yet: run `crm refresh`")

    _restricted_section(settings)

    _section("recent refreshes")
    runs = read_run_records(settings, limit=5)
    if not runs:
        print("no refresh recorded")
    for run in runs:
        state = "ok    " if run["success"] else "FAILED"
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in run.get("stages", {}).items())
        print(
            f"{run['started_at'][:19]}  {state} {run['seconds']:7.1f}s  "
            f"as of {run['as_of']}  {stages}"
        )
        for error in run.get("errors", [])[:3]:
            print(f"    {error.splitlines()[0][:200]}")

    _quality_section(settings, runs[0] if runs else None)

    _section("raw store: loads")
    if not settings.raw_store.exists():
        print("raw store not created yet")
        return 0
    try:
        con = duckdb.connect(str(settings.raw_store), read_only=True)
    except duckdb.IOException as exc:
        print(f"raw store busy (a refresh is loading): {exc}")
        return 0
    try:
        con.sql("""
            select entity, status, count(*) as files, sum(rows_in_file) as rows_in_files,
                   sum(rows_loaded) as loaded, sum(rows_quarantined) as quarantined,
                   sum(rows_duplicate) as duplicates, sum(n_value_issues) as value_issues,
                   max(finished_at) as last_loaded_at
            from load_ledger group by all order by entity, status""").show(
            max_rows=100, max_width=250
        )
        rejected = con.execute(
            "select file_name, error from load_ledger where status = 'rejected' "
            "order by finished_at desc limit 10"
        ).fetchall()
        if rejected:
            _section("rejected files (latest 10)")
            for name, error in rejected:
                print(f"{name}: {error}")
        _section("quarantine: reasons")
        con.sql("""
            select entity, regexp_replace(reason, '''[^'']*''', '''…''', 'g') as reason,
                   count(*) as rows
            from quarantine group by all order by rows desc limit 15""").show(max_rows=100)
    finally:
        con.close()
    return 0
