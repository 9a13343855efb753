"""The SQL that turns one entity's text values into typed, checked values.

`typed_rows_sql` builds one SELECT over a scanned file (text columns): every value is
trimmed, parsed into its contract type (with the import settings' number separators,
date and timestamp formats and time zone), checked against the contract (required,
allowed values, minimum and maximum), and each row gets its quarantine reasons, its
value issues, its row hash and its extra columns. Nothing here runs SQL; it only
writes it."""

from __future__ import annotations

from crm.contract import SYNONYMS, Column, Entity
from crm.rawstore import quote_ident, quote_literal
from crm.sources import Source

# Leading/trailing whitespace trimmed from every value, including the no-break
# space that spreadsheet exports like to leave behind. A regex is ~3x faster
# in DuckDB than trim() with an explicit character set.
TRIM_RE = "'^[\\s\\v\\x{a0}]+|[\\s\\v\\x{a0}]+$'"


_TRUE_WORDS = ("true", "1", "yes", "y", "t")
_FALSE_WORDS = ("false", "0", "no", "n", "f")
_MAX_SHOWN_CHARS = 100  # characters of a raw value quoted in a reason


def _value_kind(column: Column) -> str:
    return {"money": "number", "number": "number"}.get(column.type, column.type)


# A time of day followed by a UTC offset: the value says its zone itself.
_UTC_OFFSET_RE = "'[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?[ ]*(Z|[+-][0-9]{2}(:?[0-9]{2})?)$'"


def _number_text_sql(text_sql: str, source: Source | None, decimals: bool = True) -> str:
    """Text of a number as DuckDB reads it: the source's separators made contract-like."""
    if source is None:
        return text_sql
    if source.thousands:
        text_sql = f"replace({text_sql}, {quote_literal(source.thousands)}, '')"
    if decimals and source.decimal != ".":
        text_sql = f"replace({text_sql}, {quote_literal(source.decimal)}, '.')"
    return text_sql


def _formats_list_sql(formats: tuple[str, ...]) -> str:
    return "[" + ", ".join(quote_literal(f) for f in formats) + "]"


def _parse_sql(column: Column, text_sql: str, source: Source | None = None) -> str:
    """Expression parsing trimmed text (the SQL ``text_sql``) into the column's raw type
    (null = unparseable).

    ``source``: import settings (crm/sources.py) whose number separators, date and
    timestamp formats and time zone apply; None or contract-like = contract v1."""
    if source is not None and source.reads_text_like_the_contract:
        source = None
    if column.type == "timestamp" and source is not None:
        # A value with an offset is honoured as before; the rest is local time of
        # the source's zone, in its formats (a date alone is midnight) or ISO.
        formats = source.timestamp_format + source.date_format
        naive = f"try_cast({text_sql} AS TIMESTAMP)"
        if formats:
            naive = f"coalesce(try_strptime({text_sql}, {_formats_list_sql(formats)}), {naive})"
        local = f"timezone({quote_literal(source.timezone)}, {naive})"
        return (
            f"make_timestamp(epoch_us(CASE WHEN regexp_matches({text_sql}, {_UTC_OFFSET_RE}) "
            f"THEN try_cast({text_sql} AS TIMESTAMPTZ) ELSE {local} END))"
        )
    if column.type == "date" and source is not None and source.date_format:
        return (
            f"coalesce(try_strptime({text_sql}, {_formats_list_sql(source.date_format)})::DATE, "
            f"try_cast({text_sql} AS DATE))"
        )
    if column.type in ("money", "number", "integer"):
        text_sql = _number_text_sql(text_sql, source, decimals=column.type != "integer")
    if column.type == "timestamp":
        # Via TIMESTAMPTZ so that an offset is honoured (a plain TIMESTAMP cast
        # drops it), then naive UTC. epoch_us/make_timestamp is exact and ~5x
        # faster than timezone('UTC', ...); 'infinity' becomes null (invalid).
        return f"make_timestamp(epoch_us(try_cast({text_sql} AS TIMESTAMPTZ)))"
    if column.type == "date":
        return f"try_cast({text_sql} AS DATE)"
    if column.type in ("money", "number"):
        return f"try_cast({text_sql} AS {column.raw_type})"
    if column.type == "integer":
        # try_cast('1.5' AS BIGINT) rounds; only whole numbers are integers.
        whole = f"regexp_full_match({text_sql}, '[+-]?[0-9]+(\\.0*)?')"
        return f"CASE WHEN {whole} THEN try_cast({text_sql} AS BIGINT) END"
    if column.type == "boolean":
        true_words = ", ".join(map(quote_literal, _TRUE_WORDS))
        false_words = ", ".join(map(quote_literal, _FALSE_WORDS))
        return (
            f"CASE WHEN lower({text_sql}) IN ({true_words}) THEN true "
            f"WHEN lower({text_sql}) IN ({false_words}) THEN false END"
        )
    if column.allowed:
        synonyms = SYNONYMS.get(column.name, {})
        if not synonyms:
            return f"lower({text_sql})"
        whens = " ".join(
            f"WHEN {quote_literal(k)} THEN {quote_literal(v)}" for k, v in sorted(synonyms.items())
        )
        return f"CASE lower({text_sql}) {whens} ELSE lower({text_sql}) END"
    return text_sql


def _can_have_issue(column: Column) -> bool:
    return column.type != "string" or bool(column.allowed)


def _value_checks_sql(column: Column, text_sql: str, parsed_sql: str) -> tuple[str, str]:
    """(value expression, message expression) from the SQL of a column's trimmed text
    and of its parsed value."""
    shown = f"'''' || left({text_sql}, {_MAX_SHOWN_CHARS}) || ''''"
    failures: list[tuple[str, str]] = []  # (condition that fails, message)
    if column.type != "string":
        failures.append(
            (
                f"{parsed_sql} IS NULL",
                f"{quote_literal(column.name + ' ')} || {shown} || "
                f"' is not a valid {_value_kind(column)}'",
            )
        )
    if column.allowed:
        allowed = ", ".join(map(quote_literal, column.allowed))
        failures.append(
            (
                f"{parsed_sql} NOT IN ({allowed})",
                f"{quote_literal(column.name + ' ')} || {shown} || "
                f"{quote_literal(' is not one of: ' + ', '.join(column.allowed))}",
            )
        )
    if column.minimum is not None:
        failures.append(
            (
                f"{parsed_sql} < {column.minimum}",
                f"{quote_literal(column.name + ' ')} || {shown} || "
                f"' is below the minimum {column.minimum:g}'",
            )
        )
    if column.maximum is not None:
        failures.append(
            (
                f"{parsed_sql} > {column.maximum}",
                f"{quote_literal(column.name + ' ')} || {shown} || "
                f"' is above the maximum {column.maximum:g}'",
            )
        )
    missing = quote_literal(f"{column.name} is missing") if column.required else "NULL"
    message = f"CASE WHEN {text_sql} IS NULL THEN {missing} " + " ".join(
        f"WHEN {cond} THEN {msg}" for cond, msg in failures
    )
    message += " END"
    if failures:
        bad = " OR ".join(cond for cond, _ in failures)
        value = f"CASE WHEN {text_sql} IS NOT NULL AND NOT ({bad}) THEN {parsed_sql} END"
    else:
        value = parsed_sql
    return value, message


def typed_rows_sql(
    entity: Entity,
    from_sql: str,
    columns: dict[str, list[str]],
    extras: list[tuple[str, str]],
    settings: Source | None = None,
) -> str:
    """SELECT turning a source of text values into checked, typed rows.

    ``from_sql`` (a table or subquery) yields ``k`` (the row's ordinal or number)
    and the text columns that ``columns`` (contract name -> source expressions,
    coalesced) and ``extras`` (normalised name -> source expression) refer to;
    ``settings`` are the file's import settings (how numbers, dates and timestamps read). The result
    has ``k``, every contract column typed, ``_reasons`` (why the row is
    quarantined, null if it is fine), ``_issues`` (optional values nulled),
    ``_row_hash`` and ``_extra``. Nested SELECTs name each step (trimmed text,
    parsed value, checked value and message) without repeating expressions.
    """
    trim = lambda e: f"nullif(regexp_replace({e}, {TRIM_RE}, '', 'g'), '')"  # noqa: E731
    trimmed = ["src.*"]
    for column in entity.columns:
        exprs = [trim(e) for e in columns.get(column.name, [])]
        text = (
            exprs[0]
            if len(exprs) == 1
            else (f"coalesce({', '.join(exprs)})" if exprs else "NULL::VARCHAR")
        )
        trimmed.append(f"{text} AS {quote_ident('t_' + column.name)}")
    for i, (_, expr) in enumerate(extras):
        trimmed.append(f"{trim(expr)} AS x_{i}")
    parsed = ["*"] + [
        f"{_parse_sql(c, quote_ident('t_' + c.name), settings)} AS {quote_ident('p_' + c.name)}"
        for c in entity.columns
    ]
    checked = ["*"]
    for c in entity.columns:
        value, message = _value_checks_sql(
            c, quote_ident("t_" + c.name), quote_ident("p_" + c.name)
        )
        checked.append(f"{value} AS {quote_ident('v_' + c.name)}")
        checked.append(f"{message} AS {quote_ident('m_' + c.name)}")

    def value_column(c: Column) -> str:
        return quote_ident("v_" + c.name)

    def message_column(c: Column) -> str:
        return quote_ident("m_" + c.name)

    reasons = (
        "nullif(concat_ws('; ', "
        + ", ".join(message_column(c) for c in entity.columns if c.required)
        + "), '')"
    )
    optional = [c for c in entity.columns if not c.required and _can_have_issue(c)]
    issue_type = "STRUCT(column_name VARCHAR, raw_value VARCHAR, reason VARCHAR)[]"
    if optional:
        structs = ", ".join(
            f"{{'column_name': {quote_literal(c.name)}, 'raw_value': {quote_ident('t_' + c.name)}, "
            f"'reason': {message_column(c)}}}"
            for c in optional
        )
        issues = (
            f"CASE WHEN {' OR '.join(f'{message_column(c)} IS NOT NULL' for c in optional)} "
            f"THEN list_filter([{structs}], lambda x: x.reason IS NOT NULL) END"
        )
    else:
        issues = f"NULL::{issue_type}"
    # Hash over the non-null normalised values, named: adding an optional
    # column to the contract later does not change the hash of old rows.
    named = ", ".join(
        f"{quote_literal(c.name + '=')} || {value_column(c)}::VARCHAR" for c in entity.columns
    )
    row_hash = f"md5(concat_ws(chr(31), {named}))"
    if extras:
        xs = [f"x_{i}" for i in range(len(extras))]
        pairs = ", ".join(f"{quote_literal(n)}, {x}" for (n, _), x in zip(extras, xs, strict=True))
        any_extra = f"coalesce({', '.join(xs)}) IS NOT NULL"
        extra = f"CASE WHEN {any_extra} THEN json_object({pairs})::VARCHAR END"
    else:
        extra = "NULL::VARCHAR"
    # Present but invalid values, per column (the column profile: a column that
    # stops parsing is a retyped source column).
    checkable = [c for c in entity.columns if _can_have_issue(c)]
    if checkable:
        bad = [
            f"{quote_ident('t_' + c.name)} IS NOT NULL AND {message_column(c)} IS NOT NULL"
            for c in checkable
        ]
        items = ", ".join(
            f"CASE WHEN {cond} THEN {{'column_name': {quote_literal(c.name)}, "
            f"'raw_value': left({quote_ident('t_' + c.name)}, {_MAX_SHOWN_CHARS})}} END"
            for c, cond in zip(checkable, bad, strict=True)
        )
        invalid = (
            f"CASE WHEN {' OR '.join(f'({b})' for b in bad)} "
            f"THEN list_filter([{items}], lambda x: x IS NOT NULL) END"
        )
    else:
        invalid = "NULL::STRUCT(column_name VARCHAR, raw_value VARCHAR)[]"
    selected = ["k"] + [f"{value_column(c)} AS {quote_ident(c.name)}" for c in entity.columns]
    selected += [
        f"{reasons} AS _reasons",
        f"{issues} AS _issues",
        f"{row_hash} AS _row_hash",
        f"{extra} AS _extra",
        f"{invalid} AS _invalid",
    ]
    return (
        f"SELECT {', '.join(selected)} FROM ("
        f"SELECT {', '.join(checked)} FROM ("
        f"SELECT {', '.join(parsed)} FROM ("
        f"SELECT {', '.join(trimmed)} FROM {from_sql} src)))"
    )
