//! `skipper demo`: the Town Lake, the embedded default everything else is developed against.
//!
//! A relational `billing` source (SQLite file, or a Postgres database with `--postgres`) holds
//! accounts (with PII), the legacy customer-id translation, the rate card, invoices and support
//! tickets; a Parquet `lake` source holds per-minute usage events partitioned by day, their
//! hourly and daily billing rollups, and a 1% sampled copy of the events. Both live in schema
//! `main`, so the same SQL works against either flavour.
//!
//! The lake is built in a temporary folder beside the target and renamed into place, so a
//! failed or interrupted build never leaves a half-written lake; `--force` swaps the new one in
//! the same way.

pub mod model;
mod write;

use chrono::NaiveDate;
use model::Lake;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The repo's `context/` folder, compiled in and written out with the demo.
pub const CONTEXT_FILES: &[(&str, &str)] = &[
    ("README.md", include_str!("../../context/README.md")),
    ("datasets.yaml", include_str!("../../context/datasets.yaml")),
    ("models.yaml", include_str!("../../context/models.yaml")),
    ("glossary.yaml", include_str!("../../context/glossary.yaml")),
    ("lineage.yaml", include_str!("../../context/lineage.yaml")),
    (
        "annotations.yaml",
        include_str!("../../context/annotations.yaml"),
    ),
    ("examples.yaml", include_str!("../../context/examples.yaml")),
    (
        "transforms/billing_usage_hourly.sql",
        include_str!("../../context/transforms/billing_usage_hourly.sql"),
    ),
    (
        "transforms/billing_usage_daily.sql",
        include_str!("../../context/transforms/billing_usage_daily.sql"),
    ),
    (
        "transforms/invoices.sql",
        include_str!("../../context/transforms/invoices.sql"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Io(String),
    #[error("cannot load the demo into Postgres: {0}")]
    Postgres(String),
    #[error("{0}")]
    Invalid(String),
}

/// What the demo was made from; stored as `demo.json` beside its `skipper.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DemoManifest {
    pub version: u32,
    pub seed: u64,
    pub anchor_date: NaiveDate,
    pub scale: u32,
    /// `sqlite` or `postgres`.
    pub relational: String,
    pub events: usize,
    pub accounts: usize,
}

pub struct DemoRequest {
    pub dir: PathBuf,
    pub seed: u64,
    pub anchor: NaiveDate,
    pub scale: u32,
    pub force: bool,
    /// Postgres URL for the relational tables (instead of SQLite).
    pub postgres: Option<String>,
}

/// The outcome of [`ensure`].
pub enum DemoOutcome {
    Created(DemoManifest),
    Existing(DemoManifest),
}

/// The default location of the demo.
pub fn default_dir() -> PathBuf {
    crate::config::data_dir().join("demo")
}

pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("skipper.toml")
}

pub fn read_manifest(dir: &Path) -> Option<DemoManifest> {
    let text = std::fs::read_to_string(dir.join("demo.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Create the demo unless it exists (or `force`).
pub async fn ensure(req: &DemoRequest) -> Result<DemoOutcome, DemoError> {
    if !req.force
        && config_path(&req.dir).is_file()
        && let Some(m) = read_manifest(&req.dir)
    {
        return Ok(DemoOutcome::Existing(m));
    }
    build(req).await.map(DemoOutcome::Created)
}

async fn build(req: &DemoRequest) -> Result<DemoManifest, DemoError> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        DemoError::Io(format!("{what} {}: {e}", p.display()))
    };
    let parent = req
        .dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&parent).map_err(|e| io("cannot create", &parent, e))?;
    let name = req
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "demo".into());
    let tmp = parent.join(format!(".{name}.building-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io("cannot clear", &tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io("cannot create", &tmp, e))?;
    let result = fill(req, &tmp).await;
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    // Swap into place: the old lake (if any) is moved aside first, then removed.
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if req.dir.exists() {
        std::fs::rename(&req.dir, &old).map_err(|e| io("cannot move aside", &req.dir, e))?;
    }
    if let Err(e) = std::fs::rename(&tmp, &req.dir) {
        if old.exists() {
            let _ = std::fs::rename(&old, &req.dir);
        }
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(io("cannot move into place", &req.dir, e));
    }
    if old.exists() {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(manifest)
}

async fn fill(req: &DemoRequest, dir: &Path) -> Result<DemoManifest, DemoError> {
    let lake: Lake = model::generate(req.seed, req.anchor, req.scale);
    let lake_dir = dir.join("lake");
    write::parquet(&lake, &lake_dir)?;
    let relational = match &req.postgres {
        Some(url) => {
            write::postgres(&lake, url).await?;
            "postgres"
        }
        None => {
            write::sqlite(&lake, &dir.join("billing.db"))?;
            "sqlite"
        }
    };
    let ctx = dir.join("context");
    std::fs::create_dir_all(&ctx).map_err(|e| DemoError::Io(e.to_string()))?;
    for (file, text) in CONTEXT_FILES {
        let path = ctx.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DemoError::Io(e.to_string()))?;
        }
        std::fs::write(path, text).map_err(|e| DemoError::Io(e.to_string()))?;
    }
    let billing = match &req.postgres {
        Some(url) => format!(
            "[sources.billing]\nkind = \"postgres\"\nurl = {}\n",
            toml_string(url)
        ),
        None => "[sources.billing]\nkind = \"sqlite\"\npath = \"billing.db\"\n".to_string(),
    };
    let toml = format!(
        "# The Town Lake demo, made by `skipper demo` (seed {seed}, anchor {anchor}, scale {scale}).\n\
         # Paths are relative to this file.\n\n\
         {billing}\n\
         [sources.lake]\nkind = \"parquet\"\npath = \"lake\"\n",
        seed = req.seed,
        anchor = req.anchor,
        scale = req.scale,
    );
    let cfg = dir.join("skipper.toml");
    std::fs::write(&cfg, toml).map_err(|e| DemoError::Io(e.to_string()))?;
    #[cfg(unix)]
    if req.postgres.is_some() {
        // The URL may carry a password.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600));
    }
    let manifest = DemoManifest {
        version: 1,
        seed: req.seed,
        anchor_date: req.anchor,
        scale: req.scale,
        relational: relational.into(),
        events: lake.events.len(),
        accounts: lake.accounts.len(),
    };
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| DemoError::Io(e.to_string()))?;
    std::fs::write(dir.join("demo.json"), json).map_err(|e| DemoError::Io(e.to_string()))?;
    Ok(manifest)
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
