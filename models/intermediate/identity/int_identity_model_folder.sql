{#-
    The warehouse's own identity model folder, for int_identity_model. That
    dbt Python model receives only the configuration dbt parsed, and the
    folder differs per home: it is a run var (orchestration/dbt_runner.py
    RUN_VARS), read here when the model runs. Grain: one row.
-#}
{%- set folder = optional_var('identity_model_dir') if execute else none %}

select
    cast(
        {{ "'" ~ (folder | replace("'", "''")) ~ "'" if folder is not none else 'null' }}
        as {{ dbt.type_string() }}
    ) as identity_model_dir
