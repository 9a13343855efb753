"""The Dagster code location: assets, jobs, schedules, sensors, and dbt run in-process."""
