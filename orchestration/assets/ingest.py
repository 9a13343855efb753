"""The raw load: inbox files into the persistent raw store, one asset per entity."""

from collections import defaultdict

import dagster as dg

from crm.config import Settings
from crm.contract import ENTITIES
from crm.progress import stage

RAW_KEYS = {name: dg.AssetKey(["raw", name]) for name in ENTITIES}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key,
            group_name="raw",
            kinds={"duckdb"},
            description=f"Raw `{name}` rows from `<inbox>/{name}/`: append-only, with lineage.",
        )
        for name, key in RAW_KEYS.items()
    ],
    name="raw_load",
)
def raw_load(context: dg.AssetExecutionContext, settings: dg.ResourceParam[Settings]):
    """Load every new inbox file once (by content hash); bad rows go to quarantine."""
    from crm.load import load_inbox  # heavy imports stay off definition loading
    from crm.privacy import secure_home

    # an installation from before crm/privacy.py: its personal data made owner-only
    tightened = secure_home(settings)
    privacy_note = tightened.note()
    if privacy_note:
        # a warning when something was made owner-only; the inbox's own modes are
        # the dropping systems' business: said each run, but only as information
        say = context.log.warning if tightened.changed else context.log.info
        say(f"privacy: {privacy_note}")
    with stage("load", context.log.info) as facts:
        report = load_inbox(settings)
    per_entity: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for result in report.files:
        stats = per_entity[result.entity]
        stats["files_" + result.status] += 1
        for field in ("rows_in_file", "rows_loaded", "rows_quarantined", "rows_duplicate"):
            stats[field] += getattr(result, field) or 0
    rejected = [r for r in report.files if r.status == "rejected"]
    for result in rejected:
        blocks = " (it holds back publication)" if result.blocks_publication else ""
        context.log.warning(f"rejected file {result.file}{blocks}: {result.error}")
    if rejected:
        from crm.alerts import alert_rejected_files

        alert_rejected_files(
            settings,
            context.run_id,
            [
                {"file": r.file, "error": r.error, "blocks_publication": r.blocks_publication}
                for r in rejected
            ],
        )
    for name, key in RAW_KEYS.items():
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                **{k: dg.MetadataValue.int(v) for k, v in per_entity.get(name, {}).items()},
                "seconds": facts["seconds"],
                **({"privacy_note": privacy_note} if privacy_note else {}),
            },
        )
