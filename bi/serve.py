"""`make bi`: Apache Superset over the published warehouse, with the CRM dashboards.

Runs with the BI environment's Python (.venv-bi, bi/requirements.lock), never the
warehouse's. In one process it migrates Superset's metadata database (SQLite in
the state folder), syncs its roles, creates the admin user once, and imports the
dashboards kept as files in bi/assets/ (Superset's export format) with the
warehouse path filled in, overwriting the same objects by UUID; then it runs
gunicorn on 127.0.0.1.

The warehouse is registered read-only (DuckDB `read_only`, no file or network
access, configuration locked) and Superset opens a new connection per query
(NullPool) and caches no result (bi/superset_config.py): after a refresh the next
chart shows the new generation, and an open dashboard never holds the file or
blocks a publication. Sync workers, not threads: within one process DuckDB reuses
an open database for a path, so a query overlapping another could read the old
generation.

    .venv-bi/bin/python bi/serve.py [--warehouse FILE] [--state DIR] [--port N]
                                    [--setup-only]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BI_DIR = Path(__file__).resolve().parent
ASSETS = BI_DIR / "assets"
WAREHOUSE_PLACEHOLDER = "__WAREHOUSE__"


def environment(state: Path) -> dict[str, str]:
    """The variables Superset reads: its config, its state, every telemetry off."""
    return {
        "SUPERSET_CONFIG_PATH": str(BI_DIR / "superset_config.py"),
        "BI_STATE": str(state),
        "DO_NOT_TRACK": "1",
        "SCARF_ANALYTICS": "false",
        "SCARF_NO_ANALYTICS": "true",
        "FLASK_APP": "superset.app:create_app()",
        "PYTHONUNBUFFERED": "1",
    }


def assets(warehouse: Path) -> dict[str, str]:
    """bi/assets as Superset's importer takes it: {relative path: YAML text}, the
    warehouse's absolute path in place of the placeholder."""
    contents = {}
    for path in sorted(ASSETS.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        contents[str(path.relative_to(ASSETS))] = text.replace(
            WAREHOUSE_PLACEHOLDER, str(warehouse)
        )
    return contents


def setup(warehouse: Path, password: str) -> None:
    """Migrate, sync roles, create the admin user, import the dashboards."""
    started = time.monotonic()
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        import flask_migrate
        from superset import db, security_manager
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.connectors.sqla.models import SqlaTable
        from superset.extensions import appbuilder
        from superset.utils.core import override_user

        flask_migrate.upgrade()
        appbuilder.add_permissions(update_perms=True)
        security_manager.sync_role_definitions()
        db.session.commit()
        admin = security_manager.find_user(username="admin")
        if admin is None:
            admin = security_manager.add_user(
                "admin",
                "Admin",
                "User",
                "admin@localhost",
                security_manager.find_role("Admin"),
                password=password,
            )
            db.session.commit()
        contents = assets(warehouse)
        with override_user(admin):
            # overwrites databases, datasets, charts and dashboards by UUID
            ImportAssetsCommand(contents).run()
            for dataset in db.session.query(SqlaTable).all():
                if not dataset.columns:  # a YAML without columns: read them from the file
                    dataset.fetch_metadata()
            db.session.commit()
    print(
        f"bi: {len(contents)} asset files imported for {warehouse} "
        f"in {time.monotonic() - started:.1f}s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--warehouse",
        default=os.environ.get("CRM_WAREHOUSE", "data/warehouse.duckdb"),
        help="the published warehouse (CRM_WAREHOUSE, default data/warehouse.duckdb)",
    )
    parser.add_argument(
        "--state",
        default=os.environ.get("BI_STATE", "data/bi"),
        help="Superset's metadata, users and secret key (BI_STATE, default data/bi)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BI_PORT", "8088")))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--setup-only", action="store_true", help="import the dashboards, start no server"
    )
    args = parser.parse_args(argv)
    warehouse = Path(args.warehouse).resolve()
    if not warehouse.exists():
        print(f"bi: no warehouse at {warehouse}: run `make demo` or `crm refresh`", file=sys.stderr)
        return 2
    state = Path(args.state).resolve()
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.update(environment(state))
    password = os.environ.get("BI_ADMIN_PASSWORD", "admin")
    setup(warehouse, password)
    if args.setup_only:
        return 0
    print(
        f"bi: Superset on http://{args.host}:{args.port}/ (user admin), "
        f"warehouse {warehouse}, state {state}",
        flush=True,
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    os.execv(
        str(gunicorn),
        [
            str(gunicorn),
            "--workers",
            str(args.workers),
            "--worker-class",
            "sync",
            "--timeout",
            "120",
            "--bind",
            f"{args.host}:{args.port}",
            "--access-logfile",
            str(state / "access.log"),
            "superset.app:create_app()",
        ],
    )
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
