"""`make bi`: Superset with the CRM dashboards over a generated warehouse, driven in
headless Chromium as a BI user would: log in, open each dashboard, wait for every
chart, read its headline numbers and compare them with the marts; then refresh
the warehouse while a dashboard is open and see the new numbers without
restarting Superset. Screenshots go to the test's folder."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from tests.browser import offline_page
from tests.conftest import Env
from tests.conftest import read_only as _ro

REPO = Path(__file__).resolve().parents[1]
BI_PYTHON = REPO / ".venv-bi" / "bin" / "python"
ASSETS = REPO / "bi" / "assets"
CHART = "[data-test='chart-grid-component']"

# The headline (big number) of each dashboard and the mart query it must equal.
HEADLINES = {
    "crm-customers": {
        "Customers": "select count(*) from marts.customer_360",
        "Customers of negative value": (
            "select count(*) from marts.customer_360 where value_tier = 'negative'"
        ),
    },
    "crm-lifecycle": {
        "At risk or lapsed": (
            "select count(*) from marts.customer_360 where lifecycle_stage in ('at_risk', 'lapsed')"
        ),
    },
    "crm-campaigns": {
        "Treated customers": "select sum(n_treatment) from marts.campaign_performance",
    },
    "crm-service": {
        "Complaints": "select sum(n_complaints) from marts.service_kpis where breakdown = 'month'",
    },
}


def _yaml(folder: str) -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted((ASSETS / folder).rglob("*.yaml"))]


def test_the_dashboard_files_are_consistent():
    """What Superset's importer needs: every chart's dataset, every dataset's database
    and every dashboard's chart exists, by UUID; the database is read-only."""
    (database,) = _yaml("databases")
    datasets, charts, dashboards = _yaml("datasets"), _yaml("charts"), _yaml("dashboards")
    assert database["extra"]["engine_params"]["connect_args"]["read_only"] is True
    assert database["allow_dml"] is False and database["allow_file_upload"] is False
    assert {d["database_uuid"] for d in datasets} == {database["uuid"]}
    dataset_ids = {d["uuid"] for d in datasets}
    assert {c["dataset_uuid"] for c in charts} <= dataset_ids
    chart_ids = {c["uuid"] for c in charts}
    placed = [
        item["meta"]["uuid"]
        for d in dashboards
        for item in d["position"].values()
        if isinstance(item, dict) and item.get("type") == "CHART"
    ]
    assert sorted(placed) == sorted(chart_ids)  # every chart on exactly one dashboard
    assert {d["slug"] for d in dashboards} == set(HEADLINES)
    names = {c["slice_name"] for c in charts}
    assert all(title in names for titles in HEADLINES.values() for title in titles)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(base: str, server: subprocess.Popen, log: Path, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"Superset exited {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"Superset did not answer /health:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def bi(tmp_path_factory):
    """(env, base URL): a warehouse as of mid-2025 and Superset serving it."""
    assert BI_PYTHON.exists(), "the BI environment is missing: `make bi-install`"
    root = tmp_path_factory.mktemp("bi")
    env = Env(root)
    env.crm("generate", "--customers", "300", "--seed", "5", "--truth", str(env.truth))
    env.crm("refresh", as_of="2025-06-30")
    port = _free_port()
    log = root / "superset.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [str(BI_PYTHON), str(REPO / "bi" / "serve.py"), "--warehouse", str(env.warehouse)]
            + ["--state", str(root / "bi-state"), "--port", str(port), "--workers", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server, log)
        yield env, base
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _login(page, base: str, target: str) -> None:
    # The login page's closing beacon (POST /superset/log/) carries the anonymous
    # session, and its answer can overwrite the new login's cookie: answer it here.
    page.route("**/superset/log/**", lambda route: route.fulfill(status=200, body="{}"))
    page.goto(f"{base}/login/?next={quote(target, safe='')}")
    page.fill("[data-test='username-input']", "admin")
    page.fill("[data-test='password-input']", "admin")
    with page.expect_response(lambda r: "/login/" in r.url and r.request.method == "POST") as login:
        page.click("[data-test='login-button']")
    assert login.value.status == 302, f"login failed: HTTP {login.value.status}"


def _open_dashboard(page, base: str, slug: str) -> dict[str, str]:
    """Open the dashboard, wait until every chart has drawn; {chart name: headline}."""
    page.goto(f"{base}/superset/dashboard/{slug}/?standalone=1")
    for name in HEADLINES[slug]:
        page.wait_for_selector(
            f'{CHART}[data-test-chart-name="{name}"] .header-line', timeout=120_000
        )
    page.wait_for_function(
        """sel => {
            const charts = [...document.querySelectorAll(sel)];
            return charts.length > 0 && charts.every(c =>
                !c.querySelector("[data-test='loading-indicator']") &&
                c.querySelector(".header-line, svg, canvas, table, .alert, [role=alert]"));
        }""",
        arg=CHART,
        timeout=120_000,
    )
    charts = page.eval_on_selector_all(
        CHART,
        """els => els.map(e => ({name: e.dataset.testChartName,
            error: e.querySelector('.alert, [role=alert]') ? e.innerText.slice(0, 300) : null,
            headline: (e.querySelector('.header-line') || {}).innerText || null}))""",
    )
    errors = [(c["name"], c["error"]) for c in charts if c["error"]]
    assert errors == [], errors
    return {c["name"]: c["headline"] for c in charts if c["headline"] is not None}


def _expected(warehouse: Path) -> dict[str, dict[str, str]]:
    with _ro(warehouse) as con:
        return {
            slug: {name: f"{con.execute(sql).fetchone()[0]:,}" for name, sql in queries.items()}
            for slug, queries in HEADLINES.items()
        }


@pytest.mark.e2e
def test_dashboards_show_the_marts_numbers_before_and_after_a_refresh(bi, tmp_path):
    env, base = bi
    before = _expected(env.warehouse)
    with offline_page((base,), viewport={"width": 1400, "height": 1000}) as (page, traffic):
        _login(page, base, "/superset/dashboard/crm-customers/?standalone=1")
        for slug, want in before.items():
            shown = _open_dashboard(page, base, slug)
            assert {name: shown.get(name) for name in want} == want, slug
            page.wait_for_timeout(1500)  # charts animate for about a second
            page.screenshot(path=str(tmp_path / f"{slug}.png"), full_page=True)

        # a refresh with the dashboard open: nothing holds the file, nothing blocks
        env.crm("refresh", as_of="2025-12-31")
        after = _expected(env.warehouse)
        assert after != before  # half a year more of data
        for slug, want in after.items():
            shown = _open_dashboard(page, base, slug)  # the same server, not restarted
            assert {name: shown.get(name) for name in want} == want, slug
        page.screenshot(path=str(tmp_path / "crm-service-after-refresh.png"), full_page=True)
    assert traffic.outside == [], traffic.outside
    assert [e for e in traffic.errors if not re.search(r"ResizeObserver", e)] == []
    assert all((tmp_path / f"{slug}.png").stat().st_size > 20_000 for slug in HEADLINES)
