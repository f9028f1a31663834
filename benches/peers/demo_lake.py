"""B1 engine, second half: the demo lake at scale (Parquet: per-minute usage events partitioned
by day, hourly and daily rollups, the 1% sample), ten typical questions' SQL, Skipper vs
DataFusion used directly vs DuckDB, 2 threads, interleaved, best of N.

    python3 benches/peers/demo_lake.py [--scale 100] [--rounds 3] [--baseline-bin OLD]

Needs: cargo build --release; pip install datafusion==55.0.0 duckdb==1.5.5 pyarrow; optionally
duckdb-cli==1.5.5 for the `duckdb-cli` column (DuckDB's own command line, a process per query as
Skipper is). The lake is built by `skipper demo --scale N` (scale 100: 8.8M events, ~100 MB)
under target/bench/.
"""
import argparse
import os
import subprocess

import common

ANCHOR = "2026-11-21"
TABLES = ["usage_events", "usage_events_sampled", "billing_usage_hourly", "billing_usage_daily"]
QUERIES = [
    ("d01", "SELECT day, sum(event_count) AS events FROM usage_events "
            "WHERE day >= DATE '2026-11-15' GROUP BY day ORDER BY day"),
    ("d02", "SELECT account_id, sum(event_count) AS bytes FROM usage_events "
            "WHERE product = 'bytes_egress' GROUP BY account_id ORDER BY bytes DESC, account_id LIMIT 10"),
    ("d03", "SELECT client_country, product, sum(event_count) AS n FROM usage_events "
            "GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 20"),
    ("d04", "SELECT day, count(DISTINCT account_id) AS accounts FROM usage_events GROUP BY day ORDER BY day"),
    ("d05", "SELECT asn, sum(event_count) AS n FROM usage_events WHERE day = DATE '2026-11-21' "
            "AND product = 'workers_requests' GROUP BY asn ORDER BY n DESC, asn LIMIT 5"),
    ("d06", "SELECT legacy_customer_id, sum(event_count) AS n FROM usage_events "
            "WHERE account_id IS NULL GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10"),
    ("d07", "SELECT product, sum(event_count / sample_rate) AS estimate FROM usage_events_sampled "
            "GROUP BY product ORDER BY product"),
    ("d08", "SELECT product, date_trunc('day', usage_hour) AS d, max(units) AS peak FROM billing_usage_hourly "
            "GROUP BY 1, 2 ORDER BY peak DESC, 1, 2 LIMIT 10"),
    ("d09", "SELECT account_id, sum(units) AS requests FROM billing_usage_daily "
            "WHERE product = 'workers_requests' AND usage_date >= DATE '2026-11-01' "
            "GROUP BY account_id ORDER BY requests DESC, account_id LIMIT 10"),
    ("d10", "SELECT d.account_id, d.units, e.n FROM billing_usage_daily d JOIN "
            "(SELECT account_id, sum(event_count) AS n FROM usage_events "
            "WHERE day = DATE '2026-11-20' AND product = 'workers_requests' GROUP BY account_id) e "
            "ON d.account_id = e.account_id WHERE d.usage_date = DATE '2026-11-20' "
            "AND d.product = 'workers_requests' AND d.units <> e.n ORDER BY 1 LIMIT 10"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="100")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--baseline-bin", default=None)
    args = ap.parse_args()
    root = os.path.join(common.ROOT, "target", "bench", f"demo-scale{args.scale}")
    lake = os.path.join(root, "lake")
    if not os.path.exists(os.path.join(root, "demo.json")):
        subprocess.run([common.skipper_bin(), "-q", "demo", "--scale", args.scale,
                        "--anchor-date", ANCHOR, "--dir", root, "--force"],
                       check=True, stdout=subprocess.DEVNULL)
    home = common.skipper_home(
        f'[engine]\nthreads = {args.threads}\n[sources.lake]\nkind = "parquet"\npath = "{lake}"\n')

    import datafusion
    import pyarrow as pa
    df = datafusion.SessionContext(datafusion.SessionConfig().with_target_partitions(args.threads))
    import duckdb
    dk = duckdb.connect()
    setup = [f"SET threads = {args.threads}"]
    for t in TABLES:
        path = os.path.join(lake, t)
        if t == "usage_events":
            df.register_parquet(t, path, table_partition_cols=[("day", pa.date32())])
            setup.append(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{path}/*/*.parquet', "
                         "hive_partitioning = true, hive_types = {'day': DATE})")
        else:
            df.register_parquet(t, path)
            setup.append(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{path}/*.parquet')")
    for stmt in setup:
        dk.execute(stmt)

    engines = common.peer_engines(home, df, dk, args.baseline_bin, duckdb_setup=setup)
    best, errors = common.best_of(args.rounds, engines, QUERIES)
    common.warm_table(f"B1 demo lake scale {args.scale}, {args.threads} threads, best of {args.rounds}", engines, QUERIES, best, errors)


if __name__ == "__main__":
    main()
