"""Daily refresh; the time is configurable with CRM_SCHEDULE_CRON."""

import os

import dagster as dg

from orchestration.jobs import crm_refresh

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=crm_refresh,
    cron_schedule=os.environ.get("CRM_SCHEDULE_CRON", "0 6 * * *"),
    execution_timezone=os.environ.get("CRM_SCHEDULE_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
