"""Publication: the finished build file becomes the warehouse readers open."""

import dagster as dg

from crm.config import Settings
from crm.progress import stage
from orchestration.assets.dbt import build_path, crm_dbt_models
from orchestration.project import crm_dbt_project

MART_KEYS = [key for key in crm_dbt_models.keys if key.path[0] == "marts"]


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
def published_warehouse(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from crm.publish import publish

    settings = Settings.from_env()
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
    from crm.pii import read_policy

    manifest = settings.dbt_target_dir / "manifest.json"
    if not manifest.exists():
        manifest = crm_dbt_project.manifest_path
    with stage("publish", context.log.info) as facts:
        result = publish(build, settings, context.run_id, settings.as_of, read_policy(manifest))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.warehouse)),
            "restricted": dg.MetadataValue.path(str(result.restricted)),
            "size_bytes": result.size_bytes,
            "as_of": settings.as_of.isoformat(),
            "snapshot": str(result.snapshot) if result.snapshot else "",
            "seconds": facts["seconds"],
            **{f"rows {name}": rows for name, rows in result.tables.items()},
        }
    )
