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

{#- The blocking rules of crm/identity/matching.py BLOCKING_RULES, in order,
    each as (name, key columns, cap): a rule pairs the records sharing its
    key when at most `cap` records do (matching.block_cap).
    tests/test_identity_blocking.py checks that they agree. -#}
{% macro identity_blocking_rules() -%}
    {{ return([
        ('birth_date+last_name', ['birth_date', 'last_name_key'], 20),
        ('birth_date+first_name', ['birth_date', 'first_name_canonical'], 20),
        ('birth_date+postal_code', ['birth_date', 'postal_code_normalized'], 20),
        ('postal_code+last_name', ['postal_code_normalized', 'last_name_key'], 10),
        ('address', ['postal_code_normalized', 'street_name', 'house_number'], 20),
        ('street+last_name', ['street_name', 'house_number', 'city_normalized', 'last_name_key'], 20),
        ('street+first_name', ['street_name', 'house_number', 'city_normalized', 'first_name_canonical'], 20),
        ('birth_date+name_tokens', ['birth_date', 'name_tokens_sorted'], 20),
        ('birth_date+city', ['birth_date', 'city_normalized'], 20),
        ('name_tokens+city', ['name_tokens_sorted', 'city_normalized'], 10),
        ('birth_date+house', ['birth_date', 'house_number'], 20),
        ('first_name+street', ['first_name_canonical', 'street_name', 'house_number'], 20),
        ('first_name+house+city', ['first_name_canonical', 'house_number', 'city_normalized'], 20),
        ('last_name+city', ['last_name_key', 'city_normalized'], 10),
        ('name', ['first_name_key', 'last_name_key'], 10),
        ('house+postal_code', ['house_number', 'postal_code_normalized'], 20),
        ('street+postal_code', ['street_name', 'postal_code_normalized'], 10),
    ]) }}
{%- endmacro %}

{#- A condition: every column of `columns` of `alias` is filled. -#}
{% macro all_filled(alias, columns) -%}
    {%- for column in columns -%}
        {{ ' and ' if not loop.first }}{{ alias }}.{{ column }} is not null
    {%- endfor -%}
{%- endmacro %}

{#- A join condition: `left` and `right` agree on every column of `columns`. -#}
{% macro same_columns(left, right, columns) -%}
    {%- for column in columns -%}
        {{ ' and ' if not loop.first }}{{ left }}.{{ column }} = {{ right }}.{{ column }}
    {%- endfor -%}
{%- endmacro %}

{#- The characters of a block signature, one per rule of `rules`: '1' where
    the record's key is filled and its block is within the rule's cap, i.e. the
    key is not among block_<i>'s keys (the keys over their cap). -#}
{% macro block_signature_characters(alias, rules) -%}
    {%- set characters = [] -%}
    {%- for name, columns, cap in rules -%}
        {%- do characters.append(
            "case when " ~ all_filled(alias, columns) ~ " and block_" ~ loop.index0
            ~ ".n_contacts is null then '1' else '0' end"
        ) -%}
    {%- endfor -%}
    {{ return(characters) }}
{%- endmacro %}
