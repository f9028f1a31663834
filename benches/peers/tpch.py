"""B1 engine: TPC-H (22 queries) on Parquet, Skipper vs DataFusion used directly (the same
engine, PyPI datafusion==55.0.0) vs DuckDB 1.5.5, 2 threads each, interleaved, best of N.

    python3 benches/peers/tpch.py [--sf 1] [--rounds 3] [--data DIR] [--baseline-bin OLD]

Needs: cargo build --release; pip install datafusion==55.0.0 duckdb==1.5.5
duckdb-extension-tpch==1.5.5 tpchgen-cli; optionally duckdb-cli==1.5.5 for the `duckdb-cli`
column (DuckDB's own command line, a process per query as Skipper is) (the TPC-H query text comes from DuckDB's tpch
extension, loaded by file path; the data from tpchgen-cli).
"""
import argparse
import os

import common

TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]


def tpch_queries():
    import duckdb
    import duckdb_extension_tpch

    ext = os.path.join(os.path.dirname(duckdb_extension_tpch.__file__),
                       "extensions", "v1.5.5", "tpch.duckdb_extension")
    c = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    c.execute(f"LOAD '{ext}'")
    return [(f"q{n:02d}", q.strip().rstrip(";")) for n, q in
            c.execute("SELECT query_nr, query FROM tpch_queries() ORDER BY 1").fetchall()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sf", default="1")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=None)
    ap.add_argument("--only", default=None, help="comma-separated query ids, e.g. q01,q18")
    ap.add_argument("--baseline-bin", default=None,
                    help="an earlier skipper binary, run side by side as `baseline`")
    args = ap.parse_args()
    data = common.tpch_data(args.sf, args.data)
    queries = tpch_queries()
    if args.only:
        keep = set(args.only.split(","))
        queries = [q for q in queries if q[0] in keep]

    home = common.skipper_home(
        f'[engine]\nthreads = {args.threads}\n[sources.tpch]\nkind = "parquet"\npath = "{data}"\n')

    import datafusion
    cfg = datafusion.SessionConfig().with_target_partitions(args.threads)
    df = datafusion.SessionContext(cfg)
    for t in TABLES:
        df.register_parquet(t, os.path.join(data, f"{t}.parquet"))

    import duckdb
    dk = duckdb.connect()
    setup = [f"SET threads = {args.threads}"] + [
        f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{os.path.join(data, t + '.parquet')}')"
        for t in TABLES]
    for stmt in setup:
        dk.execute(stmt)

    engines = common.peer_engines(home, df, dk, args.baseline_bin, duckdb_setup=setup)
    best, errors = common.best_of(args.rounds, engines, queries)
    common.warm_table(f"B1 TPC-H SF{args.sf}, {args.threads} threads, best of {args.rounds}", engines, queries, best, errors)


if __name__ == "__main__":
    main()
