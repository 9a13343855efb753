"""The loader: inbox files -> the persistent raw store (a DuckDB file).

Each file under ``<inbox>/<entity>/`` is loaded at most once (by content
hash), in one transaction, with set-based SQL only: one scan of the file into a
temporary table of text values, one statement turning those into typed and
checked values, then a handful of ``INSERT ... SELECT`` statements. No Python
loop ever touches a row, so the same code loads a ten-row test file and a
100M-row orders extract.

What a file becomes (the rules of data contract v1):

* rows that pass the contract -> the entity table (append-only history);
* rows that break it (required value missing or unparseable, a line the CSV
  reader cannot split, an invalid JSON line, rows that share a key but
  differ) -> ``quarantine`` with row number, raw row and reason;
* exact repeats within the file (same normalised contract values), and rows
  equal to the current version already loaded for their key -> ``duplicates``;
* optional values that do not parse or are outside their allowed set/range
  -> the row is kept with a null, the problem goes to ``value_issues``;
* a file that cannot be read as a whole -> a 'rejected' ledger row, nothing
  else; the run goes on with the other files;
* a file whose content was loaded or rejected before (under any name) ->
  'skipped', nothing written.

Row numbers (``_row_number`` and ``row_number`` everywhere) are 1-based
*physical line numbers* for CSV (the header is line 1, so the first data row is
line 2; a quoted value spanning lines numbers the record by its first line)
and JSONL (blank lines count), and 1-based row positions for Parquet.

Versions: a row whose key was loaded before but whose values differ is
appended as a new version. Staging picks the current version of a key as the
row with the greatest ``_loaded_at`` (strictly increasing per load, one row
per key per load), e.g.::

    qualify row_number() over (partition by <key> order by _loaded_at desc) = 1

The package, by concern:

* ``discovery``: the candidate files under the inbox, in load order;
* ``fingerprint``: a file's content hash, size and lines; gzip verification;
* ``readers``: staging a file (CSV, Parquet, Excel, JSON lines) into temporary
  tables, with ``values`` (the SQL typing and checking text values) and
  ``numbering`` (row numbers);
* ``write``: classifying the staged rows and inserting them, ledger row last;
* ``one_file``: one file in its transaction (or skipped, or rejected);
* ``inbox``: the entry point, ``load_inbox``; ``store``: opening the raw store;
* ``preview``: what a file would load, without loading it (``crm inbox check``);
* ``results``: ``FileResult``, ``LoadReport`` and the loader's exceptions.
"""

from __future__ import annotations

from crm.load.discovery import InboxFile, discover_inbox
from crm.load.inbox import load_inbox
from crm.load.preview import Preview, preview_file
from crm.load.readers.headers import normalise_name
from crm.load.results import FileRejected, FileResult, LoadIntegrityError, LoadReport
from crm.load.store import connect_raw_store
from crm.rawstore import ensure_raw_store

__all__ = [
    "FileRejected",
    "FileResult",
    "InboxFile",
    "LoadIntegrityError",
    "LoadReport",
    "Preview",
    "connect_raw_store",
    "discover_inbox",
    "ensure_raw_store",
    "load_inbox",
    "normalise_name",
    "preview_file",
]
