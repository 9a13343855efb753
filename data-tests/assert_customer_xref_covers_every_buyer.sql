-- Every order that names a buyer must resolve to a customer: identity adds a
-- stub record for buyers without a contact record, so none may be left out.
with

orders as (

    select * from {{ ref('fct_orders') }}

)

select
    order_id,
    source_system,
    source_contact_id

from orders

where source_system is not null
    and source_contact_id is not null
    and customer_id is null
