//! The catalog and context selection: the demo `context/` loads clean and answers the catalog
//! commands; a broken copy reports every fault with file:line:column and nothing of it is used;
//! a dbt manifest, Postgres comments and SQL transforms feed descriptions and lineage; refresh
//! is incremental, never reads PII columns, and keeps a down source's snapshot; and for every
//! verified example of the demo, context selection (with that example held out) shows every
//! table and column its SQL uses within the default budget.

use crate::harness::{Pg, demo_config, demo_home, home_with_config, run, skipper};
use serde_json::Value;
use std::path::Path;

fn json(r: &crate::harness::Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"))
}

fn cat(home: &Path, args: &[&str]) -> crate::harness::Run {
    let config = demo_config(home);
    let mut cmd = skipper(home);
    cmd.arg("--config")
        .arg(&config)
        .args(["--format", "json"])
        .args(args);
    run(&mut cmd)
}

#[test]
fn demo_context_checks_clean_and_the_commands_answer() {
    let home = demo_home();
    let h = home.path();
    let r = cat(h, &["catalog", "check"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r);
    assert_eq!(v["errors"], 0, "{r:?}");

    let r = cat(h, &["catalog", "refresh"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r);
    assert_eq!(v["sources"][0]["computed"], 5, "{r:?}");
    assert_eq!(v["sources"][1]["computed"], 4, "{r:?}");

    // "What's in the accounts table?"
    let r = cat(h, &["catalog", "describe", "accounts"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r);
    let t = &v["table"];
    assert_eq!(t["name"], "billing.main.accounts");
    assert_eq!(t["row_count"], 200);
    assert_eq!(t["owners"][0]["role"], "steward");
    let cols = t["columns"].as_array().unwrap();
    let email = cols.iter().find(|c| c["name"] == "contact_email").unwrap();
    assert_eq!(email["classification"]["pii"], "email");
    assert_eq!(email["classification"]["review"], "approved");
    assert!(
        email["stats"].is_null(),
        "PII statistics must not be collected: {email}"
    );
    let tier = cols.iter().find(|c| c["name"] == "plan_tier").unwrap();
    assert_eq!(tier["stats"]["common_values"].as_array().unwrap().len(), 4);
    assert_eq!(v["downstream"][0], "billing.main.invoices");

    // Lineage through three transforms, column-level from the SQL.
    let r = cat(
        h,
        &[
            "catalog",
            "lineage",
            "invoices",
            "--upstream",
            "--depth",
            "3",
            "--columns",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r);
    let edges = v["edges"].as_array().unwrap();
    let at = |t: &str| {
        edges
            .iter()
            .find(|e| e["table"] == t)
            .map(|e| e["depth"].as_u64().unwrap())
    };
    assert_eq!(at("lake.main.billing_usage_daily"), Some(1));
    assert_eq!(at("lake.main.billing_usage_hourly"), Some(2));
    assert_eq!(at("lake.main.usage_events"), Some(3));
    assert_eq!(at("billing.main.legacy_customer_ids"), Some(3));
    let hourly = edges
        .iter()
        .find(|e| e["table"] == "lake.main.usage_events")
        .unwrap();
    let cols = hourly["columns"].as_array().unwrap();
    assert!(
        cols.iter()
            .any(|c| c[0] == "units" && c[1][0] == "lake.main.usage_events.event_count"),
        "{hourly}"
    );

    let r = cat(h, &["catalog", "glossary", "customer"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json(&r)["terms"][0]["name"], "account");
    let r = cat(h, &["catalog", "glossary", "nothing-like-this"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("hint:"), "{r:?}");

    let r = cat(h, &["catalog", "list", "lake.*"]);
    assert_eq!(json(&r)["tables"].as_array().unwrap().len(), 4, "{r:?}");

    let r = cat(h, &["catalog", "describe", "invoice"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("did you mean billing.main.invoices"),
        "{r:?}"
    );

    let r = cat(h, &["catalog", "search", "billable", "workers", "requests"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        json(&r)["tables"][0]["name"],
        "lake.main.billing_usage_daily",
        "{r:?}"
    );

    // The JSON other tools measure selection with.
    let r = cat(h, &["context", "invoiced revenue by plan tier"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r);
    let names: Vec<&str> = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"billing.main.invoices") && names.contains(&"billing.main.accounts"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"lake.main.usage_events_sampled"),
        "{names:?}"
    );
    assert!(v["tables"][0]["score"].as_f64().unwrap() > 0.0);
    assert!(v["tables"][0]["columns"][0]["name"].is_string());
    assert!(v["tables"][0]["columns"][0]["score"].is_number());
    let tokens = v["tokens"].as_u64().unwrap();
    assert!(tokens > 100 && tokens <= 6000, "{tokens}");
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .contains("CREATE TABLE billing.main.invoices")
    );

    // A small budget is kept: fewer tables or reduced ones, and what was cut is listed.
    let r = cat(
        h,
        &[
            "context",
            "--budget",
            "400",
            "invoiced revenue by plan tier",
        ],
    );
    let small = json(&r);
    assert!(small["tokens"].as_u64().unwrap() <= 400, "{r:?}");
    let reduced = small["tables"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["reduced"] == true);
    assert!(
        reduced || !small["left_out"].as_array().unwrap().is_empty(),
        "{r:?}"
    );
}

/// Faults at known places; each must come back with its file, line and column.
const FAULTS: &str = "\
version: 1
metrics:
  - name: broken_metric
    expression: sum(unitz)
    table: lake.main.billing_usage_daily
  - name: bad_time
    expression: sum(units)
    table: lake.main.billing_usage_daily
    time_column: usage_day
joins:
  - left: lake.main.usage_events
    right: billing.main.acounts
    on: [account_id = account_id]
    cardinality: many-to-one
glossary:
  - name: Tier
    definition: Duplicates the synonym 'tier' of plan tier.
lineage:
  - to: lake.main.usage_events
    from: [lake.main.billing_usage_daily]
    transformation: a cycle
";

#[test]
fn a_broken_context_reports_each_fault_with_its_place_and_is_not_used() {
    let home = demo_home();
    let h = home.path();
    let ctx = h.join("data/demo/context");
    std::fs::write(ctx.join("zz_faults.yaml"), FAULTS).unwrap();
    let r = cat(h, &["catalog", "check"]);
    assert_eq!(r.code, 1, "{r:?}");
    let v = json(&r);
    let diags = v["diagnostics"].as_array().unwrap();
    let find = |needle: &str| -> (String, u64, u64) {
        let d = diags
            .iter()
            .find(|d| d["severity"] == "error" && d["message"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no error with '{needle}' in {r:?}"));
        (
            d["pos"]["file"].as_str().unwrap().to_string(),
            d["pos"]["line"].as_u64().unwrap(),
            d["pos"]["column"].as_u64().unwrap(),
        )
    };
    let (f, line, col) = find("broken_metric' does not plan");
    assert!(f.ends_with("zz_faults.yaml"), "{f}");
    assert_eq!((line, col), (3, 11));
    assert_eq!(find("no column 'usage_day'").1, 9);
    let (_, line, col) =
        find("unknown table 'billing.main.acounts'; did you mean billing.main.accounts");
    assert_eq!((line, col), (12, 12));
    let (f, line, _) = find("'Tier' is defined twice");
    assert!(f.ends_with("zz_faults.yaml"));
    assert_eq!(line, 16);
    let (f, line, _) = find("lineage cycle");
    assert!(f.ends_with("zz_faults.yaml"), "{f}");
    assert_eq!(line, 19);
    assert_eq!(v["errors"], 5, "{r:?}");
    let r = run(skipper(h)
        .arg("--config")
        .arg(demo_config(h))
        .args(["--format", "table", "catalog", "check"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("5 errors"), "{r:?}");
    assert!(
        r.stdout
            .contains("zz_faults.yaml:12:12: error: unknown table"),
        "{r:?}"
    );

    // Broken YAML: every command refuses the whole folder, nothing half-loaded is used.
    std::fs::write(
        ctx.join("zz_syntax.yaml"),
        "glossary:\n  - name: [unclosed\n",
    )
    .unwrap();
    let r = cat(h, &["catalog", "list"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(r.stderr.contains("zz_syntax.yaml:"), "{r:?}");
    assert!(
        r.stderr.contains("hint: run `skipper catalog check`"),
        "{r:?}"
    );
    let r = cat(h, &["context", "revenue"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = cat(h, &["catalog", "check"]);
    assert_eq!(r.code, 1, "{r:?}");
    let d = &json(&r)["diagnostics"][0];
    assert!(
        d["pos"]["file"]
            .as_str()
            .unwrap()
            .ends_with("zz_syntax.yaml"),
        "{d}"
    );
    // The parser notices the unclosed sequence where the file ends.
    assert_eq!(d["pos"]["line"], 3, "{d}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("expected ',' or ']'"),
        "{d}"
    );

    // A typo in a key is an error too (never silently dropped knowledge).
    std::fs::remove_file(ctx.join("zz_syntax.yaml")).unwrap();
    std::fs::remove_file(ctx.join("zz_faults.yaml")).unwrap();
    std::fs::write(
        ctx.join("zz_typo.yaml"),
        "datasets:\n  - name: billing.main.accounts\n    descripton: x\n",
    )
    .unwrap();
    let r = cat(h, &["catalog", "check"]);
    assert_eq!(r.code, 1, "{r:?}");
    let d = &json(&r)["diagnostics"][0];
    assert!(d["message"].as_str().unwrap().contains("descripton"), "{d}");
    assert_eq!(d["pos"]["line"], 3, "{d}");
}

#[test]
fn refresh_is_incremental_and_keeps_a_down_sources_snapshot() {
    let home = demo_home();
    let h = home.path();
    let r = cat(h, &["catalog", "refresh"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = cat(h, &["catalog", "refresh"]);
    let v = json(&r);
    for s in v["sources"].as_array().unwrap() {
        assert_eq!(s["computed"], 0, "{r:?}");
        assert_eq!(s["unchanged"], s["tables"], "{r:?}");
    }
    // A write to SQLite moves its change counter; a new file in a Parquet table moves that
    // table's fingerprint, and only that table's.
    let db = h.join("data/demo/billing.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM support_tickets WHERE ticket_id = 50000", [])
        .unwrap();
    drop(conn);
    let daily = h.join("data/demo/lake/billing_usage_daily");
    std::fs::copy(daily.join("part-0.parquet"), daily.join("part-1.parquet")).unwrap();
    let r = cat(h, &["catalog", "refresh"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r);
    assert_eq!(v["sources"][0]["source"], "billing");
    assert_eq!(v["sources"][0]["computed"], 5, "{r:?}");
    assert_eq!(v["sources"][1]["computed"], 1, "{r:?}");
    assert_eq!(v["sources"][1]["unchanged"], 3, "{r:?}");
    let r = cat(h, &["catalog", "describe", "lake.main.billing_usage_daily"]);
    let rows = json(&r)["table"]["row_count"].as_u64().unwrap();
    let r = cat(h, &["catalog", "describe", "billing.main.rate_card"]);
    assert_eq!(json(&r)["table"]["row_count"], 16);

    // The SQLite file goes away: refresh warns and fails (exit 5), the snapshot stays usable.
    std::fs::rename(&db, h.join("billing.db.away")).unwrap();
    let r = cat(h, &["catalog", "refresh"]);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("source billing is unavailable"), "{r:?}");
    assert!(r.stderr.contains("last snapshot is kept"), "{r:?}");
    let r = cat(h, &["catalog", "describe", "billing.main.accounts"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r);
    assert_eq!(v["table"]["row_count"], 200);
    assert!(v["snapshot"]["error"].is_string(), "{r:?}");
    let r = cat(h, &["catalog", "describe", "lake.main.billing_usage_daily"]);
    assert_eq!(json(&r)["table"]["row_count"].as_u64().unwrap(), rows);
}

#[test]
fn dbt_manifest_descriptions_and_lineage_are_imported() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let wh = h.join("warehouse");
    std::fs::create_dir_all(&wh).unwrap();
    std::fs::write(
        wh.join("raw_orders.csv"),
        "id,customer,amount_cents,status\n1,7,1250,paid\n2,8,990,refunded\n",
    )
    .unwrap();
    std::fs::write(
        wh.join("stg_orders.csv"),
        "order_id,customer_id,amount_cents,is_paid\n1,7,1250,true\n",
    )
    .unwrap();
    std::fs::write(
        wh.join("customer_revenue.csv"),
        "customer_id,revenue_usd\n7,12.5\n",
    )
    .unwrap();
    let manifest = serde_json::json!({
        "metadata": {"dbt_version": "1.8.0"},
        "nodes": {
            "model.shop.stg_orders": {
                "resource_type": "model", "name": "stg_orders", "schema": "main",
                "description": "Orders, cleaned: one row per order.",
                "columns": {"is_paid": {"name": "is_paid", "description": "The order was paid and not refunded."}},
                "depends_on": {"nodes": ["source.shop.raw.raw_orders"]},
                "compiled_code": "select id as order_id, customer as customer_id, amount_cents, status = 'paid' as is_paid from main.raw_orders"
            },
            "model.shop.customer_revenue": {
                "resource_type": "model", "name": "customer_revenue", "schema": "main",
                "description": "Paid revenue per customer, in dollars.",
                "columns": {},
                "depends_on": {"nodes": ["model.shop.stg_orders"]},
                "compiled_code": "with paid as (select * from main.stg_orders where is_paid) select customer_id, sum(amount_cents) / 100.0 as revenue_usd from paid group by 1"
            },
            "test.shop.not_null_stg_orders_order_id": {"resource_type": "test", "name": "not_null", "depends_on": {"nodes": ["model.shop.stg_orders"]}}
        },
        "sources": {
            "source.shop.raw.raw_orders": {
                "resource_type": "source", "name": "raw_orders", "schema": "main", "identifier": "raw_orders",
                "description": "Orders as the shop writes them.", "columns": {}
            }
        }
    });
    std::fs::write(h.join("manifest.json"), manifest.to_string()).unwrap();
    std::fs::write(
        h.join("skipper.toml"),
        "[sources.wh]\nkind = \"csv\"\npath = \"warehouse\"\n[catalog]\ndbt_manifest = \"manifest.json\"\n",
    )
    .unwrap();
    // Human YAML wins over dbt's text where both speak.
    std::fs::create_dir_all(h.join("context")).unwrap();
    std::fs::write(
        h.join("context/datasets.yaml"),
        "datasets:\n  - name: wh.main.customer_revenue\n    description: Revenue per customer (finance's definition).\n",
    )
    .unwrap();
    let json_run = |args: &[&str]| {
        let r = run(skipper(h).args(["--format", "json"]).args(args));
        assert_eq!(r.code, 0, "{r:?}");
        json(&r)
    };
    let v = json_run(&["catalog", "describe", "stg_orders"]);
    assert_eq!(
        v["table"]["description"],
        "Orders, cleaned: one row per order."
    );
    assert_eq!(v["table"]["description_from"], "dbt");
    let paid = v["table"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "is_paid")
        .unwrap()
        .clone();
    assert_eq!(paid["description"], "The order was paid and not refunded.");
    assert_eq!(v["upstream"][0], "wh.main.raw_orders");
    let v = json_run(&["catalog", "describe", "customer_revenue"]);
    assert_eq!(
        v["table"]["description"],
        "Revenue per customer (finance's definition)."
    );
    assert_eq!(v["table"]["description_from"], "context");
    let v = json_run(&[
        "catalog",
        "lineage",
        "customer_revenue",
        "--upstream",
        "--depth",
        "2",
        "--columns",
    ]);
    let edges = v["edges"].as_array().unwrap();
    let stg = edges
        .iter()
        .find(|e| e["table"] == "wh.main.stg_orders")
        .unwrap();
    assert!(
        stg["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c[0] == "revenue_usd" && c[1][0] == "wh.main.stg_orders.amount_cents"),
        "{stg}"
    );
    let raw = edges
        .iter()
        .find(|e| e["table"] == "wh.main.raw_orders")
        .unwrap();
    assert_eq!(raw["depth"], 2);
    assert!(
        raw["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c[0] == "is_paid" && c[1][0] == "wh.main.raw_orders.status"),
        "{raw}"
    );

    // A manifest that is not one: a configuration error with a hint.
    std::fs::write(h.join("manifest.json"), "[1, 2").unwrap();
    let r = run(skipper(h).args(["catalog", "list"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("not a dbt manifest") && r.stderr.contains("hint:"),
        "{r:?}"
    );
}

#[test]
fn postgres_comments_are_read_and_pii_values_never_reach_the_cache() {
    let Some(pg) = Pg::start() else { return };
    pg.psql("postgres", "CREATE DATABASE crm");
    pg.psql(
        "crm",
        "CREATE SCHEMA sales;
         CREATE TABLE sales.customers (id int PRIMARY KEY, email text, segment text, since date);
         INSERT INTO sales.customers SELECT g, 'person' || g || '@secret.example',
           (ARRAY['smb','mid','ent'])[1 + g % 3], DATE '2024-01-01' + g FROM generate_series(1, 300) g;
         COMMENT ON TABLE sales.customers IS 'Everyone who ever bought, one row each.';
         COMMENT ON COLUMN sales.customers.segment IS 'Market segment: smb, mid or ent.';
         ANALYZE sales.customers;",
    );
    let home = home_with_config(&format!(
        "[sources.crm]\nkind = \"postgres\"\nurl = \"{}\"\n",
        pg.url("crm")
    ));
    let h = home.path();
    std::fs::create_dir_all(h.join("context")).unwrap();
    std::fs::write(
        h.join("context/datasets.yaml"),
        "datasets:\n  - name: crm.sales.customers\n    columns:\n      - name: email\n        classification: {pii: email, set_by: scanner, review: proposed}\n",
    )
    .unwrap();
    let r = run(skipper(h).args(["--format", "json", "catalog", "refresh"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json(&r)["sources"][0]["computed"], 1, "{r:?}");
    let r = run(skipper(h).args(["--format", "json", "catalog", "describe", "customers"]));
    let v = json(&r);
    let t = &v["table"];
    assert_eq!(t["description"], "Everyone who ever bought, one row each.");
    assert_eq!(t["description_from"], "source_comment");
    assert_eq!(t["row_count"], 300);
    let col = |n: &str| {
        t["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        col("segment")["description"],
        "Market segment: smb, mid or ent."
    );
    assert_eq!(col("segment")["stats"]["distinct"], 3);
    assert_eq!(
        col("segment")["stats"]["common_values"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(col("email")["stats"].is_null(), "{t}");
    // Nothing of the PII column is stored: not one address in the cache file.
    let cache = std::fs::read(h.join("data/catalog.db")).unwrap();
    let text = String::from_utf8_lossy(&cache);
    assert!(
        !text.contains("@secret.example"),
        "a PII value reached the catalog cache"
    );
    assert!(
        text.contains("smb"),
        "the cache should hold the segment values"
    );
    // A proposed classification is a warning for the steward, not an error.
    let r = run(skipper(h).args(["--format", "json", "catalog", "check"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("awaits review"), "{r:?}");
}

#[test]
fn successful_queries_feed_the_usage_log() {
    let home = demo_home();
    let h = home.path();
    let config = demo_config(h);
    let r = run(skipper(h).arg("--config").arg(&config).args([
        "sql",
        "--format",
        "csv",
        "SELECT a.plan_tier, count(*) FROM billing.main.invoices i JOIN billing.main.accounts a ON a.account_id = i.account_id GROUP BY 1",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let log = std::fs::read_to_string(h.join("data/query_log.jsonl")).unwrap();
    let line: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    let tables: Vec<&str> = line["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        tables,
        vec!["billing.main.accounts", "billing.main.invoices"]
    );
    assert_eq!(line["joins"][0][0][1], "account_id", "{line}");
    // A failing query is not usage.
    let r = run(skipper(h)
        .arg("--config")
        .arg(&config)
        .args(["sql", "SELECT nope FROM billing.main.accounts"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        std::fs::read_to_string(h.join("data/query_log.jsonl"))
            .unwrap()
            .lines()
            .count(),
        1
    );
}

/// Leave-one-out over the demo's verified examples: with the example itself removed from the
/// catalog, the context chosen for its question within the default budget holds every table
/// and column its SQL reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_selection_covers_every_verified_example() {
    use skipper::catalog::{Catalog, load, refresh};
    use skipper::context::{DEFAULT_BUDGET, Selector, tokens::TokenCounter};
    let home = demo_home();
    let config_path = demo_config(home.path());
    let config = skipper::config::Config::load(&config_path).unwrap();
    let engine = skipper::engine::Engine::open(&config, &Default::default())
        .await
        .unwrap();
    let snaps = refresh::snapshot_all(
        &engine,
        &config,
        true,
        &|_, _| false,
        "2026-11-21T00:00:00Z",
    )
    .await;
    let ctx = home.path().join("data/demo/context");
    let full = load::load(&ctx).unwrap();
    let n: usize = full.files.iter().map(|f| f.examples.len()).sum();
    assert!(
        n >= 12,
        "the demo should hold a dozen verified examples, has {n}"
    );
    let counter = TokenCounter::for_model(Some("gpt-4o"));
    let mut misses = Vec::new();
    for i in 0..n {
        let mut docs = load::load(&ctx).unwrap();
        // Remove example i (counting across files).
        let mut k = i;
        let mut question = String::new();
        for f in &mut docs.files {
            if k < f.examples.len() {
                question = f.examples.remove(k).question;
                break;
            }
            k -= f.examples.len();
        }
        let gold_cat = Catalog::build(&full, &snaps, None);
        let gold = &gold_cat.examples[i];
        assert_eq!(gold.question, question.trim());
        let cat = Catalog::build(&docs, &snaps, None);
        assert_eq!(cat.errors().count(), 0, "{:?}", cat.diagnostics);
        let sel = Selector::new(&cat).select(&question, DEFAULT_BUDGET, &counter);
        assert!(sel.tokens <= DEFAULT_BUDGET);
        for t in &gold.tables {
            if !sel.tables.iter().any(|c| &c.name == t) {
                misses.push(format!("{question}: table {t}"));
            }
        }
        for c in &gold.columns {
            let (t, col) = c.rsplit_once('.').unwrap();
            let shown = sel
                .tables
                .iter()
                .any(|x| x.name == t && x.columns.iter().any(|y| y.name == col));
            if !shown {
                misses.push(format!("{question}: column {c}"));
            }
        }
    }
    assert!(misses.is_empty(), "missed:\n{}", misses.join("\n"));
}

#[test]
fn what_a_user_mistypes_gets_a_clear_error() {
    let home = demo_home();
    let h = home.path();
    // (args, exit code, words the one-line error must hold)
    // A refused refresh writes nothing: the cache does not exist after it.
    let r = cat(h, &["catalog", "refresh", "nosuch"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!h.join("data/catalog.db").exists());
    let cases: &[(&[&str], i32, &str)] = &[
        (&["context", " "], 2, "the question is empty"),
        (&["context", "--budget", "10", "revenue"], 2, "--budget"),
        (
            &["catalog", "refresh", "nosuch"],
            2,
            "no source named 'nosuch'",
        ),
        (
            &[
                "catalog",
                "lineage",
                "invoices",
                "--upstream",
                "--downstream",
            ],
            2,
            "cannot be used with",
        ),
        (
            &["catalog", "lineage", "nosuch"],
            2,
            "unknown table 'nosuch'",
        ),
    ];
    for (args, code, words) in cases {
        let r = cat(h, args);
        assert_eq!(r.code, *code, "{args:?}: {r:?}");
        assert!(r.stderr.contains(words), "{args:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
    }
    let r = run(skipper(h)
        .arg("--config")
        .arg(demo_config(h))
        .args(["--format", "arrow", "catalog", "list"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--format arrow is for query results"),
        "{r:?}"
    );
}

/// Every command after the first reads the built catalog from the cache under the data dir;
/// an edit to context/ (even one that keeps the size and the time) is seen at once, a broken
/// edit is refused rather than served from the cache, and a damaged cache is rebuilt.
#[test]
fn the_built_catalog_is_cached_and_never_stale() {
    let home = demo_home();
    let h = home.path();
    let describe = |h: &Path| {
        let r = cat(h, &["catalog", "describe", "accounts"]);
        assert_eq!(r.code, 0, "{r:?}");
        json(&r)
    };
    let first = describe(h);
    // The first command took the sources' snapshots while building, so it kept nothing; the
    // second builds from stored snapshots only and keeps its build.
    let cache_dir = h.join("data/catalog-cache");
    assert!(!cache_dir.exists());
    assert_eq!(describe(h), first);
    let files: Vec<_> = std::fs::read_dir(&cache_dir)
        .unwrap_or_else(|e| panic!("no cache at {}: {e}", cache_dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let cached = &files[0];
    assert_eq!(
        describe(h),
        first,
        "a cached build answers as the built one"
    );
    // The cache is what answers: a description changed inside it shows.
    let text = std::fs::read_to_string(cached).unwrap();
    let original = "One row per customer account, with its plan tier and contact details.";
    assert!(text.contains(original));
    // (Same length: the file records each section's length, and a changed length is a miss.)
    let planted = format!("{:<1$}", "Read from the cache.", original.len());
    std::fs::write(cached, text.replace(original, &planted)).unwrap();
    assert_eq!(describe(h)["table"]["description"], planted.as_str());
    // A same-size edit of context/ with its time put back is seen.
    let file = h.join("data/demo/context/datasets.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let edited = original.replace("One row", "One ROW");
    std::fs::write(&file, yaml.replace(original, &edited)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(describe(h)["table"]["description"], edited.as_str());
    // A broken edit is refused, not answered from the cache.
    std::fs::write(&file, yaml.replace("datasets:", "datasets: [")).unwrap();
    let r = cat(h, &["catalog", "describe", "accounts"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("datasets.yaml:"), "{r:?}");
    // Restored, with a damaged cache file: rebuilt, and the answer is the first one again.
    std::fs::write(&file, &yaml).unwrap();
    std::fs::write(cached, "not a cache").unwrap();
    assert_eq!(describe(h), first);
    assert!(
        std::fs::read_to_string(cached).unwrap().contains(original),
        "the cache is written again"
    );
}
