"""Resources: the warehouse's settings, and dbt pointed at this repository's project.

`settings` is what every asset reads its folders, as-of date and limits from:
the `CRM_*` environment of the code location (`dagster dev`, schedules,
sensors), or the settings `crm refresh` resolved and hands to the run
(orchestration/refresh.py), so that nothing travels through the environment.

The dbt assets read the project and profiles folders from `dbt` and run dbt in
Dagster's process (`orchestration/dbt_runner.py`, DECISIONS 62); its `cli()`
(a dbt process per call) stays available to ops of one's own.
"""

import dagster as dg
from dagster_dbt import DbtCliResource

from crm.config import Settings
from orchestration.project import crm_dbt_project, dbt_executable


@dg.resource(description="The warehouse's settings (crm/config.py), from the CRM_* environment.")
def settings_resource(_context) -> Settings:
    return Settings.from_env()


dbt_resource = DbtCliResource(
    project_dir=crm_dbt_project,
    profiles_dir=str(crm_dbt_project.profiles_dir),
    dbt_executable=dbt_executable(),
)
