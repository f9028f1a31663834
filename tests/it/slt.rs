//! The SQL layer as sqllogictest files (`tests/slt/*.slt`), the way DataFusion tests itself:
//! each file runs in a fresh engine over the demo lake (seed 42, anchor 2026-11-21, SQLite
//! flavour). `statement error <regex>` checks refusals; `query` checks answers.
//!
//! Regenerate expected results after a deliberate change with
//! `SKIPPER_SLT_COMPLETE=1 cargo test --test it slt`, then review the diff.

use async_trait::async_trait;
use futures::StreamExt;
use skipper::config::{Clock, Config};
use skipper::engine::{Engine, EngineError, EngineOptions};
use skipper::render::{Cell, CellFormatter};
use sqllogictest::{DBOutput, DefaultColumnType};
use std::path::{Path, PathBuf};

struct SkipperDb {
    engine: Engine,
    cells: CellFormatter,
}

#[async_trait]
impl sqllogictest::AsyncDB for SkipperDb {
    type Error = EngineError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, EngineError> {
        let statements = self.engine.check(sql, false)?;
        let planned = self.engine.plan(&statements[0]).await?;
        let mut stream = self.engine.execute(&planned)?;
        let types = planned
            .schema
            .fields()
            .iter()
            .map(|f| {
                if f.data_type().is_integer() {
                    DefaultColumnType::Integer
                } else if f.data_type().is_floating() || f.data_type().is_numeric() {
                    DefaultColumnType::FloatingPoint
                } else {
                    DefaultColumnType::Text
                }
            })
            .collect();
        let mut rows = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| skipper::engine::query_error(&e))?;
            for r in 0..batch.num_rows() {
                rows.push(
                    batch
                        .columns()
                        .iter()
                        .map(|c| match self.cells.cell(c.as_ref(), r) {
                            Cell::Null => "NULL".to_string(),
                            Cell::Text(t) if t.is_empty() => "(empty)".to_string(),
                            other => other.text(),
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "skipper"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn sqllogictest_files() {
    let home = crate::harness::demo_home();
    let config = Config::load(&crate::harness::demo_config(home.path())).unwrap();
    let complete = std::env::var_os("SKIPPER_SLT_COMPLETE").is_some();
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files in tests/slt");
    for file in files {
        let config = config.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let config = config.clone();
            async move {
                let options = EngineOptions {
                    clock: Some(Clock::parse("2026-11-21T12:00:00Z").unwrap()),
                    ..Default::default()
                };
                Ok(SkipperDb {
                    engine: Engine::open(&config, &options).await?,
                    cells: CellFormatter::new(chrono_tz::Tz::UTC),
                })
            }
        });
        if complete {
            runner
                .update_test_file(
                    &file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        } else if let Err(e) = runner.run_file_async(&file).await {
            panic!("{}:\n{}", file.display(), e.display(true));
        }
    }
}
