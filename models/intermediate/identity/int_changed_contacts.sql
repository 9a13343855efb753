{#-
    The source records (contact_key) whose normalised row may differ from the
    previous build's: int_contacts_normalized_base replaces them in an
    incremental build. Normalisation is local to the record, so a row can
    change only when what the record is made of changes:
    - a version of the contact record was loaded since the previous build
      (new, corrected, or moved past as_of by its created_at);
    - it was created after the previous as_of and on or before this one
      (loaded earlier, visible now);
    - an order naming it as buyer has a version loaded since the previous
      build, or became visible with as_of: a buyer no contact file describes
      is a stub record, so an order can create one, and a corrected order can
      name another buyer and leave a stub with no order.
    A superset is harmless (an unchanged record is rebuilt the same); a missing
    key is not. Seeds and vars that normalisation reads are in the build
    fingerprint: a change to them makes the build full. Empty in a full build
    (nothing reads it then). macros/incremental.sql says where the previous
    build's watermark and as_of come from.
-#}

{%- if not incremental_build() %}

{{ no_changed_keys('contact_key') }}

{%- else %}

with

loaded_contacts as (

    select
        source_system,
        source_contact_id

    from {{ source('raw', 'contacts') }}

    where {{ loaded_since_previous_build() }}

),

visible_contacts as (

    select
        source_system,
        source_contact_id

    from {{ source('raw', 'contacts') }}

    where {{ visible_since_previous_build('created_at') }}

),

changed_orders as (

    {{ orders_loaded_or_visible_since_previous_build() }}

),

-- every version's buyer: the one a corrected order no longer names too
buyers as (

    select
        orders.source_system,
        orders.source_contact_id

    from {{ source('raw', 'orders') }} as orders

    where orders.order_id in (select changed_orders.order_id from changed_orders)

),

changed as (

    select * from loaded_contacts
    union all
    select * from visible_contacts
    union all
    select * from buyers

)

select distinct {{ contact_key('source_system', 'source_contact_id') }} as contact_key

from changed

where source_system is not null
    and source_contact_id is not null

{%- endif %}
