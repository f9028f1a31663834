//! Context selection at scale: a synthetic catalog of 1k / 5k / 10k tables (~20 columns each)
//! with realistic distractors (`stg_`, `_v2`, `_archive` families, date-sharded copies, daily
//! and monthly summaries, twelve domains sharing the same entities and column names), and
//! templated questions whose gold table and columns are known.
//!
//! Question templates are split: three were used while choosing the ranking weights (`tune`),
//! three were never looked at while doing so (`held-out`); recall is reported for both. The
//! naive baseline — the whole schema as DDL, in catalog order, truncated to the budget — runs
//! on the same questions in the same process.
//!
//! Reported per size: recall of gold tables and gold columns within the budget, p50/p95
//! selection time, catalog load time, and resident memory after loading. Load is measured twice:
//! the first load (context/ YAML parse + snapshot read from the SQLite store + merge + writing
//! the built-catalog cache + index build) and the cached load every later command pays (content
//! digest of the inputs + reading the cached build + index build); the table's `load ms` is the
//! cached one, and the step table gives both.
//!
//! `cargo bench --bench context_select` (release). `CONTEXT_BENCH_SIZES=1000,5000` picks
//! sizes; `CONTEXT_BENCH_QUESTIONS` sets questions per template (default 40);
//! `CONTEXT_BENCH_MISSES=1` prints each question whose gold table was not chosen (stderr).
//! `context/` is written one file per domain (as a large dbt project keeps its schema files).

// The allocator the `skipper` binary runs with (src/main.rs), so load and selection are
// measured as the product runs them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use skipper::catalog::store::{ColumnSnapshot, ColumnStats, SourceSnapshot, Store, TableSnapshot};
use skipper::catalog::{Catalog, cache, load};
use skipper::context::{DEFAULT_BUDGET, Selector, tokens::TokenCounter};
use skipper::demo::model::Rng;
use std::fmt::Write as _;
use std::time::Instant;

const DOMAINS: &[&str] = &[
    "sales",
    "finance",
    "support",
    "marketing",
    "ops",
    "hr",
    "logistics",
    "product",
    "security",
    "billing",
    "growth",
    "partner",
];

/// (entity, synonyms people use in questions)
const ENTITIES: &[(&str, &[&str])] = &[
    ("customer", &["client", "buyer"]),
    ("order", &["purchase"]),
    ("invoice", &["bill"]),
    ("payment", &["transaction", "charge"]),
    ("shipment", &["delivery", "parcel"]),
    ("product", &["item", "sku"]),
    ("ticket", &["support case"]),
    ("session", &["visit"]),
    ("campaign", &["promotion"]),
    ("subscription", &["membership"]),
    ("refund", &["reimbursement"]),
    ("device", &["handset"]),
    ("employee", &["staff member"]),
    ("vendor", &["supplier"]),
    ("warehouse", &["depot"]),
    ("lead", &["prospect"]),
    ("contract", &["agreement"]),
    ("review", &["rating"]),
    ("coupon", &["voucher"]),
    ("incident", &["outage"]),
];

/// (column, description, synonyms in questions)
const MEASURES: &[(&str, &str, &[&str])] = &[
    ("amount_cents", "the amount in cents", &["amount", "value"]),
    ("quantity", "the number of units", &["units", "quantity"]),
    (
        "duration_ms",
        "how long it took, in milliseconds",
        &["duration", "time taken"],
    ),
    (
        "discount_cents",
        "the discount given, in cents",
        &["discount", "discounts"],
    ),
    ("tax_cents", "tax charged, in cents", &["tax", "taxes"]),
    ("weight_grams", "the weight in grams", &["weight"]),
    (
        "score",
        "a quality score from 0 to 100",
        &["score", "quality"],
    ),
    (
        "latency_ms",
        "response latency in milliseconds",
        &["latency", "response time"],
    ),
    (
        "cost_cents",
        "what it cost us, in cents",
        &["cost", "spend"],
    ),
    (
        "margin_cents",
        "gross margin in cents",
        &["margin", "profit"],
    ),
];

const DIMS: &[(&str, &str, &[&str])] = &[
    (
        "status",
        "where it stands in its lifecycle",
        &["status", "state"],
    ),
    ("region", "the sales region", &["region", "geography"]),
    (
        "channel",
        "the channel it came through (web, app, partner)",
        &["channel"],
    ),
    ("country_code", "ISO country code", &["country", "nation"]),
    ("tier", "the customer tier", &["tier", "plan level"]),
    (
        "category",
        "the product category",
        &["category", "product line"],
    ),
    (
        "source_system",
        "the system that produced the row",
        &["source system", "origin"],
    ),
    ("currency", "ISO currency of amounts", &["currency"]),
    ("language", "the user's language", &["language", "locale"]),
    (
        "device_type",
        "desktop, mobile or tablet",
        &["device type", "platform"],
    ),
];

struct Table {
    name: String,
    description: String,
    columns: Vec<(String, String, &'static str)>,
}

struct Question {
    text: String,
    gold_table: String,
    gold_columns: Vec<String>,
}

fn pick<'a, T>(rng: &mut Rng, v: &'a [T]) -> &'a T {
    rng.pick(v)
}

/// The canonical table of (domain, entity) and its measure/dimension columns (stable per pair).
fn base_columns(d: usize, e: usize) -> (Vec<usize>, Vec<usize>) {
    let mut rng = Rng::new((d * 100 + e) as u64);
    let mut m: Vec<usize> = (0..MEASURES.len()).collect();
    let mut dm: Vec<usize> = (0..DIMS.len()).collect();
    // Fisher-Yates with our RNG; keep 6 of each.
    for i in (1..m.len()).rev() {
        m.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for i in (1..dm.len()).rev() {
        dm.swap(i, rng.below(i as u64 + 1) as usize);
    }
    (m[..6].to_vec(), dm[..6].to_vec())
}

fn make_table(name: String, description: String, d: usize, e: usize) -> Table {
    let (entity, _) = ENTITIES[e];
    let other = ENTITIES[(e + 3) % ENTITIES.len()].0;
    let other2 = ENTITIES[(e + 7) % ENTITIES.len()].0;
    let (ms, ds) = base_columns(d, e);
    let mut columns = vec![
        (
            format!("{entity}_id"),
            format!("The {entity}'s id."),
            "bigint",
        ),
        (
            format!("{other}_id"),
            format!("The related {other}."),
            "bigint",
        ),
        (
            format!("{other2}_id"),
            format!("The related {other2}."),
            "bigint",
        ),
        (
            "created_at".into(),
            format!("When the {entity} was created (UTC)."),
            "timestamp",
        ),
        (
            "updated_at".into(),
            "When the row last changed (UTC).".into(),
            "timestamp",
        ),
        (
            "is_test".into(),
            "Test traffic, excluded from reporting.".into(),
            "boolean",
        ),
        ("notes".into(), "Free-text notes.".into(), "text"),
        ("owner_email".into(), "Who handles it.".into(), "text"),
    ];
    for &m in &ms {
        let (c, desc, _) = MEASURES[m];
        columns.push((
            c.into(),
            format!("{} of the {entity}.", capital(desc)),
            "bigint",
        ));
    }
    for &x in &ds {
        let (c, desc, _) = DIMS[x];
        columns.push((
            c.into(),
            format!("{} of the {entity}.", capital(desc)),
            "text",
        ));
    }
    Table {
        name,
        description,
        columns,
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn generate(n: usize) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut combos = Vec::new();
    for d in 0..DOMAINS.len() {
        for e in 0..ENTITIES.len() {
            combos.push((d, e));
        }
    }
    let family = |d: usize, e: usize, k: usize| -> (String, String) {
        let (dom, (ent, syn)) = (DOMAINS[d], ENTITIES[e]);
        let base = format!("{dom}_{ent}s");
        match k {
            0 => (
                base,
                format!(
                    "One row per {dom} {ent} ({}). The reporting table for {dom} {ent}s.",
                    syn.join(", ")
                ),
            ),
            1 => (
                format!("stg_{base}"),
                format!("Staging copy of {dom} {ent}s as loaded, before cleaning."),
            ),
            2 => (
                format!("{base}_archive"),
                format!("{} {ent}s archived before 2023.", capital(dom)),
            ),
            3 => (
                format!("{base}_v2"),
                format!("Next version of {dom} {ent}s, being migrated; incomplete."),
            ),
            4 => (
                format!("{dom}_{ent}_daily_summary"),
                format!("Daily counts and totals of {dom} {ent}s."),
            ),
            _ => (
                format!("{dom}_{ent}_monthly_summary"),
                format!("Monthly counts and totals of {dom} {ent}s."),
            ),
        }
    };
    'outer: for k in 0..6 {
        for &(d, e) in &combos {
            if tables.len() >= n {
                break 'outer;
            }
            let (name, desc) = family(d, e, k);
            tables.push(make_table(name, desc, d, e));
        }
    }
    // The rest: date-sharded copies (monthly shards going back in time).
    let mut shard = 0;
    while tables.len() < n {
        for &(d, e) in &combos {
            if tables.len() >= n {
                break;
            }
            let (dom, (ent, _)) = (DOMAINS[d], ENTITIES[e]);
            let (y, m) = (2025 - (shard / 12), 12 - (shard % 12));
            tables.push(make_table(
                format!("{dom}_{ent}s_{y}{m:02}"),
                format!("{} {ent}s of {y}-{m:02} (monthly shard).", capital(dom)),
                d,
                e,
            ));
        }
        shard += 1;
    }
    tables
}

const TEMPLATES: usize = 6;
/// Templates 0..3 were used to set the weights; 3..6 are held out.
fn question(rng: &mut Rng, template: usize) -> Question {
    let d = rng.below(DOMAINS.len() as u64) as usize;
    let e = rng.below(ENTITIES.len() as u64) as usize;
    let (dom, (ent, syns)) = (DOMAINS[d], ENTITIES[e]);
    let (ms, ds) = base_columns(d, e);
    let m = MEASURES[ms[rng.below(6) as usize]];
    let x = DIMS[ds[rng.below(6) as usize]];
    let ent_word = if rng.below(2) == 0 {
        ent
    } else {
        *pick(rng, syns)
    };
    let msyn = *pick(rng, m.2);
    let dsyn = *pick(rng, x.2);
    let (text, cols) = match template {
        0 => (
            format!("total {msyn} of {dom} {ent_word}s by {dsyn}"),
            vec![m.0, x.0],
        ),
        1 => (format!("how many {dom} {ent_word}s per {dsyn}?"), vec![x.0]),
        2 => (
            format!("average {msyn} for {dom} {ent_word}s last month"),
            vec![m.0, "created_at"],
        ),
        3 => (
            format!("{dom} {ent_word}s: {msyn} broken down by {dsyn}"),
            vec![m.0, x.0],
        ),
        4 => (
            format!("which {dsyn} has the highest {msyn} among {ent_word}s in {dom}"),
            vec![m.0, x.0],
        ),
        _ => (
            format!("{msyn} trend over time for {dom} {ent_word}s"),
            vec![m.0, "created_at"],
        ),
    };
    Question {
        text,
        gold_table: format!("wh.main.{dom}_{ent}s"),
        gold_columns: cols.into_iter().map(String::from).collect(),
    }
}

/// One `schema.yml`-like file per domain, as a large dbt project keeps them.
fn write_context(dir: &std::path::Path, tables: &[Table]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut files: std::collections::BTreeMap<&str, String> = Default::default();
    for t in tables {
        let domain = t
            .name
            .strip_prefix("stg_")
            .unwrap_or(&t.name)
            .split('_')
            .next()
            .unwrap();
        let y = files
            .entry(domain)
            .or_insert_with(|| String::from("datasets:\n"));
        let _ = writeln!(y, "  - name: wh.main.{}", t.name);
        let _ = writeln!(y, "    description: \"{}\"", t.description);
        y.push_str("    owners: [{team: data, role: technical owner}]\n    columns:\n");
        for (c, d, _) in &t.columns {
            let _ = writeln!(y, "      - name: {c}\n        description: \"{d}\"");
        }
    }
    for (domain, y) in files {
        std::fs::write(dir.join(format!("{domain}.yaml")), y).unwrap();
    }
}

fn snapshot(tables: &[Table]) -> SourceSnapshot {
    SourceSnapshot {
        source: "wh".into(),
        kind: "parquet".into(),
        refreshed_at: "2026-11-22T00:00:00Z".into(),
        error: None,
        tables: tables
            .iter()
            .map(|t| TableSnapshot {
                schema: "main".into(),
                table: t.name.clone(),
                fingerprint: Some("x".into()),
                comment: None,
                row_count: Some(1000),
                stats_at: Some("2026-11-22T00:00:00Z".into()),
                columns: t
                    .columns
                    .iter()
                    .map(|(c, _, ty)| ColumnSnapshot {
                        name: c.clone(),
                        data_type: ty.to_string(),
                        nullable: true,
                        comment: None,
                        stats: Some(ColumnStats {
                            null_fraction: 0.0,
                            distinct: Some(10),
                            min: Some("a".into()),
                            max: Some("z".into()),
                            common_values: vec![],
                        }),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The naive baseline: every table as DDL, in name order (as a schema listing gives them),
/// until the budget is spent.
fn naive(cat: &Catalog, budget: usize, counter: &TokenCounter) -> Vec<(String, Vec<String>)> {
    let mut used = 0;
    let mut out = Vec::new();
    let mut tables: Vec<&skipper::catalog::Table> = cat.tables.iter().collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    for t in tables {
        let mut s = format!("CREATE TABLE {} (\n", t.name);
        for c in &t.columns {
            let _ = writeln!(s, "  {} {},", c.name, c.data_type.as_deref().unwrap_or("?"));
        }
        s.push_str(");\n");
        let n = counter.count(&s);
        if used + n > budget {
            break;
        }
        used += n;
        out.push((
            t.name.clone(),
            t.columns.iter().map(|c| c.name.clone()).collect(),
        ));
    }
    out
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let sizes: Vec<usize> = std::env::var("CONTEXT_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1000, 5000, 10000]);
    let per_template: usize = std::env::var("CONTEXT_BENCH_QUESTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let counter = TokenCounter::for_model(Some("gpt-4o"));
    let _ = counter.count("warm the tokenizer up");
    println!(
        "## Context selection, synthetic catalog ({per_template} questions per template, budget {DEFAULT_BUDGET} tokens, {})\n",
        counter.describe()
    );
    println!(
        "| tables | columns | questions | table recall (tune / held-out) | column recall (tune / held-out) | naive table recall | naive column recall | p50 ms | p95 ms | load ms (cached / first) | RSS after load MB | mean tokens |"
    );
    println!("|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut breakdown = Vec::new();
    let show_misses = std::env::var_os("CONTEXT_BENCH_MISSES").is_some();
    for &n in &sizes {
        let tables = generate(n);
        let ncols: usize = tables.iter().map(|t| t.columns.len()).sum();
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("context");
        write_context(&ctx, &tables);
        let config = dir.path().join("skipper.toml");
        std::fs::write(&config, "").unwrap();
        {
            let mut store = Store::open(dir.path(), &config).unwrap();
            store.save(&[snapshot(&tables)]).unwrap();
        }
        drop(tables);
        let rss0 = rss_mb();
        // Load as `skipper context` does. First run: nothing cached, so key, YAML, snapshot from
        // the store, merge, cache write, index. Second run: key, cached build, index.
        let cache_path = cache::path(dir.path(), "bench");
        let t0 = Instant::now();
        let store = Store::open(dir.path(), &config).unwrap();
        let key = cache::Key::compute(&ctx, &store, &["wh"], None).expect("a key");
        let t_key = t0.elapsed();
        let docs = load::load(&ctx).unwrap();
        let t_yaml = t0.elapsed();
        let snap = store.load("wh").unwrap().unwrap();
        let t_snap = t0.elapsed();
        let built = Catalog::build(&docs, &[snap], None);
        let t_build = t0.elapsed();
        cache::write(&cache_path, &key, &built).unwrap();
        let t_write = t0.elapsed();
        let cache_mb = std::fs::metadata(&cache_path).unwrap().len() as f64 / 1e6;
        assert_eq!(built.errors().count(), 0, "{:?}", built.diagnostics.first());
        drop(Selector::new(&built));
        let cold_ms = t0.elapsed().as_secs_f64() * 1000.0;
        drop((built, docs));
        let t0 = Instant::now();
        let store = Store::open(dir.path(), &config).unwrap();
        let key = cache::Key::compute(&ctx, &store, &["wh"], None).expect("a key");
        let t_key2 = t0.elapsed();
        let cat = cache::read(&cache_path, &key).expect("the build just cached");
        let t_read = t0.elapsed();
        let sel = Selector::new(&cat);
        let load_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        breakdown.push(format!(
            "| {n} | {cold_ms:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {load_ms:.0} | {:.0} | {:.0} | {:.0} | {cache_mb:.0} |",
            ms(t_key),
            ms(t_yaml - t_key),
            ms(t_snap - t_yaml),
            ms(t_build - t_snap),
            ms(t_write - t_build),
            cold_ms - ms(t_write),
            ms(t_key2),
            ms(t_read - t_key2),
            load_ms - ms(t_read),
        ));
        let rss = rss_mb() - rss0;
        let mut rng = Rng::new(7);
        let mut times = Vec::new();
        // [tune, held-out] × (hits, total) for tables and columns; naive likewise.
        let mut t_hit = [[0usize; 2]; 2];
        let mut c_hit = [[0usize; 2]; 2];
        let (mut nt, mut nc, mut nq, mut ncol_total) = (0, 0, 0, 0);
        let mut tokens = 0usize;
        let naive_sel = naive(&cat, DEFAULT_BUDGET, &counter);
        for template in 0..TEMPLATES {
            let split = usize::from(template >= 3);
            for _ in 0..per_template {
                let q = question(&mut rng, template);
                let started = Instant::now();
                let s = sel.select(&q.text, DEFAULT_BUDGET, &counter);
                times.push(started.elapsed().as_secs_f64() * 1000.0);
                tokens += s.tokens;
                let chosen = s.tables.iter().find(|t| t.name == q.gold_table);
                if show_misses && chosen.is_none() {
                    let got: Vec<&str> = s.tables.iter().map(|t| t.name.as_str()).collect();
                    eprintln!("miss [{n}] {}: {} not in {got:?}", q.text, q.gold_table);
                }
                t_hit[split][1] += 1;
                if chosen.is_some() {
                    t_hit[split][0] += 1;
                }
                for c in &q.gold_columns {
                    c_hit[split][1] += 1;
                    if chosen.is_some_and(|t| t.columns.iter().any(|x| &x.name == c)) {
                        c_hit[split][0] += 1;
                    }
                }
                nq += 1;
                let nsel = naive_sel.iter().find(|(t, _)| *t == q.gold_table);
                if nsel.is_some() {
                    nt += 1;
                }
                for c in &q.gold_columns {
                    ncol_total += 1;
                    if nsel.is_some_and(|(_, cols)| cols.contains(c)) {
                        nc += 1;
                    }
                }
            }
        }
        let r = |h: [usize; 2]| h[0] as f64 / h[1].max(1) as f64;
        println!(
            "| {n} | {ncols} | {} | {:.3} / {:.3} | {:.3} / {:.3} | {:.3} | {:.3} | {:.1} | {:.1} | {:.0} / {cold_ms:.0} | {:.0} | {:.0} |",
            nq,
            r(t_hit[0]),
            r(t_hit[1]),
            r(c_hit[0]),
            r(c_hit[1]),
            nt as f64 / nq as f64,
            nc as f64 / ncol_total as f64,
            pct(&mut times.clone(), 0.5),
            pct(&mut times, 0.95),
            load_ms,
            rss,
            tokens as f64 / nq as f64
        );
    }
    println!(
        "\nLoad time by step (ms). First load: nothing cached yet; cached load: what every later command pays while context/, the snapshots and the executable are unchanged.\n\n| tables | first load | key digest | context/ YAML | snapshot from store | merge | cache write | index | cached load | key digest | cached build read | index | cache file MB |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for b in &breakdown {
        println!("{b}");
    }
    println!(
        "\nTargets (issue 4): recall ≥ 0.95 on 5k tables within 8k tokens; p95 ≤ 50 ms; load ≤ 500 ms."
    );
}
