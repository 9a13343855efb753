"""The audience export job: a target group written to a file for a campaign tool.

An op job, not an asset: the file is a one-off delivery for a campaign, chosen
by run config, and must not join the `crm_refresh` selection (all assets). It
reads the restricted output read-only, so it may run while a refresh runs.
The selection is the one `crm audience` takes (crm/audience.py).
"""

import dagster as dg
from pydantic import Field

from crm.config import Settings


class AudienceExportConfig(dg.Config):
    """Run config of `audience_export`; lists are alternatives, criteria all apply."""

    out: str = Field(description="File to write: .csv, .csv.gz or .parquet (0600).")
    format: str | None = Field(default=None, description="csv or parquet; default by name.")
    segments: list[str] = Field(default=[], description="RFM segments (rfm_segment).")
    tiers: list[str] = Field(default=[], description="Value tiers (customer_clv.value_tier).")
    stages: list[str] = Field(default=[], description="Lifecycle stages (customer_lifecycle).")
    regions: list[str] = Field(default=[], description="Regions of the golden address.")
    countries: list[str] = Field(default=[], description="Countries (ISO codes).")
    min_clv: float | None = Field(default=None, description="predicted_clv at least.")
    max_clv: float | None = Field(default=None, description="predicted_clv at most.")
    channels: list[str] = Field(
        default=[], description="Reachable by any of email, phone, post (default: any)."
    )
    limit: int | None = Field(default=None, description="At most this many, best CLV first.")
    overwrite: bool = Field(default=False, description="Replace the file if it exists.")
    restricted: str | None = Field(
        default=None, description="Restricted output to read (default CRM_RESTRICTED)."
    )


@dg.op(
    name="export_audience",
    description="Select opted-in, reachable customers from the restricted output and write "
    "them with their golden-record contact details, plus a JSON manifest.",
)
def export_audience_op(
    context: dg.OpExecutionContext,
    config: AudienceExportConfig,
    settings: dg.ResourceParam[Settings],
) -> None:
    from pathlib import Path

    from crm.audience import (
        AudienceError,
        AudienceSourceError,
        AudienceSpec,
        export_audience,
        summary_lines,
    )

    try:
        spec = AudienceSpec.from_source(config)
        result = export_audience(
            settings,
            spec,
            Path(config.out),
            file_format=config.format,
            overwrite=config.overwrite,
            restricted=Path(config.restricted) if config.restricted else None,
            exported_by=f"dagster run {context.run_id}",
        )
    except (AudienceError, AudienceSourceError, FileExistsError) as exc:
        raise dg.Failure(description=str(exc)) from exc
    for line in summary_lines(result):
        (context.log.warning if line.startswith("WARNING") else context.log.info)(line)
    context.add_output_metadata(
        {
            "path": dg.MetadataValue.path(str(result.path)),
            "manifest": dg.MetadataValue.path(str(result.manifest_path)),
            "format": result.format,
            "sha256": result.sha256,
            "size_bytes": result.size_bytes,
            "source_run_id": result.source["run_id"] or "",
            "source_as_of": result.source["as_of"] or "",
            **result.counts,
        }
    )


@dg.job(
    name="audience_export",
    description="Write a target group (segment, tier, lifecycle stage, region, CLV range) of "
    "opted-in customers with their best contact details to CSV or Parquet.",
    tags={"crm/audience": "true"},
)
def audience_export():
    export_audience_op()
