{#-
    Helpers for the matching features of int_contacts_normalized (Splink).
    Portable: character classes instead of backslash escapes (Spark string
    literals treat backslashes as escapes), no backreferences in replacements
    (DuckDB writes \1, Spark $1), regexp_extract always with its group.
-#}

{#- fold_name(expr): a normalised name (normalize_name) folded so spelling
    variants meet: 'ß' -> 'ss', 'ae'/'oe'/'ue' -> 'a'/'o'/'u' (Mueller =
    Müller = Muller), everything but letters dropped ('van den Berg' =
    'Vandenberg', 'Jean-Luc' = 'Jeanluc'); empty -> null. -#}
{% macro fold_name(expr) -%}
    nullif(
        {{ regexp_replace_all(
            "replace(replace(replace(replace(" ~ expr ~ ", 'ß', 'ss'), 'ae', 'a'), 'oe', 'o'), 'ue', 'u')",
            '[^a-z]',
            ''
        ) }},
        ''
    )
{%- endmacro %}

{#- street_tokens(expr): a normalised address line (normalize_name) as
    space-separated tokens padded with one space on each side, punctuation
    gone and street types in one short form: 'Hauptstraße 5' = 'Hauptstrasse
    5' = 'Hauptstr. 5' -> ' hauptstr 5 ', 'Kerkstraat 3' -> ' kerkstr 3 ',
    'Avenue Foch' -> ' av foch ', 'Boulevard X' -> ' bd x ', 'Place X' ->
    ' pl x '. The padding lets the rewrites match whole words without
    backreferences. -#}
{% macro street_tokens(expr) -%}
    {%- set cleaned = regexp_replace_all(
        regexp_replace_all("replace(" ~ expr ~ ", 'ß', 'ss')", '[^a-z0-9]', ' '),
        ' +',
        ' '
    ) -%}
    {%- set padded = dbt.concat(["' '", cleaned, "' '"]) -%}
    {%- set typed = regexp_replace_all(padded, '(strasse|straat|str) ', 'str ') -%}
    {%- set typed = regexp_replace_all(typed, ' (avenue|ave|av) ', ' av ') -%}
    {%- set typed = regexp_replace_all(typed, ' (boulevard|blvd|bd) ', ' bd ') -%}
    {%- set typed = regexp_replace_all(typed, ' (place|pl) ', ' pl ') -%}
    {{ typed }}
{%- endmacro %}

{#- The columns of int_contacts_normalized that scoring reads besides
    contact_key: crm/identity/matching.py FEATURE_COLUMNS, in its order
    (tests/test_identity_matching.py checks that they agree). A pair's score
    depends on these, its records' block signatures and the model only. -#}
{% macro identity_matched_columns() -%}
    {{ return([
        'source_system', 'first_name_key', 'first_name_canonical', 'first_name_canonical_alt',
        'last_name_key', 'name_tokens_sorted', 'birth_date', 'birth_year', 'birth_month',
        'birth_day', 'street_name', 'house_number', 'postal_code_normalized', 'city_normalized',
        'email_match_key', 'phone_match_key', 'loyalty_id_match_key',
    ]) }}
{%- endmacro %}
