"""Resources: dbt, pointed at this repository's project and profile.

The dbt assets read the project and profiles folders from it and run dbt in
Dagster's process (`orchestration/dbt_runner.py`, DECISIONS 62); its `cli()`
(a dbt process per call) stays available to ops of one's own.
"""

from dagster_dbt import DbtCliResource

from orchestration.project import crm_dbt_project, dbt_executable

dbt_resource = DbtCliResource(
    project_dir=crm_dbt_project,
    profiles_dir=str(crm_dbt_project.profiles_dir),
    dbt_executable=dbt_executable(),
)
