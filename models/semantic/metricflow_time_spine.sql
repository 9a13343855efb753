{#-
    MetricFlow's day spine: one row per day from 2000-01-01 for 60 years,
    enough for any order date and for the windows and offsets metrics use.
-#}

with

days as (

    {{ dbt.generate_series(21915) }}

)

select cast({{ dbt.dateadd('day', 'generated_number - 1', "cast('2000-01-01' as date)") }} as date) as date_day

from days
