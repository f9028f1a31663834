//! Against a real PostgreSQL server: the demo loaded into Postgres, a three-source join
//! (Postgres × SQLite × Parquet) with an answer computed by Postgres alone, pushdown checked in
//! `pg_stat_statements`, read-only sessions, server-side cancel on Ctrl-C and timeout, and the
//! connection errors a user meets.

use crate::harness::{PG_PASSWORD, Pg, Run, free_port, home_with_config, run, skipper};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A home whose demo lake keeps its relational tables in Postgres (seed 42, 2026-11-21).
fn demo_in_postgres(pg: &Pg) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let r = run(skipper(home.path()).args([
        "demo",
        "--anchor-date",
        "2026-11-21",
        "--postgres",
        &pg.url("billing"),
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    home
}

/// [`demo_in_postgres`], plus a SQLite source and a config joining all three sources.
fn federated_home(pg: &Pg) -> tempfile::TempDir {
    let home = demo_in_postgres(pg);
    // A third source: SQLite, written here, mapping countries to regions.
    let geo = home.path().join("geo.db");
    let conn = rusqlite::Connection::open(&geo).unwrap();
    conn.execute_batch(
        "CREATE TABLE countries (code TEXT PRIMARY KEY, region TEXT NOT NULL);
         INSERT INTO countries VALUES ('US','AMER'),('CA','AMER'),('BR','AMER'),
           ('GB','EMEA'),('DE','EMEA'),('FR','EMEA'),('NL','EMEA'),('ZA','EMEA'),
           ('JP','APAC'),('IN','APAC'),('AU','APAC'),('SG','APAC');",
    )
    .unwrap();
    let lake = home.path().join("data/demo/lake");
    std::fs::write(
        home.path().join("skipper.toml"),
        format!(
            "[sources.billing]\nkind = \"postgres\"\nurl = \"{}\"\n\n\
             [sources.geo]\nkind = \"sqlite\"\npath = \"geo.db\"\n\n\
             [sources.lake]\nkind = \"parquet\"\npath = \"{}\"\n",
            pg.url_without_password("billing"),
            lake.display()
        ),
    )
    .unwrap();
    home
}

fn sql_json(home: &Path, query: &str) -> Value {
    let r = run(skipper(home)
        .env("PGPASSWORD", PG_PASSWORD)
        .args(["sql", "--format", "json", query]));
    assert_eq!(r.code, 0, "{r:?}");
    serde_json::from_str(&r.stdout).unwrap()
}

#[test]
fn three_sources_join_with_the_answer_postgres_gives() {
    let Some(pg) = Pg::start() else { return };
    let home = federated_home(&pg);
    let got = sql_json(
        home.path(),
        "SELECT g.region, sum(d.units) AS units
         FROM lake.main.billing_usage_daily d
         JOIN billing.main.accounts a ON a.account_id = d.account_id
         JOIN geo.main.countries g ON g.code = a.country
         GROUP BY g.region ORDER BY g.region",
    );
    // The same totals from Postgres alone: invoices hold each account's monthly units.
    let region = |c: &str| match c {
        "US" | "CA" | "BR" => "AMER",
        "JP" | "IN" | "AU" | "SG" => "APAC",
        _ => "EMEA",
    };
    let mut want: BTreeMap<&str, i64> = BTreeMap::new();
    let by_country = pg.psql(
        "billing",
        "SELECT a.country, sum(i.units) FROM main.invoices i JOIN main.accounts a USING (account_id) GROUP BY 1",
    );
    for line in by_country.lines() {
        let (c, u) = line.split_once('|').unwrap();
        *want.entry(region(c)).or_default() += u.parse::<i64>().unwrap();
    }
    let rows = got["rows"].as_array().unwrap();
    assert_eq!(rows.len(), want.len(), "{got}");
    for (row, (r, u)) in rows.iter().zip(&want) {
        assert_eq!(row["region"], *r);
        // sum(bigint) is a numeric, as in Postgres: an exact decimal string in JSON.
        assert_eq!(row["units"], u.to_string(), "{r}");
    }
    // Postgres's own count per country equals Skipper's.
    let direct = pg.psql("billing", "SELECT string_agg(country || '=' || n, ',' ORDER BY country) FROM (SELECT country, count(*) n FROM main.accounts GROUP BY 1) t");
    let ours = sql_json(
        home.path(),
        "SELECT country, count(*) AS n FROM billing.main.accounts GROUP BY 1 ORDER BY 1",
    );
    let ours: Vec<String> = ours["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}={}", r["country"].as_str().unwrap(), r["n"]))
        .collect();
    assert_eq!(ours.join(","), direct);
}

#[test]
fn filters_and_aggregates_are_pushed_into_postgres() {
    let Some(pg) = Pg::start() else { return };
    let home = federated_home(&pg);
    let enterprise: i64 = pg
        .psql(
            "billing",
            "SELECT count(*) FROM main.accounts WHERE plan_tier = 'enterprise'",
        )
        .parse()
        .unwrap();
    pg.psql("billing", "SELECT pg_stat_statements_reset()");
    // Across sources: the Postgres side gets its filter and projection.
    sql_json(
        home.path(),
        "SELECT sum(d.units) AS u FROM lake.main.billing_usage_daily d
         JOIN billing.main.accounts a ON a.account_id = d.account_id
         WHERE a.plan_tier = 'enterprise'",
    );
    let seen = pg.psql(
        "billing",
        "SELECT query || ' => ' || rows FROM pg_stat_statements WHERE query LIKE '%accounts%' \
         AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE 'EXPLAIN%'",
    );
    // The rows come out through binary COPY of exactly the filtered projection.
    assert!(
        seen.contains("COPY (SELECT \"account_id\" FROM \"main\".\"accounts\" WHERE ((\"plan_tier\" = 'enterprise')))"),
        "filter not pushed: {seen}"
    );
    assert!(
        !seen.contains("contact_email"),
        "projection not pushed: {seen}"
    );
    assert!(
        seen.ends_with(&format!("=> {enterprise}")),
        "rows pulled: {seen}"
    );

    // One source only: the whole query, aggregate and limit included, runs in Postgres.
    pg.psql("billing", "SELECT pg_stat_statements_reset()");
    let v = sql_json(
        home.path(),
        "SELECT plan_tier, count(*) AS n FROM billing.main.accounts GROUP BY plan_tier ORDER BY n DESC LIMIT 2",
    );
    assert_eq!(v["row_count"], 2);
    let seen = pg.psql(
        "billing",
        "SELECT query || ' => ' || rows FROM pg_stat_statements WHERE query LIKE '%accounts%' AND query NOT LIKE '%pg_stat_statements%'",
    );
    assert!(
        seen.contains("GROUP BY") && seen.contains("LIMIT"),
        "{seen}"
    );
    assert!(seen.ends_with("=> 2"), "{seen}");
    // --explain shows the same SQL.
    let r = run(skipper(home.path()).env("PGPASSWORD", PG_PASSWORD).args([
        "sql",
        "--explain",
        "--format",
        "table",
        "SELECT plan_tier, count(*) AS n FROM billing.main.accounts GROUP BY plan_tier ORDER BY n DESC LIMIT 2",
    ]));
    assert!(
        r.stdout
            .contains("Runs in source 'billing', which receives:"),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("GROUP BY") && r.stdout.contains("LIMIT 2"),
        "{r:?}"
    );
}

#[test]
fn sessions_are_read_only_with_a_statement_timeout() {
    let Some(pg) = Pg::start() else { return };
    let home = federated_home(&pg);
    pg.psql(
        "billing",
        "CREATE SEQUENCE main.s; CREATE VIEW main.sneaky AS SELECT nextval('main.s') AS v;
         CREATE VIEW main.session AS SELECT current_setting('default_transaction_read_only') AS ro,
           current_setting('statement_timeout') AS st, current_setting('application_name') AS app",
    );
    let v = sql_json(home.path(), "SELECT ro, st, app FROM billing.main.session");
    assert_eq!(v["rows"][0]["ro"], "on");
    assert_eq!(v["rows"][0]["st"], "5min");
    assert!(
        v["rows"][0]["app"]
            .as_str()
            .unwrap()
            .starts_with("skipper/")
    );
    // A view that writes is refused by Postgres itself.
    let r = run(skipper(home.path())
        .env("PGPASSWORD", PG_PASSWORD)
        .args(["sql", "SELECT v FROM billing.main.sneaky"]));
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("read-only transaction"), "{r:?}");
    assert_eq!(pg.psql("billing", "SELECT last_value FROM main.s"), "1");
    assert_eq!(pg.psql("billing", "SELECT is_called FROM main.s"), "f");
}

fn slow_home(pg: &Pg, timeout_secs: u64) -> tempfile::TempDir {
    pg.psql(
        "billing",
        "CREATE TABLE IF NOT EXISTS public.big AS SELECT g AS x FROM generate_series(1, 3000) g",
    );
    home_with_config(&format!(
        "[engine]\nquery_timeout_secs = {timeout_secs}\n\n[sources.billing]\nkind = \"postgres\"\nurl = \"{}\"\n",
        pg.url("billing")
    ))
}

const SLOW: &str = "SELECT count(*) FROM big a, big b, big c WHERE a.x + b.x + c.x = -1";
const ACTIVE: &str = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'skipper/%' AND state = 'active'";

#[test]
fn ctrl_c_cancels_the_query_on_the_server() {
    let Some(pg) = Pg::start() else { return };
    let home = slow_home(&pg, 300);
    let child = skipper(home.path())
        .args(["sql", SLOW])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until Postgres is running it.
    let mut seen = false;
    for _ in 0..100 {
        if pg.psql("billing", ACTIVE) != "0" {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen, "the query never reached Postgres");
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert_no_query_left(&pg);
}

/// No query of ours is still running on the server.
fn assert_no_query_left(pg: &Pg) {
    assert_eq!(
        pg.wait_for_zero("billing", ACTIVE, Duration::from_secs(10)),
        "0"
    );
}

#[test]
fn a_timeout_cancels_the_query_on_the_server() {
    let Some(pg) = Pg::start() else { return };
    let home = slow_home(&pg, 2);
    let r = run(skipper(home.path()).args(["sql", SLOW]));
    assert_eq!(r.code, 5, "{r:?}");
    assert!(
        r.stderr.contains("timed out") || r.stderr.contains("statement timeout"),
        "{r:?}"
    );
    assert!(r.stdout.is_empty());
    assert_no_query_left(&pg);
}

#[test]
fn connection_errors_are_clear_and_never_show_the_password() {
    let Some(pg) = Pg::start() else { return };
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("skipper.toml");
    let write = |url: String, extra: &str| {
        std::fs::write(
            &cfg,
            format!("{extra}[sources.billing]\nkind = \"postgres\"\nurl = \"{url}\"\n"),
        )
        .unwrap()
    };
    // Wrong password.
    write(
        format!(
            "postgresql://skipper:Wr0ngPassw0rd@127.0.0.1:{}/billing?sslmode=disable",
            pg.port
        ),
        "",
    );
    // Traced at the most verbose level, so logs are checked for the password too.
    let r = run(skipper(home.path()).args(["-vv", "sql", "SELECT * FROM billing.public.x"]));
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("password authentication failed"), "{r:?}");
    assert!(
        !r.stderr.contains("Wr0ngPassw0rd") && !r.stdout.contains("Wr0ngPassw0rd"),
        "{r:?}"
    );
    let r = run(skipper(home.path()).args(["config", "show"]));
    assert!(
        !r.stdout.contains("Wr0ngPassw0rd") && r.stdout.contains("***"),
        "{r:?}"
    );
    let r = run(skipper(home.path()).args(["doctor", "--format", "table"]));
    assert_eq!(r.code, 5, "{r:?}");
    assert!(
        r.stdout.contains("FAILED") && !r.stdout.contains("Wr0ngPassw0rd"),
        "{r:?}"
    );

    // password_env, then PGPASSWORD, then .pgpass supply the password.
    write(pg.url_without_password("billing"), "");
    let r = run(skipper(home.path())
        .env("PGPASSWORD", PG_PASSWORD)
        .args(["doctor"]));
    assert_eq!(r.code, 0, "{r:?}");
    let pgpass = home.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!("127.0.0.1:{}:billing:skipper:{PG_PASSWORD}\n", pg.port),
    )
    .unwrap();
    let r = run(skipper(home.path())
        .env("PGPASSFILE", &pgpass)
        .args(["doctor"]));
    assert_eq!(r.code, 0, "{r:?}");
    std::fs::write(
        &cfg,
        format!(
            "[sources.billing]\nkind = \"postgres\"\nurl = \"{}\"\npassword_env = \"BILLING_PW\"\n",
            pg.url_without_password("billing")
        ),
    )
    .unwrap();
    let r = run(skipper(home.path())
        .env("BILLING_PW", PG_PASSWORD)
        .args(["doctor"]));
    assert_eq!(r.code, 0, "{r:?}");

    // Nothing listening.
    let closed = free_port();
    write(
        format!("postgresql://skipper@127.0.0.1:{closed}/billing"),
        "",
    );
    let r = run(skipper(home.path()).args(["sql", "SELECT * FROM billing.public.x"]));
    assert_eq!(r.code, 5, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("cannot reach 127.0.0.1:{closed}")),
        "{r:?}"
    );

    // Something listening that never speaks: bounded by the connect timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    write(
        format!("postgresql://skipper@127.0.0.1:{port}/billing?sslmode=disable"),
        "[engine]\nconnect_timeout_secs = 1\n\n",
    );
    let r = run(skipper(home.path()).args(["sql", "SELECT * FROM billing.public.x"]));
    assert_eq!(r.code, 5, "{r:?}");
    assert!(
        r.stderr.contains("did not finish logging in within 3s"),
        "{r:?}"
    );
    drop(silent);
}

#[test]
fn tls_modes_and_root_certificates() {
    let Some(pg) = Pg::start_tls() else { return };
    pg.psql(
        "billing",
        "CREATE VIEW public.tls AS SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("skipper.toml");
    let url = format!("postgresql://skipper@127.0.0.1:{}/billing", pg.port);
    let write = |extra: &str| {
        std::fs::write(
            &cfg,
            format!("[sources.billing]\nkind = \"postgres\"\nurl = \"{url}\"\n{extra}"),
        )
        .unwrap()
    };
    let ssl_in_use = |home: &Path| -> Run {
        run(skipper(home).env("PGPASSWORD", PG_PASSWORD).args([
            "sql",
            "--format",
            "csv",
            "SELECT ssl FROM tls",
        ]))
    };
    // verify-full with the server's certificate as the root: encrypted and verified.
    write(&format!(
        "sslmode = \"verify-full\"\nsslrootcert = \"{}\"\n",
        pg.cert_path().display()
    ));
    let r = ssl_in_use(home.path());
    assert_eq!((r.code, r.stdout.as_str()), (0, "ssl\ntrue\n"), "{r:?}");
    // verify-full without a root that signs it: refused.
    write("sslmode = \"verify-full\"\n");
    let r = ssl_in_use(home.path());
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.to_lowercase().contains("certificate"), "{r:?}");
    // The libpq default, prefer: TLS when offered.
    write("");
    let r = ssl_in_use(home.path());
    assert_eq!((r.code, r.stdout.as_str()), (0, "ssl\ntrue\n"), "{r:?}");
    // disable: plain text.
    write("sslmode = \"disable\"\n");
    let r = ssl_in_use(home.path());
    assert_eq!((r.code, r.stdout.as_str()), (0, "ssl\nfalse\n"), "{r:?}");
    // A root certificate file that does not exist, and a mode that does not exist.
    write("sslmode = \"verify-ca\"\nsslrootcert = \"/nonexistent/ca.pem\"\n");
    let r = ssl_in_use(home.path());
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("/nonexistent/ca.pem"), "{r:?}");
    write("sslmode = \"sometimes\"\n");
    let r = ssl_in_use(home.path());
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("sslmode 'sometimes' is not one of"),
        "{r:?}"
    );
}

#[test]
fn sqlite_and_postgres_give_the_same_answers() {
    let Some(pg) = Pg::start() else { return };
    let in_pg = demo_in_postgres(&pg);
    let in_sqlite = crate::harness::demo_home();
    let corpus = include_str!("data/same_answers.sql");
    let mut known: Option<&str> = None;
    let (mut agreed, mut failures) = (0, Vec::new());
    for line in corpus.lines().map(str::trim) {
        if let Some(reason) = line.strip_prefix("-- known-failure:") {
            known = Some(reason.trim());
            continue;
        }
        if line.is_empty() || line.starts_with("--") {
            continue;
        }
        let answer = |home: &Path| {
            let r = run(skipper(home).args(["-q", "sql", "--format", "csv", line]));
            (r.code, r.stdout, r.stderr)
        };
        let a = answer(in_sqlite.path());
        let b = answer(in_pg.path());
        let same = a.0 == 0 && a == b;
        match (same, known.take()) {
            (true, None) => agreed += 1,
            (false, Some(_)) => {}
            (true, Some(reason)) => failures.push(format!(
                "now agrees, remove its known-failure line ({reason}): {line}"
            )),
            (false, None) => {
                failures.push(format!("{line}\n  sqlite: {:?}\n  postgres: {:?}", a, b))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(agreed >= 35, "only {agreed} queries checked");
}

#[test]
fn postgres_types_come_out_exact() {
    let Some(pg) = Pg::start() else { return };
    pg.psql(
        "billing",
        "CREATE TABLE public.money (id int PRIMARY KEY, amount numeric(18,4), rate double precision,
           day date, at timestamptz, flag boolean, label varchar(10));
         INSERT INTO public.money VALUES
           (1, 12345678901234.5678, 0.1, '2026-11-21', '2026-11-21 12:34:56.789+00', true, 'a'),
           (2, -0.0001, NULL, NULL, '2026-01-01 00:00:00+02', false, NULL)",
    );
    let home = home_with_config(&format!(
        "[sources.pg]\nkind = \"postgres\"\nurl = \"{}\"\n",
        pg.url("billing")
    ));
    let v = sql_json(home.path(), "SELECT * FROM money ORDER BY id");
    assert_eq!(
        v["rows"],
        serde_json::json!([
            {"id": 1, "amount": "12345678901234.5678", "rate": 0.1, "day": "2026-11-21",
             "at": "2026-11-21T12:34:56.789Z", "flag": true, "label": "a"},
            {"id": 2, "amount": "-0.0001", "rate": null, "day": null,
             "at": "2025-12-31T22:00:00Z", "flag": false, "label": null}
        ]),
        "{v}"
    );
    let v = sql_json(home.path(), "SELECT sum(amount) AS s FROM money");
    assert_eq!(v["rows"][0]["s"], "12345678901234.5677", "{v}");
}

/// Single-source queries run whole in Postgres: Postgres-only SQL works, the pinned clock holds,
/// Postgres's errors come back as plan errors (exit 2), unreadable types name the column and
/// the cast to use, and results stream as Arrow IPC.
#[test]
fn passthrough_answers_with_postgres_itself() {
    let Some(pg) = Pg::start() else { return };
    pg.psql(
        "billing",
        "CREATE SCHEMA shop;
         CREATE TABLE shop.items (id int PRIMARY KEY, price numeric(10,2), at time, tags int[]);
         INSERT INTO shop.items VALUES (1, 10.00, '09:30', '{1,2}'), (2, 5.25, NULL, NULL),
           (3, 7.00, '23:59:59.5', '{}')",
    );
    let home = home_with_config(&format!(
        "[sources.pg]\nkind = \"postgres\"\nurl = \"{}\"\n",
        pg.url("billing")
    ));
    // Postgres-only syntax and functions; AVG keeps every digit Postgres computed.
    let v = sql_json(
        home.path(),
        "SELECT avg(price) AS mean, percentile_cont(0.5) WITHIN GROUP (ORDER BY price) AS median, \
         to_char(DATE '2025-03-04', 'Mon DD') AS day, max(at) AS latest FROM pg.shop.items",
    );
    assert_eq!(
        v["rows"],
        serde_json::json!([{"mean": "7.4166666666666667", "median": 7.0,
                            "day": "Mar 04", "latest": "23:59:59.5"}]),
        "{v}"
    );
    assert_eq!(v["columns"][0]["type"], "Numeric", "{v}");
    // The whole statement is what Postgres receives.
    let r = run(skipper(home.path()).args([
        "sql",
        "--explain",
        "--format",
        "json",
        "SELECT count(*) FROM shop.items i WHERE i.id > 1",
    ]));
    let x: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        x["remote"],
        serde_json::json!([{"source": "pg", "sql": "SELECT count(*) FROM shop.items i WHERE i.id > 1"}]),
        "{r:?}"
    );
    // A pinned clock holds inside Postgres too.
    let r = run(skipper(home.path()).args([
        "--now",
        "2025-01-02T03:04:05Z",
        "sql",
        "--format",
        "csv",
        "SELECT now(), current_date, count(*) AS n FROM shop.items",
    ]));
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "now,current_date,n\n2025-01-02T03:04:05Z,2025-01-02,3\n"),
        "{r:?}"
    );
    // Postgres's own error, as a plan error.
    let r = run(skipper(home.path()).args(["sql", "SELECT nope FROM shop.items"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("error: pg: column \"nope\" does not exist"),
        "{r:?}"
    );
    // A type with no Arrow form: named, with the cast that reads it.
    let r = run(skipper(home.path()).args(["sql", "SELECT id, tags FROM shop.items"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("column 'tags'"), "{r:?}");
    assert!(r.stderr.contains("hint: cast it"), "{r:?}");
    let v = sql_json(
        home.path(),
        "SELECT id, tags::text AS tags FROM shop.items ORDER BY id",
    );
    assert_eq!(v["rows"][0]["tags"], "{1,2}", "{v}");
    // Arrow IPC stream: the continuation marker, then a schema message.
    let out = skipper(home.path())
        .args([
            "sql",
            "--format",
            "arrow",
            "SELECT id, price, at FROM shop.items WHERE id < 3",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(&out.stdout[..4], &[0xff, 0xff, 0xff, 0xff]);
    assert!(out.stdout.len() > 200);
}

/// With `pushdown = false` Postgres receives only `SELECT columns FROM t`; with it on (the
/// default), the filter and limit.
#[test]
fn pushdown_can_be_switched_off_for_measuring() {
    let Some(pg) = Pg::start() else { return };
    pg.psql(
        "billing",
        "CREATE TABLE t AS SELECT i AS id, i % 7 AS k FROM generate_series(1, 1000) i",
    );
    let explain = |extra: &str| {
        let home = home_with_config(&format!(
            "[engine]\n{extra}\n[sources.pg]\nkind = \"postgres\"\nurl = \"{}\"\n[sources.f]\nkind = \"csv\"\npath = \"f\"\n",
            pg.url("billing")
        ));
        std::fs::create_dir_all(home.path().join("f")).unwrap();
        std::fs::write(home.path().join("f/k.csv"), "k,name\n1,one\n2,two\n").unwrap();
        let q = "SELECT f.name, count(*) AS n FROM pg.public.t JOIN f.main.k f ON f.k = t.k WHERE t.id < 100 GROUP BY f.name";
        let r = run(skipper(home.path()).args(["sql", "--explain", "--format", "json", q]));
        let x: Value = serde_json::from_str(&r.stdout).unwrap();
        let r2 =
            run(skipper(home.path()).args(["sql", "--format", "csv", &format!("{q} ORDER BY 1")]));
        (
            x["remote"][0]["sql"].as_str().unwrap().to_string(),
            r2.stdout,
        )
    };
    let (on, a) = explain("");
    let (off, b) = explain("pushdown = false");
    assert_eq!(
        on,
        "SELECT \"k\" FROM \"public\".\"t\" WHERE ((\"id\" < 100))"
    );
    assert_eq!(off, "SELECT \"id\", \"k\" FROM \"public\".\"t\"");
    assert_eq!(a, b);
    assert_eq!(a, "name,n\none,15\ntwo,14\n");
}

/// Text functions DataFusion evaluates take the case rules of the Postgres databases it
/// federates: the C locale's (ASCII letters only) when every one has a C `LC_CTYPE`, Unicode's
/// as soon as one has another (C.UTF-8 here, where Postgres itself upper-cases `é`).
#[test]
fn case_functions_follow_the_sources_locale() {
    let Some(pg) = Pg::start() else { return };
    pg.psql(
        "postgres",
        "CREATE DATABASE utf8ctype TEMPLATE template0 LC_CTYPE 'C.UTF-8' LC_COLLATE 'C.UTF-8'",
    );
    let q = "SELECT upper('chloé') AS u, lower('CHLOÉ') AS l, initcap('éric o''brien') AS i";
    // What each database answers itself.
    let c = pg.psql("billing", q);
    let utf8 = pg.psql("utf8ctype", q);
    assert!(c.contains("CHLOé") && c.contains("éRic O'Brien"), "{c}");
    assert!(
        utf8.contains("CHLOÉ") && utf8.contains("Éric O'Brien"),
        "{utf8}"
    );
    let answer = |sources: &[&str]| {
        let mut config = String::from("[engine]\npassthrough = false\n");
        for (i, db) in sources.iter().enumerate() {
            config.push_str(&format!(
                "[sources.s{i}]\nkind = \"postgres\"\nurl = \"{}\"\n",
                pg.url(db)
            ));
        }
        let home = home_with_config(&config);
        let r = run(skipper(home.path()).args(["sql", "--format", "csv", q]));
        assert_eq!(r.code, 0, "{r:?}");
        r.stdout
    };
    assert_eq!(answer(&["billing"]), "u,l,i\nCHLOé,chloÉ,éRic O'Brien\n");
    assert_eq!(
        answer(&["billing", "utf8ctype"]),
        "u,l,i\nCHLOÉ,chloé,Éric O'Brien\n"
    );
}

/// Aggregates over expressions that type coercion changes (CASE, FILTER, a comparison with a
/// literal), on a table named with its catalog (`billing.main.accounts`), on the DataFusion path:
/// they failed with "No field named …" when federation renamed the table to its name in
/// Postgres. Now they run whole in Postgres and give its answers; `BETWEEN SYMMETRIC` too.
#[test]
fn catalog_named_aggregates_of_coerced_expressions_run_in_postgres() {
    let Some(pg) = Pg::start() else { return };
    let home = home_with_config(&format!(
        "[engine]\npassthrough = false\n[sources.billing]\nkind = \"postgres\"\nurl = \"{}\"\n",
        pg.url("billing")
    ));
    let _demo = demo_in_postgres(&pg);
    let ours = |q: &str| {
        let r = run(skipper(home.path()).args(["sql", "--format", "csv", q]));
        assert_eq!(r.code, 0, "{r:?}");
        r.stdout.lines().skip(1).collect::<Vec<_>>().join("\n")
    };
    let theirs = |q: &str| pg.psql("billing", q).trim().replace('|', ",");
    let q = "SELECT plan_tier, count(*) FILTER (WHERE account_id > 1100) AS late, \
             sum(CASE WHEN country = 'US' THEN 1 ELSE 0 END) AS us, \
             count(*) FILTER (WHERE account_id BETWEEN SYMMETRIC 1200 AND 1100) AS sym \
             FROM {t} GROUP BY 1 ORDER BY 1";
    let got = ours(&q.replace("{t}", "billing.main.accounts"));
    assert_eq!(got, theirs(&q.replace("{t}", "main.accounts")));
    assert!(got.lines().count() >= 3, "{got}");
    // The whole query reaches Postgres, and the count of matches stays a bigint there.
    let r = run(skipper(home.path()).args([
        "sql",
        "--explain",
        "--format",
        "json",
        &q.replace("{t}", "billing.main.accounts"),
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["remote"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["local_scans"].as_array().unwrap().len(), 0, "{plan}");
    let v = sql_json(
        home.path(),
        "SELECT sum(CASE WHEN country = 'US' THEN 1 ELSE 0 END) AS us FROM billing.main.accounts",
    );
    assert_eq!(v["columns"][0]["type"], "Int64", "{v}");
}
