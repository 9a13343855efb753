"""Identity accuracy on the public Febrl person records, through a plain `crm refresh`.

    .venv/bin/python bench/bench_identity_febrl.py [--keep DIR]

For each Febrl set (tests/fixtures/febrl/, see its README for source and
licence), and for each column subset (all columns; names and birth dates only),
feeds the records through the inbox as contacts, refreshes a new warehouse with
default settings and prints pairwise precision, recall and F1 of customer_xref
against the Febrl truth, the model the refresh trained and the refresh's time.
The test suite asserts F1 >= 0.99 (tests/test_identity_febrl.py); this prints
the figures for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import Env  # noqa: E402
from tests.test_identity_febrl import (  # noqa: E402
    CONTACT_COLUMNS,
    build_model,
    febrl_rows,
    scores,
    write_inbox,
)

SUBSETS = {
    "all columns": CONTACT_COLUMNS,
    "names and birth dates": [
        "source_system",
        "source_contact_id",
        "first_name",
        "last_name",
        "birth_date",
    ],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="build the warehouses here and keep them")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="crm-febrl-"))
    for dataset in ("dataset1", "dataset2"):
        for label, columns in SUBSETS.items():
            env = Env(root / f"{dataset}-{label.replace(' ', '-')}")
            write_inbox(env, febrl_rows(dataset), columns)
            started = time.monotonic()
            env.crm("refresh")
            seconds = time.monotonic() - started
            got, model = scores(env), build_model(env)
            print(
                f"{dataset} ({label}): {got['contacts']} records, precision "
                f"{got['precision']:.4f}, recall {got['recall']:.4f}, F1 {got['f1']:.4f}; "
                f"model {model['origin']}, threshold {model['threshold']:g}, "
                f"trained in {model['facts'].get('seconds', 0):.1f}s; refresh {seconds:.0f}s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
