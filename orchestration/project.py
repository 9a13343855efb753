"""The dbt project as Dagster sees it, and a manifest parsed once, not per run."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from dagster_dbt import DbtProject

PROJECT_DIR = Path(os.environ.get("CRM_DBT_PROJECT_DIR", Path(__file__).resolve().parents[1]))
_SOURCES = ("models", "macros", "seeds", "data-tests", "dbt_project.yml", "profiles.yml")


def dbt_executable() -> str:
    """The dbt installed beside this interpreter (a venv's bin), else the one on PATH."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


crm_dbt_project = DbtProject(project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR)


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in _SOURCES:
        path = PROJECT_DIR / name
        files = [path] if path.is_file() else path.rglob("*") if path.exists() else []
        for file in files:
            newest = max(newest, file.stat().st_mtime)
    return newest


def ensure_manifest() -> Path:
    """Parse the dbt project when the manifest is missing or older than its sources.

    `prepare_if_dev()` only parses under `dagster dev`; the CLI, tests and the
    daemon need a manifest too, and a fresh one costs ~3 s only when the
    project changed.
    """
    manifest = crm_dbt_project.manifest_path
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime():
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    # Parsed into a folder of its own and renamed into place: refreshes of two homes
    # may parse at once, and a reader must never see a half-written manifest.
    with (
        tempfile.TemporaryDirectory() as scratch,
        tempfile.TemporaryDirectory(dir=manifest.parent, prefix=".parse-") as target,
    ):
        env = {
            **os.environ,
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            # Parsing opens no connection, but the profile must render.
            "CRM_BUILD_PATH": str(Path(scratch) / "parse.duckdb"),
            "CRM_RAW_STORE": str(Path(scratch) / "raw.duckdb"),
        }
        result = subprocess.run(
            [
                dbt_executable(),
                "parse",
                "--quiet",
                "--project-dir",
                str(PROJECT_DIR),
                "--profiles-dir",
                str(PROJECT_DIR),
                "--target-path",
                target,
            ],
            env=env,
            capture_output=True,
            text=True,
            cwd=PROJECT_DIR,
        )
        if result.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{result.stdout}\n{result.stderr}")
        # the semantic layer's manifest (crm metrics) first: a reader that sees the
        # new manifest.json finds the semantic manifest of the same parse
        os.replace(Path(target) / "semantic_manifest.json", semantic_manifest_path())
        os.replace(Path(target) / "manifest.json", manifest)
    return manifest


def semantic_manifest_path() -> Path:
    """The semantic manifest (MetricFlow's input) that `ensure_manifest` writes."""
    return crm_dbt_project.manifest_path.with_name("semantic_manifest.json")
