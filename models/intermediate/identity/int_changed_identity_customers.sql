{#-
    The customers (customer_id) whose golden record an incremental build
    replaces (int_customer_field_survivors, customer_field_sources and, with
    the buyers of changed orders, dim_customers): every customer, before and
    now, that has a source record whose resolved row (its customer, cluster,
    match evidence, trust or any attribute) differs from the previous build's,
    or that gained or lost one. A merge lists the absorbed customer too, so
    its rows go. Empty in a full build (nothing reads it then).

    A record's attributes come from int_contacts_normalized_base, which
    changes only for the records int_changed_contacts lists: all columns are
    compared for those, the identity columns for every record.
-#}
{%- set resolved = ref('int_contacts_resolved') -%}
{%- set identity_columns = [
    'contact_key', 'customer_id', 'cluster_key', 'n_cluster_contacts',
    'cluster_guard', 'match_rule', 'trust_rank',
] -%}

-- depends_on: {{ ref('int_changed_contacts') }}

{%- if not incremental_build() %}

{{ no_changed_keys('customer_id') }}

{%- else %}

{%- set previous_resolved = previous_relation('intermediate', 'int_contacts_resolved') %}

{%- if previous_resolved is none %}

-- the previous build lacks the table: every customer
select distinct customer_id from {{ resolved }} where customer_id is not null

{%- else %}

with

resolved_now as (

    select * from {{ resolved }}

),

resolved_before as (

    select * from {{ previous_resolved }}

),

changed_records as (

    select contact_key from {{ ref('int_changed_contacts') }}

),

-- every record whose customer, cluster, evidence or trust differs, from either side
identity_differing as (

    (
        select {{ identity_columns | join(', ') }} from resolved_now
        except
        select {{ identity_columns | join(', ') }} from resolved_before
    )

    union all

    (
        select {{ identity_columns | join(', ') }} from resolved_before
        except
        select {{ identity_columns | join(', ') }} from resolved_now
    )

),

-- the changed records whose row differs in any column, from either side
record_differing as (

    (
        select * from resolved_now
        where contact_key in (select changed_records.contact_key from changed_records)
        except
        select * from resolved_before
        where contact_key in (select changed_records.contact_key from changed_records)
    )

    union all

    (
        select * from resolved_before
        where contact_key in (select changed_records.contact_key from changed_records)
        except
        select * from resolved_now
        where contact_key in (select changed_records.contact_key from changed_records)
    )

),

differing as (

    select customer_id from identity_differing
    union all
    select customer_id from record_differing

)

select distinct customer_id

from differing

where customer_id is not null

{%- endif %}

{%- endif %}
