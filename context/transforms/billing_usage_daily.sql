-- Daily billable units, rolled up from the hourly table.
INSERT INTO lake.main.billing_usage_daily (usage_date, account_id, product, units)
SELECT CAST(h.usage_hour AS DATE), h.account_id, h.product, sum(h.units)
FROM lake.main.billing_usage_hourly h
GROUP BY 1, 2, 3;
