"""MkDocs hooks: the generated pages (crm/reference.py) and the repository's own
DECISIONS.md and BENCHMARKS.md, put in place at build time so they cannot drift."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from crm import reference  # noqa: E402

# marker in a page -> the generated Markdown that replaces it
MARKERS = {
    "<!-- generated: environment -->": lambda: reference.environment_reference(),
    "<!-- generated: environment-internal -->": lambda: reference.environment_reference(True),
    "<!-- generated: dbt-vars -->": lambda: reference.dbt_vars_reference(),
    "<!-- generated: code-map -->": lambda: reference.code_map(),
    "<!-- generated: commands -->": lambda: reference.commands_reference(),
    "<!-- generated: metrics -->": lambda: reference.metrics_reference(),
}


def _repository_page(name: str, title: str) -> str:
    text = (REPO / name).read_text()
    body = text.split("\n", 1)[1] if text.startswith("# ") else text
    return f"# {title}\n\n_From `{name}` in the repository._\n{body}"


PAGES = {
    "mart-reference.md": lambda: (
        "# Mart reference\n\n"
        "_Generated from dbt's manifest: every model in the `marts` schema, its "
        "description and its columns. dbt's own docs (the model reference) add the "
        "lineage graph and every other model._\n\n" + reference.marts_reference()
    ),
    "decisions.md": lambda: _repository_page("DECISIONS.md", "Decisions"),
    "benchmarks.md": lambda: _repository_page("BENCHMARKS.md", "Benchmarks"),
}


# dbt's static docs (orchestration/docs.py builds them before the site)
DBT_DOCS = Path(os.environ.get("CRM_DBT_DOCS", REPO / "target" / "dbt-docs" / "static_index.html"))
DBT_DOCS_MISSING = """<!doctype html><meta charset="utf-8"><title>dbt docs</title>
<p>dbt's docs are not built: run <code>make docs</code>.</p>"""

# the refresh report of the same warehouse, as an example page
REFRESH_REPORT = Path(
    os.environ.get("CRM_REFRESH_REPORT", REPO / "target" / "dbt-docs" / "refresh_report.html")
)
REFRESH_REPORT_MISSING = """<!doctype html><meta charset="utf-8"><title>refresh report</title>
<p>The example refresh report is not built: run <code>make docs</code>.</p>"""


def on_files(files, config):
    for name, make in PAGES.items():
        files.append(File.generated(config, name, content=make()))
    dbt_docs = DBT_DOCS.read_bytes() if DBT_DOCS.exists() else DBT_DOCS_MISSING.encode()
    files.append(File.generated(config, "dbt/index.html", content=dbt_docs))
    report = (
        REFRESH_REPORT.read_bytes() if REFRESH_REPORT.exists() else REFRESH_REPORT_MISSING.encode()
    )
    files.append(File.generated(config, "examples/refresh-report.html", content=report))
    return files


# <!-- dbt-doc: NAME -->: the dbt docs block NAME, the one home of a business rule
DBT_DOC = re.compile(r"<!-- dbt-doc: ([a-z_]+) -->")


def on_page_markdown(markdown, page, config, files):
    for marker, make in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return DBT_DOC.sub(lambda m: reference.dbt_doc(m.group(1)), markdown)
