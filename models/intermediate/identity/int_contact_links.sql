{#-
    Deterministic identity links: pairs of contacts that share a normalised
    e-mail, phone or loyalty id (unless their names say two people: other
    first names, and other last names or birth dates), or first and last
    name, birth date and postal code or city (unless a postal code, e-mail or
    phone that both records have differs), within and across source systems.
    A pair a guard holds back is still scored by the model (int_contact_match_pairs).

    A value shared by more than var('identity_max_contacts_per_value')
    contacts (a shop's placeholder e-mail, a store's own phone number) is not
    an identity key and links nobody; this also caps the pairs one value can
    produce at n * (n - 1) / 2.

    Seam for probabilistic matching: a later model adds Splink pairs with
    match_source = 'splink' and their match_probability; int_contact_clusters
    takes the union of the link models.

    An incremental build replaces the pairs with a contact that
    int_changed_contact_links lists (a changed record, or a holder of a value
    whose count crossed the cap); a pair of two other contacts is the
    previous build's.
-#}
{%- set max_contacts = var('identity_max_contacts_per_value') | int -%}
{#- placeholders (a shop's e-mail, a store's phone) have no match key: no evidence -#}
{%- set contradicting = ['postal_code_normalized', 'email_match_key', 'phone_match_key'] -%}
{%- set changed = ref('int_changed_contact_links') -%}
{%- set restricted = is_incremental() and incremental_build() -%}

{{ config_replacing_changed_keys(
    ['contact_key_a', 'contact_key_b'], 'contact_key', 'int_changed_contact_links',
    ['contact_key_a', 'contact_key_b'],
) }}

-- depends_on: {{ ref('int_changed_contact_links') }}

with

contacts as (

    select * from {{ ref('int_contacts_normalized') }}

),

identifiers as (

    {{ contact_identifiers('contacts') }}

),

-- (contact_key, match_rule, match_value) is unique in identifiers
-- (contact_identifiers): a plain count and no distinct (a distinct aggregate
-- over ~10M rows was this model's most expensive step). In an incremental
-- build, only the values of the contacts whose pairs are replaced.
value_sizes as (

    select
        identifiers.match_rule,
        identifiers.match_value,
        count(*) as n_contacts

    from identifiers

    {%- if restricted %}

    inner join (
        select distinct
            listed.match_rule,
            listed.match_value
        from identifiers as listed
        where {{ changed_keys_match('contact_key', changed, ['listed.contact_key']) }}
    ) as listed_values
        on identifiers.match_rule = listed_values.match_rule
        and identifiers.match_value = listed_values.match_value
    {%- endif %}

    group by
        identifiers.match_rule,
        identifiers.match_value

),

usable_identifiers as (

    select
        identifiers.contact_key,
        identifiers.match_rule,
        identifiers.match_value

    from identifiers

    inner join value_sizes
        on identifiers.match_rule = value_sizes.match_rule
        and identifiers.match_value = value_sizes.match_value

    where value_sizes.n_contacts between 2 and {{ max_contacts }}

),

candidate_pairs as (

    select
        left_side.contact_key as contact_key_a,
        right_side.contact_key as contact_key_b,
        left_side.match_rule

    from usable_identifiers as left_side

    inner join usable_identifiers as right_side
        on left_side.match_rule = right_side.match_rule
        and left_side.match_value = right_side.match_value
        and left_side.contact_key < right_side.contact_key

    {%- if restricted %}

    where {{ changed_keys_match('contact_key', changed, ['left_side.contact_key', 'right_side.contact_key']) }}
    {%- endif %}

),

-- Both records of each pair, and what they say against each other.
compared_pairs as (

    select
        candidate_pairs.*,
        -- the same key (placeholders are no match key) says nothing against
        {%- for column in contradicting %}
        coalesce(contact_a.{{ column }} = contact_b.{{ column }}, true)
        {%- if not loop.last %} and {% endif %}
        {%- endfor %} as keys_agree,
        -- two first names, neither a spelling (two edits), a nickname nor the
        -- other record's last name (swapped fields) of the other
        {{ names_say_two_people('contact_a', 'contact_b', 'first_name_key', 'last_name_key') }}
        and not coalesce(
            contact_a.first_name_canonical = contact_b.first_name_canonical
            or contact_a.first_name_canonical = contact_b.first_name_canonical_alt
            or contact_a.first_name_canonical_alt = contact_b.first_name_canonical,
            false
        ) as first_names_differ,
        {{ names_say_two_people('contact_a', 'contact_b', 'last_name_key', 'first_name_key') }}
            as last_names_differ,
        coalesce(contact_a.birth_date <> contact_b.birth_date, false) as birth_dates_differ

    from candidate_pairs

    inner join contacts as contact_a
        on candidate_pairs.contact_key_a = contact_a.contact_key

    inner join contacts as contact_b
        on candidate_pairs.contact_key_b = contact_b.contact_key

),

-- A name and a birth date in one city are shared by namesakes: the pair does
-- not link on them when the records contradict each other on a postal code,
-- an e-mail or a phone that both have. A shared e-mail, phone or loyalty card
-- is shared by households and recycled numbers: the pair does not link on it
-- when the first names and the last names or birth dates say two people.
-- The model then weighs the pair.
pairs as (

    select
        contact_key_a,
        contact_key_b,
        match_rule

    from compared_pairs

    where
        case
            when match_rule = 'name_birth_date' then keys_agree
            else not (first_names_differ and (last_names_differ or birth_dates_differ))
        end

),

flagged as (

    select
        contact_key_a,
        contact_key_b,
        max(case when match_rule = 'email' then 1 else 0 end) = 1 as is_email_match,
        max(case when match_rule = 'phone' then 1 else 0 end) = 1 as is_phone_match,
        max(case when match_rule = 'loyalty_id' then 1 else 0 end) = 1 as is_loyalty_id_match,
        max(case when match_rule = 'name_birth_date' then 1 else 0 end) = 1
            as is_name_birth_date_match

    from pairs

    group by
        contact_key_a,
        contact_key_b

),

final as (

    select
        contact_key_a,
        contact_key_b,
        is_email_match,
        is_phone_match,
        is_loyalty_id_match,
        is_name_birth_date_match,
        -- the rules that linked the pair, in a fixed order: 'email+phone'
        substring(
            {{ dbt.concat([
                "case when is_email_match then '+email' else '' end",
                "case when is_phone_match then '+phone' else '' end",
                "case when is_loyalty_id_match then '+loyalty_id' else '' end",
                "case when is_name_birth_date_match then '+name_birth_date' else '' end",
            ]) }},
            2
        ) as match_rule,
        'deterministic' as match_source,
        cast(1.0 as double) as match_probability

    from flagged

)

select * from final
