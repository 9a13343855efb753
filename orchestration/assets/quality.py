"""The quality gate: the Great Expectations suites of expectations/ as blocking asset checks.

One op validates every suite against this run's build file after the dbt build
(crm/quality/suites.py), records the outcomes in the build file's meta schema
(published with it: meta.quality_runs, meta.quality_results), writes GX data
docs beside the warehouse, and reports each suite as an asset check on the
asset it is about. A critical failure fails the op: the checks are blocking, so
the publish step does not run and the previous warehouse stays published; the
step's error names each failed expectation with sample values. Warnings are
recorded and shown but do not block.
"""

import dagster as dg

from crm.config import Settings
from crm.progress import say, stage
from crm.quality import worker
from crm.quality.suites import load_suites, parse_accept, record
from orchestration.assets.dbt import build_path

SUITES = load_suites()


def data_docs_dir(settings: Settings):
    return settings.warehouse.parent / "data_docs"


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            suite.check_name,
            asset=dg.AssetKey(suite.asset),
            # Dagster's blocking flag holds downstream assets until the check
            # passes; on a raw asset that would hold the dbt build for a check
            # that runs after it (a cycle). The gate still blocks publication
            # for raw suites: it fails the op, and publish re-reads the record.
            blocking=suite.asset[0] != "raw",
            description=suite.spec["meta"]["crm"].get("description", suite.name),
        )
        for suite in SUITES
    ],
    name="quality_gate",
)
def quality_gate(context: dg.AssetCheckExecutionContext, settings: dg.ResourceParam[Settings]):
    build = build_path(settings, context.op_execution_context.run_id)
    docs = data_docs_dir(settings)
    # Failures an operator accepted for this run (crm refresh --accept, or the tag).
    accept = parse_accept([context.op_execution_context.run.tags.get("crm/accept", "")])
    with stage("quality", context.log.info) as facts:
        # in the worker `crm refresh` started (crm/quality/worker.py), else here
        outcomes = worker.run_suites(
            build,
            SUITES,
            raw_store=settings.raw_store,
            previous=settings.warehouse if settings.warehouse.exists() else None,
            docs_dir=docs,
            accept=accept,
            config=settings.duckdb_config(),
        )
        record(build, context.op_execution_context.run_id, outcomes)
        facts["suites"] = len(outcomes)
    blocking = []
    for outcome in outcomes:
        failed = outcome.error is not None or not outcome.success
        if outcome.blocks:
            blocking.append(outcome.summary())
        elif failed:
            kind = "accepted" if outcome.accepted_failures else "warning"
            say(f"quality {kind}: {outcome.summary()}", context.log.warning)
        yield dg.AssetCheckResult(
            check_name=outcome.suite.check_name,
            asset_key=dg.AssetKey(outcome.suite.asset),
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR if outcome.blocks else dg.AssetCheckSeverity.WARN,
            description=outcome.summary(),
            metadata={
                "suite": outcome.suite.name,
                "batch": f"{outcome.suite.batch_kind}, {outcome.batch_rows:,} rows",
                "critical_failed": len(outcome.critical_failures),
                "warnings_failed": len(outcome.warning_failures),
                "accepted_failed": len(outcome.accepted_failures),
                "seconds": round(outcome.seconds, 3),
                "data_docs": dg.MetadataValue.path(str(docs / "index.html")),
            },
        )
    if blocking:
        raise dg.Failure(
            description="quality gate: critical expectations failed, the warehouse is not "
            "published (the previous one stays): " + " | ".join(blocking)
        )
