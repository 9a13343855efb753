"""Resources: the dbt CLI, pointed at this repository's project and profile."""

import importlib.metadata
from functools import cached_property

from dagster_dbt import DbtCliResource
from packaging import version

from orchestration.project import crm_dbt_project, dbt_executable


class CrmDbtCliResource(DbtCliResource):
    """DbtCliResource without a `dbt --version` process per invocation.

    dagster-dbt learns the dbt version by running `dbt --version` (~2 s on this
    machine, on every refresh); the dbt-core installed beside Dagster is the
    one the executable runs, so its package metadata says the same for free.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))


dbt_resource = CrmDbtCliResource(
    project_dir=crm_dbt_project,
    profiles_dir=str(crm_dbt_project.profiles_dir),
    dbt_executable=dbt_executable(),
)
