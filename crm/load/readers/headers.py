"""Matching a file's column names (a CSV or Excel header, Parquet columns, JSON keys)
to the contract columns of its entity: names are normalised (`normalise_name`), the
import settings' column mapping applied, and constants and derived columns from the
import settings added; a file that lacks a required column, or has two names that
collide, is rejected with a message that never repeats personal data."""

from __future__ import annotations

import re
import string

from crm.contract import Entity
from crm.load.results import FileRejected
from crm.rawstore import quote_literal
from crm.sources import Source


def normalise_name(name: str) -> str:
    """Header/key normalisation: lower case, trimmed, whitespace runs -> '_'."""
    return re.sub(r"\s+", "_", name.strip().lower())


_LOOKS_LIKE_DATA = re.compile(r"@|\d[^\d]?\d[^\d]?\d")  # an e-mail, a phone, a date, an amount


def names_found_message(names: list[str], what: str) -> str:
    """The names a header line holds, for a message, unless the line looks like a data
    row: then only how many fields it has, since its values can be personal data
    (an export without its header line) and messages reach logs (crm/privacy.py)."""
    if not names:
        return f"Found no {what}s"
    fields = [part for name in names for part in re.split(r"[;\t|]", name)]
    if any(_LOOKS_LIKE_DATA.search(field) for field in fields):
        return (
            f"The first line has {len(fields)} field(s) and looks like a data row, not a "
            "header (it holds '@' or numbers; not repeated here, as it may be personal "
            "data): does the file lack its header line?"
        )
    return f"Found {what}(s): " + ", ".join(repr(n) for n in names)


def apply_column_mapping(names: list[str], source: Source | None) -> list[str]:
    """The file's names as the contract knows them: the source's column mapping applied
    (matched like headers are: case and surrounding spaces do not count)."""
    if source is None or not source.columns:
        return names
    rename = {normalise_name(k): v for k, v in source.columns}
    return [rename.get(normalise_name(n), n) for n in names]


def columns_from_settings(
    source: Source | None, names: list[str], exprs: list[str]
) -> dict[str, list[str]]:
    """Contract columns the import settings give rather than the file: constants,
    source_system for a file without it, and columns derived by a template of the
    file's columns (`names`, whose SQL expressions are `exprs`)."""
    if source is None:
        return {}
    have = {normalise_name(n) for n in apply_column_mapping(names, source)}
    by_field = {normalise_name(n): e for n, e in zip(names, exprs, strict=True)}
    provided: dict[str, list[str]] = {}
    for column, how in [
        *((c, "constants") for c, _ in source.constants),
        *((c, "derived") for c, _ in source.derived),
    ]:
        if column in have:
            raise FileRejected(
                f"{column} is a column of the file and in the {how} of source "
                f"{source.name!r} (sources.yml line {source.line}): drop one of them"
            )
    for column, value in source.constants:
        provided[column] = [quote_literal(value)]
    if source.source_system is not None and "source_system" not in have:
        provided["source_system"] = [quote_literal(source.source_system)]
    for column, template in source.derived:
        parts = []
        for literal, name, _, _ in string.Formatter().parse(template):
            if literal:
                parts.append(quote_literal(literal))
            if name is not None:
                if normalise_name(name) not in by_field:
                    raise FileRejected(
                        f"{column} is derived from the column {name!r} (source {source.name!r}, "
                        f"sources.yml line {source.line}), which the file lacks"
                    )
                parts.append(by_field[normalise_name(name)])
        provided[column] = [" || ".join(parts)]
    return provided


def map_header(
    entity: Entity,
    names: list[str],
    what: str,
    provided: dict[str, list[str]] | None = None,
) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """Match normalised header names to contract columns (source columns c0, c1, ...).

    Rejects the file when a required column is missing (and not ``provided`` by
    import settings) or two names collide after normalisation. Returns (contract
    column -> [source expression], [(extra name, source column)]).
    """
    provided = provided or {}
    normalised = [normalise_name(n) or f"column_{i + 1}" for i, n in enumerate(names)]
    seen: dict[str, int] = {}
    for i, name in enumerate(normalised):
        if name in seen:
            shown = "" if _LOOKS_LIKE_DATA.search(name) else f" {name!r}"  # a data row's value?
            raise FileRejected(
                f"duplicate {what}{shown} after normalising names "
                f"(positions {seen[name] + 1} and {i + 1})"
            )
        seen[name] = i
    missing = [c for c in entity.required if c not in seen and c not in provided]
    if missing:
        hint = ""
        if len(names) == 1 and any(d in names[0] for d in ";\t|"):
            hint = (
                " The header is one single column: is the file separated by ';', tab or '|'"
                " instead of ','?"
            )
        raise FileRejected(
            f"required {what}(s) missing: {', '.join(missing)}. "
            f"{names_found_message(names, what)}.{hint}"
        )
    known = set(entity.column_names)
    columns = {name: [f"c{i}"] for name, i in seen.items() if name in known}
    columns.update(provided)
    extras = [(name, f"c{i}") for name, i in seen.items() if name not in known]
    return columns, extras


def map_file_columns(
    entity: Entity, names: list[str], source: Source | None
) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """`map_header` for a file whose columns are staged positionally as c0, c1, ...:
    the source's column mapping applied and the import settings' constants and
    derived columns provided."""
    exprs = [f"c{i}" for i in range(len(names))]
    return map_header(
        entity,
        apply_column_mapping(names, source),
        "column",
        columns_from_settings(source, names, exprs),
    )
