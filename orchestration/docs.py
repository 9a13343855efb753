"""`make docs`: the documentation site and dbt's own docs, built offline.

dbt's docs (the model reference: every model, column and test, the lineage
graph) take their catalog (column types) from a built warehouse: the restricted
output of CRM_HOME, which holds every model, read read-only through a link
named like the build file (dbt names the database after it). Without one, a
small demo warehouse is built first in target/docs-home. The site (MkDocs,
mkdocs.yml) then takes dbt's single-page static docs in as dbt/index.html and
that warehouse's refresh report as examples/refresh-report.html.

    python -m orchestration.docs [--home DIR] [--site DIR] [--screenshot PNG]

``--screenshot`` also photographs the top of the refresh report in headless
Chromium (the README's picture, docs/img/refresh-report.png).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from crm.config import Settings
from orchestration.project import PROJECT_DIR, dbt_executable

DOCS_TARGET = PROJECT_DIR / "target" / "dbt-docs"
DEMO_HOME = PROJECT_DIR / "target" / "docs-home"
DEMO_CUSTOMERS = "300"


def _run(command: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} failed ({result.returncode}):\n"
            f"{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
        )


def demo_home() -> Path:
    """A small demo warehouse for the catalog, built once in target/docs-home."""
    settings_env = {
        **os.environ,
        "CRM_HOME": str(DEMO_HOME),
        "CRM_AS_OF": "2025-12-31",
        "CRM_PROGRESS": "0",
    }
    for name in ("CRM_INBOX", "CRM_WAREHOUSE", "CRM_RESTRICTED", "CRM_SOURCES"):
        settings_env.pop(name, None)
    crm = Path(sys.executable).with_name("crm")
    _run([str(crm), "demo", "--customers", DEMO_CUSTOMERS, "--quiet"], settings_env)
    return DEMO_HOME


def _link_or_copy(source: Path, link: Path) -> None:
    link.unlink(missing_ok=True)
    try:
        os.link(source, link)
    except OSError:  # another file system
        shutil.copyfile(source, link)


def build_dbt_docs(settings: Settings, target: Path = DOCS_TARGET) -> Path:
    """dbt's static docs (one self-contained HTML file) of `settings`' restricted
    output; returns the file."""
    if not settings.restricted.exists():
        raise SystemExit(f"no restricted output at {settings.restricted}: nothing to catalog")
    target.mkdir(parents=True, exist_ok=True)
    # named build.duckdb: the parsed project's database is the build file's name
    build = target / "build.duckdb"
    _link_or_copy(settings.restricted, build)
    run_vars = {
        "build_path": str(build),
        "raw_store": str(settings.raw_store),
        "access_mode": "read_only",
        "threads": 1,
        "memory_limit": "1GB",
        "temp_directory": str(target / "tmp"),
    }
    try:
        _run(
            [
                # dbt itself (not orchestration.dbt_runner): it parses the project and
                # writes the manifest the static page embeds
                dbt_executable(),
                "docs",
                "generate",
                "--static",
                "--project-dir",
                str(PROJECT_DIR),
                "--profiles-dir",
                str(PROJECT_DIR),
                "--target-path",
                str(target),
                "--vars",
                json.dumps(run_vars),
            ],
            {**os.environ, "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        )
    finally:
        build.unlink(missing_ok=True)
    catalog = json.loads((target / "catalog.json").read_text())
    if not catalog.get("nodes"):
        raise SystemExit(f"dbt's catalog of {settings.restricted} lists no model")
    return target / "static_index.html"


def build_report(settings: Settings, target: Path = DOCS_TARGET) -> Path:
    """The refresh report of `settings`' published warehouse, written into `target`
    (the warehouse's own page may predate this code)."""
    from crm.refresh_report import REPORT_FILE, write_report

    return write_report(settings.warehouse, target / REPORT_FILE)


def screenshot(page: Path, png: Path) -> None:
    """The top of `page` as the README shows it, from headless Chromium (offline)."""
    from playwright.sync_api import sync_playwright

    png.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            tab = browser.new_page(viewport={"width": 1100, "height": 1500})
            tab.route(
                "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
            )
            tab.goto(page.resolve().as_uri())
            tab.screenshot(path=str(png))
        finally:
            browser.close()


def build_site(site: Path, dbt_docs: Path, report: Path) -> None:
    """The MkDocs site (strict: a broken link or anchor fails it) into `site`, with
    dbt's static docs `dbt_docs` as dbt/index.html and `report` as
    examples/refresh-report.html (docs/hooks.py)."""
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        "CRM_DBT_DOCS": str(dbt_docs),
        "CRM_REFRESH_REPORT": str(report),
    }
    mkdocs = Path(sys.executable).with_name("mkdocs")
    _run([str(mkdocs), "build", "--strict", "--site-dir", str(site)], env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help="CRM_HOME whose restricted output is catalogued")
    parser.add_argument("--site", default=str(PROJECT_DIR / "site"))
    parser.add_argument("--dbt-target", default=str(DOCS_TARGET), help="dbt's docs target")
    parser.add_argument("--screenshot", metavar="PNG", help="photograph the refresh report")
    args = parser.parse_args(argv)
    environ = {**os.environ, **({"CRM_HOME": args.home} if args.home else {})}
    settings = Settings.from_env(environ)
    if not settings.restricted.exists():
        print(f"no warehouse in {settings.home}: building a demo one in {DEMO_HOME}")
        settings = Settings.from_env({"CRM_HOME": str(demo_home())})
    index = build_dbt_docs(settings, Path(args.dbt_target))
    print(f"dbt docs: {index}")
    report = build_report(settings, Path(args.dbt_target))
    if args.screenshot:
        screenshot(report, Path(args.screenshot))
        print(f"screenshot: {args.screenshot}")
    build_site(Path(args.site), index, report)
    site = Path(args.site)
    print(f"site: {site / 'index.html'} (dbt docs: {site / 'dbt' / 'index.html'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
