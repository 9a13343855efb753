"""Publication: the finished build file becomes the warehouse readers open."""

import dagster as dg

from crm.config import Settings
from crm.progress import say, stage
from orchestration.assets.dbt import build_path, dbt_build
from orchestration.project import crm_dbt_project

MART_KEYS = [key for key in dbt_build.keys if key.path[0] == "marts"]


@dg.asset(
    key=dg.AssetKey(["warehouse"]),
    deps=MART_KEYS,
    group_name="publish",
    kinds={"duckdb"},
    description=(
        "The published analytics warehouse (CRM_WAREHOUSE, personal columns hashed) and the "
        "restricted output (CRM_RESTRICTED, owner-only), replaced atomically on success."
    ),
)
def warehouse(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    from crm.publish import publish

    build = build_path(settings, context.run_id)
    if not build.exists():
        raise dg.Failure(f"no build file at {build}: the dbt step did not produce one")
    # The quality gate's checks are blocking, so this step only runs after they
    # passed; the gate's record in the build file is checked again here, so a
    # build the gate never saw cannot be published either.
    from crm.quality.suites import blocking_failures

    failures = blocking_failures(build, context.run_id)
    if failures is None:
        raise dg.Failure("the quality gate did not run for this build: refusing to publish")
    if failures:
        raise dg.Failure("quality gate failed: " + " | ".join(failures))
    # The PII policy of the YAML this build was made with: the manifest the dbt
    # step wrote into the fixed target folder, else the project's own.
    from crm.incremental import replaced_keys
    from crm.pii import read_policy

    manifest = settings.dbt_target_dir / "manifest.json"
    if not manifest.exists():
        manifest = crm_dbt_project.manifest_path
    with stage("publish", context.log.info) as facts:
        result = publish(
            build,
            settings,
            context.run_id,
            settings.as_of,
            read_policy(manifest),
            replaced_keys(manifest),
        )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.warehouse)),
            "restricted": dg.MetadataValue.path(str(result.restricted)),
            "size_bytes": result.size_bytes,
            "as_of": settings.as_of.isoformat(),
            "snapshot": str(result.snapshot) if result.snapshot else "",
            "seconds": facts["seconds"],
            # 'patched': an incremental build updated a copy of the last analytics file
            "analytics_written": result.analytics,
            **{f"rows {name}": rows for name, rows in result.tables.items()},
            **identity_metadata(context, settings, result.restricted),
        }
    )


@dg.asset(
    key=dg.AssetKey(["refresh_report"]),
    deps=[warehouse],
    group_name="publish",
    kinds={"html"},
    description=(
        "The refresh report: one offline HTML page beside the published warehouse (KPIs of "
        "the month, RFM, value tiers, lifecycle movement, cohort retention, CLV diagnostics, "
        "campaign lift), aggregates only. `crm report` writes it again on demand."
    ),
)
def refresh_report(
    context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:
    from crm.refresh_report import write_report

    with stage("report", context.log.info) as facts:
        page = write_report(settings.warehouse, mode=settings.warehouse_mode)
    say(f"refresh report: {page}", context.log.info)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(page)),
            "url": dg.MetadataValue.url(page.resolve().as_uri()),
            "size_bytes": page.stat().st_size,
            "as_of": settings.as_of.isoformat(),
            "seconds": facts["seconds"],
        }
    )


def identity_metadata(context, settings: Settings, restricted) -> dict:
    """The identity facts of the published build (marts.identity_resolution), said
    in the progress log, and `crm identity report`'s page written beside the
    restricted output (owner-only) and linked here. A failing report never fails
    the publication: it is only a view."""
    import duckdb

    from crm.identity.report import REPORT_FILE, last_build_model, write_report

    with duckdb.connect(str(restricted), read_only=True) as con:
        row = con.execute("select * from marts.identity_resolution").fetch_df()
        action = con.execute(
            "select model_origin, model_note from intermediate.int_identity_model"
        ).fetchone()
        sizes = con.execute(
            "select customer_records, customers from marts.identity_cluster_sizes "
            "order by customer_records"
        ).fetchall()
    facts = {k: (None if v != v else v) for k, v in row.iloc[0].to_dict().items()}
    say(
        f"identity: {action[0]} model ({action[1]}), link threshold "
        f"{facts['link_threshold']:g}, estimated precision "
        f"{_fmt(facts['estimated_precision'])} and recall {_fmt(facts['estimated_recall'])}; "
        f"{facts['records']} records -> {facts['customers']} customers",
        context.log.info,
    )
    metadata = {
        f"identity {k}": (v if isinstance(v, int | float | str) else str(v))
        for k, v in facts.items()
        if v is not None and k != "as_of"
    }
    metadata["identity cluster sizes"] = dg.MetadataValue.json(
        {str(size): customers for size, customers in sizes}
    )
    try:
        model_path, threshold, origin = last_build_model(restricted)
        override = settings.dbt_vars.get("identity_match_threshold")
        page = write_report(
            restricted,
            model_path,
            float(threshold if override is None else override),
            settings.restricted.parent / REPORT_FILE,
            origin=origin,
        )
        metadata["identity report"] = dg.MetadataValue.path(str(page))
    except Exception as error:  # noqa: BLE001 - a view must not block the publication
        say(f"WARNING: the identity report was not written: {error}", context.log.warning)
    return metadata


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
