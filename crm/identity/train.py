"""Train the identity matching model (unsupervised) and write it to crm/identity/model/.

Re-training is a documented command, reproducible from a seed:

    .venv/bin/python -m crm.identity.train --warehouse data/warehouse.duckdb \\
        --out crm/identity/model --seed 42

It reads ``intermediate.int_contacts_normalized`` of a built (published) warehouse
and writes ``splink_model.json`` plus the frozen term-frequency tables
``tf_<column>.parquet`` beside it. Same data + seed -> byte-identical files (one
DuckDB thread, seeded sampling, parameters rounded to 12 significant digits).

No labels: real users have none. The steps:
1. term frequencies of first name, last name and postal code (frozen in the model);
2. u probabilities from a seeded random sample of record pairs (non-matches);
3. m probabilities by expectation maximisation, in sessions blocked on the
   e-mail, the phone and the loyalty id (pairs that share one are nearly all
   one person; a session estimates every comparison but its own key);
4. the prior (probability that two random records match): the expected number
   of matches among the blocked pairs (the sum of their match probabilities)
   over all pairs, iterated to a fixed point. It is the prior of the training
   data's size: kept fixed so that a pair's score never depends on the size of
   a refresh (incremental = full); the match threshold absorbs the scale.

The demo model shipped in the repository was trained on generated data
(`crm generate --customers 50000 --seed 42`, `crm refresh`, then this command).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from crm.identity import matching

CONTACTS_TABLE = "intermediate.int_contacts_normalized"
U_MAX_PAIRS = 2e7
# Blocking of the EM sessions (m probabilities).
# Pairs sharing an identity key are nearly all one person, so EM within them
# sees how a person's records differ; each session estimates every comparison
# but its own key. (Blocks on name/address would mix in household members and
# namesakes and teach the model that matches often differ in birth date.)
EM_BLOCKING_RULES = (
    "l.email_match_key = r.email_match_key",
    "l.phone_match_key = r.phone_match_key",
    "l.loyalty_id_match_key = r.loyalty_id_match_key",
)
PRIOR_ITERATIONS = 5
SIGNIFICANT_DIGITS = 12
# A level the training data never shows (no record pair of one person with two
# phones in the demo data; no random pair sharing an e-mail's local part) has
# no estimate; these stand in: rare among matches, rarer than the random
# sample could see among non-matches.
M_UNOBSERVED = 1e-3  # u: half a pair of the random sample


def _round(value: Any) -> Any:
    if isinstance(value, float) and value != 0 and math.isfinite(value):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def _fill_unobserved(model: dict[str, Any], u_max_pairs: float) -> None:
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            if not isinstance(level.get("m_probability"), float):
                level["m_probability"] = M_UNOBSERVED
            if not isinstance(level.get("u_probability"), float):
                level["u_probability"] = 0.5 / u_max_pairs


def _training_data(source: duckdb.DuckDBPyConnection | str | Path) -> pa.Table:
    columns = ", ".join(matching.FEATURE_COLUMNS)
    sql = f"select {columns} from {CONTACTS_TABLE} where has_contact_record order by contact_key"
    if isinstance(source, duckdb.DuckDBPyConnection):
        return source.execute(sql).to_arrow_table()
    con = duckdb.connect(str(source), read_only=True)
    try:
        return con.execute(sql).to_arrow_table()
    finally:
        con.close()


def term_frequencies(work: duckdb.DuckDBPyConnection, column: str) -> pa.Table:
    """Share of the non-null values of ``column`` that equal each value (Splink's tf_ column)."""
    return work.execute(
        f"""
        select
            {column},
            cast(count(*) as double) / sum(count(*)) over () as tf_{column}
        from crm_identity_input
        where {column} is not null
        group by {column}
        order by {column}
        """
    ).to_arrow_table()


def _prior_fixed_point(linker, work: duckdb.DuckDBPyConnection, n_records: int) -> float:
    """Expected matches among the blocked pairs / all pairs, iterated from the current prior."""
    all_pairs = n_records * (n_records - 1) / 2
    prior = linker._settings_obj._probability_two_random_records_match
    for _ in range(PRIOR_ITERATIONS):
        predictions = linker.inference.predict(warning_mode="never")
        expected = work.execute(
            f"select sum(match_probability) from {predictions.physical_name}"
        ).fetchone()[0]
        predictions.drop_table_from_database_and_remove_from_cache()
        new_prior = float(expected or 0.0) / all_pairs
        linker._settings_obj._probability_two_random_records_match = new_prior
        if abs(new_prior - prior) <= 1e-3 * prior:
            break
        prior = new_prior
    return linker._settings_obj._probability_two_random_records_match


def train_model(
    warehouse: duckdb.DuckDBPyConnection | str | Path,
    out_dir: str | Path = matching.MODEL_DIR,
    seed: int = 42,
    *,
    u_max_pairs: float = U_MAX_PAIRS,
) -> Path:
    """Train on a warehouse's normalised contacts; write the model files; return the JSON path.

    ``warehouse``: a path to a built warehouse file (opened read-only) or an open
    DuckDB connection in which ``intermediate.int_contacts_normalized`` resolves.
    ``u_max_pairs``: size of the random pair sample for the u probabilities.
    """
    from splink import DuckDBAPI, Linker

    data = _training_data(warehouse)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # One thread: parallel float sums and samples would differ run to run.
    work = duckdb.connect(":memory:", config={"threads": "1"})
    try:
        work.register("__training_arrow", data)
        work.execute("create table crm_identity_input as select * from __training_arrow")
        work.unregister("__training_arrow")
        db_api = DuckDBAPI(connection=work)
        df = db_api.register("crm_identity_input")
        linker = Linker(df, matching.base_settings(), log_level=logging.WARNING)

        tf_tables = {}
        for i, column in enumerate(matching.TF_COLUMNS):
            tf_tables[column] = term_frequencies(work, column)
            work.register(f"__tf_{i}_arrow", tf_tables[column])
            work.execute(f"create table crm_identity_tf_{i} as select * from __tf_{i}_arrow")
            linker.table_management.register_term_frequency_lookup(
                db_api.register(f"crm_identity_tf_{i}"), column
            )

        linker.training.estimate_u_using_random_sampling(
            max_pairs=u_max_pairs, seed=seed, min_count_per_level=None, num_chunks=1
        )
        for rule in EM_BLOCKING_RULES:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True
            )
        _prior_fixed_point(linker, work, data.num_rows)

        model = linker.misc.save_model_to_json()
        model["linker_uid"] = "crm_identity"
        _fill_unobserved(model, u_max_pairs)
        model = _round(model)
        model_path = out / matching.MODEL_FILE
        model_path.write_text(json.dumps(model, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        for column, table in tf_tables.items():
            pq.write_table(table, matching.tf_path(model_path, column), compression="zstd")
        return model_path
    finally:
        work.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crm.identity.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--warehouse", required=True, help="a built warehouse file (read-only)")
    parser.add_argument("--out", default=str(matching.MODEL_DIR), help="model folder")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    path = train_model(args.warehouse, args.out, args.seed)
    print(f"identity model written: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
