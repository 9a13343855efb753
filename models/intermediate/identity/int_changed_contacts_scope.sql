{#-
    The contacts (contact_key) whose int_contacts_scope row may differ from
    the previous build's: those whose block signature or record may have
    changed (int_changed_contact_blocks), those that were new in the previous
    build (they are not any more unless they changed again), and every
    contact when the identity model is not the one the previous build scored
    with (a retrain inside the build re-scores every pair). Empty in a full
    build (nothing reads it then).
-#}
{%- set full_relink = var('identity_full_relink') -%}

-- depends_on: {{ ref('int_changed_contact_blocks') }}, {{ ref('int_identity_model') }}
-- depends_on: {{ ref('int_contacts_normalized') }}

{%- if not incremental_build() %}

{{ no_changed_keys('contact_key') }}

{%- else %}

with

previous_scope as (

    {{ previous_rows(
        'intermediate', 'int_contacts_scope',
        {'contact_key': dbt.type_string(), 'is_new': dbt.type_boolean()},
    ) }}

),

previous_model as (

    {{ previous_rows('intermediate', 'int_identity_model', {'model_version': dbt.type_string()}) }}

),

-- one row when every contact is to be scored again
rescore_all as (

    select identity_model.model_version

    from {{ ref('int_identity_model') }} as identity_model

    {%- if not full_relink %}

    where identity_model.model_version not in (
        select previous_model.model_version from previous_model
        where previous_model.model_version is not null
    )
    {%- endif %}

),

listed as (

    select contact_key from {{ ref('int_changed_contact_blocks') }}

    union all

    select previous_scope.contact_key
    from previous_scope
    where previous_scope.is_new

    union all

    select contacts.contact_key
    from {{ ref('int_contacts_normalized') }} as contacts
    where exists (select 1 from rescore_all)

)

select distinct contact_key from listed

{%- endif %}
