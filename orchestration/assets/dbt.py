"""Every dbt model, seed and test, built once per refresh into a new build file."""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from crm.config import Settings
from crm.faults import fault_point
from crm.files import move_duckdb_file, wal_path
from crm.identity.model_store import warehouse_model_dir
from crm.incremental import (
    copy_file,
    incremental_relations,
    keep_only,
    plan_build,
    record_build_state,
)
from crm.pii import private_dir
from crm.progress import say, stage
from crm.runs import exclusive_lock
from orchestration.dbt_runner import dbt_run, query_open_build
from orchestration.project import crm_dbt_project, ensure_manifest


def build_path(settings: Settings, run_id: str):
    return settings.builds_dir / f"build-{run_id}.duckdb"


def dbt_work_path(settings: Settings):
    """Where dbt builds, the same file name every refresh (renamed to the run's build
    file when dbt ends): dbt re-parses the whole project when its profile changes, and
    the build file's path is part of the profile. The build lock keeps it to one
    build at a time, also when a Dagster-launched run (which does not take
    refresh.lock) meets a `crm refresh`."""
    return settings.builds_dir / "build.duckdb"


BUILD_BUSY = (
    "another refresh is building in {builds} ({{holder}}): a run launched from Dagster "
    "and a `crm refresh` ran at once; nothing was changed, run this one again later"
)


class CrmTranslator(DagsterDbtTranslator):
    """Keys by schema (`marts/customer_rfm`), sources as the raw-load assets (`raw/orders`)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(["raw", dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props.get("schema")


# The assets that show the CLV fit's facts (parameters, log-likelihood,
# customers, tuples, iterations, seconds, status) as materialization metadata.
CLV_FIT_ASSETS = {
    dg.AssetKey(["intermediate", "int_clv_fits"]),
    dg.AssetKey(["marts", "clv_model_params"]),
}


def _event_key(context: dg.AssetExecutionContext, event):
    if isinstance(event, dg.Output):
        return context.asset_key_for_output(event.output_name)
    return getattr(event, "asset_key", None)


def read_clv_facts(build: Path) -> dict:
    """The CLV fits' facts, from the int_clv_fits table dbt has just built (through
    dbt's open database, or from the file once dbt has released it)."""
    import duckdb

    from crm.clv.pipeline import facts_from_rows

    sql = "select * from intermediate.int_clv_fits"
    rows = query_open_build(sql)
    if rows is None:
        with duckdb.connect(str(build), read_only=True) as con:
            found = con.execute(sql)
            names = [column[0] for column in found.description]
            rows = [dict(zip(names, row, strict=True)) for row in found.fetchall()]
    return facts_from_rows(rows)


def _with_clv_facts(context: dg.AssetExecutionContext, event, facts: dict, build: Path):
    """The event with the CLV fits' facts as metadata (`facts` is filled at the
    first such event: the fit's own, which comes first)."""
    if _event_key(context, event) not in CLV_FIT_ASSETS or not isinstance(
        event, dg.Output | dg.AssetMaterialization
    ):
        return event
    if not facts:
        facts.update(read_clv_facts(build))
        context.log.info("CLV fits: " + ", ".join(f"{k}={v}" for k, v in sorted(facts.items())))
        for name, status in sorted(facts.items()):
            if name.endswith(".status") and status == "not_converged":
                fit = name.removesuffix(".status")
                say(
                    f"WARNING: the CLV {fit} fit did not converge "
                    f"({facts.get(fit + '.message', '')}); see marts.clv_model_params",
                    context.log.warning,
                )
    return event.with_metadata({**(event.metadata or {}), **facts})


ensure_manifest()


@dbt_assets(
    manifest=crm_dbt_project.manifest_path,
    project=crm_dbt_project,
    dagster_dbt_translator=CrmTranslator(),
    name="dbt_build",
)
def dbt_build(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: dg.ResourceParam[Settings]
):
    """One `dbt build` (models, seeds and tests together) against this run's build file."""
    # A build file holds plain personal data (it becomes the restricted output).
    private_dir(settings.builds_dir)
    target = build_path(settings, context.run_id)
    work = dbt_work_path(settings)
    with exclusive_lock(
        work.with_name("build.lock"), BUILD_BUSY.format(builds=settings.builds_dir)
    ):
        yield from _build(context, dbt, settings, target, work)


def build_run_vars(settings: Settings, work: Path, incremental: bool) -> dict[str, Any]:
    """The run vars of a build (orchestration/dbt_runner.py RUN_VARS): what differs
    per home and per day, given to dbt as vars that it reads only when models run."""
    run_vars: dict[str, Any] = {
        # the profile (profiles.yml)
        "build_path": str(work),
        "raw_store": str(settings.raw_store),
        "threads": settings.threads,
        "memory_limit": settings.memory_limit,
        "temp_directory": str(settings.temp_dir),
        "as_of": settings.as_of.isoformat(),
        # what macros/incremental.sql's incremental_build() would otherwise query
        "build_incremental": incremental,
    }
    # The restricted output is the identity state (stable ids, scored pairs):
    # attached read-only, so operational readers and this build share it without
    # locks. The analytics warehouse lacks the identity tables (no PII there).
    if settings.identity_state is not None:
        run_vars["previous_restricted_output"] = str(settings.identity_state)
    return run_vars


def _build(context, dbt, settings: Settings, target, work):
    # a refresh killed during dbt leaves its half-built file here: start afresh
    for stale in (work, wal_path(work)):
        stale.unlink(missing_ok=True)
    dbt_vars = {
        # the warehouse's own identity model (int_identity_model): trained in the
        # build when needed, unless CRM_DBT_VARS names another folder
        "identity_model_dir": str(warehouse_model_dir(settings.home)),
        **settings.dbt_vars,
        "currency": settings.currency,
        "identity_full_relink": settings.identity_full_relink,
        "identity_retrain": settings.identity_retrain,
    }
    # Full, or incremental from a copy of the last restricted output (crm/incremental.py).
    plan = plan_build(settings, dbt_vars)
    say(f"{plan.mode} build: {plan.reason}", context.log.info)
    dbt_vars.update(build_run_vars(settings, work, plan.incremental))
    if plan.incremental:
        with stage("copy_state", context.log.info):
            copy_file(settings.restricted, work)
            keep_only(work, incremental_relations(crm_dbt_project.manifest_path))
        fault_point("build:state_copied")
    with stage("dbt", context.log.info) as facts:
        # YAML unit tests check the SQL, not the data: they run in the test suite, not here.
        # No dbt.log: the run's log already keeps dbt's output (dagster-dbt echoes
        # it), and dbt's file logger serialises every event to JSON, debug ones
        # included, before its level drops them (~6% of dbt's time at 200
        # customers). Compiled SQL stays in dbt-target/run.
        args = [
            "build",
            "--exclude-resource-type",
            "unit_test",
            "--log-level-file",
            "none",
            "--vars",
            json.dumps(dbt_vars),
            # a full build starts from an empty file; said to dbt too, for incremental models
            *([] if plan.incremental else ["--full-refresh"]),
        ]
        # dbt in this process, the parsed project kept between refreshes
        # (orchestration/dbt_runner.py); run artifacts go to a fixed folder per CRM_HOME.
        invocation = dbt_run(
            context,
            args,
            target_path=settings.dbt_target_dir,
            project_dir=Path(dbt.project_dir),
            profiles_dir=Path(dbt.profiles_dir or dbt.project_dir),
        )
        clv_facts: dict = {}
        try:
            for event in invocation.stream():
                yield _with_clv_facts(context, event, clv_facts, work)
            # what the next refresh needs to know about this build (meta.warehouse_info)
            record_build_state(work, plan)
        finally:
            # failed or not, the build is this run's from here (kept for diagnosis)
            move_duckdb_file(work, target)
        # dbt's own elapsed time excludes its start-up (imports, parse, adapter).
        facts["work_seconds"] = round(invocation.elapsed_seconds or 0.0, 3)
