-- The Postgres compatibility corpus's data: three small, realistic schemas generated
-- deterministically inside Postgres (no random(): every value is a function of its row number),
-- with NULLs, ties, mixed-case text, a non-public schema and unquoted mixed-case names.

-- A shop, in its own schema.
CREATE SCHEMA shop;

CREATE TABLE shop.customers (
    id            integer PRIMARY KEY,
    name          text NOT NULL,
    email         text,
    country       char(2),
    segment       text NOT NULL,
    signup_date   date NOT NULL,
    credit_limit  numeric(12,2),
    is_active     boolean NOT NULL,
    referred_by   integer
);
INSERT INTO shop.customers
SELECT i,
       (ARRAY['Ada','bob','Chloé','dmitri','Eve','Farah','gus','Hana','Ivan','Jo'])[1 + i % 10]
         || ' ' || (ARRAY['Smith','Ng','o''Brien','Kowalski','Li','Mensah','Silva'])[1 + (i * 3) % 7],
       CASE WHEN i % 13 = 0 THEN NULL ELSE 'user' || i || '@' || (ARRAY['example.com','Mail.org','corp.io'])[1 + i % 3] END,
       (ARRAY['US','DE','FR','GB','JP','BR','IN', NULL])[1 + (i * 3) % 8],
       (ARRAY['Enterprise','smb','Mid-Market','smb','smb'])[1 + (i * 11) % 5],
       DATE '2021-01-01' + ((i * 37) % 1400),
       CASE WHEN i % 9 = 0 THEN NULL ELSE round(((i * 7919) % 50000) / 3.0, 2) END,
       i % 6 <> 0,
       CASE WHEN i > 20 AND i % 4 = 0 THEN 1 + (i * 13) % 20 ELSE NULL END
FROM generate_series(1, 500) AS i;

CREATE TABLE shop.products (
    id           integer PRIMARY KEY,
    sku          varchar(20) NOT NULL,
    title        text NOT NULL,
    category     text NOT NULL,
    price        numeric(10,2) NOT NULL,
    weight_kg    real,
    launched_at  timestamptz NOT NULL
);
INSERT INTO shop.products
SELECT i,
       'SKU-' || lpad(i::text, 5, '0'),
       (ARRAY['Widget','Gadget','Gizmo','Doohickey','Sprocket'])[1 + i % 5] || ' ' ||
         (ARRAY['Pro','Mini','Max','Lite'])[1 + (i * 3) % 4] || ' ' || i,
       (ARRAY['tools','Toys','garden','tools','Kitchen','books'])[1 + (i * 5) % 6],
       round(((i * 1237) % 20000) / 100.0 + 0.99, 2),
       CASE WHEN i % 17 = 0 THEN NULL ELSE ((i * 31) % 500) / 100.0 END,
       TIMESTAMPTZ '2022-03-01 08:00:00+00' + ((i * 97) % 900) * INTERVAL '1 day' + (i % 24) * INTERVAL '1 hour'
FROM generate_series(1, 200) AS i;

CREATE TABLE shop.orders (
    id            integer PRIMARY KEY,
    customer_id   integer NOT NULL,
    ordered_at    timestamptz NOT NULL,
    status        text NOT NULL,
    shipping      numeric(8,2) NOT NULL,
    discount_pct  double precision,
    note          text
);
INSERT INTO shop.orders
SELECT i,
       1 + (i * 7) % 500,
       TIMESTAMPTZ '2024-01-01 00:00:00+00' + ((i * 613) % 525600) * INTERVAL '1 minute',
       (ARRAY['shipped','delivered','cancelled','pending','delivered','delivered'])[1 + (i * 5) % 6],
       ((i * 29) % 2500) / 100.0,
       CASE WHEN i % 4 = 0 THEN NULL ELSE ((i * 17) % 30) / 100.0 END,
       CASE WHEN i % 10 = 0 THEN 'gift: ' || (ARRAY['wrap it','Leave at door','call first'])[1 + i % 3] ELSE NULL END
FROM generate_series(1, 5000) AS i;

CREATE TABLE shop.order_items (
    order_id    integer NOT NULL,
    line        integer NOT NULL,
    product_id  integer NOT NULL,
    qty         integer NOT NULL,
    unit_price  numeric(10,2) NOT NULL,
    PRIMARY KEY (order_id, line)
);
INSERT INTO shop.order_items
SELECT o, l,
       1 + (o * 17 + l * 31) % 200,
       1 + (o + l * 3) % 5,
       round(((((o * 17 + l * 31) % 200) + 1) * 1237 % 20000) / 100.0 + 0.99, 2)
FROM generate_series(1, 5000) AS o, generate_series(1, 3) AS l
WHERE l <= 1 + o % 3;

-- HR, in public, created with unquoted mixed-case names (they fold to lower case).
CREATE TABLE Departments (
    DeptId    integer PRIMARY KEY,
    Name      text NOT NULL,
    Budget    numeric(14,2),
    Location  text
);
INSERT INTO Departments VALUES
    (1, 'Engineering', 2500000.00, 'Berlin'),
    (2, 'Sales', 1200000.50, 'New York'),
    (3, 'Support', 400000.00, 'Lisbon'),
    (4, 'Finance', 650000.25, 'New York'),
    (5, 'Legal', NULL, 'London'),
    (6, 'Research', 1800000.00, NULL);

CREATE TABLE Employees (
    EmpId       integer PRIMARY KEY,
    FirstName   text NOT NULL,
    LastName    text NOT NULL,
    DeptId      integer REFERENCES Departments,
    ManagerId   integer,
    HiredOn     date NOT NULL,
    Salary      numeric(10,2) NOT NULL,
    ShiftStart  time,
    Badge       char(6),
    Rating      smallint
);
INSERT INTO Employees
SELECT i,
       (ARRAY['Ana','Ben','Cai','Dee','Eli','Fay','Gil','Hal','Ida','Jon','Kim'])[1 + i % 11],
       (ARRAY['Park','Stone','Reyes','Okafor','Berg','Ito','Novak'])[1 + (i * 5) % 7],
       CASE WHEN i % 23 = 0 THEN NULL ELSE 1 + (i * 7) % 6 END,
       CASE WHEN i <= 6 THEN NULL ELSE 1 + (i * 3) % 6 END,
       DATE '2015-06-01' + ((i * 211) % 3500),
       30000 + ((i * 7919) % 90000) + (i % 4) * 0.25,
       CASE WHEN i % 7 = 0 THEN NULL ELSE TIME '06:00' + ((i * 15) % 720) * INTERVAL '1 minute' END,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'B' || (i % 1000)::text END,
       CASE WHEN i % 8 = 0 THEN NULL ELSE 1 + (i * 3) % 5 END
FROM generate_series(1, 300) AS i;

-- Web analytics, in its own schema: zone-less timestamps, intervals, floats.
CREATE SCHEMA web;

CREATE TABLE web.sessions (
    id          bigint PRIMARY KEY,
    user_id     integer,
    started_at  timestamp NOT NULL,
    duration    interval NOT NULL,
    device      text NOT NULL,
    pages       integer NOT NULL,
    bounced     boolean NOT NULL,
    revenue     numeric(10,2)
);
INSERT INTO web.sessions
SELECT i,
       CASE WHEN i % 11 = 0 THEN NULL ELSE 1 + (i * 13) % 500 END,
       TIMESTAMP '2024-03-01 00:00:00' + ((i * 1013) % 129600) * INTERVAL '1 minute',
       ((i * 37) % 3600) * INTERVAL '1 second' + (i % 3) * INTERVAL '1 hour',
       (ARRAY['desktop','mobile','tablet','mobile'])[1 + i % 4],
       1 + (i * 7) % 15,
       (i * 7) % 15 = 0,
       CASE WHEN i % 5 = 0 THEN round(((i * 97) % 10000) / 100.0, 2) ELSE NULL END
FROM generate_series(1, 3000) AS i;

CREATE TABLE web.events (
    id          bigint PRIMARY KEY,
    session_id  bigint NOT NULL,
    at          timestamptz NOT NULL,
    kind        text NOT NULL,
    url         text NOT NULL,
    latency_ms  double precision
);
INSERT INTO web.events
SELECT i,
       1 + (i * 7) % 3000,
       TIMESTAMPTZ '2024-03-01 00:00:00+00' + ((i * 389) % 12960000) * INTERVAL '1 second',
       (ARRAY['view','click','view','purchase','view','scroll'])[1 + (i * 5) % 6],
       '/' || (ARRAY['home','pricing','docs/start','docs/API','blog/2024/launch','checkout'])[1 + (i * 3) % 6]
         || CASE WHEN i % 9 = 0 THEN '?ref=ad' || (i % 4) ELSE '' END,
       CASE WHEN i % 50 = 0 THEN NULL ELSE ((i * 7919) % 100000) / 97.0 END
FROM generate_series(1, 20000) AS i;

CREATE TABLE web.profiles (
    user_id  integer PRIMARY KEY,
    props    jsonb NOT NULL,
    raw      json
);
INSERT INTO web.profiles
SELECT i,
       jsonb_build_object('plan', (ARRAY['free','pro','team'])[1 + i % 3], 'score', (i * 37) % 101,
                          'tags', CASE WHEN i % 4 = 0 THEN '[]'::jsonb ELSE jsonb_build_array('t' || (i % 7), 'u' || (i % 5)) END,
                          'beta', CASE WHEN i % 6 = 0 THEN 'null'::jsonb ELSE to_jsonb(i % 2 = 0) END),
       CASE WHEN i % 10 = 0 THEN NULL ELSE ('{"b": ' || i || ', "a": "x' || i % 3 || '"}')::json END
FROM generate_series(1, 500) AS i;

ANALYZE;
