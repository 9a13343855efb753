{#-
    The customers (customer_id) whose golden record an incremental build
    replaces (int_customer_field_survivors, customer_field_sources and, with
    the buyers of changed orders, dim_customers): every customer, before and
    now, that has a source record whose resolved row (its customer, cluster,
    match evidence, trust or any attribute) differs from the previous build's,
    or that gained or lost one. A merge lists the absorbed customer too, so
    its rows go. Empty in a full build (nothing reads it then).
-#}
{%- set resolved = ref('int_contacts_resolved') -%}

{%- if not incremental_build() %}

select cast(null as {{ dbt.type_string() }}) as customer_id

where 1 = 0

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

-- rows that are not the same in both builds, from either side
differing as (

    (select * from resolved_now except select * from resolved_before)

    union all

    (select * from resolved_before except select * from resolved_now)

)

select distinct customer_id

from differing

where customer_id is not null

{%- endif %}

{%- endif %}
