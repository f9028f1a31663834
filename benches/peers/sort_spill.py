"""Memory: large sorts over TPC-H lineitem (SF1: 6,001,215 rows) under a memory limit, each a
whole process writing CSV to /dev/null, 2 threads, interleaved, best of N:

- `skipper`: `[engine] memory_limit` = the limit (Skipper's external sort, engine/extsort.rs);
- `skipper-nolimit`: no limit (DataFusion's in-memory sort);
- `duckdb`: duckdb-cli with `SET memory_limit` = the limit, spilling to a temporary folder;
- `datafusion`: DataFusion 55 directly (Python) with a fair spill pool of the limit, the raw
  stack's own external sort, results streamed and dropped.

    python3 benches/peers/sort_spill.py [--rounds 3] [--limit 64] [--sf 1]

Also prints each engine's peak RSS (of the best run's process; the Python peer's is the whole
interpreter's).
"""
import argparse
import os
import subprocess
import tempfile
import time

import common

QUERIES = [
    ("text", "SELECT l_comment, l_orderkey FROM lineitem ORDER BY l_comment"),
    ("numbers", "SELECT l_orderkey, l_partkey, l_extendedprice FROM lineitem "
                "ORDER BY l_extendedprice DESC, l_orderkey"),
    ("wide", "SELECT * FROM lineitem ORDER BY l_shipdate, l_orderkey, l_linenumber"),
]


def measured(cmd, env=None, cwd=None):
    """Runs `cmd` with stdout to /dev/null; returns (seconds, peak RSS in MiB)."""
    with tempfile.NamedTemporaryFile("r") as rss:
        t = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name] + cmd, cwd=cwd, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - t
        if r.returncode != 0:
            lines = r.stderr.decode().strip().splitlines() or [""]
            why = next((line for line in lines if "error" in line.lower()), lines[-1])
            raise RuntimeError(f"exit {r.returncode}: {why.strip()[:200]}")
        kib = int(rss.read().strip().splitlines()[-1])
    return elapsed, kib / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=64, help="memory limit in MiB")
    ap.add_argument("--sf", default="1")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    data = common.tpch_data(args.sf)
    lineitem = os.path.join(data, "lineitem.parquet")
    lake = tempfile.mkdtemp(prefix="sort-bench-")
    os.symlink(lineitem, os.path.join(lake, "lineitem.parquet"))
    spill = tempfile.mkdtemp(prefix="sort-bench-spill-")
    src = f'[sources.lake]\nkind = "parquet"\npath = "{lake}"\n'
    limited = common.skipper_home(
        f'[engine]\nthreads = {args.threads}\nmemory_limit = "{args.limit}MiB"\n'
        f'spill_dir = "{spill}"\n{src}')
    unlimited = common.skipper_home(f"[engine]\nthreads = {args.threads}\n{src}")
    duckdb = common.duckdb_cli_bin()
    setup = [f"SET threads = {args.threads}", f"SET memory_limit = '{args.limit}MiB'",
             f"SET temp_directory = '{spill}'",
             f"CREATE VIEW lineitem AS SELECT * FROM read_parquet('{lineitem}')"]
    df_script = (
        "import sys, datafusion as d\n"
        "rt = d.RuntimeEnvBuilder().with_fair_spill_pool(int(sys.argv[1]) << 20)"
        f".with_temp_file_path('{spill}')\n"
        f"cfg = d.SessionConfig().with_target_partitions({args.threads})\n"
        "ctx = d.SessionContext(cfg, rt)\n"
        f"ctx.register_parquet('lineitem', '{lineitem}')\n"
        "for batch in ctx.sql(sys.argv[2]).execute_stream():\n"
        "    pass\n")
    rss = {}

    def engine(name, cmd_of, env=None, cwd=None):
        def run(sql):
            s, mib = measured(cmd_of(sql), env=env, cwd=cwd)
            key = (name, sql)
            if key not in rss or s < rss[key][0]:
                rss[key] = (s, mib)
            return s
        return name, run

    def skipper_env(home):
        return dict(os.environ, SKIPPER_DATA_DIR=os.path.join(home, "state"), NO_COLOR="1")

    binary = common.skipper_bin()
    engines = dict([
        engine("skipper", lambda q: [binary, "-q", "sql", "--format", "csv", q],
               env=skipper_env(limited), cwd=limited),
        engine("skipper-nolimit", lambda q: [binary, "-q", "sql", "--format", "csv", q],
               env=skipper_env(unlimited), cwd=unlimited),
        engine("duckdb", lambda q: [duckdb, "-csv", "-c", ";\n".join(setup + [q])]),
        engine("datafusion", lambda q: ["python3", "-c", df_script, str(args.limit), q]),
    ])
    # Skipper's queries name the source's schema; the peers see a plain `lineitem`.
    queries = QUERIES
    sk_queries = {sql: sql.replace("FROM lineitem", "FROM lake.main.lineitem") for _, sql in QUERIES}
    for name in ("skipper", "skipper-nolimit"):
        run = engines[name]
        engines[name] = (lambda run: lambda sql: run(sk_queries[sql]))(run)
    best, errors = common.best_of(args.rounds, engines, queries)
    common.print_table(f"Sorts of lineitem under a {args.limit} MiB memory limit, best of "
                       f"{args.rounds} (seconds; skipper-nolimit has no limit)",
                       engines, queries, best, errors)
    print(f"\npeak RSS of the best run, MiB (limit {args.limit} MiB; the Parquet file is read "
          "through memory maps by Skipper, whose pages count here)")
    print(f"{'query':<10}" + "".join(f"{e:>18}" for e in engines))
    for qid, sql in queries:
        row = f"{qid:<10}"
        for e in engines:
            key = (e, sk_queries[sql] if e.startswith("skipper") else sql)
            row += f"{('%.0f' % rss[key][1]) if key in rss else '-':>18}"
        print(row)


if __name__ == "__main__":
    main()
