-- Hourly billable units: every event, legacy customer ids translated to account ids.
CREATE TABLE lake.main.billing_usage_hourly AS
SELECT date_trunc('hour', e.event_minute) AS usage_hour,
       coalesce(e.account_id, l.account_id) AS account_id,
       e.product,
       sum(e.event_count) AS units
FROM lake.main.usage_events e
LEFT JOIN billing.main.legacy_customer_ids l ON l.legacy_customer_id = e.legacy_customer_id
GROUP BY 1, 2, 3;
