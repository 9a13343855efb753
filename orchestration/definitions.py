"""The Dagster code location: `dagster dev -m orchestration.definitions`."""

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

import dagster as dg  # noqa: E402

from crm.privacy import private_umask  # noqa: E402

# A code location (and every run worker it starts) writes owner-only files too.
private_umask()

from orchestration.assets.dbt import dbt_build  # noqa: E402
from orchestration.assets.ingest import raw_load  # noqa: E402
from orchestration.assets.publish import refresh_report, warehouse  # noqa: E402
from orchestration.assets.quality import quality_gate  # noqa: E402
from orchestration.audience import audience_export  # noqa: E402
from orchestration.jobs import crm_refresh  # noqa: E402
from orchestration.resources import dbt_resource, settings_resource  # noqa: E402
from orchestration.schedules import daily_refresh  # noqa: E402
from orchestration.sensors import inbox_sensor, refresh_failure_alert  # noqa: E402

defs = dg.Definitions(
    assets=[raw_load, dbt_build, warehouse, refresh_report],
    asset_checks=[quality_gate],
    jobs=[crm_refresh, audience_export],
    schedules=[daily_refresh],
    sensors=[inbox_sensor, refresh_failure_alert],
    resources={"dbt": dbt_resource, "settings": settings_resource},
)
