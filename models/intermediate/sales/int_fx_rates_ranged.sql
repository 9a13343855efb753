{#-
    Exchange rates from seeds/fx_rates.csv as validity ranges: each rate holds
    from its valid_from until the next rate of its currency (valid_to,
    exclusive; null = still valid). A currency's first rate also covers
    everything before it, so an old order is never left without a rate.
-#}

with

fx_rates as (

    select * from {{ ref('fx_rates') }}

),

ranged as (

    select
        upper(currency) as currency,
        case
            when row_number() over (partition by upper(currency) order by valid_from) = 1
                then cast('1900-01-01' as date)
            else valid_from
        end as valid_from,
        lead(valid_from) over (partition by upper(currency) order by valid_from) as valid_to,
        rate_to_eur

    from fx_rates

)

select * from ranged
