{#-
    The identity keys of every contact, normalised so that the same person's
    records compare equal across systems: every column of
    int_contacts_normalized that depends on the record alone (all but the
    capped match keys, which count the records sharing a value). Deterministic
    matching (int_contact_links) uses email/phone/loyalty_id; the normalised
    names, birth date and address are here for probabilistic matching
    (Splink), and so are its features (see the `features` CTE): folded name
    keys, the canonical first name via seeds/nicknames.csv, street name and
    house number, birth date parts.

    An incremental build replaces the records int_changed_contacts lists.
-#}
{%- set default_country = var('default_phone_country') -%}
{%- set changed = ref('int_changed_contacts') -%}
{%- set record_key = contact_key('source_system', 'source_contact_id') -%}

{{ config_replacing_changed_keys('contact_key', 'contact_key', 'int_changed_contacts') }}

-- depends_on: {{ ref('int_changed_contacts') }}

with

contacts as (

    select * from {{ ref('stg_raw__contacts') }}

    where {{ only_changed(record_key, changed, 'contact_key') }}

),

orders as (

    select * from {{ ref('stg_raw__orders') }}

    where {{ only_changed(record_key, changed, 'contact_key') }}

),

calling_codes as (

    select * from {{ ref('country_calling_codes') }}

),

nicknames as (

    select * from {{ ref('nicknames') }}

),

-- buyers that orders name but no contact file describes still are customers:
-- they enter identity as stub records without attributes
order_buyers as (

    select distinct
        orders.source_system,
        orders.source_contact_id

    from orders

    where orders.source_system is not null
        and orders.source_contact_id is not null

),

stub_contacts as (

    select
        order_buyers.source_system,
        order_buyers.source_contact_id

    from order_buyers

    left join contacts
        on order_buyers.source_system = contacts.source_system
        and order_buyers.source_contact_id = contacts.source_contact_id

    where contacts.source_contact_id is null

),

all_contacts as (

    select
        source_system,
        source_contact_id,
        true as has_contact_record,
        first_name,
        last_name,
        email,
        phone,
        birth_date,
        address_line1,
        address_line2,
        city,
        postal_code,
        region,
        country,
        loyalty_id,
        marketing_opt_in,
        created_at,
        updated_at

    from contacts

    union all

    select
        source_system,
        source_contact_id,
        false as has_contact_record,
        cast(null as {{ dbt.type_string() }}) as first_name,
        cast(null as {{ dbt.type_string() }}) as last_name,
        cast(null as {{ dbt.type_string() }}) as email,
        cast(null as {{ dbt.type_string() }}) as phone,
        cast(null as date) as birth_date,
        cast(null as {{ dbt.type_string() }}) as address_line1,
        cast(null as {{ dbt.type_string() }}) as address_line2,
        cast(null as {{ dbt.type_string() }}) as city,
        cast(null as {{ dbt.type_string() }}) as postal_code,
        cast(null as {{ dbt.type_string() }}) as region,
        cast(null as {{ dbt.type_string() }}) as country,
        cast(null as {{ dbt.type_string() }}) as loyalty_id,
        cast(null as boolean) as marketing_opt_in,
        cast(null as {{ dbt.type_timestamp() }}) as created_at,
        cast(null as {{ dbt.type_timestamp() }}) as updated_at

    from stub_contacts

),

-- the contact's country as an ISO code: 'DE', 'de', 'Germany', 'Deutschland'
with_country as (

    select
        all_contacts.*,
        coalesce(
            by_code.country_code,
            by_name.country_code,
            by_local_name.country_code
            {%- if default_country %},
            case when all_contacts.country is null then '{{ default_country | upper }}' end
            {%- endif %}
        ) as country_code

    from all_contacts

    left join calling_codes as by_code
        on upper(trim(all_contacts.country)) = by_code.country_code

    left join calling_codes as by_name
        on {{ normalize_name('all_contacts.country') }} = by_name.country_name

    left join calling_codes as by_local_name
        on {{ normalize_name('all_contacts.country') }} = by_local_name.local_name

),

phone_digits as (

    select
        with_country.*,
        calling_codes.calling_code,
        calling_codes.trunk_prefix,
        trim(with_country.phone) like '+%' as is_phone_international,
        -- '+49 (0)151 ...': the bracketed trunk zero is not dialled from abroad
        nullif(
            {{ regexp_replace_all(regexp_replace_all('with_country.phone', '[(]0[)]', ''), '[^0-9]', '') }},
            ''
        ) as phone_digits

    from with_country

    left join calling_codes
        on with_country.country_code = calling_codes.country_code

),

phones as (

    select
        phone_digits.*,
        case
            when phone_digits.phone_digits is null then null
            when phone_digits.is_phone_international then phone_digits.phone_digits
            -- '0049 151 ...': international access code
            when phone_digits.phone_digits like '00%'
                then substring(phone_digits.phone_digits, 3)
            when phone_digits.calling_code is null then null
            -- national format with trunk prefix: '0151-2345678' in DE
            when phone_digits.trunk_prefix is not null
                and phone_digits.phone_digits like {{ dbt.concat(['phone_digits.trunk_prefix', "'%'"]) }}
                then {{ dbt.concat([
                    'phone_digits.calling_code',
                    'substring(phone_digits.phone_digits, ' ~ dbt.length('phone_digits.trunk_prefix') ~ ' + 1)',
                ]) }}
            -- country code without '+' ('49 151 ...') where national
            -- numbers always start with the trunk prefix
            when phone_digits.trunk_prefix is not null
                and phone_digits.phone_digits like {{ dbt.concat(['phone_digits.calling_code', "'%'"]) }}
                then phone_digits.phone_digits
            else {{ dbt.concat(['phone_digits.calling_code', 'phone_digits.phone_digits']) }}
        end as phone_e164_candidate

    from phone_digits

),

normalized as (

    select
        {{ contact_key('source_system', 'source_contact_id') }} as contact_key,
        source_system,
        source_contact_id,
        has_contact_record,
        first_name,
        last_name,
        email,
        phone,
        birth_date,
        address_line1,
        address_line2,
        city,
        postal_code,
        region,
        country,
        country_code,
        loyalty_id,
        marketing_opt_in,
        created_at,
        updated_at,

        case
            when {{ regexp_like('lower(trim(email))', '^[^@ ]+@[^@ ]+[.][a-z]{2,}$') }}
                then lower(trim(email))
        end as email_normalized,

        -- E.164 digits without '+': 7 to 15 digits, no leading zero
        case
            when {{ regexp_like('phone_e164_candidate', '^[1-9][0-9]{6,14}$') }}
                then phone_e164_candidate
        end as phone_normalized,

        nullif(upper({{ regexp_replace_all('loyalty_id', '[^0-9A-Za-z]', '') }}), '') as loyalty_id_normalized,

        {{ normalize_name('first_name') }} as first_name_normalized,
        {{ normalize_name('last_name') }} as last_name_normalized,
        {{ normalize_name('address_line1') }} as address_line1_normalized,
        {{ normalize_name('city') }} as city_normalized,
        nullif(upper({{ regexp_replace_all('postal_code', '[^0-9A-Za-z]', '') }}), '') as postal_code_normalized

    from phones

),

-- a nickname stands for at most two formal names ('alex': alexander, alexandre)
nickname_forms as (

    select
        {{ fold_name(normalize_name('nicknames.nickname')) }} as nickname_key,
        min({{ fold_name(normalize_name('nicknames.formal_name')) }}) as formal_key,
        max({{ fold_name(normalize_name('nicknames.formal_name')) }}) as formal_key_other

    from nicknames

    group by {{ fold_name(normalize_name('nicknames.nickname')) }}

),

name_keys as (

    select
        normalized.*,
        {{ fold_name('normalized.first_name_normalized') }} as first_name_key,
        {{ fold_name('normalized.last_name_normalized') }} as last_name_key,
        {{ street_tokens('normalized.address_line1_normalized') }} as street_tokens

    from normalized

),

features as (

    select
        name_keys.*,
        coalesce(nickname_forms.formal_key, name_keys.first_name_key) as first_name_canonical,
        case
            when nickname_forms.formal_key_other <> nickname_forms.formal_key
                then nickname_forms.formal_key_other
        end as first_name_canonical_alt,
        -- the name's two parts in a fixed order: the same for swapped first/last names
        case
            when name_keys.first_name_key is null or name_keys.last_name_key is null then null
            when name_keys.first_name_key <= name_keys.last_name_key
                then {{ dbt.concat(['name_keys.first_name_key', "' '", 'name_keys.last_name_key']) }}
            else {{ dbt.concat(['name_keys.last_name_key', "' '", 'name_keys.first_name_key']) }}
        end as name_tokens_sorted,
        -- the line without its numbers: 'hauptstr', 'rue de la paix'
        nullif(
            trim({{ regexp_replace_all(
                regexp_replace_all('name_keys.street_tokens', '[0-9]+[a-z]?', ' '), ' +', ' '
            ) }}),
            ''
        ) as street_name,
        -- the first number of the line with a letter right after it: '12a', '7'
        nullif(regexp_extract(name_keys.street_tokens, ' ([0-9]+[a-z]?) ', 1), '') as house_number,
        extract(year from name_keys.birth_date) as birth_year,
        extract(month from name_keys.birth_date) as birth_month,
        extract(day from name_keys.birth_date) as birth_day

    from name_keys

    left join nickname_forms
        on name_keys.first_name_key = nickname_forms.nickname_key

),

final as (

    select
        contact_key,
        source_system,
        source_contact_id,
        has_contact_record,
        first_name,
        last_name,
        email,
        phone,
        birth_date,
        address_line1,
        address_line2,
        city,
        postal_code,
        region,
        country,
        country_code,
        loyalty_id,
        marketing_opt_in,
        created_at,
        updated_at,
        email_normalized,
        phone_normalized,
        loyalty_id_normalized,
        first_name_normalized,
        last_name_normalized,
        address_line1_normalized,
        city_normalized,
        postal_code_normalized,
        first_name_key,
        first_name_canonical,
        first_name_canonical_alt,
        last_name_key,
        name_tokens_sorted,
        street_name,
        house_number,
        cast(birth_year as integer) as birth_year,
        cast(birth_month as integer) as birth_month,
        cast(birth_day as integer) as birth_day

    from features

)

select * from final
