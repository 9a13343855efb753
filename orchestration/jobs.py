"""The one job that refreshes the whole warehouse."""

import dagster as dg

# Runs of this job are serialised by the run queue (see dagster.yaml written by
# `crm`), and `crm refresh` additionally holds CRM_HOME/refresh.lock.
crm_refresh = dg.define_asset_job(
    "crm_refresh",
    selection=dg.AssetSelection.all(),
    description="Load the inbox, build every dbt model and test, and publish the warehouse.",
    tags={"crm/refresh": "true"},
)
