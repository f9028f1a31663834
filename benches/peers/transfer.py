"""B4 transfer: `SELECT *` of TPC-H lineitem (SF1: 6,001,215 rows, 16 columns) from Postgres
into Arrow — Skipper (binary COPY reader, `--format arrow` to /dev/null) vs DuckDB
postgres_scanner (into an Arrow table), 2 threads, interleaved, best of N. Also Skipper with
passthrough off (the datafusion-table-providers row reader) for reference.

    python3 benches/peers/transfer.py [--rounds 3] [--sf 1]

Starts its own PostgreSQL server and loads lineitem through DuckDB's postgres writer.
"""
import argparse
import time

import common


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sf", default="1")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    data = common.tpch_data(args.sf)
    pg = common.Postgres()
    try:
        dk = common.duckdb_with_postgres(pg, args.threads)
        dk.execute("DETACH pg")
        dk.execute(f"ATTACH '{pg.libpq()}' AS pgw (TYPE postgres)")
        t = time.perf_counter()
        dk.execute(f"CREATE TABLE pgw.public.lineitem AS SELECT * FROM read_parquet('{data}/lineitem.parquet')")
        print(f"loaded lineitem into Postgres in {time.perf_counter() - t:.1f}s")
        dk.execute("DETACH pgw")
        pg.psql("VACUUM ANALYZE lineitem")
        rows = int(pg.psql("SELECT count(*) FROM lineitem"))
        dk.execute(f"ATTACH '{pg.libpq()}' AS pg (TYPE postgres, READ_ONLY)")

        src = f'[sources.pg]\nkind = "postgres"\nurl = "{pg.url()}"\n'
        home = common.skipper_home(f"[engine]\nthreads = {args.threads}\n{src}")
        home_off = common.skipper_home(f"[engine]\nthreads = {args.threads}\npassthrough = false\n{src}")
        engines = {
            "skipper": lambda q: common.run_skipper(home, q, fmt="arrow"),
            "duckdb": lambda q: common.timed(lambda: dk.execute("SELECT * FROM pg.public.lineitem").to_arrow_table()),
            "skipper-nopass": lambda q: common.run_skipper(home_off, q, fmt="arrow"),
        }
        queries = [("select*", "SELECT * FROM lineitem")]
        best, errors = common.best_of(args.rounds, engines, queries)
        common.print_table(f"B4 transfer: SELECT * of lineitem ({rows:,} rows) from Postgres into Arrow, "
                           f"best of {args.rounds} (seconds)", engines, queries, best, errors)
        print()
        for e in engines:
            s = best.get((e, "select*"))
            if s:
                print(f"{e:<16} {rows / s / 1e6:6.2f} M rows/s")
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
