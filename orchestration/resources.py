"""Resources: the dbt CLI, pointed at this repository's project and profile."""

from dagster_dbt import DbtCliResource

from orchestration.project import crm_dbt_project, dbt_executable

dbt_resource = DbtCliResource(
    project_dir=crm_dbt_project,
    profiles_dir=str(crm_dbt_project.profiles_dir),
    dbt_executable=dbt_executable(),
)
