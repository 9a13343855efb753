"""Which identity model a refresh links with, and where a warehouse keeps its own.

In order:
1. ``CRM_IDENTITY_MODEL``: a model file named explicitly (pinned);
2. the warehouse's own model, ``$CRM_HOME/identity/model/``, trained on its
   contacts by `crm identity train` (owner-only: its term-frequency tables hold
   names and postal codes);
3. the model the package ships (crm/identity/model/), trained on generated demo
   data: for the demo and for data too small to train on.

A model trained here carries its training facts (``training.json``: the data's
profile, the training blocks used or skipped, the prior, and the link threshold
with the model's estimated precision and recall at it). The refresh links at
that threshold unless the dbt var ``identity_match_threshold`` is set; the
shipped model links at matching.RECOMMENDED_THRESHOLD.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm.identity import matching


@dataclass(frozen=True)
class ModelChoice:
    path: Path
    origin: str  # 'pinned', 'warehouse' or 'shipped'
    threshold: float
    facts: dict[str, Any]

    @property
    def version(self) -> str:
        return matching.model_version(self.path)

    def describe(self) -> str:
        what = {
            "pinned": f"the model named by {matching.MODEL_ENV}",
            "warehouse": "the warehouse's own model",
            "shipped": "the demo model shipped with the package",
        }[self.origin]
        text = f"identity model: {what} ({self.path}), link threshold {self.threshold:g}"
        if self.facts.get("estimated_precision") is not None:
            text += (
                f", estimated precision {self.facts['estimated_precision']:.4f}"
                f" and recall {self.facts['estimated_recall']:.4f}"
            )
        if self.facts.get("trained_at"):
            text += f", trained {self.facts['trained_at']}"
        return text


def warehouse_model_dir(home: Path) -> Path:
    return Path(home) / "identity" / "model"


def read_facts(model_path: Path) -> dict[str, Any]:
    facts = Path(model_path).parent / matching.FACTS_FILE
    if not facts.exists():
        return {}
    return json.loads(facts.read_text(encoding="utf-8"))


def resolve(home: Path) -> ModelChoice:
    """The model a refresh under ``home`` links with (see the module docstring)."""
    pinned = os.environ.get(matching.MODEL_ENV)
    if pinned:
        path, origin = Path(pinned).expanduser().resolve(), "pinned"
    else:
        own = warehouse_model_dir(home) / matching.MODEL_FILE
        if own.exists():
            path, origin = own, "warehouse"
        else:
            path, origin = matching.MODEL_DIR / matching.MODEL_FILE, "shipped"
    facts = read_facts(path)
    threshold = float(facts.get("threshold") or matching.RECOMMENDED_THRESHOLD)
    return ModelChoice(path=path, origin=origin, threshold=threshold, facts=facts)


def replace_model_dir(target: Path, write) -> Path:
    """Write a model with ``write(folder)`` into a new sibling folder, then swap it in.

    Readers see the old model or the new one, never a half-written folder.
    Returns the model file's path in ``target``.
    """
    from crm.pii import private_dir

    target = Path(target)
    parent = private_dir(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=".model-", dir=parent))
    try:
        write(staging)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=".old-", dir=parent))
            os.replace(target, old / "model")
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / matching.MODEL_FILE


# A refresh retrains the warehouse's model when the data has changed shape since
# it was trained (DECISIONS.md): these say how much change counts.
GROWTH_FACTOR = 3.0  # contacts grown this many times over
FILL_CHANGE = 0.05  # a comparison filled in under 1% of contacts now over 5%, or back
NEW_SOURCE_SHARE = 0.05  # a source system it never saw now holds this share of contacts


@dataclass(frozen=True)
class BuildModel:
    """What a build links with, and why (one row of intermediate.int_identity_model)."""

    path: Path
    origin: str  # 'trained' (this refresh), 'warehouse', 'pinned', 'shipped'
    threshold: float
    facts: dict[str, Any]
    note: str

    @property
    def version(self) -> str:
        return matching.model_version(self.path)


def shape_changes(trained: dict[str, Any], now: dict[str, Any], source_shares: dict[str, float]):
    """Why data profiled as ``now`` no longer has the shape a model was trained on."""
    from crm.identity.train import MIN_FILL

    reasons = []
    if now["contacts"] >= GROWTH_FACTOR * max(int(trained["contacts"]), 1):
        reasons.append(f"contacts grew from {trained['contacts']} to {now['contacts']}")
    for name, share in now["fill"].items():
        before = float(trained["fill"].get(name, 0.0))
        if before < MIN_FILL <= FILL_CHANGE <= share:
            reasons.append(f"{name} is now filled ({before:.0%} -> {share:.0%})")
        elif share < MIN_FILL <= FILL_CHANGE <= before:
            reasons.append(f"{name} is now empty ({before:.0%} -> {share:.0%})")
    for source, share in sorted(source_shares.items()):
        if source not in trained["sources"] and share >= NEW_SOURCE_SHARE:
            reasons.append(f"a new source system {source!r} ({share:.0%} of contacts)")
    return reasons


def _comparisons_changed(model_path: Path) -> bool:
    """The model's comparison levels are not this code's (trained by another version)."""
    settings = json.loads(Path(model_path).read_text(encoding="utf-8"))
    labels = [
        (c["output_column_name"], [lv["label_for_charts"] for lv in c["comparison_levels"]])
        for c in settings["comparisons"]
    ]
    ours = [
        (c["output_column_name"], [lv["label_for_charts"] for lv in c["comparison_levels"]])
        for c in matching.comparisons()
    ]
    return labels != ours


def prepare_build_model(
    contacts,
    model_dir: Path | None,
    *,
    retrain: bool = False,
    seed: int = 42,
    like=None,
    log=print,
) -> BuildModel:
    """Choose (and when needed train) the model a build links with.

    ``contacts``: a DuckDB relation or Arrow table with int_contacts_normalized's
    feature columns and has_contact_record. ``model_dir``: the warehouse's own
    model folder ($CRM_HOME/identity/model), or None (a plain `dbt build`: no
    training, the shipped model). A model named by CRM_IDENTITY_MODEL is used
    as it is. Otherwise the warehouse's model is used unless it is missing,
    ``retrain`` is asked for, or the data changed shape since it was trained
    (shape_changes); then the model is trained on these contacts and written
    to ``model_dir`` (``like``: the connection whose resource limits training
    takes). Too little data to train keeps the warehouse's model if it
    has one, else the shipped model, with a note saying so.
    """
    import pyarrow as pa

    pinned = os.environ.get(matching.MODEL_ENV)
    if pinned:
        path = Path(pinned).expanduser().resolve()
        facts = read_facts(path)
        threshold = float(facts.get("threshold") or matching.RECOMMENDED_THRESHOLD)
        return BuildModel(path, "pinned", threshold, facts, f"pinned by {matching.MODEL_ENV}")
    shipped = matching.MODEL_DIR / matching.MODEL_FILE
    if model_dir is None:
        return BuildModel(
            shipped, "shipped", matching.RECOMMENDED_THRESHOLD, {}, "no model folder given"
        )

    if isinstance(contacts, pa.Table):
        con = matching.private_connection(like)
        try:
            # the contacts' relation is con's: what trains on it works there
            return _choose(
                con.from_arrow(contacts), Path(model_dir), shipped, retrain, seed, con, log
            )
        finally:
            con.close()
    return _choose(contacts, Path(model_dir), shipped, retrain, seed, like, log)


def _choose(contacts, model_dir: Path, shipped: Path, retrain: bool, seed: int, like, log):
    """prepare_build_model's choice, for a DuckDB relation of the contacts."""
    from crm.identity import train

    # The profile is a few aggregates, run where the contacts are (in a build, a
    # relation of dbt's connection): copying 4M contacts out and sorting them cost
    # 23 s a build at 10M orders, and most builds do not train.
    on_contacts = matching.RelationQueries(contacts)
    records = (
        f"(select {', '.join(matching.FEATURE_COLUMNS)} from contacts_in "
        "where has_contact_record) as features"
    )
    now = train.profile_data(on_contacts, records).as_dict()
    shares = dict(
        on_contacts.execute(
            f"select source_system, count(*) / sum(count(*)) over () from {records} group by 1"
        ).fetchall()
    )

    own = model_dir / matching.MODEL_FILE
    reasons: list[str] = []
    if retrain:
        reasons = ["a retrain was asked for"]
    elif not own.exists():
        reasons = ["the warehouse has no model of its own yet"]
    else:
        facts = read_facts(own)
        if not facts.get("profile"):
            reasons = ["the warehouse's model has no training facts"]
        elif _comparisons_changed(own):
            reasons = ["the model was trained with other comparisons (an older version)"]
        else:
            reasons = shape_changes(facts["profile"], now, shares)
        if not reasons:
            return BuildModel(
                own, "warehouse", float(facts["threshold"]), facts, "the data kept its shape"
            )

    why = "; ".join(reasons)
    log(f"identity model: training on {now['contacts']} contact records ({why})")
    try:
        # counted where the contacts are (train._count_and_sample): a relation of
        # `like`, the caller's connection, is never copied into Python whole
        features = on_contacts.execute(f"select * from {records}")
        model, tf_tables, facts = train.train(features, seed, like=like, log=log)
    except train.TrainingSkipped as skipped:
        note = f"not trained ({skipped}); deterministic keys link, with "
        if own.exists():
            facts = read_facts(own)
            threshold = float(facts.get("threshold") or matching.RECOMMENDED_THRESHOLD)
            return BuildModel(own, "warehouse", threshold, facts, note + "the warehouse's model")
        return BuildModel(
            shipped,
            "shipped",
            matching.RECOMMENDED_THRESHOLD,
            {},
            note + "the shipped demo model",
        )
    facts_dict = facts.as_dict()
    facts_dict["trained_because"] = why
    path = replace_model_dir(
        model_dir, lambda folder: train.write_model(folder, model, tf_tables, facts_dict)
    )
    return BuildModel(path, "trained", float(facts_dict["threshold"]), facts_dict, why)
