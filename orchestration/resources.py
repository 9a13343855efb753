"""Resources: the dbt CLI, pointed at this repository's project and profile."""

import importlib.metadata
from functools import cached_property

from dagster_dbt import DbtCliResource
from packaging import version

from orchestration.project import crm_dbt_project, dbt_executable


class CrmDbtCliResource(DbtCliResource):
    """DbtCliResource without the work a refresh never uses, done before dbt starts.

    dagster-dbt learns the dbt version by running `dbt --version` (~2 s on this
    machine, on every refresh); the dbt-core installed beside Dagster is the
    one the executable runs, so its package metadata says the same for free.
    It also loads dbt, the project, the profile and every macro into Dagster's
    process (~1.5 s) for a database adapter that only `fetch_row_counts()` and
    `fetch_column_metadata()` read; the assets here call neither.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


dbt_resource = CrmDbtCliResource(
    project_dir=crm_dbt_project,
    profiles_dir=str(crm_dbt_project.profiles_dir),
    dbt_executable=dbt_executable(),
)
