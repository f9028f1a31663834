"""B3 federation: Postgres dimension tables (accounts, products: 1M rows each) joined to Parquet
facts (events: 10M rows), ten queries with selective dimension filters, dimension aggregates and
limits. For each engine: wall time (best of N, interleaved) and rows pulled out of Postgres
(pg_stat_statements: rows of the statements that read the dimension tables).

Engines: Skipper (pushdown on: the default), Skipper with `[engine] pushdown = false` (no filter,
limit or query pushdown: only column projection), DuckDB 1.5.5 + postgres_scanner.

    python3 benches/peers/federation.py [--rounds 3]
"""
import argparse
import os
import time

import common

QUERIES = [
    ("f01", "SELECT count(*) AS n, sum(e.amount) AS amt FROM {E} e JOIN {A} a ON a.id = e.account_id "
            "WHERE a.country = 'DE' AND a.plan = 'enterprise' AND a.region = 7"),
    ("f02", "SELECT e.account_id, e.product_id, e.at, e.qty, e.amount FROM {E} e JOIN {A} a ON a.id = e.account_id "
            "WHERE a.name = 'acct-0004242'"),
    ("f03", "SELECT a.plan, count(*) AS n FROM {E} e JOIN {A} a ON a.id = e.account_id "
            "WHERE a.created = DATE '2025-06-01' GROUP BY a.plan"),
    ("f04", "SELECT p.category, sum(e.qty) AS units FROM {E} e JOIN {P} p ON p.id = e.product_id "
            "WHERE p.list_price > 995 GROUP BY p.category"),
    ("f05", "SELECT count(*) AS n FROM {E} e WHERE e.account_id IN "
            "(SELECT id FROM {A} WHERE plan = 'enterprise' AND country = 'JP' AND region < 5)"),
    ("f06", "SELECT a.country, count(*) AS accounts FROM {A} a GROUP BY a.country"),
    ("f07", "SELECT a.name, e.amount FROM {E} e JOIN {A} a ON a.id = e.account_id "
            "WHERE a.country = 'BR' AND a.region = 3 ORDER BY e.amount DESC, a.name LIMIT 10"),
    ("f08", "SELECT * FROM {A} WHERE country = 'FR' LIMIT 100"),
    ("f09", "SELECT a.plan, p.category, sum(e.amount) AS amt FROM {E} e JOIN {A} a ON a.id = e.account_id "
            "JOIN {P} p ON p.id = e.product_id WHERE a.region = 7 AND a.plan = 'pro' AND p.category = 'books' "
            "AND p.list_price > 990 "
            "GROUP BY 1, 2"),
    ("f10", "SELECT count(*) AS n FROM {A} a WHERE a.plan = 'trial' AND a.created < DATE '2021-01-01'"),
]


def load(pg, dk, facts):
    pg.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    pg.psql("""
        CREATE TABLE accounts AS
        SELECT i::bigint AS id, 'acct-' || lpad(i::text, 7, '0') AS name,
               (ARRAY['US','DE','FR','GB','JP','BR','IN','CA','AU','NL'])[1 + abs(hashint8(i)) % 10] AS country,
               (ARRAY['trial','starter','pro','enterprise'])[1 + abs(hashint8(i + 1000000)) % 4] AS plan,
               DATE '2020-01-01' + (abs(hashint8(i + 2000000)) % 2190)::int AS created,
               abs(hashint8(i + 3000000)) % 50 AS region
        FROM generate_series(1, 1000000) AS i;
        ALTER TABLE accounts ADD PRIMARY KEY (id);
        CREATE TABLE products AS
        SELECT i::bigint AS id, 'SKU-' || i AS sku,
               (ARRAY['books','toys','garden','tools','music'])[1 + abs(hashint8(i)) % 5] AS category,
               round(((i::bigint * 7919) % 100000) / 100.0, 2)::numeric(10,2) AS list_price
        FROM generate_series(1, 1000000) AS i;
        ALTER TABLE products ADD PRIMARY KEY (id);
    """)
    pg.psql("VACUUM ANALYZE accounts")
    pg.psql("VACUUM ANALYZE products")
    os.makedirs(facts, exist_ok=True)
    path = os.path.join(facts, "events.parquet")
    if not os.path.exists(path):
        dk.execute(f"""
            COPY (SELECT (1 + (i * 7919) % 1000000)::BIGINT AS account_id,
                         (1 + (i * 104729) % 1000000)::BIGINT AS product_id,
                         TIMESTAMP '2025-01-01' + INTERVAL (i % 31536000) SECOND AS at,
                         (1 + i % 5)::INTEGER AS qty,
                         ((i * 31) % 10000) / 100.0 AS amount
                  FROM range(10000000) t(i)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    facts = os.path.join(common.ROOT, "target", "bench", "federation-facts")
    pg = common.Postgres()
    try:
        import duckdb
        t = time.perf_counter()
        load(pg, duckdb.connect(), facts)
        print(f"loaded 2 × 1M Postgres rows and 10M Parquet rows in {time.perf_counter() - t:.1f}s")
        dk = common.duckdb_with_postgres(pg, args.threads)
        dk.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{facts}/events.parquet')")

        src = (f'[sources.pg]\nkind = "postgres"\nurl = "{pg.url()}"\n'
               f'[sources.lake]\nkind = "parquet"\npath = "{facts}"\n')
        home_on = common.skipper_home(f"[engine]\nthreads = {args.threads}\n{src}")
        home_off = common.skipper_home(f"[engine]\nthreads = {args.threads}\npushdown = false\n{src}")
        names_sk = {"A": "pg.public.accounts", "P": "pg.public.products", "E": "lake.main.events"}
        names_dk = {"A": "pg.public.accounts", "P": "pg.public.products", "E": "events"}

        pulled = {}

        def measured(name, fn):
            def run(sql):
                pg.psql("SELECT pg_stat_statements_reset()")
                s = fn(sql)
                rows = pg.psql("SELECT coalesce(sum(rows), 0) FROM pg_stat_statements "
                               "WHERE query ILIKE '%COPY%' AND (query ILIKE '%accounts%' OR query ILIKE '%products%')")
                pulled[(name, sql)] = int(rows)
                return s
            return run

        def duckdb_cold(q):
            # What a command-line user pays: a new process-like session that loads the
            # extension, attaches Postgres and maps the Parquet file before the query.
            def once():
                c = common.duckdb_with_postgres(pg, args.threads)
                c.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{facts}/events.parquet')")
                c.execute(q.format(**names_dk)).to_arrow_table()
                c.close()
            return common.timed(once)

        engines = {
            "skipper": measured("skipper", lambda q: common.run_skipper(home_on, q.format(**names_sk))),
            "duckdb": measured("duckdb", lambda q: common.timed(lambda: dk.execute(q.format(**names_dk)).to_arrow_table())),
            "duckdb-cold": measured("duckdb-cold", duckdb_cold),
            "skipper-nopush": measured("skipper-nopush", lambda q: common.run_skipper(home_off, q.format(**names_sk))),
        }
        best, errors = common.best_of(args.rounds, engines, QUERIES)
        common.print_table(f"B3 federation: wall time, best of {args.rounds} (seconds)",
                           engines, QUERIES, best, errors)
        print("\n## B3 rows pulled out of Postgres (pg_stat_statements)\n")
        print(f"{'query':<8}{'skipper':>14}{'duckdb':>14}{'nopush':>14}{'≤ duckdb':>10}{'nopush/skipper':>16}")
        for qid, sql in QUERIES:
            a = pulled.get(("skipper", sql))
            b = pulled.get(("duckdb", sql))
            c = pulled.get(("skipper-nopush", sql))
            ok = "yes" if a is not None and b is not None and a <= b else "NO"
            if c == 0 and a:
                # The LIMIT ended the unfiltered COPY early; Postgres records no row count for
                # a statement that was cancelled.
                c, fold = "n/a", "n/a"
            else:
                fold = f"{c / max(a, 1):.0f}x" if a is not None and c is not None else "-"
            print(f"{qid:<8}{a!s:>14}{b!s:>14}{c!s:>14}{ok:>10}{fold:>16}")
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
