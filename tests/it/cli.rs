//! `skipper` as a user runs it, on the demo lake (SQLite + Parquet): answers, formats, the
//! pinned clock, and every bad input the foundation issue names.

use crate::harness::{demo_config, demo_home, run, skipper};
use serde_json::Value;

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn sql(home: &std::path::Path, query: &str) -> Value {
    let r = run(skipper(home).args(["sql", "--format", "json", query]));
    assert_eq!(r.code, 0, "{r:?}");
    json(&r.stdout)
}

fn scalar(home: &std::path::Path, query: &str) -> Value {
    sql(home, query)["rows"][0]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone()
}

#[test]
fn quick_start_needs_no_configuration() {
    let home = tempfile::tempdir().unwrap();
    let r =
        run(skipper(home.path()).args(["sql", "SELECT count(*) AS n FROM billing.main.accounts"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("created the demo lake"), "{r:?}");
    // Not a terminal: JSON by default.
    assert_eq!(json(&r.stdout)["rows"][0]["n"], 200);
    let r = run(skipper(home.path()).args(["sql", "SELECT 1 AS one"]));
    assert!(r.stderr.contains("using the demo lake"), "{r:?}");
    assert!(r.stderr.contains("1 row in"), "{r:?}");
    // The README's quick-start question: no model, no configuration, the real clock.
    let r =
        run(skipper(home.path())
            .args(["ask", "billable workers requests by plan tier last 7 days"]));
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r.stdout);
    assert_eq!(v["status"], "answered");
    assert_eq!(v["provenance"]["mode"], "offline");
    assert_eq!(v["result"]["row_count"], 4, "{v}");
}

#[test]
fn demo_is_deterministic_and_seeded() {
    let q = "SELECT count(*) AS n, sum(event_count) AS s FROM lake.main.usage_events";
    let a = demo_home();
    let b = demo_home();
    assert_eq!(sql(a.path(), q)["rows"], sql(b.path(), q)["rows"]);
    let c = tempfile::tempdir().unwrap();
    let r = run(skipper(c.path()).args(["demo", "--anchor-date", "2026-11-21", "--seed", "7"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_ne!(sql(a.path(), q)["rows"], sql(c.path(), q)["rows"]);
    // The anchor is the last day of data, and 35 days are partitioned by day.
    let days = sql(
        a.path(),
        "SELECT min(day) AS lo, max(day) AS hi, count(DISTINCT day) AS n FROM lake.main.usage_events",
    );
    assert_eq!(days["rows"][0]["lo"], "2026-10-18");
    assert_eq!(days["rows"][0]["hi"], "2026-11-21");
    assert_eq!(days["rows"][0]["n"], 35);
}

#[test]
fn rollups_invoices_and_sample_agree_with_the_events() {
    let home = demo_home();
    let h = home.path();
    let events = scalar(h, "SELECT sum(event_count) FROM lake.main.usage_events");
    assert_eq!(
        events,
        scalar(h, "SELECT sum(units) FROM lake.main.billing_usage_hourly")
    );
    assert_eq!(
        events,
        scalar(h, "SELECT sum(units) FROM lake.main.billing_usage_daily")
    );
    assert_eq!(
        events,
        scalar(h, "SELECT sum(units) FROM billing.main.invoices")
    );
    // Per account and day, not just in total.
    let diff = scalar(
        h,
        "WITH e AS (
           SELECT coalesce(e.account_id, l.account_id) AS account_id, e.day, sum(e.event_count) AS u
           FROM lake.main.usage_events e
           LEFT JOIN billing.main.legacy_customer_ids l ON e.legacy_customer_id = l.legacy_customer_id
           GROUP BY 1, 2)
         SELECT count(*) FROM e FULL JOIN
           (SELECT account_id, usage_date, sum(units) AS u FROM lake.main.billing_usage_daily GROUP BY 1, 2) d
           ON e.account_id = d.account_id AND e.day = d.usage_date
         WHERE e.u IS DISTINCT FROM d.u",
    );
    assert_eq!(diff, 0);
    // Invoices follow the rate card exactly (integer cents, half up).
    let wrong = scalar(
        h,
        "SELECT count(*) FROM billing.main.invoices i
         JOIN billing.main.accounts a ON a.account_id = i.account_id
         JOIN billing.main.rate_card r ON r.plan_tier = a.plan_tier AND r.product = i.product
         WHERE i.billable_units <> CASE WHEN i.units > r.included_units_per_month THEN i.units - r.included_units_per_month ELSE 0 END
            OR i.amount_cents <> (2 * i.billable_units * r.price_cents + r.units_per_price) / (2 * r.units_per_price)",
    );
    assert_eq!(wrong, 0);
    let total = sql(
        h,
        "SELECT (SELECT count(*) FROM lake.main.usage_events_sampled) AS s, (SELECT count(*) FROM lake.main.usage_events) AS e",
    );
    let (s, e) = (
        total["rows"][0]["s"].as_i64().unwrap(),
        total["rows"][0]["e"].as_i64().unwrap(),
    );
    assert!(
        s * 200 > e && s * 50 < e,
        "sample {s} of {e} is not about 1%"
    );
}

#[test]
fn output_formats_keep_values_exact() {
    let home = demo_home();
    let q = "SELECT CAST('12345678901234.5678' AS DECIMAL(20,4)) AS amount, \
             TIMESTAMP '2026-01-01 10:00:00' AS at, DATE '2026-01-02' AS d, 'a,\"b' AS s, NULL AS n";
    let v = sql(home.path(), q);
    assert_eq!(v["version"], 1);
    assert_eq!(v["row_count"], 1);
    let row = &v["rows"][0];
    assert_eq!(row["amount"], "12345678901234.5678");
    assert_eq!(row["at"], "2026-01-01T10:00:00Z");
    assert_eq!(row["d"], "2026-01-02");
    assert!(row["n"].is_null());
    let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["amount", "at", "d", "s", "n"],
        "columns keep their order"
    );

    let r = run(skipper(home.path()).args([
        "sql",
        "--format",
        "csv",
        "--timezone",
        "Europe/Berlin",
        q,
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "amount,at,d,s,n\n12345678901234.5678,2026-01-01T11:00:00+01:00,2026-01-02,\"a,\"\"b\",\n"
    );
    let r = run(skipper(home.path()).args([
        "sql",
        "--format",
        "ndjson",
        "SELECT account_id FROM billing.main.accounts ORDER BY 1 LIMIT 3",
    ]));
    assert_eq!(
        r.stdout,
        "{\"account_id\":1000}\n{\"account_id\":1001}\n{\"account_id\":1002}\n"
    );
    let r = run(skipper(home.path()).args([
        "sql",
        "--format",
        "table",
        "SELECT plan_tier, count(*) AS n FROM billing.main.accounts GROUP BY 1 ORDER BY 1",
    ]));
    assert!(
        r.stdout.contains("enterprise") && r.stdout.contains("plan_tier"),
        "{r:?}"
    );
    assert!(r.stderr.contains("4 rows in"), "{r:?}");
}

#[test]
fn now_is_pinned_by_flag_or_env() {
    let home = demo_home();
    let q = "SELECT now() AS n, current_date AS d";
    let r = run(skipper(home.path()).args(["sql", "--now", "2026-11-21T12:30:00Z", q]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json(&r.stdout)["rows"][0]["n"], "2026-11-21T12:30:00Z");
    let r = run(skipper(home.path())
        .env("SKIPPER_NOW", "2025-02-03")
        .args(["sql", q]));
    assert_eq!(json(&r.stdout)["rows"][0]["d"], "2025-02-03");
    let r = run(skipper(home.path())
        .env("SKIPPER_NOW", "soon")
        .args(["sql", q]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .starts_with("error: --now/SKIPPER_NOW: 'soon' is not a time"),
        "{r:?}"
    );
}

#[test]
fn refused_statements_never_run() {
    let home = demo_home();
    for (statement, kind) in [
        (
            "INSERT INTO billing.main.accounts (account_id) VALUES (1)",
            "INSERT INTO",
        ),
        ("UPDATE billing.main.accounts SET name = 'x'", "UPDATE"),
        ("DELETE FROM billing.main.accounts", "DELETE FROM"),
        ("COPY billing.main.accounts TO '/tmp/x.csv'", "COPY"),
        ("CREATE TABLE t (x INT)", "CREATE TABLE"),
        ("DROP TABLE billing.main.accounts", "DROP TABLE"),
        ("SET datafusion.execution.batch_size = 1", "SET"),
        ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE"),
    ] {
        let r = run(skipper(home.path()).args(["sql", statement]));
        assert_eq!(r.code, 2, "{statement}: {r:?}");
        assert!(r.stdout.is_empty(), "{statement}: {r:?}");
        assert!(
            r.stderr.contains(&format!(
                "error: {kind} is not allowed: Skipper is read-only"
            )),
            "{statement}: {r:?}"
        );
        assert!(r.stderr.contains("hint: "), "{r:?}");
    }
    let r = run(skipper(home.path()).args(["sql", "SELECT 1; SELECT 2"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("2 statements in one argument"), "{r:?}");
    // The accounts are all still there.
    assert_eq!(
        scalar(home.path(), "SELECT count(*) FROM billing.main.accounts"),
        200
    );
}

#[test]
fn files_and_stdin_run_statement_by_statement() {
    let home = demo_home();
    let file = home.path().join("q.sql");
    std::fs::write(&file, "SELECT 1 AS a;\n-- second\nSELECT 2 AS b;\n").unwrap();
    let r = run(skipper(home.path())
        .args(["sql", "--format", "ndjson", "-f"])
        .arg(&file));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "{\"a\":1}\n{\"b\":2}\n");
    // A write anywhere refuses the whole file before the first statement runs.
    std::fs::write(&file, "SELECT 1 AS a;\nDROP TABLE billing.main.accounts;\n").unwrap();
    let r = run(skipper(home.path()).args(["sql", "-f"]).arg(&file));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(
        r.stderr.contains("q.sql: DROP TABLE is not allowed"),
        "{r:?}"
    );

    let r = crate::harness::run_with_stdin(
        skipper(home.path()).args(["sql", "--format", "csv"]),
        b"SELECT 40 + 2 AS answer",
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "answer\n42\n");
}

#[test]
fn bad_sql_gets_a_position_or_a_suggestion() {
    let home = demo_home();
    let r = run(skipper(home.path()).args(["sql", "SELEC 1"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("syntax error") && r.stderr.contains("Line: 1, Column: 1"),
        "{r:?}"
    );

    let r = run(skipper(home.path()).args(["sql", "SELECT * FROM billing.main.acounts"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("error: table 'billing.main.acounts' not found"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("hint: did you mean billing.main.accounts?"),
        "{r:?}"
    );

    let r = run(skipper(home.path()).args(["sql", "SELECT * FROM biling.main.accounts"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("unknown source 'biling': did you mean 'billing'?"),
        "{r:?}"
    );

    let r = run(skipper(home.path()).args(["sql", "SELECT nope FROM billing.main.accounts"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("nope"), "{r:?}");
    assert!(!r.stderr.contains("panicked"), "{r:?}");

    // A collation DataFusion cannot honour is refused by name, not answered in byte order;
    // the byte-order ones run.
    let r = run(skipper(home.path()).args([
        "sql",
        "SELECT plan_tier FROM billing.main.accounts ORDER BY plan_tier COLLATE \"en_US\"",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(
        r.stderr
            .contains("error: COLLATE \"en_US\" cannot be evaluated here")
            && r.stderr.contains("hint: use COLLATE \"C\""),
        "{r:?}"
    );
    let r = run(skipper(home.path()).args([
        "sql",
        "--format",
        "csv",
        "SELECT plan_tier FROM billing.main.accounts GROUP BY 1 ORDER BY plan_tier COLLATE \"C\" DESC",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout, "plan_tier\npro\nfree\nenterprise\nbusiness\n",
        "{r:?}"
    );

    // FETCH FIRST n ROWS ONLY runs (as LIMIT), WITH TIES as a rank; what cannot is refused by
    // name with a way out.
    let fetch = |tail: &str| {
        run(skipper(home.path()).args([
            "sql",
            "--format",
            "csv",
            &format!("SELECT plan_tier FROM billing.main.accounts GROUP BY 1 ORDER BY 1 {tail}"),
        ]))
    };
    let r = fetch("OFFSET 1 ROWS FETCH FIRST 2 ROWS ONLY");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "plan_tier\nenterprise\nfree\n", "{r:?}");
    let r = fetch("FETCH FIRST 2 ROWS WITH TIES");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "plan_tier\nbusiness\nenterprise\n", "{r:?}");
    // PERCENT has no such reading, and WITH TIES over `*` has no names to select: refused.
    let r = fetch("FETCH FIRST 50 PERCENT ROWS ONLY");
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(
        r.stderr
            .contains("error: FETCH FIRST … PERCENT cannot be evaluated here")
            && r.stderr.contains("hint: rank the rows instead"),
        "{r:?}"
    );
    let r = run(skipper(home.path()).args([
        "sql",
        "--format",
        "csv",
        "SELECT * FROM billing.main.accounts ORDER BY plan_tier FETCH FIRST 2 ROWS WITH TIES",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("error: FETCH FIRST … WITH TIES cannot be evaluated here"),
        "{r:?}"
    );
}

#[test]
fn configuration_errors_point_at_the_line() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("skipper.toml");
    std::fs::write(&cfg, "[sources.a]\nkind = \"sqlite\"\npath = \"x.db\n").unwrap();
    let r = run(skipper(home.path()).args(["sql", "SELECT 1"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("skipper.toml:3:"), "{r:?}");
    assert!(r.stdout.is_empty());

    std::fs::write(
        &cfg,
        "[sources.a]\nkind = \"sqlite\"\npath = \"x.db\"\ncolour = \"red\"\n",
    )
    .unwrap();
    let r = run(skipper(home.path()).args(["sql", "SELECT 1"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("skipper.toml:4:1: unknown field `colour`"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("hint: see the configuration reference"),
        "{r:?}"
    );

    let r = run(skipper(home.path()).args([
        "--config",
        "/nonexistent/skipper.toml",
        "sql",
        "SELECT 1",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("cannot read /nonexistent/skipper.toml"),
        "{r:?}"
    );

    // --config is global: after the subcommand too; SKIPPER_CONFIG is next in line.
    std::fs::write(&cfg, "[sources.a]\nkind = \"sqlite\"\npath = \"x.db\"\n").unwrap();
    let other = home.path().join("other.toml");
    std::fs::write(&other, "timezone = \"Mars/Olympus\"\n").unwrap();
    let r = run(skipper(home.path())
        .args(["sql", "SELECT 1", "--config"])
        .arg(&other));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("other.toml: timezone 'Mars/Olympus'"),
        "{r:?}"
    );
    let r = run(skipper(home.path())
        .env("SKIPPER_CONFIG", &other)
        .args(["sql", "SELECT 1"]));
    assert!(r.stderr.contains("other.toml: timezone"), "{r:?}");
}

#[test]
fn broken_sources_are_named_and_others_still_work() {
    let home = demo_home();
    let cfg = demo_config(home.path());
    let lake = home.path().join("data/demo/lake");
    // A corrupt Parquet file in one table.
    std::fs::write(
        lake.join("billing_usage_daily/part-0.parquet"),
        b"not parquet at all",
    )
    .unwrap();
    let r =
        run(skipper(home.path())
            .args(["sql", "SELECT count(*) FROM lake.main.billing_usage_daily"]));
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("lake.main.billing_usage_daily"), "{r:?}");
    assert_eq!(
        r.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{r:?}"
    );
    // The other tables of the source are unaffected.
    let hourly = scalar(
        home.path(),
        "SELECT count(*) FROM lake.main.billing_usage_hourly",
    );
    assert!(hourly.as_i64().unwrap() > 0, "{hourly}");

    // A missing folder: the source is unavailable, the rest works, doctor says what is wrong.
    std::fs::rename(&lake, home.path().join("moved")).unwrap();
    let r = run(skipper(home.path()).args(["sql", "SELECT count(*) FROM lake.main.usage_events"]));
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("source 'lake' is unavailable"), "{r:?}");
    assert!(r.stderr.contains("hint: run `skipper doctor`"), "{r:?}");
    assert_eq!(
        scalar(home.path(), "SELECT count(*) FROM billing.main.accounts"),
        200
    );
    let r = run(skipper(home.path())
        .args(["doctor", "--format", "json", "--config"])
        .arg(&cfg));
    assert_eq!(r.code, 5, "{r:?}");
    let v = json(&r.stdout);
    assert_eq!(v["problems"], 1);
    assert!(
        v["sources"][1]["error"]
            .as_str()
            .unwrap()
            .contains("cannot be read"),
        "{v}"
    );
}

#[test]
fn explain_shows_what_runs_where() {
    let home = demo_home();
    let r = run(skipper(home.path()).args([
        "sql",
        "--explain",
        "--format",
        "json",
        "SELECT a.plan_tier, sum(d.units) FROM billing.main.accounts a \
         JOIN lake.main.billing_usage_daily d ON a.account_id = d.account_id \
         WHERE a.country = 'US' GROUP BY 1",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r.stdout);
    assert_eq!(v["version"], 1);
    let remote = v["remote"].as_array().unwrap();
    assert_eq!(remote.len(), 1, "{v}");
    assert_eq!(remote[0]["source"], "billing");
    let sent = remote[0]["sql"].as_str().unwrap();
    // The SQLite side gets its filter and only the columns it needs.
    assert!(sent.contains("WHERE") && sent.contains("'US'"), "{sent}");
    assert!(!sent.contains("contact_email"), "{sent}");
    assert!(
        v["local_scans"][0]
            .as_str()
            .unwrap()
            .contains("billing_usage_daily"),
        "{v}"
    );
}

#[test]
fn config_show_doctor_completions_and_usage() {
    let home = demo_home();
    let cfg = demo_config(home.path());
    let r = run(skipper(home.path())
        .args(["config", "show", "--format", "table", "--config"])
        .arg(&cfg));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("[sources.billing]") && r.stdout.contains("kind = \"sqlite\""),
        "{r:?}"
    );
    let r = run(skipper(home.path()).args(["doctor", "--config"]).arg(&cfg));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("all sources reachable"), "{r:?}");
    let r = run(skipper(home.path()).args(["completions", "bash"]));
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("_skipper()"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
    let r = run(skipper(home.path()).args(["sql", "SELECT 1", "--format", "xml"]));
    assert_eq!(r.code, 2, "{r:?}");
    // No subcommand: the REPL, which ends at the end of its input (here, at once).
    let r = run(&mut skipper(home.path()));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("Skipper: ask about your data"), "{r:?}");
}

#[test]
fn a_closed_pipe_exits_zero() {
    let home = demo_home();
    let script = format!(
        "'{}' sql --format csv 'SELECT * FROM lake.main.usage_events' | head -n 1 >/dev/null; echo ${{PIPESTATUS[0]}}",
        crate::harness::skipper_bin().display()
    );
    let r = run(std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("SKIPPER_DATA_DIR", home.path().join("data"))
        .current_dir(home.path()));
    assert_eq!(r.stdout.trim(), "0", "{r:?}");
    assert!(!r.stderr.contains("error"), "{r:?}");
}

#[test]
fn csv_and_json_sources_with_a_default_namespace() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::create_dir_all(h.join("files/orders/region=eu")).unwrap();
    std::fs::create_dir_all(h.join("files/orders/region=us")).unwrap();
    std::fs::create_dir_all(h.join("logs")).unwrap();
    std::fs::write(
        h.join("files/Customers.csv"),
        "id,name\n1,Ann\n2,Bo\n3,Cy\n",
    )
    .unwrap();
    std::fs::write(
        h.join("files/orders/region=eu/a.csv"),
        "customer_id,amount\n1,10\n1,5\n",
    )
    .unwrap();
    std::fs::write(
        h.join("files/orders/region=us/b.csv"),
        "customer_id,amount\n2,7\n",
    )
    .unwrap();
    std::fs::write(h.join("files/notes.txt"), "not a table").unwrap();
    std::fs::write(
        h.join("logs/events.ndjson"),
        "{\"kind\":\"a\",\"v\":1}\n{\"kind\":\"b\",\"v\":2}\n{\"kind\":\"a\",\"v\":4}\n",
    )
    .unwrap();
    std::fs::write(
        h.join("skipper.toml"),
        "[sources.files]\nkind = \"csv\"\npath = \"files\"\n\n[sources.logs]\nkind = \"json\"\npath = \"logs\"\n",
    )
    .unwrap();
    let v = sql(
        h,
        "SELECT c.name, o.region, sum(o.amount) AS total FROM files.main.customers c \
         JOIN files.main.orders o ON o.customer_id = c.id GROUP BY 1, 2 ORDER BY 1, 2",
    );
    assert_eq!(
        v["rows"],
        serde_json::json!([
            // A sum of bigints is a numeric, as in Postgres: exact, so a JSON string.
            {"name": "Ann", "region": "eu", "total": "15"},
            {"name": "Bo", "region": "us", "total": "7"}
        ])
    );
    assert_eq!(
        scalar(h, "SELECT sum(v) FROM logs.main.events WHERE kind = 'a'"),
        "5"
    );
    // Unqualified names resolve where --catalog/--schema say.
    let r = run(skipper(h).args([
        "sql",
        "--catalog",
        "files",
        "--schema",
        "main",
        "SELECT count(*) AS n FROM customers",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json(&r.stdout)["rows"][0]["n"], 3);
    let r = run(skipper(h).args(["sql", "SELECT count(*) AS n FROM customers"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("did you mean files.main.customers?"),
        "{r:?}"
    );
    // SHOW and DESCRIBE run.
    let r = run(skipper(h).args(["sql", "--format", "csv", "DESCRIBE files.main.customers"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with("column_name,data_type,is_nullable\nid,Int64,YES\nname,"),
        "{r:?}"
    );
    let r = run(skipper(h).args(["sql", "--format", "csv", "SHOW TABLES"]));
    assert!(r.stdout.contains("files,main,orders,BASE TABLE"), "{r:?}");
    assert!(!r.stdout.contains("notes"), "{r:?}");
}

/// Peak resident memory (VmHWM) of a running process, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn a_large_export_streams_in_bounded_memory() {
    let home = demo_home();
    // About 420 MB of CSV: collected before printing, it could not fit in the bound below.
    let mut child = skipper(home.path())
        .args([
            "sql",
            "--format",
            "csv",
            "SELECT value, repeat('x', 200) AS pad FROM generate_series(1, 2000000)",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        let mut lines = 0u64;
        loop {
            match std::io::Read::read(&mut stdout, &mut buf) {
                Ok(0) | Err(_) => return (total, lines),
                Ok(n) => {
                    total += n as u64;
                    lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
                }
            }
        }
    });
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Some(p) = peak_kib(child.id()) {
            peak = peak.max(p);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (bytes, lines) = reader.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(lines, 2_000_001, "header and every row");
    assert!(bytes > 400_000_000, "{bytes}");
    assert!(peak > 0, "no memory reading was taken");
    assert!(
        peak < 200 * 1024,
        "peak RSS {peak} KiB while writing {bytes} bytes: the export is not streaming"
    );
}

#[test]
fn demo_reuses_rebuilds_with_force_and_refuses_bad_input() {
    let home = demo_home();
    let h = home.path();
    let q = "SELECT sum(event_count) AS s FROM lake.main.usage_events";
    let before = scalar(h, q);
    // Reused: a different seed without --force changes nothing.
    let r = run(skipper(h).args(["demo", "--seed", "9"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("exists (use --force to rebuild)"),
        "{r:?}"
    );
    assert_eq!(scalar(h, q), before);
    // Rebuilt with --force, and the manifest records what it was made from.
    let r = run(skipper(h).args([
        "demo",
        "--force",
        "--seed",
        "9",
        "--anchor-date",
        "2026-11-21",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_ne!(scalar(h, q), before);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(h.join("data/demo/demo.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["seed"], 9);
    assert_eq!(manifest["anchor_date"], "2026-11-21");
    // Bad input: a clear error, and the existing lake is untouched.
    let r = run(skipper(h).args(["demo", "--force", "--anchor-date", "21/11/2026"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("--anchor-date '21/11/2026' is not a date"),
        "{r:?}"
    );
    let r = run(skipper(h).args(["demo", "--scale", "0"]));
    assert_eq!(r.code, 2, "{r:?}");
    let blocker = h.join("blocker");
    std::fs::write(&blocker, "a file, not a folder").unwrap();
    let r = run(skipper(h).args(["demo", "--dir"]).arg(blocker.join("demo")));
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.starts_with("error: cannot create"), "{r:?}");
    assert_ne!(scalar(h, q), before, "the rebuilt lake is still there");
    // Nothing half-built is left beside the demo.
    let leftovers: Vec<_> = std::fs::read_dir(h.join("data"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // The usage log of the queries above is the data dir's own, not the demo's.
        .filter(|n| n != "demo" && n != "query_log.jsonl")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
