//! Importing a dbt project's `target/manifest.json`: models, seeds, snapshots and sources with
//! their descriptions and column descriptions, `depends_on` lineage, and each model's compiled
//! SQL (parsed for column lineage by the catalog). A dbt relation is matched to a Skipper table
//! by `schema.name` (dbt's `alias`/`identifier` when set); dbt's `database` is not used, as
//! Skipper names sources itself.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct DbtImport {
    /// The manifest's path, for messages.
    pub path: String,
    pub models: Vec<DbtNode>,
}

#[derive(Debug, Clone)]
pub struct DbtNode {
    pub unique_id: String,
    /// model, seed, snapshot or source.
    pub kind: String,
    /// `schema.name` as the warehouse knows it.
    pub relation: String,
    pub description: Option<String>,
    /// (column, description).
    pub columns: Vec<(String, String)>,
    /// unique ids of upstream nodes.
    pub depends_on: Vec<String>,
    pub compiled_sql: Option<String>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    nodes: BTreeMap<String, Node>,
    #[serde(default)]
    sources: BTreeMap<String, Node>,
}

#[derive(Deserialize)]
struct Node {
    resource_type: String,
    name: String,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    identifier: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    columns: BTreeMap<String, NodeColumn>,
    #[serde(default)]
    depends_on: Option<DependsOn>,
    /// dbt ≥ 1.3; older manifests call it `compiled_sql`.
    #[serde(default)]
    compiled_code: Option<String>,
    #[serde(default)]
    compiled_sql: Option<String>,
}

#[derive(Deserialize)]
struct NodeColumn {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct DependsOn {
    #[serde(default)]
    nodes: Vec<String>,
}

/// Read a manifest. Tests and other non-relation nodes are skipped.
pub fn load(path: &Path) -> Result<DbtImport, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read dbt manifest {}: {e}", path.display()))?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a dbt manifest: {e}", path.display()))?;
    let mut models = Vec::new();
    for (id, n) in m.nodes.into_iter().chain(m.sources) {
        if !matches!(
            n.resource_type.as_str(),
            "model" | "seed" | "snapshot" | "source"
        ) {
            continue;
        }
        let table = n.alias.or(n.identifier).unwrap_or_else(|| n.name.clone());
        let relation = match &n.schema {
            Some(s) => format!("{s}.{table}"),
            None => table,
        };
        models.push(DbtNode {
            unique_id: id,
            kind: n.resource_type,
            relation,
            description: n.description.filter(|d| !d.trim().is_empty()),
            columns: n
                .columns
                .into_values()
                .map(|c| (c.name, c.description.unwrap_or_default()))
                .collect(),
            depends_on: n.depends_on.map(|d| d.nodes).unwrap_or_default(),
            compiled_sql: n.compiled_code.or(n.compiled_sql),
        });
    }
    Ok(DbtImport {
        path: path.display().to_string(),
        models,
    })
}
