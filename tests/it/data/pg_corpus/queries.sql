-- The Postgres compatibility corpus: analytic queries as people write them against Postgres,
-- each run through `skipper sql` and directly in Postgres, results compared (see
-- tests/it/corpus.rs for the comparator). Each query starts with a line `-- id: category`.
-- Rules for authors: name every output column uniquely; an ORDER BY must order totally (end
-- with a key), since the comparator checks row order exactly when the outer query orders.

-- basic_01: projection
SELECT id, name, email, country, segment, signup_date, credit_limit, is_active FROM shop.customers WHERE id <= 20;
-- basic_02: projection
SELECT * FROM shop.products WHERE id BETWEEN 10 AND 30;
-- basic_03: projection
SELECT * FROM employees WHERE empid < 15;
-- basic_04: projection
SELECT * FROM web.sessions WHERE id % 97 = 0;
-- basic_05: projection
SELECT * FROM web.events WHERE id % 997 = 0;
-- basic_06: projection
SELECT * FROM departments;
-- basic_07: order
SELECT id, title, price FROM shop.products ORDER BY price DESC, id LIMIT 10;
-- basic_08: order
SELECT id, name FROM shop.customers ORDER BY name, id LIMIT 25 OFFSET 10;
-- basic_09: distinct
SELECT DISTINCT segment FROM shop.customers;
-- basic_10: distinct
SELECT DISTINCT country, segment FROM shop.customers WHERE is_active;
-- basic_11: count
SELECT count(*) AS n, count(email) AS with_email, count(DISTINCT country) AS countries FROM shop.customers;
-- basic_12: boolean
SELECT is_active, count(*) AS n FROM shop.customers GROUP BY is_active;
-- basic_13: boolean
SELECT id FROM web.sessions WHERE bounced AND NOT (device = 'mobile') AND id < 400;
-- basic_14: in list
SELECT id, status FROM shop.orders WHERE status IN ('cancelled', 'pending') AND id < 60;
-- basic_15: between
SELECT count(*) AS n FROM shop.orders WHERE shipping BETWEEN 5 AND 10.5;
-- basic_16: values
SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, NULL)) AS v(n, s);
-- basic_17: no table
SELECT 1 + 1 AS two, 'x' || 'y' AS xy, 7 / 2 AS int_div, 7 % 3 AS modulo, 7.0 / 2 AS num_div;
-- basic_18: unquoted mixed case
SELECT EmpId, FirstName, LASTNAME, Salary FROM Employees WHERE DeptID = 2 ORDER BY EMPID;
-- basic_19: unquoted mixed case
SELECT d.Name AS dept, count(e.EmpId) AS people FROM DEPARTMENTS d LEFT JOIN employees e ON e.deptid = d.DeptId GROUP BY d.Name;
-- basic_20: limit
SELECT id FROM shop.orders ORDER BY ordered_at DESC, id DESC LIMIT 5;

-- agg_01: grouping
SELECT country, count(*) AS n FROM shop.customers GROUP BY country;
-- agg_02: grouping
SELECT segment, sum(credit_limit) AS total, avg(credit_limit) AS mean, min(credit_limit) AS lo, max(credit_limit) AS hi FROM shop.customers GROUP BY segment;
-- agg_03: numeric avg
SELECT avg(price) AS avg_price FROM shop.products;
-- agg_04: numeric avg by group
SELECT category, avg(price) AS avg_price, round(avg(price), 2) AS avg_rounded FROM shop.products GROUP BY category;
-- agg_05: integer avg
SELECT avg(qty) AS avg_qty, sum(qty) AS total_qty FROM shop.order_items;
-- agg_06: float aggregates
SELECT kind, avg(latency_ms) AS mean, stddev(latency_ms) AS sd, variance(latency_ms) AS var FROM web.events GROUP BY kind;
-- agg_07: having
SELECT customer_id, count(*) AS orders FROM shop.orders WHERE status = 'delivered' GROUP BY customer_id HAVING count(*) > 6;
-- agg_08: group by expression
SELECT length(name) > 12 AS long_name, count(*) AS n FROM shop.customers GROUP BY length(name) > 12;
-- agg_09: case inside aggregate
SELECT sum(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled, sum(CASE WHEN status <> 'cancelled' THEN shipping ELSE 0 END) AS shipping_kept FROM shop.orders;
-- agg_10: case inside aggregate by group
SELECT device, sum(CASE WHEN bounced THEN 1 ELSE 0 END)::numeric / count(*) AS bounce_rate FROM web.sessions GROUP BY device;
-- agg_11: filter clause
SELECT count(*) FILTER (WHERE status = 'delivered') AS delivered, count(*) FILTER (WHERE note IS NOT NULL) AS with_note FROM shop.orders;
-- agg_12: filter clause by group
SELECT device, count(*) FILTER (WHERE bounced) AS bounced, avg(pages) FILTER (WHERE NOT bounced) AS pages_engaged FROM web.sessions GROUP BY device;
-- agg_13: group by primary key
SELECT c.id, c.name, c.segment, count(o.id) AS orders FROM shop.customers c JOIN shop.orders o ON o.customer_id = c.id WHERE o.status = 'delivered' GROUP BY c.id HAVING count(o.id) >= 7;
-- agg_14: group by primary key
SELECT d.deptid, d.name, d.location, avg(e.salary) AS avg_salary FROM departments d JOIN employees e USING (deptid) GROUP BY d.deptid;
-- agg_15: percentile
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY price) AS median_price FROM shop.products;
-- agg_16: percentile by group
SELECT category, percentile_cont(0.9) WITHIN GROUP (ORDER BY price) AS p90, percentile_disc(0.5) WITHIN GROUP (ORDER BY price) AS median_disc FROM shop.products GROUP BY category;
-- agg_17: mode
SELECT mode() WITHIN GROUP (ORDER BY device) AS top_device FROM web.sessions;
-- agg_18: string_agg
SELECT category, string_agg(sku, ',' ORDER BY sku) AS skus FROM shop.products WHERE id <= 20 GROUP BY category;
-- agg_19: bool aggregates
SELECT device, bool_and(pages > 1) AS all_multi, bool_or(bounced) AS any_bounced FROM web.sessions GROUP BY device;
-- agg_20: count distinct
SELECT date_trunc('month', ordered_at) AS month, count(DISTINCT customer_id) AS buyers FROM shop.orders GROUP BY 1;
-- agg_21: rollup
SELECT segment, is_active, count(*) AS n FROM shop.customers GROUP BY ROLLUP (segment, is_active);
-- agg_22: grouping sets
SELECT country, segment, count(*) AS n FROM shop.customers GROUP BY GROUPING SETS ((country), (segment), ());
-- agg_23: cube
SELECT device, bounced, count(*) AS n FROM web.sessions GROUP BY CUBE (device, bounced);
-- agg_24: sum of interval
SELECT device, sum(duration) AS total_time FROM web.sessions GROUP BY device;
-- agg_25: avg of interval
SELECT device, avg(duration) AS avg_time FROM web.sessions GROUP BY device;
-- agg_26: min max of text
SELECT min(title) AS first_title, max(title) AS last_title FROM shop.products;
-- agg_27: ratio
SELECT status, round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct FROM shop.orders GROUP BY status;
-- agg_28: sum numeric
SELECT sum(qty * unit_price) AS revenue FROM shop.order_items;
-- agg_29: grouping by ordinal
SELECT extract(year FROM signup_date) AS y, count(*) AS n FROM shop.customers GROUP BY 1;
-- agg_30: distinct on
SELECT DISTINCT ON (customer_id) customer_id, id AS first_order, ordered_at FROM shop.orders ORDER BY customer_id, ordered_at, id;
-- agg_36: distinct on with descending pick
SELECT DISTINCT ON (status) status, id AS top_order, shipping FROM shop.orders ORDER BY status, shipping DESC, id;
-- agg_31: array_agg
SELECT deptid, array_length(array_agg(empid), 1) AS n FROM employees GROUP BY deptid;
-- agg_32: corr
SELECT corr(pages, extract(epoch FROM duration)) AS r FROM web.sessions;
-- agg_33: count star vs column null
SELECT count(*) AS all_rows, count(discount_pct) AS discounted, avg(discount_pct) AS avg_discount FROM shop.orders;
-- agg_34: sum over empty
SELECT sum(shipping) AS s, count(*) AS n, avg(shipping) AS a FROM shop.orders WHERE id < 0;
-- agg_35: group by case
SELECT CASE WHEN price < 50 THEN 'low' WHEN price < 150 THEN 'mid' ELSE 'high' END AS band, count(*) AS n FROM shop.products GROUP BY 1;

-- join_01: inner
SELECT o.id, c.name, o.status FROM shop.orders o JOIN shop.customers c ON c.id = o.customer_id WHERE o.id <= 30;
-- join_02: three-way
SELECT c.segment, p.category, sum(i.qty) AS units FROM shop.order_items i JOIN shop.orders o ON o.id = i.order_id JOIN shop.customers c ON c.id = o.customer_id JOIN shop.products p ON p.id = i.product_id GROUP BY c.segment, p.category;
-- join_03: left join nulls
SELECT d.name, e.empid FROM departments d LEFT JOIN employees e ON e.deptid = d.deptid AND e.salary > 115000;
-- join_04: right join
SELECT e.empid, d.name FROM employees e RIGHT JOIN departments d ON d.deptid = e.deptid WHERE e.empid IS NULL OR e.empid < 10;
-- join_05: full join
SELECT d.deptid AS d_id, e.empid FROM (SELECT * FROM departments WHERE deptid > 3) d FULL JOIN (SELECT * FROM employees WHERE empid < 20) e ON e.deptid = d.deptid;
-- join_06: self join
SELECT e.empid, e.firstname, m.firstname AS manager FROM employees e JOIN employees m ON m.empid = e.managerid WHERE e.empid < 40;
-- join_07: anti join
SELECT c.id FROM shop.customers c WHERE NOT EXISTS (SELECT 1 FROM shop.orders o WHERE o.customer_id = c.id);
-- join_08: semi join
SELECT count(*) AS n FROM shop.customers c WHERE EXISTS (SELECT 1 FROM shop.orders o WHERE o.customer_id = c.id AND o.status = 'cancelled');
-- join_09: in subquery
SELECT count(*) AS n FROM shop.products WHERE id IN (SELECT product_id FROM shop.order_items WHERE qty = 5);
-- join_10: not in with nulls
SELECT count(*) AS n FROM shop.customers WHERE id NOT IN (SELECT referred_by FROM shop.customers);
-- join_11: not in without nulls
SELECT count(*) AS n FROM shop.customers WHERE id NOT IN (SELECT referred_by FROM shop.customers WHERE referred_by IS NOT NULL);
-- join_12: using
SELECT deptid, count(*) AS n FROM employees JOIN departments USING (deptid) GROUP BY deptid;
-- join_13: cross join
SELECT d.name, s.device FROM departments d CROSS JOIN (SELECT DISTINCT device FROM web.sessions) s;
-- join_14: join on inequality
SELECT a.id AS a_id, b.id AS b_id FROM shop.products a JOIN shop.products b ON a.price < b.price AND b.id = a.id + 1 WHERE a.id < 50;
-- join_15: lateral
SELECT c.id, l.last_order FROM shop.customers c CROSS JOIN LATERAL (SELECT max(o.ordered_at) AS last_order FROM shop.orders o WHERE o.customer_id = c.id) l WHERE c.id <= 15;
-- join_16: lateral top-n
SELECT c.id, t.id AS order_id FROM shop.customers c CROSS JOIN LATERAL (SELECT o.id FROM shop.orders o WHERE o.customer_id = c.id ORDER BY o.shipping DESC, o.id LIMIT 2) t WHERE c.id <= 10;
-- join_17: scalar subquery
SELECT id, price, price - (SELECT avg(price) FROM shop.products) AS diff FROM shop.products WHERE id <= 10;
-- join_18: correlated scalar subquery
SELECT e.empid, e.salary > (SELECT avg(x.salary) FROM employees x WHERE x.deptid = e.deptid) AS above_dept_avg FROM employees e WHERE e.empid <= 30;
-- join_19: join sessions to events
SELECT s.device, count(e.id) AS events, count(DISTINCT s.id) AS sessions FROM web.sessions s JOIN web.events e ON e.session_id = s.id GROUP BY s.device;
-- join_20: any
SELECT count(*) AS n FROM shop.orders WHERE customer_id = ANY (SELECT id FROM shop.customers WHERE segment = 'Enterprise');
-- join_21: left join aggregate with coalesce
SELECT c.id, coalesce(sum(o.shipping), 0) AS shipping FROM shop.customers c LEFT JOIN shop.orders o ON o.customer_id = c.id WHERE c.id <= 25 GROUP BY c.id;
-- join_22: natural-looking chain
SELECT p.category, count(DISTINCT o.customer_id) AS buyers FROM shop.products p JOIN shop.order_items i ON i.product_id = p.id JOIN shop.orders o ON o.id = i.order_id WHERE o.status = 'delivered' GROUP BY p.category;
-- join_23: left lateral top-n with offset
SELECT c.id, t.id AS second_order, t.shipping FROM shop.customers c LEFT JOIN LATERAL (SELECT o.id, o.shipping FROM shop.orders o WHERE o.customer_id = c.id AND o.status <> 'cancelled' ORDER BY o.ordered_at DESC, o.id LIMIT 1 OFFSET 1) t ON true WHERE c.id <= 40;
-- join_24: comma lateral top-n ordered by alias
SELECT d.name, t.empid, t.pay FROM departments d, LATERAL (SELECT e.empid, e.salary AS pay FROM employees e WHERE e.deptid = d.deptid ORDER BY pay DESC, 1 LIMIT 3) t;
-- join_25: correlated scalar subquery in where
SELECT count(*) AS n FROM employees e WHERE e.salary > (SELECT avg(x.salary) FROM employees x WHERE x.deptid = e.deptid);
-- join_26: in subquery under or
SELECT count(*) AS n FROM shop.orders WHERE customer_id IN (SELECT id FROM shop.customers WHERE segment = 'Enterprise') OR status = 'cancelled';

-- cte_01: simple
WITH big AS (SELECT customer_id, sum(shipping) AS s FROM shop.orders GROUP BY customer_id) SELECT count(*) AS n FROM big WHERE s > 150;
-- cte_02: chained
WITH o AS (SELECT * FROM shop.orders WHERE status = 'delivered'), c AS (SELECT customer_id, count(*) AS n FROM o GROUP BY customer_id) SELECT n, count(*) AS customers FROM c GROUP BY n;
-- cte_03: recursive
WITH RECURSIVE chain(empid, depth) AS (SELECT empid, 0 FROM employees WHERE managerid IS NULL UNION ALL SELECT e.empid, c.depth + 1 FROM employees e JOIN chain c ON e.managerid = c.empid WHERE c.depth < 3) SELECT depth, count(*) AS n FROM chain GROUP BY depth;
-- cte_04: recursive series
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT sum(i) AS total FROM n;
-- cte_05: cte used twice
WITH m AS (SELECT date_trunc('month', ordered_at) AS month, count(*) AS n FROM shop.orders GROUP BY 1) SELECT a.month, a.n, a.n - b.n AS change FROM m a LEFT JOIN m b ON b.month = a.month - INTERVAL '1 month';
-- cte_06: cte with window
WITH ranked AS (SELECT id, category, price, rank() OVER (PARTITION BY category ORDER BY price DESC) AS r FROM shop.products) SELECT id, category, price FROM ranked WHERE r = 1;
-- cte_07: materialized hint
WITH x AS MATERIALIZED (SELECT device, count(*) AS n FROM web.sessions GROUP BY device) SELECT * FROM x;
-- cte_08: union all
SELECT 'customers' AS what, count(*) AS n FROM shop.customers UNION ALL SELECT 'orders', count(*) FROM shop.orders UNION ALL SELECT 'products', count(*) FROM shop.products;
-- cte_09: union distinct
SELECT country FROM shop.customers WHERE segment = 'Enterprise' UNION SELECT country FROM shop.customers WHERE segment = 'smb';
-- cte_10: intersect
SELECT customer_id FROM shop.orders WHERE status = 'cancelled' INTERSECT SELECT customer_id FROM shop.orders WHERE status = 'pending';
-- cte_11: except
SELECT id FROM shop.customers WHERE id < 100 EXCEPT SELECT customer_id FROM shop.orders;
-- cte_12: derived table
SELECT avg(n) AS avg_items FROM (SELECT order_id, count(*) AS n FROM shop.order_items GROUP BY order_id) t;

-- win_01: row_number
SELECT id, customer_id, row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at, id) AS nth FROM shop.orders WHERE customer_id <= 5;
-- win_02: running total
SELECT id, shipping, sum(shipping) OVER (ORDER BY id) AS running FROM shop.orders WHERE id <= 40;
-- win_03: moving average rows
SELECT id, avg(shipping) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS ma3 FROM shop.orders WHERE id <= 40;
-- win_04: lag lead
SELECT id, shipping, lag(shipping) OVER (ORDER BY id) AS prev, lead(shipping, 2, 0) OVER (ORDER BY id) AS next2 FROM shop.orders WHERE id <= 30;
-- win_05: rank dense_rank
SELECT id, category, price, rank() OVER w AS r, dense_rank() OVER w AS dr FROM shop.products WINDOW w AS (PARTITION BY category ORDER BY price) ;
-- win_06: ntile
SELECT empid, ntile(4) OVER (ORDER BY salary, empid) AS quartile FROM employees;
-- win_07: percent_rank cume_dist
SELECT empid, percent_rank() OVER (ORDER BY salary, empid) AS pr, cume_dist() OVER (ORDER BY salary, empid) AS cd FROM employees WHERE deptid = 1;
-- win_08: first last value
SELECT id, category, first_value(id) OVER (PARTITION BY category ORDER BY price, id) AS cheapest, last_value(id) OVER (PARTITION BY category ORDER BY price, id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS dearest FROM shop.products;
-- win_09: share of total
SELECT category, sum(price) AS s, sum(price) / sum(sum(price)) OVER () AS share FROM shop.products GROUP BY category;
-- win_10: range frame on dates
SELECT d, n, sum(n) OVER (ORDER BY d RANGE BETWEEN INTERVAL '6 days' PRECEDING AND CURRENT ROW) AS week_n FROM (SELECT ordered_at::date AS d, count(*) AS n FROM shop.orders GROUP BY 1) t;
-- win_11: count over partition
SELECT id, count(*) OVER (PARTITION BY device) AS device_sessions FROM web.sessions WHERE id <= 20;
-- win_12: nth_value
SELECT DISTINCT category, nth_value(title, 2) OVER (PARTITION BY category ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS second FROM shop.products;
-- win_13: window with filter
SELECT id, count(*) FILTER (WHERE bounced) OVER (ORDER BY id) AS bounces_so_far FROM web.sessions WHERE id <= 30;
-- win_14: top n per group
SELECT * FROM (SELECT deptid, empid, salary, row_number() OVER (PARTITION BY deptid ORDER BY salary DESC, empid) AS rn FROM employees) t WHERE rn <= 2;
-- win_15: difference from previous day
SELECT d, n - lag(n) OVER (ORDER BY d) AS delta FROM (SELECT started_at::date AS d, count(*) AS n FROM web.sessions GROUP BY 1) t;

-- date_01: date_trunc timestamptz
SELECT date_trunc('month', ordered_at) AS month, count(*) AS n FROM shop.orders GROUP BY 1;
-- date_02: date_trunc timestamp
SELECT date_trunc('week', started_at) AS week, count(*) AS n FROM web.sessions GROUP BY 1;
-- date_03: date_trunc day of date
SELECT date_trunc('quarter', signup_date) AS q, count(*) AS n FROM shop.customers GROUP BY 1;
-- date_04: extract parts
SELECT id, extract(year FROM ordered_at) AS y, extract(month FROM ordered_at) AS m, extract(dow FROM ordered_at) AS dow, extract(hour FROM ordered_at) AS h FROM shop.orders WHERE id <= 20;
-- date_05: extract epoch
SELECT id, extract(epoch FROM ordered_at) AS epoch FROM shop.orders WHERE id <= 10;
-- date_06: extract epoch of interval
SELECT id, extract(epoch FROM duration) AS secs FROM web.sessions WHERE id <= 10;
-- date_07: date_part
SELECT date_part('doy', signup_date) AS doy, count(*) AS n FROM shop.customers GROUP BY 1 HAVING count(*) > 1;
-- date_08: interval arithmetic
SELECT id, ordered_at + INTERVAL '3 days' AS due, ordered_at - INTERVAL '1 hour 30 minutes' AS earlier FROM shop.orders WHERE id <= 10;
-- date_09: date minus date
SELECT id, DATE '2025-01-01' - signup_date AS days_since FROM shop.customers WHERE id <= 10;
-- date_10: date plus integer
SELECT id, signup_date + 30 AS trial_end FROM shop.customers WHERE id <= 10;
-- date_11: timestamp minus timestamp
SELECT id, started_at + duration - started_at AS len FROM web.sessions WHERE id <= 10;
-- date_12: age
SELECT empid, age(DATE '2025-06-30', hiredon) AS tenure FROM employees WHERE empid <= 12;
-- date_13: age filter
SELECT count(*) AS veterans FROM employees WHERE age(DATE '2025-06-30', hiredon) > INTERVAL '8 years';
-- date_14: DATE(x)
SELECT date(ordered_at) AS day, count(*) AS n FROM shop.orders WHERE id <= 200 GROUP BY date(ordered_at);
-- date_15: cast to date
SELECT ordered_at::date AS day, sum(shipping) AS s FROM shop.orders WHERE ordered_at < TIMESTAMPTZ '2024-02-01 00:00:00+00' GROUP BY 1;
-- date_16: generate_series timestamps
SELECT g AS day FROM generate_series(TIMESTAMP '2024-03-01', TIMESTAMP '2024-03-10', INTERVAL '1 day') AS g;
-- date_17: calendar left join
SELECT g::date AS day, count(s.id) AS sessions FROM generate_series(TIMESTAMP '2024-03-01', TIMESTAMP '2024-03-14', INTERVAL '1 day') g LEFT JOIN web.sessions s ON s.started_at >= g AND s.started_at < g + INTERVAL '1 day' GROUP BY g;
-- date_18: timestamp in list
SELECT count(*) AS n FROM web.sessions WHERE date_trunc('day', started_at) IN (TIMESTAMP '2024-03-02', TIMESTAMP '2024-03-05');
-- date_19: timestamptz comparisons with literals
SELECT count(*) AS n FROM shop.orders WHERE ordered_at >= '2024-06-01' AND ordered_at < '2024-07-01';
-- date_20: current_date relative
SELECT count(*) AS n FROM shop.customers WHERE signup_date > CURRENT_DATE - INTERVAL '10 years';
-- date_21: now relative
SELECT count(*) AS n FROM shop.orders WHERE ordered_at < now();
-- date_22: to_char
SELECT id, to_char(ordered_at, 'YYYY-MM-DD HH24:MI') AS at_text, to_char(ordered_at, 'Mon DD, YYYY') AS pretty FROM shop.orders WHERE id <= 10;
-- date_23: to_char week and quarter
SELECT to_char(started_at, 'IYYY-"W"IW') AS iso_week, count(*) AS n FROM web.sessions GROUP BY 1;
-- date_24: to_char numbers
SELECT id, to_char(price, 'FM999G990D00') AS price_text FROM shop.products WHERE id <= 10;
-- date_25: to_date
SELECT to_date('05/03/2024', 'DD/MM/YYYY') AS d1, to_date('2024-060', 'YYYY-DDD') AS d2;
-- date_26: to_timestamp
SELECT to_timestamp(1700000000) AS ts, to_timestamp('2024-03-05 14:30', 'YYYY-MM-DD HH24:MI') AS ts2;
-- date_27: make_date
SELECT make_date(2024, 2, 29) AS leap, make_interval(days => 3, hours => 4) AS iv;
-- date_28: interval literals
SELECT INTERVAL '1 year 2 months' AS a, INTERVAL '36 hours' AS b, INTERVAL '-2 days 3 hours' AS c, INTERVAL '1.5 seconds' AS d;
-- date_29: justify
SELECT justify_hours(INTERVAL '36 hours') AS a, justify_days(INTERVAL '45 days') AS b, justify_interval(INTERVAL '1 mon -1 hour') AS c;
-- date_30: overlaps
SELECT count(*) AS n FROM web.sessions WHERE (started_at, started_at + duration) OVERLAPS (TIMESTAMP '2024-03-10 12:00', TIMESTAMP '2024-03-10 13:00');
-- date_31: at time zone
SELECT id, ordered_at AT TIME ZONE 'America/New_York' AS local_ny FROM shop.orders WHERE id <= 10;
-- date_32: time column
SELECT empid, shiftstart, shiftstart + INTERVAL '8 hours' AS shift_end FROM employees WHERE empid <= 15;
-- date_33: time comparisons
SELECT count(*) AS early FROM employees WHERE shiftstart < TIME '08:00';
-- date_34: time grouping
SELECT extract(hour FROM shiftstart) AS h, count(*) AS n FROM employees GROUP BY 1;
-- date_35: epoch to timestamp
SELECT id, to_timestamp(extract(epoch FROM at)::bigint) = at AS same FROM web.events WHERE id <= 10;
-- date_36: month boundaries
SELECT (date_trunc('month', DATE '2024-02-15') + INTERVAL '1 month - 1 day')::date AS month_end;
-- date_37: weekday names
SELECT to_char(ordered_at, 'Day') AS weekday, count(*) AS n FROM shop.orders GROUP BY 1;
-- date_38: timestamp cast of text
SELECT '2024-03-05 10:00'::timestamp + INTERVAL '90 minutes' AS t, '2024-03-05'::date AS d;
-- date_39: date series of dates
SELECT d::date AS d FROM generate_series(DATE '2024-01-29', DATE '2024-02-02', INTERVAL '1 day') d;
-- date_40: extract from interval
SELECT id, extract(hour FROM duration) AS h, extract(minute FROM duration) AS m FROM web.sessions WHERE id <= 10;
-- date_41: isodow and week
SELECT extract(isodow FROM signup_date) AS isodow, extract(week FROM signup_date) AS wk, count(*) AS n FROM shop.customers WHERE id <= 60 GROUP BY 1, 2;
-- date_42: last day per group
SELECT device, max(started_at) AS last_seen, min(started_at) AS first_seen FROM web.sessions GROUP BY device;

-- str_01: ilike
SELECT id, name FROM shop.customers WHERE name ILIKE '%smith%' AND id <= 60;
-- str_02: like case sensitive
SELECT count(*) AS n FROM shop.customers WHERE name LIKE 'd%';
-- str_03: not ilike
SELECT count(*) AS n FROM shop.customers WHERE email NOT ILIKE '%@mail.org';
-- str_04: regex match
SELECT id, url FROM web.events WHERE url ~ '^/docs/[A-Z]' AND id <= 200;
-- str_05: regex case-insensitive
SELECT count(*) AS n FROM web.events WHERE url ~* 'api';
-- str_06: regex not
SELECT count(*) AS n FROM web.events WHERE url !~ 'ref=';
-- str_07: regexp_replace
SELECT DISTINCT regexp_replace(url, '\?.*$', '') AS path FROM web.events;
-- str_08: substring regex
SELECT DISTINCT substring(email FROM '@(.*)$') AS domain FROM shop.customers;
-- str_09: split_part
SELECT split_part(email, '@', 2) AS domain, count(*) AS n FROM shop.customers GROUP BY 1;
-- str_10: upper lower initcap
SELECT id, upper(name) AS u, lower(name) AS l, initcap(name) AS i FROM shop.customers WHERE id <= 12;
-- str_11: length and char_length
SELECT id, length(name) AS len, char_length(name) AS clen, octet_length(name) AS bytes FROM shop.customers WHERE id <= 12;
-- str_12: concat and ||
SELECT id, concat(name, ' <', email, '>') AS contact, name || ' / ' || email AS joined FROM shop.customers WHERE id <= 15;
-- str_13: concat_ws
SELECT id, concat_ws('-', country, segment, NULL, id) AS tag FROM shop.customers WHERE id <= 15;
-- str_14: trim and pad
SELECT empid, '[' || badge || ']' AS raw_badge, '[' || trim(badge) || ']' AS trimmed, lpad(empid::text, 5, '0') AS padded FROM employees WHERE empid <= 12;
-- str_15: char(n) comparisons
SELECT count(*) AS n FROM employees WHERE badge = 'B1';
-- str_16: position and strpos
SELECT id, position('@' IN email) AS at_pos, strpos(email, '.') AS dot_pos FROM shop.customers WHERE id <= 10;
-- str_17: left right
SELECT id, left(sku, 3) AS prefix, right(sku, 2) AS suffix FROM shop.products WHERE id <= 10;
-- str_18: replace and translate
SELECT id, replace(title, ' ', '_') AS slug, translate(sku, '0123', 'abcd') AS tr FROM shop.products WHERE id <= 10;
-- str_19: text ordering in C collation
SELECT name FROM shop.customers WHERE id <= 30 ORDER BY name COLLATE "C", id;
-- str_20: text min max
SELECT min(name) AS first_name, max(name) AS last_name FROM shop.customers;
-- str_21: string_to_array
SELECT id, array_length(string_to_array(title, ' '), 1) AS words FROM shop.products WHERE id <= 10;
-- str_22: starts_with
SELECT count(*) AS n FROM web.events WHERE starts_with(url, '/blog');
-- str_23: md5
SELECT id, md5(sku) AS h FROM shop.products WHERE id <= 5;
-- str_24: reverse repeat
SELECT reverse('skipper') AS r, repeat('ab', 3) AS rep;
-- str_25: similar to
SELECT count(*) AS n FROM shop.products WHERE sku SIMILAR TO 'SKU-000[1-4]%';
-- str_26: case on text
SELECT id, CASE WHEN email LIKE '%example.com' THEN 'example' WHEN email IS NULL THEN 'none' ELSE 'other' END AS kind FROM shop.customers WHERE id <= 30;
-- str_27: unicode text
SELECT id, name, length(name) AS len, upper(name) AS up FROM shop.customers WHERE name LIKE 'Chlo%' AND id <= 50;
-- str_28: format
SELECT id, format('%s has %s items', sku, id % 7) AS msg FROM shop.products WHERE id <= 5;
-- str_29: quote in data
SELECT count(*) AS n FROM shop.customers WHERE name LIKE '%o''Brien%';
-- str_30: regexp_matches count
SELECT count(*) AS n FROM web.events WHERE url ~ '[0-9]{4}';
-- str_31: order by an expression not selected
SELECT name FROM shop.customers WHERE id <= 40 ORDER BY lower(name), id;
-- str_32: comparison in C collation
SELECT count(*) AS n FROM shop.customers WHERE name COLLATE "C" < 'D';

-- cast_01: double colon casts
SELECT id, price::int AS price_int, price::float8 AS price_f, id::text AS id_text, '42'::int + 1 AS n FROM shop.products WHERE id <= 10;
-- cast_02: numeric cast rounding
SELECT 2.5::int AS a, 3.5::int AS b, (-2.5)::int AS c, 2.567::numeric(5,2) AS d;
-- cast_03: cast function
SELECT CAST(credit_limit AS integer) AS cl, CAST(signup_date AS text) AS sd FROM shop.customers WHERE id <= 10;
-- cast_04: boolean casts
SELECT 'yes'::boolean AS a, 'f'::boolean AS b, 1::boolean AS c;
-- cast_05: real column
SELECT id, weight_kg, weight_kg * 2 AS double_weight FROM shop.products WHERE id <= 20;
-- cast_06: integer division and modulo
SELECT id, id / 7 AS q, id % 7 AS r, -id / 7 AS nq, -id % 7 AS nr FROM shop.products WHERE id <= 15;
-- cast_07: numeric division
SELECT id, price / 3 AS third, round(price / 3, 4) AS third4 FROM shop.products WHERE id <= 10;
-- cast_08: round trunc ceil floor
SELECT id, round(latency_ms) AS r0, round(latency_ms::numeric, 1) AS r1, trunc(latency_ms) AS t, ceil(latency_ms) AS c, floor(latency_ms) AS f FROM web.events WHERE id <= 20;
-- cast_09: round half
SELECT round(2.5) AS a, round(-2.5) AS b, round(2.5::float8) AS c, round(0.125, 2) AS d;
-- cast_10: numeric precision
SELECT sum(unit_price * qty) / count(*) AS avg_line, sum(unit_price) AS s FROM shop.order_items;
-- cast_11: numeric literal scale
SELECT 1.10 + 2.205 AS s, 10::numeric / 4 AS q, 1::numeric / 3 AS third;
-- cast_12: abs sign power sqrt
SELECT abs(-3) AS a, sign(-2.5) AS s, power(2, 10) AS p, sqrt(2) AS r, exp(1) AS e, ln(10) AS l, log(100) AS lg;
-- cast_13: greatest least
SELECT id, greatest(shipping, 10) AS g, least(shipping, 5) AS l FROM shop.orders WHERE id <= 15;
-- cast_14: nullif coalesce
SELECT id, nullif(status, 'pending') AS s, coalesce(note, '-') AS n FROM shop.orders WHERE id <= 20;
-- cast_15: float special values
SELECT 'NaN'::float8 AS nan, 'Infinity'::float8 AS inf, 1e300 * 10 AS big;
-- cast_16: width_bucket
SELECT width_bucket(price, 0, 200, 4) AS bucket, count(*) AS n FROM shop.products GROUP BY 1;
-- cast_17: money-like sum
SELECT customer_id, sum(shipping) AS s FROM shop.orders WHERE customer_id <= 10 GROUP BY customer_id;
-- cast_18: bigint overflow safe
SELECT sum(id::bigint * 1000000000) AS big FROM web.events;
-- cast_19: numeric large
SELECT sum(credit_limit) * 1000000 AS big, max(credit_limit) / 7 AS frac FROM shop.customers;
-- cast_20: interval to text
SELECT id, duration::text AS d FROM web.sessions WHERE id <= 5;
-- cast_21: float to numeric
SELECT id, latency_ms::numeric(12,3) AS ms FROM web.events WHERE id <= 10;
-- cast_22: text to numeric
SELECT '12.3400'::numeric AS a, '1e3'::numeric AS b, '-0.5'::numeric(4,2) AS c;
-- cast_23: smallint arithmetic
SELECT rating, rating * 2 AS dbl, rating::float / 5 AS frac FROM employees WHERE empid <= 10;
-- cast_24: uuid and md5 cast
SELECT md5('x')::uuid AS u;
-- cast_25: json
SELECT id, json_build_object('id', id, 'sku', sku)::text AS j FROM shop.products WHERE id <= 3;

-- null_01: is distinct from
SELECT count(*) AS n FROM shop.customers WHERE country IS DISTINCT FROM 'US';
-- null_02: is not distinct from
SELECT count(*) AS n FROM shop.customers WHERE referred_by IS NOT DISTINCT FROM NULL;
-- null_03: nulls first
SELECT id, credit_limit FROM shop.customers WHERE id <= 40 ORDER BY credit_limit NULLS FIRST, id;
-- null_04: nulls last desc
SELECT id, credit_limit FROM shop.customers WHERE id <= 40 ORDER BY credit_limit DESC NULLS LAST, id;
-- null_05: default null order asc
SELECT id, country FROM shop.customers WHERE id <= 24 ORDER BY country, id;
-- null_06: default null order desc
SELECT id, country FROM shop.customers WHERE id <= 24 ORDER BY country DESC, id;
-- null_07: null in arithmetic
SELECT c.id, credit_limit + 1 AS c, discount_pct * 2 AS d FROM shop.customers c LEFT JOIN shop.orders o ON o.id = c.id WHERE c.id <= 20;
-- null_08: count with nulls group
SELECT country, count(*) AS n, count(country) AS non_null FROM shop.customers GROUP BY country;
-- null_09: coalesce chain
SELECT id, coalesce(email, country, 'unknown') AS contact FROM shop.customers WHERE id <= 30;
-- null_10: null comparisons
SELECT count(*) AS n FROM shop.customers WHERE credit_limit > 1000 OR credit_limit IS NULL;
-- null_11: boolean null logic
SELECT (NULL::boolean AND false) AS a, (NULL::boolean OR true) AS b, (NULL::boolean AND true) AS c;
-- null_12: avg ignores nulls
SELECT avg(credit_limit) AS avg_cl, sum(credit_limit) / count(*) AS naive FROM shop.customers;
-- null_13: min of all null
SELECT min(note) AS m FROM shop.orders WHERE note IS NULL;
-- null_14: group by nullable expression
SELECT managerid, count(*) AS n FROM employees GROUP BY managerid;
-- null_15: nulls in string_agg
SELECT string_agg(coalesce(country, '?'), '' ORDER BY id) AS s FROM shop.customers WHERE id <= 16;

-- biz_01: monthly revenue
SELECT date_trunc('month', o.ordered_at) AS month, sum(i.qty * i.unit_price) AS revenue FROM shop.orders o JOIN shop.order_items i ON i.order_id = o.id WHERE o.status <> 'cancelled' GROUP BY 1;
-- biz_02: average order value
SELECT round(avg(t.total), 2) AS aov FROM (SELECT order_id, sum(qty * unit_price) AS total FROM shop.order_items GROUP BY order_id) t;
-- biz_03: top customers
SELECT c.id, c.name, sum(i.qty * i.unit_price) AS spend FROM shop.customers c JOIN shop.orders o ON o.customer_id = c.id JOIN shop.order_items i ON i.order_id = o.id GROUP BY c.id, c.name ORDER BY spend DESC, c.id LIMIT 10;
-- biz_04: cohort
SELECT date_trunc('year', c.signup_date) AS cohort, count(DISTINCT o.customer_id) AS buyers FROM shop.customers c JOIN shop.orders o ON o.customer_id = c.id GROUP BY 1;
-- biz_05: repeat purchase rate
SELECT round(100.0 * count(*) FILTER (WHERE n > 1) / count(*), 1) AS repeat_pct FROM (SELECT customer_id, count(*) AS n FROM shop.orders GROUP BY customer_id) t;
-- biz_06: cancellation rate by segment
SELECT c.segment, avg((o.status = 'cancelled')::int) AS cancel_rate FROM shop.orders o JOIN shop.customers c ON c.id = o.customer_id GROUP BY c.segment;
-- biz_07: days between orders
SELECT customer_id, avg(gap) AS avg_gap FROM (SELECT customer_id, ordered_at - lag(ordered_at) OVER (PARTITION BY customer_id ORDER BY ordered_at, id) AS gap FROM shop.orders) t WHERE customer_id <= 10 GROUP BY customer_id;
-- biz_08: conversion funnel
SELECT count(*) FILTER (WHERE kind = 'view') AS views, count(*) FILTER (WHERE kind = 'click') AS clicks, count(*) FILTER (WHERE kind = 'purchase') AS purchases, round(count(*) FILTER (WHERE kind = 'purchase')::numeric / nullif(count(*) FILTER (WHERE kind = 'view'), 0), 4) AS conv FROM web.events;
-- biz_09: p95 latency by page
SELECT split_part(url, '?', 1) AS page, percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95 FROM web.events GROUP BY 1;
-- biz_10: sessions per user bucket
SELECT CASE WHEN n >= 8 THEN '8+' ELSE n::text END AS sessions, count(*) AS users FROM (SELECT user_id, count(*) AS n FROM web.sessions WHERE user_id IS NOT NULL GROUP BY user_id) t GROUP BY 1;
-- biz_11: revenue per session device
SELECT device, sum(revenue) AS revenue, sum(revenue) / count(*) AS per_session FROM web.sessions GROUP BY device;
-- biz_12: salary bands per dept
SELECT d.name, min(e.salary) AS lo, max(e.salary) AS hi, round(avg(e.salary), 2) AS mean FROM employees e JOIN departments d ON d.deptid = e.deptid GROUP BY d.name;
-- biz_13: budget per head
SELECT d.name, d.budget / nullif(count(e.empid), 0) AS budget_per_head FROM departments d LEFT JOIN employees e ON e.deptid = d.deptid GROUP BY d.deptid, d.name, d.budget;
-- biz_14: hires per year
SELECT extract(year FROM hiredon)::int AS y, count(*) AS hires FROM employees GROUP BY 1;
-- biz_15: week over week
WITH w AS (SELECT date_trunc('week', ordered_at) AS wk, count(*) AS n FROM shop.orders GROUP BY 1) SELECT wk, n, round(100.0 * (n - lag(n) OVER (ORDER BY wk)) / lag(n) OVER (ORDER BY wk), 2) AS wow_pct FROM w;
-- biz_16: product never sold
SELECT p.id FROM shop.products p LEFT JOIN shop.order_items i ON i.product_id = p.id WHERE i.order_id IS NULL;
-- biz_17: discount impact
SELECT discount_pct IS NOT NULL AS discounted, avg(shipping) AS avg_ship, count(*) AS n FROM shop.orders GROUP BY 1;
-- biz_18: busiest hour
SELECT extract(hour FROM ordered_at) AS h, count(*) AS n FROM shop.orders GROUP BY 1 ORDER BY n DESC, h LIMIT 3;
-- biz_19: median basket size
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY items) AS median_items FROM (SELECT order_id, sum(qty) AS items FROM shop.order_items GROUP BY order_id) t;
-- biz_20: last 30 days of data
SELECT count(*) AS n FROM shop.orders WHERE ordered_at > (SELECT max(ordered_at) FROM shop.orders) - INTERVAL '30 days';
-- local_01: numeric avg and division evaluated by DataFusion (no table: nothing to push down)
SELECT g, avg(x) AS mean, sum(x) / count(*) AS per_row, round(avg(x), 2) AS mean2, sum(x) / 7 AS seventh, 1 / sum(x) AS inverse FROM (VALUES ('a', 1.25), ('a', 2.50), ('b', 10.00), ('b', 0.01), ('b', NULL), ('c', 333.33)) t(g, x) GROUP BY g;
-- local_02: numeric avg over a sliding window, and of distinct values, evaluated by DataFusion
SELECT id, avg(x) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS moving, avg(x) OVER () AS overall FROM (VALUES (1, 2.00), (2, 3.00), (3, 3.00), (4, NULL), (5, 7.25)) t(id, x) ORDER BY id;
-- local_03: avg(DISTINCT numeric) and a whole-input numeric avg, evaluated by DataFusion
SELECT avg(DISTINCT x) AS distinct_mean, avg(x) AS mean, max(x) / min(x) AS spread FROM (VALUES (2.00), (3.00), (3.00), (7.25)) t(x);
-- local_04: width_bucket, percentile_disc and mode evaluated by DataFusion
SELECT width_bucket(x, 0, 10, 5) AS bucket, count(*) AS n, percentile_disc(0.5) WITHIN GROUP (ORDER BY x) AS median, mode() WITHIN GROUP (ORDER BY tag) AS top_tag FROM (VALUES (1.5, 'a'), (2.0, 'b'), (1.9, 'b'), (0.5, 'a'), (9.99, 'b'), (10.0, 'a'), (-1.0, 'c'), (4.0, 'a'), (5.0, 'c'), (4.5, 'c'), (3.9, 'a'), (2.5, 'c'), (3.0, 'c')) t(x, tag) GROUP BY 1;
-- local_05: interval avg, justify and make_interval evaluated by DataFusion
SELECT g, avg(d) AS mean, justify_interval(sum(d)) AS total, make_interval(weeks => 1, mins => 30) AS w FROM (VALUES (1, INTERVAL '1 day'), (1, INTERVAL '2 days 00:00:01'), (2, INTERVAL '1 mon'), (2, INTERVAL '2 mons 3 hours')) t(g, d) GROUP BY g;
-- local_06: substring regex, format, json_build_object, real arithmetic and interval text evaluated by DataFusion
SELECT n, substring(s FROM '@(.*)$') AS domain, substring(s FROM '[0-9]+') AS digits, format('%s <%s> %L', n, s, ok) AS f, json_build_object('n', n, 'ok', ok, 'r', r)::text AS j, r * 2 AS r2, d::text AS dt FROM (VALUES ('ann@example.com', 'Ann', true, 0.31::real, INTERVAL '1 day 02:00:00'), ('bob42@test.org', 'Bob', false, 1.5::real, INTERVAL '-3 hours')) t(s, n, ok, r, d);
-- local_07: timestamp difference, exponent numeric, interval and timestamp literals evaluated by DataFusion
SELECT b - a AS diff, '1e3'::numeric AS big, INTERVAL '1 month - 1 day' AS iv, '2024-03-05 10:00'::timestamp + INTERVAL '90 minutes' AS t FROM (VALUES (TIMESTAMP '2024-01-01 00:00', TIMESTAMP '2024-01-02 02:00:05.5')) t(a, b);
-- local_08: AT TIME ZONE both ways, OVERLAPS and to_char of numbers evaluated by DataFusion
SELECT id, t AT TIME ZONE 'America/New_York' AS ny, n AT TIME ZONE 'America/New_York' AS from_ny, to_char(p, 'FM999G990D00') AS p1, to_char(p, '9999.99') AS p2, (t, t + INTERVAL '2 hours') OVERLAPS ('2024-03-10 12:00+00'::timestamptz, '2024-03-10 13:00+00'::timestamptz) AS ov FROM (VALUES (1, '2024-03-10 11:30+00'::timestamptz, '2024-03-10 02:30'::timestamp, 1234.567), (2, '2024-11-03 05:30+00'::timestamptz, '2024-11-03 01:30'::timestamp, -0.5), (3, '2024-03-10 14:00+00'::timestamptz, '2024-07-01 12:00'::timestamp, 99999.1)) v(id, t, n, p);
-- real_01: top-n with ties
SELECT id, price FROM shop.products ORDER BY price DESC FETCH FIRST 5 ROWS WITH TIES;
-- real_02: rounding floats half to even as Postgres's round(double precision)
SELECT x, round(x) AS r, round(x::numeric) AS rn, x::int AS i FROM (VALUES (0.5::float8), (1.5), (2.5), (-2.5), (3.7)) v(x);
-- real_03: integer division and modulo of negatives
SELECT a, b, a / b AS q, a % b AS m, div(a, b) AS d, mod(a, b) AS md FROM (VALUES (7, 2), (-7, 2), (7, -2), (-7, -2)) v(a, b);
-- real_04: numeric to integer casts round half away from zero
SELECT v, v::int AS i, v::bigint AS b, ceil(v) AS c, floor(v) AS f, trunc(v) AS t FROM (VALUES (2.5::numeric), (-2.5), (0.49), (-0.51)) x(v);
-- real_05: calendar fill with generate_series
SELECT d::date AS day, count(o.id) AS orders FROM generate_series(DATE '2024-02-01', DATE '2024-02-10', INTERVAL '1 day') AS d LEFT JOIN shop.orders o ON o.ordered_at >= d AND o.ordered_at < d + INTERVAL '1 day' GROUP BY d ORDER BY d;
-- real_06: date arithmetic with integers
SELECT id, signup_date + 30 AS plus30, signup_date - DATE '2023-01-01' AS days_since, (signup_date + INTERVAL '1 month')::date AS next_month FROM shop.customers WHERE id <= 12;
-- real_07: month-end interval arithmetic
SELECT d, d + INTERVAL '1 month' AS plus_month, d - INTERVAL '1 month' AS minus_month FROM (VALUES (TIMESTAMP '2024-01-31 10:00'), (TIMESTAMP '2024-03-31 00:00'), (TIMESTAMP '2023-02-28 12:00')) v(d);
-- real_08: extract fields
SELECT id, extract(isodow FROM ordered_at) AS isodow, extract(doy FROM ordered_at) AS doy, extract(week FROM ordered_at) AS wk, extract(quarter FROM ordered_at) AS q FROM shop.orders WHERE id <= 15;
-- real_09: grouping function with rollup
SELECT category, grouping(category) AS is_total, count(*) AS n, sum(price) AS total FROM shop.products GROUP BY ROLLUP (category);
-- real_10: recursive cte over the management chain
WITH RECURSIVE chain AS (SELECT empid, managerid, 0 AS depth FROM employees WHERE managerid IS NULL UNION ALL SELECT e.empid, e.managerid, c.depth + 1 FROM employees e JOIN chain c ON e.managerid = c.empid) SELECT depth, count(*) AS n FROM chain GROUP BY depth;
-- real_11: unnest and array_to_string
SELECT id, array_to_string(ARRAY[country, segment], '/') AS tag, array_length(string_to_array(email, '.'), 1) AS parts FROM shop.customers WHERE id <= 10;
-- real_12: unnest a literal array
SELECT x, x * 2 AS doubled FROM unnest(ARRAY[3, 1, 2]) AS x;
-- real_13: jsonb extraction
SELECT j ->> 'name' AS name, (j ->> 'qty')::int AS qty, j -> 'tags' ->> 0 AS first_tag FROM (VALUES ('{"name": "a", "qty": "3", "tags": ["x", "y"]}'::jsonb), ('{"name": "b", "qty": "5", "tags": []}'::jsonb)) v(j);
-- real_14: is distinct from and nullif
SELECT count(*) FILTER (WHERE referred_by IS DISTINCT FROM 1) AS not_one, count(*) FILTER (WHERE referred_by IS NOT DISTINCT FROM NULL) AS no_ref, count(nullif(segment, 'Enterprise')) AS non_ent FROM shop.customers;
-- real_15: in list with null
SELECT count(*) FILTER (WHERE referred_by IN (1, 2, NULL)) AS in_list, count(*) FILTER (WHERE referred_by NOT IN (1, 2, NULL)) AS not_in_list FROM shop.customers;
-- real_16: between symmetric and like escape
SELECT count(*) FILTER (WHERE id BETWEEN SYMMETRIC 20 AND 10) AS sym, count(*) FILTER (WHERE name LIKE '%o''B%') AS apostrophe, count(*) FILTER (WHERE email LIKE '%!_%' ESCAPE '!') AS underscore FROM shop.customers;
-- real_17: string functions people use
SELECT id, left(title, -3) AS cut, rtrim(sku, '0123456789') AS stem, btrim('  x  ') AS b, overlay(sku PLACING 'XX' FROM 1 FOR 3) AS ov, split_part(title, ' ', -1) AS last_word FROM shop.products WHERE id <= 8;
-- real_18: chr ascii to_hex
SELECT id, ascii(name) AS a, chr(65 + id % 26) AS c, to_hex(id * 255) AS h FROM shop.customers WHERE id <= 10;
-- real_19: string concatenation with numbers and nulls
SELECT id, 'order-' || id AS label, 'n:' || note AS n1, concat('n:', note) AS n2, id::text || '/' || shipping AS mixed FROM shop.orders WHERE id <= 12;
-- real_20: numeric typmod casts
SELECT id, price::numeric(10,1) AS p1, (price / 3)::numeric(12,4) AS third, round(price / 7, 3) AS r3 FROM shop.products WHERE id <= 10;
-- real_21: mixed int and numeric in case
SELECT order_id, line, CASE WHEN qty > 3 THEN qty ELSE unit_price END AS v, greatest(qty, unit_price) AS g, least(qty * 1.5, 4) AS l FROM shop.order_items WHERE order_id <= 5;
-- real_22: to_char of dates
SELECT id, to_char(ordered_at, 'YYYY-MM-DD HH24:MI') AS ts, to_char(ordered_at, 'Mon DD, YYYY') AS pretty, to_char(ordered_at, 'YYYY"Q"Q') AS quarter FROM shop.orders WHERE id <= 10;
-- real_23: to_date and to_timestamp
SELECT to_date('2024-03-15', 'YYYY-MM-DD') AS d, to_date('15/03/2024', 'DD/MM/YYYY') AS d2, to_timestamp('2024-03-15 13:45', 'YYYY-MM-DD HH24:MI') AS t;
-- real_24: date_trunc quarter and week
SELECT date_trunc('quarter', ordered_at) AS q, date_trunc('week', ordered_at) AS w, count(*) AS n FROM shop.orders WHERE id <= 300 GROUP BY 1, 2;
-- real_25: interval arithmetic
SELECT id, duration * 2 AS twice, duration / 4 AS quarter, duration + INTERVAL '30 minutes' AS longer, extract(epoch FROM duration) / 60 AS minutes FROM web.sessions WHERE id <= 10;
-- real_26: window frame by range of interval
SELECT id, started_at, count(*) OVER (ORDER BY started_at RANGE BETWEEN INTERVAL '1 hour' PRECEDING AND CURRENT ROW) AS last_hour FROM web.sessions WHERE id <= 40;
-- real_27: lag with default and lead
SELECT id, pages, lag(pages, 1, 0) OVER (ORDER BY id) AS prev, lead(pages, 2) OVER (ORDER BY id) AS next2 FROM web.sessions WHERE id <= 20;
-- real_28: bool aggregates
SELECT device, bool_and(bounced) AS all_bounced, bool_or(bounced) AS any_bounced, every(pages > 1) AS all_multi FROM web.sessions GROUP BY device;
-- real_29: count distinct pairs
SELECT count(DISTINCT (customer_id, status)) AS pairs, count(DISTINCT customer_id) AS customers FROM shop.orders;
-- real_30: union distinct with order
SELECT country AS code FROM shop.customers WHERE id <= 30 UNION SELECT 'ZZ' ORDER BY code;
-- real_31: except all and intersect all
SELECT n FROM (VALUES (1), (1), (2), (3)) a(n) EXCEPT ALL SELECT n FROM (VALUES (1), (3)) b(n);
-- real_32: ratio of integers
SELECT status, count(*) / 10 AS tens, count(*)::float / 10 AS exact_tens, count(*) * 100 / (SELECT count(*) FROM shop.orders) AS pct_floor FROM shop.orders GROUP BY status;
-- real_33: group by a jsonb member
SELECT props ->> 'plan' AS plan, count(*) AS n, avg((props ->> 'score')::int) AS avg_score FROM web.profiles GROUP BY 1;
-- real_34: nested members, positions and json columns
SELECT user_id, props -> 'tags' ->> 0 AS first_tag, props -> 'tags' -> -1 AS last_tag, props ->> 'beta' AS beta, raw ->> 'a' AS a, raw -> 'b' AS b FROM web.profiles WHERE user_id <= 13;
-- real_35: jsonb member joined to sessions
SELECT p.props ->> 'plan' AS plan, sum(s.pages) AS pages FROM web.sessions s JOIN web.profiles p ON p.user_id = s.user_id WHERE (p.props ->> 'score')::int > 50 GROUP BY 1;
-- real_36: jsonb and json columns as stored
SELECT user_id, props, raw FROM web.profiles WHERE user_id <= 6;
-- real_37: filter on a jsonb member
SELECT count(*) AS n FROM web.profiles WHERE props ->> 'plan' = 'pro' AND props -> 'tags' ->> 1 LIKE 'u%';
-- real_38: double precision compared with numeric literals
SELECT count(*) FILTER (WHERE latency_ms * 1e16 > 2.5) AS big, count(*) FILTER (WHERE latency_ms BETWEEN 10.5 AND 20.25) AS mid, count(*) FILTER (WHERE latency_ms IN (0.5, 1.03)) AS listed, max(coalesce(latency_ms, 0.5)) AS top FROM web.events;
-- real_39: bigint sums past the bigint range (numeric in Postgres), grouped and distinct
SELECT id % 3 AS k, sum(9223372036854775000 - id) AS s, sum(DISTINCT 9223372036854775000 - id) AS ds, sum(9223372036854775000 - id) FILTER (WHERE id % 2 = 0) AS evens, count(*) AS n FROM web.events GROUP BY 1 ORDER BY 1;
-- real_40: bigint window and whole-table sums past the bigint range
SELECT id, sum(9223372036854775000 - id) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS w3, sum(9223372036854775000 - id) OVER () AS total, sum(id) OVER (ORDER BY id) AS running FROM web.events WHERE id <= 20;
-- real_41: averages of integers are numeric
SELECT device, avg(pages) AS a, avg(DISTINCT pages) AS da, avg(pages) FILTER (WHERE bounced) AS ab, avg(id) AS aid, avg(pages) OVER () AS overall FROM web.sessions GROUP BY device, pages, bounced, id ORDER BY id LIMIT 15;
-- real_42: smallint and int sums stay bigint
SELECT deptid, sum(rating) AS r, sum(empid) AS e, avg(rating) AS ar, sum(rating * 100000000) AS big FROM public.employees GROUP BY deptid ORDER BY deptid NULLS LAST;
-- real_43: grouped sums and averages over VALUES, past the bigint range (DataFusion evaluates these itself)
SELECT g, sum(x) AS s, sum(DISTINCT x) AS ds, sum(x) FILTER (WHERE x > 0) AS pos, avg(y) AS a, avg(DISTINCT y) AS da, sum(y) AS sy, sum(sum(x)) OVER () AS total FROM (VALUES (1, 9223372036854775807::bigint, 7), (1, 9223372036854775807::bigint, 8), (1, -3::bigint, NULL), (2, 5::bigint, 1), (2, NULL::bigint, 2), (2, NULL::bigint, 2), (3, NULL::bigint, NULL)) v(g, x, y) GROUP BY g ORDER BY g;
-- real_44: whole-table and sliding-window sums over VALUES past the bigint range
SELECT i, x, sum(x) OVER (ORDER BY i ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS pair, avg(i) OVER (ORDER BY i ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS a3, (SELECT sum(x) FROM (VALUES (9223372036854775807::bigint), (9223372036854775807::bigint)) t(x)) AS whole FROM (VALUES (1, 9223372036854775807::bigint), (2, 9223372036854775806::bigint), (3, NULL::bigint), (4, -9223372036854775807::bigint), (5, -9223372036854775807::bigint)) v(i, x) ORDER BY i;
-- real_45: a union of double precision and numeric is double precision
SELECT v FROM (SELECT latency_ms AS v FROM web.events WHERE id <= 5 UNION ALL SELECT price FROM shop.products WHERE id <= 5 UNION ALL SELECT x FROM (VALUES (0.1::float8), (2)) t(x)) u ORDER BY v;
-- real_46: numeric first, then a float, in a union with duplicates removed
SELECT 2.25::numeric(10,2) AS x UNION SELECT 0.1::float8 UNION SELECT 3 UNION SELECT x FROM (VALUES (0.30000000000000004::float8)) t(x) ORDER BY 1;
-- real_47: a source's table joined to a VALUES list
SELECT p.id, v.label FROM shop.products p JOIN (VALUES (1, 'one'), (2, 'two'), (99, 'none')) v(i, label) ON v.i = p.id ORDER BY 1;
-- real_48: IN and NOT IN a VALUES list
SELECT count(*) FILTER (WHERE id IN (VALUES (1), (2), (3))) AS listed, count(*) FILTER (WHERE id NOT IN (VALUES (1), (NULL::int))) AS never, count(*) FILTER (WHERE id NOT IN (VALUES (1), (2))) AS rest FROM shop.products;
-- real_49: top-n with ties over VALUES, ordered by an output alias
SELECT n * 2 AS twice FROM (VALUES (3), (5), (5), (1)) v(n) ORDER BY twice DESC FETCH FIRST 1 ROW WITH TIES;
-- real_50: top-n with ties by position, NULLs first
SELECT n FROM (VALUES (3), (5), (1), (1), (NULL)) v(n) ORDER BY 1 NULLS FIRST FETCH FIRST 2 ROWS WITH TIES;
-- real_51: OVERLAPS with NULL ends
SELECT (DATE '2024-01-01', DATE '2024-01-10') OVERLAPS (DATE '2024-01-15', NULL::date) AS a, (NULL::date, DATE '2024-01-10') OVERLAPS (DATE '2024-01-05', DATE '2024-01-20') AS b, (DATE '2024-01-05', NULL::date) OVERLAPS (DATE '2024-01-01', DATE '2024-01-10') AS c, (NULL::date, NULL::date) OVERLAPS (DATE '2024-01-01', DATE '2024-01-10') AS d, (DATE '2024-01-01', DATE '2024-01-01') OVERLAPS (DATE '2024-01-01', NULL::date) AS e, (DATE '2024-01-20', NULL::date) OVERLAPS (DATE '2024-01-01', DATE '2024-01-10') AS f;
-- local_09: quote_ident, quote_literal and quote_nullable, keywords included
SELECT quote_ident('select') AS a, quote_ident('Abc') AS b, quote_ident('name') AS c, quote_ident('a b') AS d, quote_literal('it''s') AS e, quote_literal(42) AS f, quote_literal(true) AS g, quote_nullable(NULL::text) AS h, quote_literal(NULL::text) AS i, format('%I.%I', 'public', 'order') AS j;
-- local_10: casts to numeric without a precision keep every digit (literals, quotients, integers)
SELECT '0.123456789012345'::numeric AS a, 1.123456789012345::numeric AS b, CAST('2.5' AS numeric) * 3 AS c, (1::numeric / 3)::numeric AS d, 5::numeric AS e, '-1.5e-3'::numeric AS f;
-- real_52: numeric casts of table columns and quotients
SELECT id, (price * 2)::numeric AS doubled, (price / 7)::numeric AS seventh, id::numeric AS n, '12.3456789012345678'::numeric + price AS shifted FROM shop.products WHERE id <= 5;
-- real_53: averages of bigints past 10^18 (nanosecond epochs), grouped, distinct, filtered, divided and rounded
SELECT id % 3 AS k, avg(1700000000000000000 + id * 1000000007) AS a, avg(DISTINCT 9223372036854775000 - id) AS da, avg(-9223372036854775000 + id) FILTER (WHERE id % 2 = 0) AS neg, avg(1700000000000000000 + id) / 7 AS seventh, round(avg(1700000000000000000 + id), 2) AS r, avg(id) AS small FROM web.events GROUP BY 1 ORDER BY 1;
-- real_54: averages of bigints past 10^18 over VALUES (DataFusion evaluates these), windowed, whole-table, and of bigint sums
SELECT i, avg(x) OVER (ORDER BY i ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS pair, avg(x) OVER () AS overall, (SELECT avg(x) FROM (VALUES (9223372036854775807::bigint), (9223372036854775806::bigint)) t(x)) AS whole, (SELECT avg(s) FROM (SELECT g, sum(x) AS s FROM (VALUES (1, 9223372036854775807::bigint), (1, 9223372036854775807::bigint), (2, 1::bigint)) t(g, x) GROUP BY g) u) AS avg_of_sums FROM (VALUES (1, 1700000000000000001::bigint), (2, 1700000000000000002::bigint), (3, NULL::bigint), (4, 9223372036854775807::bigint), (5, -9223372036854775807::bigint)) v(i, x) ORDER BY i;
-- real_55: sums and averages of timestamp differences are Postgres intervals (days, and a time that may pass 24 hours), windowed and sliding
SELECT id, customer_id, gap, sum(gap) OVER (PARTITION BY customer_id ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS pair, avg(gap) OVER (PARTITION BY customer_id) AS a, sum(gap) OVER () AS total FROM (SELECT id, customer_id, ordered_at - lag(ordered_at) OVER (PARTITION BY customer_id ORDER BY ordered_at, id) AS gap FROM shop.orders) t WHERE customer_id <= 6 ORDER BY id;
-- local_11: sum and avg of timestamp differences over VALUES, negative ones included
SELECT avg(x) AS a, sum(x) AS s, min(x) AS mn, avg(x) FILTER (WHERE x > interval '0') AS pos, sum(x) FILTER (WHERE x < interval '0') AS neg FROM (VALUES (timestamp '2024-01-02 20:00' - timestamp '2024-01-02 00:00'), (timestamp '2024-01-03 22:00' - timestamp '2024-01-02 00:00'), (timestamp '2024-01-01 00:00' - timestamp '2024-01-03 01:00'), (timestamp '2024-01-01 00:00:00.5' - timestamp '2024-01-01 00:00:01')) v(x);
-- real_56: doubles cast to numeric keep Postgres's 15 significant digits; exponent literals in float arithmetic; rounded numerics
SELECT id, round(latency_ms::numeric, 4) AS r, (latency_ms * 1e9)::numeric AS big, latency_ms / 1e3 AS secs, (latency_ms * 1e13)::numeric AS huge, round((latency_ms / 3)::numeric, 6) AS third, (0.1::float8 + 0.2::float8)::numeric AS pt3, 12345678.123456789::float8 AS lit, 2 * 1e9 AS twice FROM web.events WHERE id <= 8 ORDER BY id;
-- local_12: doubles cast to numeric with 15 significant digits, exponent literals with doubles, an exact literal cast to a double, rounding places
SELECT i, (x * 1e9)::numeric AS big, x / 1e3 AS secs, (x * 1e13)::numeric AS huge, round(x::numeric, 4) AS r, (x * 100 + 0.2::float8)::numeric AS shifted, 12345678.123456789::float8 AS lit, 2 * 1e9 AS twice, 7 / 2e1 AS q, 1.5e3 AS f FROM (VALUES (1, 81.63917525773196::float8), (2, 0.1::float8), (3, 1e7::float8 / 3)) v(i, x) ORDER BY i;
