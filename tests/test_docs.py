"""The documentation: its generated pages cover what the code has, the paths it
names exist, and the site and dbt's docs render offline in headless Chromium."""

from __future__ import annotations

import functools
import http.server
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from crm import reference
from crm.config import ENVIRONMENT
from tests.browser import offline_page
from tests.conftest import Env

REPO = Path(__file__).resolve().parents[1]
DOC_PAGES = sorted((REPO / "docs").glob("*.md"))


def _code_files():
    for folder in ("crm", "orchestration", "models", "macros"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in (".py", ".sql", ".yml") and "__pycache__" not in path.parts:
                yield path
    yield REPO / "profiles.yml"


def test_every_environment_variable_the_code_reads_is_in_the_reference():
    read = set()
    for path in _code_files():
        read |= set(re.findall(r"[\"'](CRM_[A-Z_]+)[\"']", path.read_text()))
    listed = {variable.name for variable in ENVIRONMENT}
    assert sorted(read - listed) == [], "read by the code but not in crm.config.ENVIRONMENT"
    assert sorted(listed - read) == [], "in crm.config.ENVIRONMENT but read nowhere"
    page = reference.environment_reference() + reference.environment_reference(internal=True)
    assert all(f"`{name}`" in page for name in listed)


def test_every_dbt_var_is_in_the_reference_with_its_explanation():
    declared = set(yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"])
    groups = reference.dbt_var_groups()
    grouped = [name for group in groups for name in group.names]
    assert sorted(grouped) == sorted(declared)
    unexplained = [group.names for group in groups if not " ".join(group.comment).strip()]
    assert unexplained == []
    page = reference.dbt_vars_reference()
    assert all(f"`{name}`" in page for name in declared)


def test_a_var_s_default_is_written_once():
    """Defaults live in dbt_project.yml: no model or macro repeats one (`var(name,
    default)`), and no page or model description states one beside the var's name
    (the generated Configuration page shows them)."""
    values = yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"]
    repeated, stated = [], []
    sql = re.compile(r"(?:\bvar|_var)\('([a-z_]+)',\s*(?!\s|none\b)[^)]")
    for folder in ("models", "macros", "data-tests"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix not in (".sql", ".yml", ".py", ".md"):
                continue
            text = path.read_text()
            repeated += [f"{path.name}: {m}" for m in sql.findall(text) if m in values]
    pages = [*DOC_PAGES, *(REPO / "models").rglob("*.*"), *(REPO / "macros").rglob("*.*")]
    for path in pages:
        text = path.read_text()
        for name, value in values.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and re.search(rf"{name}(?:'\)|`)?\s+\({re.escape(str(value))}\b", text):
                stated.append(f"{path.name}: {name} ({value})")
    assert repeated == []
    assert stated == []


def test_every_mart_is_in_the_reference_and_in_the_readme():
    marts = reference.mart_names()
    assert len(marts) > 30
    page = reference.marts_reference()
    assert sorted(m for m in marts if f"### {m}\n" not in page) == []
    readme = (REPO / "README.md").read_text()
    assert sorted(m for m in marts if f"`{m}`" not in readme) == []


def test_every_mart_column_has_a_one_line_description():
    manifest = reference.REPO / "target" / "manifest.json"
    nodes = json.loads(manifest.read_text())["nodes"].values()
    missing, long = [], []
    for node in nodes:
        if node["resource_type"] != "model" or node["schema"] != "marts":
            continue
        for column in node["columns"].values():
            text = (column.get("description") or "").strip()
            if not text:
                missing.append(f"{node['name']}.{column['name']}")
            elif "\n" in text or len(text) > 200:
                long.append(f"{node['name']}.{column['name']}")
    assert missing == [] and long == []


def test_every_python_module_says_what_it_is():
    summaries = reference.module_summaries()
    assert len(summaries) > 50
    assert [path for path, summary in summaries if not summary] == []
    assert "crm/reference.py" in reference.code_map()


def test_the_paths_the_docs_name_exist():
    """A file or folder named in `code` (`crm/load/`, `models/marts/...sql`) is there."""
    missing = []
    for page in [*DOC_PAGES, REPO / "README.md"]:
        for path in re.findall(r"`((?:crm|orchestration|bench|tests|models|macros|seeds|"
                               r"data-tests|docs|expectations)/[\w./-]*(?:\.\w+|/))`",
                               page.read_text()):  # fmt: skip
            if not (REPO / path).exists():
                missing.append(f"{page.name}: {path}")
    assert missing == []


def test_every_test_file_and_command_is_documented():
    development = (REPO / "docs" / "development.md").read_text()
    files = sorted((REPO / "tests").glob("test_*.py"))
    assert [f.name for f in files if f"`tests/{f.name}`" not in development] == []
    commands = reference.commands_reference()
    for command in ("crm refresh", "crm demo", "crm identity train", "crm inbox check"):
        assert f"### `{command}`" in commands
    assert [line for line in commands.splitlines() if line.endswith("|  |")] == []  # no help


def test_the_readme_stays_short():
    assert len((REPO / "README.md").read_bytes()) <= 15_000


# ---------------------------------------------------------------- the site, in Chromium


def _serve(folder: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.e2e
def test_the_site_and_dbt_docs_render_offline_in_chromium(built_env: Env, tmp_path):
    env = built_env
    site, dbt_target = tmp_path / "site", tmp_path / "dbt-docs"
    built = subprocess.run(
        [sys.executable, "-m", "orchestration.docs", "--home", str(env.home)]
        + ["--site", str(site), "--dbt-target", str(dbt_target)],
        env=env.environ(),
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert (site / "dbt" / "index.html").stat().st_size > 1_000_000  # dbt's page, not a stub

    server = _serve(site)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with offline_page((base,)) as (page, traffic):
            page.goto(f"{base}/index.html")
            assert page.title().startswith("CRM warehouse")
            nav = page.locator("nav.md-nav--primary").first.text_content()
            assert "Mart reference" in nav and "Configuration" in nav
            page.goto(f"{base}/configuration.html")
            text = page.locator("article").inner_text()
            assert "CRM_HOME" in text and "clv_discount_rate" in text  # generated tables
            page.goto(f"{base}/mart-reference.html")
            text = page.locator("article").inner_text()
            assert all(name in text for name in reference.mart_names())
            # search runs in the page (its index is local)
            page.goto(f"{base}/index.html")
            page.keyboard.press("/")  # Material's search shortcut
            page.locator("input.md-search__input").press_sequentially("survivorship", delay=20)
            page.wait_for_selector(".md-search-result__item", timeout=15_000)

            # dbt's docs: a model's page, then its lineage graph drawn on a canvas
            page.goto(f"{base}/dbt/index.html#!/model/model.crm.customer_rfm")
            page.wait_for_selector("text=customer_rfm", timeout=30_000)
            page.locator('[ng-click="onLauncherClick()"]').first.click()
            page.wait_for_timeout(2_000)
            painted = page.evaluate(
                """() => Array.from(document.querySelectorAll('canvas')).map(c => {
                    if (!c.width || !c.height) return 0;
                    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let n = 0;
                    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                    return n; })"""
            )
            assert max(painted, default=0) > 1_000, painted
            assert traffic.errors == []
    finally:
        server.shutdown()
    assert traffic.outside == []
