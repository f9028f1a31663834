//! The engine's own physical-plan tuning, seen from the command line: answers unchanged, and
//! `--explain --analyze` shows the work it saved.

use crate::harness::{home_with_config, run, skipper};
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

const DIM: i64 = 200_000;
const FACT: i64 = 500_000;

fn write_parquet(path: &Path, batch: RecordBatch) {
    crate::harness::write_parquet(path, [batch]);
}

/// `dim(id, tag)`: tag 'x' on one id in a thousand; `fact(id, v)`: v = row number, id = v % DIM.
fn lake(dir: &Path) {
    let ids: Vec<i64> = (0..DIM).collect();
    let tags: Vec<&str> = ids
        .iter()
        .map(|i| if i % 1000 == 7 { "x" } else { "y" })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("tag", DataType::Utf8, false),
    ]));
    write_parquet(
        &dir.join("dim/part-0.parquet"),
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(tags)),
            ],
        )
        .unwrap(),
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    write_parquet(
        &dir.join("fact/part-0.parquet"),
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values((0..FACT).map(|v| v % DIM))),
                Arc::new(Int64Array::from_iter_values(0..FACT)),
            ],
        )
        .unwrap(),
    );
}

/// A join whose probe side aggregates first (TPC-H q17's shape): the join's dynamic filter is
/// applied before the aggregation, which then sees the selected ids' rows only.
#[test]
fn dynamic_filters_cut_an_aggregation_below_a_join() {
    let data = tempfile::tempdir().unwrap();
    lake(data.path());
    let home = home_with_config(&format!(
        "[engine]\nthreads = 2\n[sources.lake]\nkind = \"parquet\"\npath = \"{}\"\n",
        data.path().display()
    ));
    let query = "SELECT d.id, f.total FROM lake.main.dim d \
                 JOIN (SELECT id, sum(v) AS total FROM lake.main.fact GROUP BY id) f \
                 ON d.id = f.id WHERE d.tag = 'x' ORDER BY 1";
    let r = run(skipper(home.path()).args(["sql", "--format", "csv", query]));
    assert_eq!(r.code, 0, "{r:?}");
    let mut expected = String::from("id,total\n");
    for id in (0..DIM).filter(|i| i % 1000 == 7) {
        let total: i64 = (0..FACT).filter(|v| v % DIM == id).sum();
        expected.push_str(&format!("{id},{total}\n"));
    }
    assert_eq!(r.stdout, expected);

    let r = run(skipper(home.path()).args([
        "sql",
        "--explain",
        "--analyze",
        "--format",
        "json",
        query,
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let plan = v["plan"].as_str().unwrap();
    assert!(plan.contains("EarlyFilterExec: DynamicFilter"), "{plan}");
    // The partial aggregation saw only the 200 selected ids' rows (500 = 2.5 per id, per
    // partition at most), not 500,000: a plain number, not "K" or "M".
    let partial = plan
        .lines()
        .find(|l| l.contains("AggregateExec: mode=Partial"))
        .unwrap();
    let rows = partial
        .split("output_rows=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap();
    assert!(rows.parse::<u64>().is_ok_and(|n| n <= 500), "{partial}");
}

/// `--analyze` needs `--explain`; bad combinations are usage errors (exit 2).
#[test]
fn analyze_needs_explain() {
    let home = home_with_config("");
    let r = run(skipper(home.path()).args(["sql", "--analyze", "SELECT 1"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--explain"), "{r:?}");
}

fn lake_home() -> (tempfile::TempDir, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    lake(data.path());
    let home = home_with_config(&format!(
        "[engine]\nthreads = 2\n[sources.lake]\nkind = \"parquet\"\npath = \"{}\"\n",
        data.path().display()
    ));
    (data, home)
}

fn plan_of(home: &Path, query: &str) -> String {
    let r = run(skipper(home).args(["sql", "--explain", "--format", "json", query]));
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    v["plan"].as_str().unwrap().to_string()
}

/// A CTE referenced twice (TPC-H q15's shape) is computed once and read by both references;
/// the answer is the one computed here independently.
#[test]
fn a_cte_used_twice_is_computed_once() {
    let (_data, home) = lake_home();
    let query = "WITH t AS (SELECT id % 10 AS g, sum(v) AS s FROM lake.main.fact GROUP BY 1) \
                 SELECT g, s FROM t WHERE s = (SELECT max(s) FROM t)";
    let plan = plan_of(home.path(), query);
    assert_eq!(plan.matches("SharedExec: id=1").count(), 2, "{plan}");
    let r = run(skipper(home.path()).args(["sql", "--format", "csv", query]));
    assert_eq!(r.code, 0, "{r:?}");
    let mut sums = [0i64; 10];
    for v in 0..FACT {
        sums[((v % DIM) % 10) as usize] += v;
    }
    let max = *sums.iter().max().unwrap();
    let g = sums.iter().position(|s| *s == max).unwrap();
    assert_eq!(r.stdout, format!("g,s\n{g},{max}\n"));
}

/// Volatile subplans are not shared (each reference draws its own values), and recursive
/// queries, whose subplans run once per iteration, are left alone.
#[test]
fn volatile_and_recursive_subplans_are_not_shared() {
    let (_data, home) = lake_home();
    let volatile = "WITH t AS (SELECT id % 10 AS g, max(v) * random() AS s FROM lake.main.fact GROUP BY 1) \
                    SELECT count(*) FROM t a JOIN t b ON a.g = b.g WHERE a.s <> b.s";
    let plan = plan_of(home.path(), volatile);
    // The deterministic aggregate below may be shared; `random()` is drawn at each reference.
    assert_eq!(
        plan.lines()
            .filter(|l| l.contains("random()") && !l.contains("SharedExec"))
            .count(),
        2,
        "{plan}"
    );
    assert!(
        !plan
            .lines()
            .any(|l| l.contains("SharedExec") && l.contains("random()")),
        "{plan}"
    );
    let recursive = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) \
                     SELECT sum(n) AS total FROM r";
    let r = run(skipper(home.path()).args(["sql", "--format", "csv", recursive]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "total\n15\n");
}

/// A shared result is held in memory and charged to the pool: over `memory_limit` the query
/// fails cleanly (exit 5, the shared plan named), rather than using memory nobody accounted.
#[test]
fn a_shared_result_over_the_memory_limit_is_a_clean_error() {
    let data = tempfile::tempdir().unwrap();
    lake(data.path());
    // max, not sum: a sum of bigints is an exact numeric with a larger state per group, and the
    // aggregation, not the shared result, would then be first to run out of this small pool.
    let query = "WITH t AS (SELECT id, max(v) AS s FROM lake.main.fact GROUP BY id) \
                 SELECT (SELECT count(*) FROM t WHERE s > 10) AS a, \
                 (SELECT count(*) FROM t WHERE s > 20) AS b";
    let home = |limit: &str| {
        home_with_config(&format!(
            "[engine]\nthreads = 2\nmemory_limit = \"{limit}\"\n\
             [sources.lake]\nkind = \"parquet\"\npath = \"{}\"\n",
            data.path().display()
        ))
    };
    let small = home("1MB");
    let r = run(skipper(small.path()).args(["sql", "--format", "csv", query]));
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("SharedExec"), "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    let enough = home("64MB");
    let r = run(skipper(enough.path()).args(["sql", "--format", "csv", query]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, format!("a,b\n{DIM},{DIM}\n"));
}

/// In-memory inputs (`VALUES`) print only their sizes, so equal-looking subplans over different
/// values must not be shared (they were, before this test: `3,3` and a wrong join).
#[test]
fn subplans_over_different_values_are_not_confused() {
    let home = home_with_config("");
    let r = run(skipper(home.path()).args([
        "sql",
        "--format",
        "csv",
        "SELECT (SELECT sum(x) FROM (VALUES (1),(2)) t(x)) AS a, \
         (SELECT sum(x) FROM (VALUES (3),(4)) t(x)) AS b",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "a,b\n3,7\n");
    let r = run(skipper(home.path()).args([
        "sql",
        "--format",
        "csv",
        "SELECT a.g, a.n AS an, b.n AS bn FROM \
         (SELECT x % 2 AS g, count(*) AS n FROM (VALUES (1),(2),(3)) t(x) GROUP BY 1) a JOIN \
         (SELECT x % 2 AS g, count(*) AS n FROM (VALUES (5),(7),(9)) t(x) GROUP BY 1) b \
         ON a.g = b.g",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "g,an,bn\n1,2,3\n");
}

/// A small snowflake written as Parquet: `region(r_id, r_name)` 5 rows, `nation(n_id,
/// n_region)` 25, `cust(c_id, c_nation)` 20,000, `ord(o_id, o_cust, o_amt)` 100,000, each key
/// the row number modulo the parent's size, so an order's region is `o_id % 5`.
fn snowflake(dir: &Path) {
    let ints = |name: &str| Field::new(name, DataType::Int64, false);
    let table =
        |name: &str, fields: Vec<Field>, cols: Vec<Arc<dyn datafusion::arrow::array::Array>>| {
            write_parquet(
                &dir.join(format!("{name}/part-0.parquet")),
                RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap(),
            )
        };
    table(
        "region",
        vec![ints("r_id"), Field::new("r_name", DataType::Utf8, false)],
        vec![
            Arc::new(Int64Array::from_iter_values(0..5)),
            Arc::new(StringArray::from_iter_values(
                (0..5).map(|i| format!("R{i}")),
            )),
        ],
    );
    table(
        "nation",
        vec![ints("n_id"), ints("n_region")],
        vec![
            Arc::new(Int64Array::from_iter_values(0..25)),
            Arc::new(Int64Array::from_iter_values((0..25).map(|i| i % 5))),
        ],
    );
    table(
        "cust",
        vec![ints("c_id"), ints("c_nation")],
        vec![
            Arc::new(Int64Array::from_iter_values(0..20_000)),
            Arc::new(Int64Array::from_iter_values((0..20_000).map(|i| i % 25))),
        ],
    );
    table(
        "ord",
        vec![ints("o_id"), ints("o_cust"), ints("o_amt")],
        vec![
            Arc::new(Int64Array::from_iter_values(0..100_000)),
            Arc::new(Int64Array::from_iter_values(
                (0..100_000).map(|i| i % 20_000),
            )),
            Arc::new(Int64Array::from_iter_values(0..100_000)),
        ],
    );
}

/// How many hash joins lie above the scan of `table` in an indented plan.
fn joins_above(plan: &str, table: &str) -> usize {
    let lines: Vec<&str> = plan.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("DataSourceExec") && l.contains(&format!("/{table}/")))
        .unwrap_or_else(|| panic!("no scan of {table} in {plan}"));
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut depth = indent(lines[at]);
    let mut joins = 0;
    for l in lines[..at].iter().rev() {
        if indent(l) < depth {
            depth = indent(l);
            joins += usize::from(l.trim_start().starts_with("HashJoinExec"));
        }
    }
    joins
}

/// Inner joins written fact-first (TPC-H q05's shape) are reordered from the table statistics
/// so that the selective region filter is joined first and the fact table probes last; the
/// answers, including one with a condition spanning two tables, are the ones computed here.
#[test]
fn inner_joins_are_ordered_by_estimated_size() {
    let data = tempfile::tempdir().unwrap();
    snowflake(data.path());
    let home = home_with_config(&format!(
        "[engine]\nthreads = 2\n[sources.lake]\nkind = \"parquet\"\npath = \"{}\"\n",
        data.path().display()
    ));
    let query = "SELECT r_name, count(*) AS n, sum(o_amt) AS amt \
                 FROM lake.main.ord, lake.main.cust, lake.main.nation, lake.main.region \
                 WHERE o_cust = c_id AND c_nation = n_id AND n_region = r_id AND r_name = 'R2' \
                 GROUP BY r_name";
    let plan = plan_of(home.path(), query);
    // Written order: ord ⋈ cust ⋈ nation ⋈ region, ord under all three joins. Chosen:
    // region ⋈ nation ⋈ cust first, ord probing the last join only.
    assert_eq!(joins_above(&plan, "ord"), 1, "{plan}");
    assert_eq!(joins_above(&plan, "region"), 3, "{plan}");
    let r = run(skipper(home.path()).args(["sql", "--format", "csv", query]));
    assert_eq!(r.code, 0, "{r:?}");
    let amt: i64 = (0..100_000i64).filter(|o| o % 5 == 2).sum();
    assert_eq!(r.stdout, format!("r_name,n,amt\nR2,20000,{amt}\n"));

    // A residual condition over two of the inputs (q07's shape) is kept.
    let query = "SELECT count(*) AS n FROM lake.main.ord, lake.main.cust, lake.main.nation, \
                 lake.main.region WHERE o_cust = c_id AND c_nation = n_id AND n_region = r_id \
                 AND (r_name = 'R1' AND o_amt < 50000 OR r_name = 'R3' AND n_id > 10)";
    let r = run(skipper(home.path()).args(["sql", "--format", "csv", query]));
    assert_eq!(r.code, 0, "{r:?}");
    let n = (0..100_000i64)
        .filter(|o| {
            let nation = (o % 20_000) % 25;
            let region = nation % 5;
            (region == 1 && *o < 50_000) || (region == 3 && nation > 10)
        })
        .count();
    assert_eq!(r.stdout, format!("n\n{n}\n"));
}

/// `items(k, q, p)`: 200,000 rows, k = i % 2000, q = (i / 2000) % 50 + 1 and p = i / 100 as
/// decimal(15,2); `parts(pk, brand)`: 2000 rows, brand 'B7' on one part in a hundred.
fn items_and_parts(dir: &Path) {
    let rows = 200_000i64;
    let dec = |v: Vec<i128>| {
        Arc::new(
            datafusion::arrow::array::Decimal128Array::from(v)
                .with_precision_and_scale(15, 2)
                .unwrap(),
        ) as Arc<dyn datafusion::arrow::array::Array>
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("q", DataType::Decimal128(15, 2), false),
        Field::new("p", DataType::Decimal128(15, 2), false),
    ]));
    write_parquet(
        &dir.join("items/part-0.parquet"),
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i % 2000))),
                dec((0..rows)
                    .map(|i| (((i / 2000) % 50 + 1) * 100) as i128)
                    .collect()),
                dec((0..rows).map(|i| i as i128).collect()),
            ],
        )
        .unwrap(),
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("pk", DataType::Int64, false),
        Field::new("brand", DataType::Utf8, false),
    ]));
    write_parquet(
        &dir.join("parts/part-0.parquet"),
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..2000)),
                Arc::new(StringArray::from_iter_values(
                    (0..2000).map(|i| if i % 100 == 7 { "B7" } else { "B0" }),
                )),
            ],
        )
        .unwrap(),
    );
}

/// A correlated aggregate over the outer query's own table (TPC-H q17's shape) is computed as
/// a window over the rows the outer join keeps: the table is read once, not twice. Where the
/// rewrite would change the answer (`sum` counts repeated rows) the plan keeps both reads. The
/// answers are the ones computed here.
#[test]
fn a_correlated_average_over_the_same_table_is_a_window() {
    let data = tempfile::tempdir().unwrap();
    items_and_parts(data.path());
    let home = home_with_config(&format!(
        "[engine]\nthreads = 2\n[sources.lake]\nkind = \"parquet\"\npath = \"{}\"\n",
        data.path().display()
    ));
    let scans = |plan: &str| {
        plan.lines()
            .filter(|l| l.contains("DataSourceExec") && l.contains("/items/"))
            .count()
    };
    // Each part's q runs over 1..=50 twice, average 25.5: q < 5.1 keeps q = 1..=5, ten items
    // of each of the 20 'B7' parts.
    let kept = |i: &i64| i % 2000 % 100 == 7 && (i / 2000) % 50 < 5;
    let query = "SELECT count(*) AS n, sum(p) AS s FROM lake.main.items, lake.main.parts \
                 WHERE pk = k AND brand = 'B7' \
                 AND q < (SELECT 0.2 * avg(q) FROM lake.main.items WHERE k = pk)";
    let plan = plan_of(home.path(), query);
    assert_eq!(scans(&plan), 1, "{plan}");
    assert!(plan.contains("WindowAggExec"), "{plan}");
    let r = run(skipper(home.path()).args(["sql", "--format", "csv", query]));
    assert_eq!(r.code, 0, "{r:?}");
    let n = (0..200_000i64).filter(kept).count();
    let s: i64 = (0..200_000i64).filter(kept).sum();
    assert_eq!(r.stdout, format!("n,s\n{n},{}.{:02}\n", s / 100, s % 100));

    // The same with min and max, and as an inner join to the aggregate.
    let query = "SELECT count(*) AS n FROM lake.main.items, lake.main.parts, \
                 (SELECT k AS g, min(q) AS lo, max(q) AS hi FROM lake.main.items GROUP BY k) m \
                 WHERE pk = k AND brand = 'B7' AND g = pk AND q > lo AND q < hi";
    let plan = plan_of(home.path(), query);
    assert_eq!(scans(&plan), 1, "{plan}");
    let r = run(skipper(home.path()).args(["sql", "--format", "csv", query]));
    assert_eq!(r.code, 0, "{r:?}");
    let n = (0..200_000i64)
        .filter(|i| i % 2000 % 100 == 7 && !matches!((i / 2000) % 50, 0 | 49))
        .count();
    assert_eq!(r.stdout, format!("n\n{n}\n"));

    // A sum over the repeated rows would differ: both reads stay.
    let query = "SELECT count(*) AS n FROM lake.main.items, lake.main.parts \
                 WHERE pk = k AND brand = 'B7' \
                 AND q * 100 < (SELECT sum(q) FROM lake.main.items WHERE k = pk)";
    let plan = plan_of(home.path(), query);
    assert_eq!(scans(&plan), 2, "{plan}");
    let r = run(skipper(home.path()).args(["sql", "--format", "csv", query]));
    assert_eq!(r.code, 0, "{r:?}");
    // Each part's sum is 2 × (1 + … + 50) = 2550: q * 100 < 2550 keeps q = 1..=25.
    let n = (0..200_000i64)
        .filter(|i| i % 2000 % 100 == 7 && (i / 2000) % 50 < 25)
        .count();
    assert_eq!(r.stdout, format!("n\n{n}\n"));
}

/// `[engine.datafusion]` sets DataFusion options after Skipper's own tuning (with or without
/// the `datafusion.` prefix; quoted, dotted or as sub-tables); an unknown key or a value of the
/// wrong type is a one-line configuration error (exit 2) naming it, and nothing runs.
#[test]
fn datafusion_options_from_the_config_apply_and_bad_ones_are_config_errors() {
    let show = |extra: &str| {
        let home = home_with_config(&format!(
            "[engine]\nthreads = 2\n[engine.datafusion]\n{extra}"
        ));
        run(skipper(home.path()).args([
            "sql",
            "--format",
            "csv",
            "SHOW datafusion.execution.batch_size",
        ]))
    };
    let r = show("\"execution.batch_size\" = 100\n");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "name,value\ndatafusion.execution.batch_size,100\n"
    );
    let r = show("\"datafusion.execution.batch_size\" = 200\n");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "name,value\ndatafusion.execution.batch_size,200\n"
    );
    // Unquoted dotted keys and sub-tables are TOML tables; their leaves are the options.
    for (extra, n) in [
        ("execution.batch_size = 300\n", 300),
        ("[engine.datafusion.execution]\nbatch_size = 400\n", 400),
        ("datafusion.execution.batch_size = 500\n", 500),
    ] {
        let r = show(extra);
        assert_eq!(r.code, 0, "{extra}: {r:?}");
        assert_eq!(
            r.stdout,
            format!("name,value\ndatafusion.execution.batch_size,{n}\n")
        );
    }
    for (bad, named) in [
        ("\"execution.nope\" = 1\n", "datafusion.execution.nope"),
        (
            "\"execution.batch_size\" = \"lots\"\n",
            "datafusion.execution.batch_size",
        ),
        ("execution.nope = 1\n", "datafusion.execution.nope"),
    ] {
        let r = show(bad);
        assert_eq!(r.code, 2, "{r:?}");
        assert!(r.stdout.is_empty(), "{r:?}");
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: [engine.datafusion] ") && first.contains(named),
            "{r:?}"
        );
        assert!(r.stderr.contains("hint: fix it in skipper.toml"), "{r:?}");
    }
}

/// One file of many row groups, large enough to be cut into more ranges than partitions
/// (`engine::morsels`): every row is read exactly once, through memory maps (the default) and
/// through `pread`s (`mmap = false`), and the plan shows the smaller ranges.
#[test]
fn a_large_file_cut_into_many_ranges_reads_every_row_once_mapped_or_not() {
    const ROWS: i64 = 1_200_000;
    let data = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let path = data.path().join("big/part-0.parquet");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let props = datafusion::parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(20_000))
        .set_dictionary_enabled(false)
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        Arc::clone(&schema),
        Some(props),
    )
    .unwrap();
    for start in (0..ROWS).step_by(100_000) {
        let ids = start..start + 100_000;
        w.write(
            &RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from_iter_values(ids.clone())),
                    Arc::new(Int64Array::from_iter_values(
                        ids.map(|i| i * 7919 % 1_000_003),
                    )),
                ],
            )
            .unwrap(),
        )
        .unwrap();
    }
    w.close().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 12 << 20);
    let expected_sum: i64 = (0..ROWS).map(|i| i * 7919 % 1_000_003).sum();
    let query = "SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(v) AS total FROM big";
    for mmap in ["true", "false"] {
        let home = home_with_config(&format!(
            "[engine]\nthreads = 2\nmmap = {mmap}\n[sources.lake]\nkind = \"parquet\"\npath = \"{}\"\n",
            data.path().display()
        ));
        let plan = plan_of(home.path(), query);
        let ranges = plan.matches("part-0.parquet:").count();
        assert!(ranges > 2, "mmap = {mmap}: {ranges} ranges in\n{plan}");
        // Three statements in one process: the first reads through per-read maps, the second
        // keeps the file mapped whole, the third reads from that kept map.
        let script = home.path().join("three.sql");
        std::fs::write(&script, format!("{query};\n").repeat(3)).unwrap();
        let r = run(skipper(home.path())
            .args(["sql", "--format", "csv", "-f"])
            .arg(&script));
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(
            r.stdout,
            format!("n,ids,total\n{ROWS},{ROWS},{expected_sum}\n").repeat(3),
            "mmap = {mmap}"
        );
    }
}
