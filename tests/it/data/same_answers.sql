-- Queries whose answers must be the same whether the demo's `billing` tables live in SQLite or
-- in Postgres (the same seed and anchor make the same rows). One statement per line; a
-- `-- known-failure: reason` line marks the next query as one that does not agree yet (the test
-- fails when it starts to agree, so the list only shrinks).
SELECT count(*) AS n FROM billing.main.accounts WHERE created_date >= DATE '2025-01-01'
SELECT count(*) AS n FROM billing.main.accounts WHERE created_date >= '2025-01-01'
SELECT count(*) AS n FROM billing.main.accounts WHERE CAST(created_date AS DATE) BETWEEN DATE '2024-06-01' AND DATE '2024-12-31'
SELECT count(*) AS n FROM billing.main.accounts WHERE name ILIKE '%labs%'
SELECT count(*) AS n FROM billing.main.accounts WHERE name LIKE '%Labs%'
SELECT count(*) AS n FROM billing.main.accounts WHERE name LIKE '%labs%'
SELECT count(*) AS n FROM billing.main.accounts WHERE plan_tier = 'pro' AND account_id BETWEEN 1000 AND 1100
SELECT count(*) AS n FROM billing.main.accounts WHERE plan_tier IN ('business', 'enterprise') OR country = 'JP'
SELECT count(*) AS n FROM billing.main.accounts WHERE NOT (country = 'US') AND plan_tier <> 'free'
SELECT plan_tier, count(*) AS n FROM billing.main.accounts GROUP BY plan_tier ORDER BY plan_tier
SELECT country, count(*) AS n FROM billing.main.accounts GROUP BY 1 ORDER BY n DESC, country LIMIT 5
SELECT CAST(date_trunc('month', CAST(created_date AS DATE)) AS DATE) AS m, count(*) AS n FROM billing.main.accounts GROUP BY 1 ORDER BY 1 LIMIT 6
SELECT extract(year FROM CAST(created_date AS DATE)) AS y, count(*) AS n FROM billing.main.accounts GROUP BY 1 ORDER BY 1
SELECT count(*) AS n FROM billing.main.support_tickets WHERE closed_at IS NULL
SELECT count(*) AS n FROM billing.main.support_tickets WHERE closed_at IS NOT NULL AND priority = 'p1'
SELECT status, priority, count(*) AS n FROM billing.main.support_tickets GROUP BY 1, 2 ORDER BY 1, 2
SELECT count(*) AS n FROM billing.main.support_tickets WHERE body ILIKE '%invoice%'
SELECT count(*) AS n FROM billing.main.support_tickets WHERE CAST(opened_at AS TIMESTAMP) >= TIMESTAMP '2026-11-01 00:00:00'
SELECT sum(amount_cents) AS s, sum(units) AS u, count(*) AS n FROM billing.main.invoices
SELECT invoice_month, product, sum(amount_cents) AS s FROM billing.main.invoices GROUP BY 1, 2 ORDER BY 1, 2
SELECT status, count(*) AS n, max(amount_cents) AS mx, min(billable_units) AS mn FROM billing.main.invoices GROUP BY 1 ORDER BY 1
SELECT a.plan_tier, sum(i.amount_cents) AS s FROM billing.main.invoices i JOIN billing.main.accounts a ON a.account_id = i.account_id GROUP BY 1 ORDER BY 1
SELECT a.plan_tier, sum(i.amount_cents) AS s FROM billing.main.invoices i JOIN billing.main.accounts a USING (account_id) WHERE a.country = 'US' GROUP BY 1 ORDER BY 1
SELECT count(*) AS n FROM billing.main.accounts a LEFT JOIN billing.main.legacy_customer_ids l ON l.account_id = a.account_id WHERE l.legacy_customer_id IS NULL
SELECT a.account_id, count(t.ticket_id) AS n FROM billing.main.accounts a LEFT JOIN billing.main.support_tickets t ON t.account_id = a.account_id GROUP BY 1 ORDER BY n DESC, 1 LIMIT 5
SELECT plan_tier, count(*) FILTER (WHERE country = 'US') AS us, count(*) AS n FROM billing.main.accounts GROUP BY 1 ORDER BY 1
SELECT CASE WHEN amount_cents > 0 THEN 'billed' ELSE 'free' END AS k, count(*) AS n FROM billing.main.invoices GROUP BY 1 ORDER BY 1
SELECT r.plan_tier, r.product, r.price_cents, r.included_units_per_month FROM billing.main.rate_card r ORDER BY 1, 2
SELECT count(DISTINCT country) AS c, count(DISTINCT plan_tier) AS t FROM billing.main.accounts
SELECT upper(substr(name, 1, 3)) AS p, count(*) AS n FROM billing.main.accounts GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3
SELECT length(body) > 80 AS long_body, count(*) AS n FROM billing.main.support_tickets GROUP BY 1 ORDER BY 1
SELECT greatest(units - included_units, 0) = billable_units AS ok, count(*) AS n FROM billing.main.invoices GROUP BY 1
SELECT account_id FROM billing.main.accounts WHERE contact_email LIKE 'ada.%' ORDER BY 1 LIMIT 3
SELECT a.plan_tier, sum(d.units) AS u FROM lake.main.billing_usage_daily d JOIN billing.main.accounts a ON a.account_id = d.account_id WHERE a.created_date < DATE '2025-06-01' GROUP BY 1 ORDER BY 1
SELECT sum(e.event_count) AS s FROM lake.main.usage_events e JOIN billing.main.legacy_customer_ids l ON e.legacy_customer_id = l.legacy_customer_id JOIN billing.main.accounts a ON a.account_id = l.account_id WHERE a.plan_tier = 'enterprise' AND e.day >= DATE '2026-11-15'
SELECT count(*) AS n FROM billing.main.accounts WHERE account_id IN (SELECT account_id FROM billing.main.invoices WHERE amount_cents > 100)
SELECT count(*) AS n FROM billing.main.accounts a WHERE EXISTS (SELECT 1 FROM billing.main.support_tickets t WHERE t.account_id = a.account_id AND t.priority = 'p1')
SELECT (SELECT count(*) FROM billing.main.invoices) AS i, (SELECT count(*) FROM billing.main.accounts) AS a
