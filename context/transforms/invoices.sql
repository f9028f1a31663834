-- dbt-style model: the file name is the table it builds (billing.main.invoices).
WITH monthly AS (
    SELECT d.account_id,
           date_trunc('month', d.usage_date) AS invoice_month,
           d.product,
           sum(d.units) AS units
    FROM lake.main.billing_usage_daily d
    GROUP BY 1, 2, 3
)
SELECT 'INV-' || to_char(m.invoice_month, 'YYYYMM') || '-' || m.account_id || '-' || m.product AS invoice_id,
       m.account_id,
       m.invoice_month,
       m.product,
       m.units,
       r.included_units_per_month AS included_units,
       greatest(m.units - r.included_units_per_month, 0) AS billable_units,
       r.units_per_price,
       r.price_cents,
       round(greatest(m.units - r.included_units_per_month, 0) * r.price_cents / r.units_per_price) AS amount_cents,
       CASE WHEN m.invoice_month < date_trunc('month', current_date) THEN 'issued' ELSE 'open' END AS status
FROM monthly m
JOIN billing.main.accounts a ON a.account_id = m.account_id
JOIN billing.main.rate_card r ON r.plan_tier = a.plan_tier AND r.product = m.product;
