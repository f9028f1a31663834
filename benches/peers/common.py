"""Shared helpers for the peer benchmarks: timing, interleaving, tables of ratios.

Each benchmark runs Skipper (the release binary, as users run it) and its peers side by side in
one run, interleaved query by query, and keeps the best of N rounds, so machine noise hits every
engine alike. Ratios > 1 mean Skipper is slower.
"""
import math
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tpch_data(sf, data=None):
    """The folder of TPC-H Parquet files at scale factor `sf` (default target/bench/tpch-sfN),
    generated with tpchgen-cli on first use."""
    data = os.path.abspath(data or os.path.join(ROOT, "target", "bench", f"tpch-sf{sf}"))
    if not os.path.exists(os.path.join(data, "lineitem.parquet")):
        os.makedirs(data, exist_ok=True)
        subprocess.run(["tpchgen-cli", "parquet", "-s", sf, f"--output-dir={data}"], check=True)
    return data


def skipper_bin():
    # Absolute: the benchmarks run Skipper from its home folder.
    path = os.path.abspath(os.environ.get("SKIPPER_BIN", os.path.join(ROOT, "target", "release", "skipper")))
    if not os.path.exists(path):
        sys.exit(f"error: {path} not found\nhint: cargo build --release (fat LTO, ~30 min on 2 cores), or set SKIPPER_BIN")
    return path


def skipper_home(config_text):
    home = tempfile.mkdtemp(prefix="skipper-bench-")
    with open(os.path.join(home, "skipper.toml"), "w") as f:
        f.write(config_text)
    return home


def run_skipper(home, sql, fmt="csv", binary=None):
    """Wall time of one `skipper sql` process (start, open sources, plan, run, write)."""
    env = dict(os.environ, SKIPPER_DATA_DIR=os.path.join(home, "state"), NO_COLOR="1")
    t = time.perf_counter()
    r = subprocess.run(
        [binary or skipper_bin(), "-q", "sql", "--format", fmt, sql],
        cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"skipper failed: {r.stderr.decode().strip()[:300]}")
    return elapsed


WARM_RUNS = 3


def run_skipper_warm(home, sql, fmt="csv", binary=None):
    """Skipper warm: one process runs the statement WARM_RUNS times (`skipper sql -f`), and this
    is the time Skipper reports for the last run ("N rows in X s": plan, run, write), in an
    engine whose sources, file metadata, code and allocator arenas are warm, as a long-lived
    session's would be. That is how the in-process peers are measured: each has run every
    earlier query of the benchmark in the same process before the one timed. One sample per
    round, as for the peers, so the best of N compares like with like. Resolution: 1 ms.

    Why not the second run: it is still measurably colder than later ones (one process, runs
    2 / 3 / 4: q18 0.457 / 0.339 / 0.331 s, q07 0.229 / 0.208 / 0.174 s), and perf over six runs of
    q07 in one process put a quarter of all samples in the kernel zeroing freshly faulted
    pages. A peer warmed by every earlier query of the run pays little of that. (Keeping freed
    memory, MIMALLOC_PURGE_DELAY=-1, did not change the warm times measurably.)
    """
    import re
    env = dict(os.environ, SKIPPER_DATA_DIR=os.path.join(home, "state"), NO_COLOR="1")
    script = os.path.join(home, "warm.sql")
    with open(script, "w") as f:
        f.write(f"{sql};\n" * WARM_RUNS)
    r = subprocess.run(
        [binary or skipper_bin(), "sql", "--format", fmt, "-f", script],
        cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    if r.returncode != 0:
        raise RuntimeError(f"skipper failed: {r.stderr.decode().strip()[:300]}")
    times = re.findall(r"\d+ rows? in ([0-9.]+)s", r.stderr.decode())
    if len(times) != WARM_RUNS:
        raise RuntimeError(f"expected {WARM_RUNS} timings from skipper, got: {r.stderr.decode()[:300]}")
    return float(times[-1])


class SkipperSession:
    """Skipper as a long-lived session, measured the way the in-process peers are: one REPL
    process (`skipper` with its input piped) for the whole benchmark, each query sent as
    `\\sql …;` in turn with the other engines' runs interleaved, and the time the REPL prints
    after it ("N rows in X s": plan, run, render). Like the DuckDB and DataFusion sessions, it
    has run every earlier query of the run when a query is timed. Started on first use."""

    def __init__(self, home, binary=None):
        self.home, self.binary, self.proc = home, binary, None

    def _start(self):
        env = dict(os.environ, SKIPPER_DATA_DIR=os.path.join(self.home, "state"), NO_COLOR="1")
        self.proc = subprocess.Popen(
            [self.binary or skipper_bin()], cwd=self.home, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.proc.stdin.write("\\format csv\n")

    def __call__(self, sql):
        import re
        if self.proc is None:
            self._start()
        # One line: the REPL reads a statement up to the `;` that ends a line. Comments go
        # (`--` to the end of a line; the benchmark queries have no `--` inside literals).
        # The process ends with the benchmark: its stdin closes and the REPL sees the end.
        one_line = " ".join(l.split("--")[0] for l in sql.strip().rstrip(";").splitlines())
        self.proc.stdin.write(f"\\sql {one_line};\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the skipper session ended")
            m = re.fullmatch(r"\d+ rows? in ([0-9.]+)s\n", line)
            if m:
                return float(m.group(1))
            if line.startswith("error:"):
                raise RuntimeError(line.strip())


def duckdb_cli_bin():
    """The DuckDB command-line binary of PyPI's `duckdb-cli` (None when not installed)."""
    try:
        import duckdb_cli
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(duckdb_cli.__file__), "duckdb")
    return path if os.path.exists(path) else None


def run_duckdb_cli(binary, setup, sql):
    """Wall time of one `duckdb -csv -c "SETUP; SQL"` process: the one-shot peer of `skipper
    sql`, starting, binding its views (which reads the Parquet footers) and answering."""
    t = time.perf_counter()
    r = subprocess.run([binary, "-csv", "-c", ";\n".join(setup + [sql])],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"duckdb cli failed: {r.stderr.decode().strip()[:300]}")
    return elapsed


def peer_engines(home, df, dk, baseline_bin=None, duckdb_setup=None):
    """Skipper (whole process), DataFusion used directly and DuckDB (in-process sessions, warm),
    DuckDB's CLI (a process per query, like Skipper; when `duckdb-cli` is installed and
    `duckdb_setup` gives the statements that make its views), and optionally an earlier Skipper
    binary as `baseline`: name -> fn(sql) -> seconds."""
    engines = {
        "skipper": lambda q: run_skipper(home, q),
        "skipper-warm": lambda q: run_skipper_warm(home, q),
        "skipper-session": SkipperSession(home),
        "datafusion": lambda q: timed(lambda: df.sql(q).collect()),
        "duckdb": lambda q: timed(lambda: dk.execute(q).to_arrow_table()),
    }
    cli = duckdb_cli_bin()
    if cli and duckdb_setup is not None:
        engines["duckdb-cli"] = lambda q: run_duckdb_cli(cli, duckdb_setup, q)
    elif duckdb_setup is not None:
        print("note: duckdb-cli not installed (pip install duckdb-cli==1.5.5); "
              "no process-per-query DuckDB column", file=sys.stderr)
    if baseline_bin:
        engines["baseline"] = lambda q: run_skipper(home, q, binary=baseline_bin)
        engines["baseline-warm"] = lambda q: run_skipper_warm(home, q, binary=baseline_bin)
        engines["baseline-session"] = SkipperSession(home, binary=baseline_bin)
    return engines


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def best_of(rounds, engines, queries):
    """engines: name -> fn(query) -> seconds. Interleaved: each round runs every query on every
    engine in turn. Returns {(engine, query_id): best seconds} (None when it failed)."""
    best = {}
    errors = {}
    names = list(engines)
    for r in range(rounds):
        # Rotate who goes first each round, and pause between runs, so no engine always
        # follows the same neighbour (a peer's worker threads can still be winding down).
        order = names[r % len(names):] + names[:r % len(names)]
        for qid, sql in queries:
            for name in order:
                fn = engines[name]
                time.sleep(0.05)
                if (name, qid) in errors:
                    continue
                try:
                    s = fn(sql)
                except Exception as e:  # noqa: BLE001 — reported in the table
                    errors[(name, qid)] = str(e).splitlines()[0][:120]
                    best[(name, qid)] = None
                    continue
                prev = best.get((name, qid))
                best[(name, qid)] = s if prev is None else min(prev, s)
    return best, errors


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def warm_table(title, engines, queries, best, errors):
    """The peer table with the ratios of `skipper-warm` (see `run_skipper_warm`) to the
    in-process peers added; the title gets the legend of the two Skipper columns."""
    extra = [("skipper-warm", o) for o in ("datafusion", "duckdb", "baseline-warm")
             if o in engines]
    extra += [("skipper-session", o) for o in ("datafusion", "duckdb", "baseline-session")
              if o in engines]
    legend = (f" (seconds; skipper = a whole process; skipper-warm = run {WARM_RUNS} of "
              f"{WARM_RUNS} in one process; skipper-session = one REPL process for the whole run)")
    return print_table(title + legend, list(engines), queries, best, errors, extra=extra)


def print_table(title, engines, queries, best, errors, base="skipper", extra=()):
    others = [e for e in engines
              if e != base and not e.endswith("-warm") and not e.endswith("-session")]
    pairs = [(base, o) for o in others] + list(extra)
    head = f"{'query':<10}" + "".join(f"{e + ' s':>18}" for e in engines)
    head += "".join(f"{a + '/' + b:>24}" for a, b in pairs)
    print(f"\n## {title}\n")
    print(head)
    ratios = {p: [] for p in pairs}
    for qid, _ in queries:
        row = f"{qid:<10}"
        for e in engines:
            v = best.get((e, qid))
            row += f"{('%.3f' % v) if v is not None else 'error':>18}"
        for a_name, b_name in pairs:
            a, b = best.get((a_name, qid)), best.get((b_name, qid))
            if a is not None and b:
                ratios[(a_name, b_name)].append(a / b)
                row += f"{a / b:>24.2f}"
            else:
                row += f"{'-':>24}"
        print(row)
    line = f"{'geomean':<10}" + " " * (18 * len(engines))
    for p in pairs:
        line += f"{geomean(ratios[p]):>24.2f}"
    print(line)
    line = f"{'max':<10}" + " " * (18 * len(engines))
    for p in pairs:
        line += f"{(max(ratios[p]) if ratios[p] else float('nan')):>24.2f}"
    print(line)
    for (e, q), msg in sorted(errors.items()):
        print(f"  {e} {q}: {msg}")
    return ratios


class Postgres:
    """A throwaway PostgreSQL server on a free loopback port (as the `postgres` user when run as
    root, since initdb refuses root), with pg_stat_statements; stopped by `stop()`."""

    def __init__(self):
        import glob
        import shutil
        import socket

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            sys.exit("error: PostgreSQL is not installed\nhint: apt-get install postgresql")
        self.bin = bins[-1]
        self.dir = tempfile.mkdtemp(prefix="skipper-bench-pg-")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres")
        data = os.path.join(self.dir, "data")
        self._run("initdb", "-D", data, "-A", "trust", "-U", "postgres")
        self._run("pg_ctl", "-D", data, "-w", "-l", os.path.join(self.dir, "log"), "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                  "-c shared_preload_libraries=pg_stat_statements -c shared_buffers=1GB "
                  "-c max_wal_size=4GB -c fsync=off", "start")
        self.data = data

    def _run(self, tool, *args):
        cmd = [os.path.join(self.bin, tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=self.dir)

    def url(self, db="postgres"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}?sslmode=disable"

    def libpq(self, db="postgres"):
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={db}"

    def psql(self, sql, db="postgres"):
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-d", db, "-v", "ON_ERROR_STOP=1", "-Atq", "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"psql: {r.stderr.strip()}")
        return r.stdout.strip()

    def stop(self):
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")


def duckdb_with_postgres(pg, threads):
    """A DuckDB connection with postgres_scanner loaded by file path and `pg` attached read-only."""
    import duckdb
    import duckdb_extension_postgres_scanner as ext

    path = os.path.join(os.path.dirname(ext.__file__), "extensions", "v1.5.5",
                        "postgres_scanner.duckdb_extension")
    c = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    c.execute(f"LOAD '{path}'")
    c.execute(f"SET threads = {threads}")
    c.execute(f"ATTACH '{pg.libpq()}' AS pg (TYPE postgres, READ_ONLY)")
    return c
