//! `skipper eval import FILE.csv`: question sets in the common CSV shape (question, query,
//! db_name, query_category, instructions; the columns of the public text-to-SQL eval sets)
//! converted to Skipper's YAML format.
//!
//! `--source-map db=source[.schema]` qualifies the tables of each gold query: a table written
//! bare (`accounts`) in a row whose db_name is `db` becomes `source.schema.accounts` (schema
//! `main` unless given), so the gold runs on Skipper's federated engine unchanged otherwise.

use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, Query, Statement, Visitor, visit_relations_mut,
};
use datafusion::sql::sqlparser::{dialect::GenericDialect, parser::Parser};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

/// db_name → (source, schema).
pub type SourceMap = BTreeMap<String, (String, String)>;

/// Parse `db=source[.schema],…`.
pub fn parse_source_map(text: &str) -> Result<SourceMap, String> {
    let mut m = SourceMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (db, target) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}' is not db=source"))?;
        let (source, schema) = target.split_once('.').unwrap_or((target, "main"));
        if db.trim().is_empty() || source.trim().is_empty() || schema.trim().is_empty() {
            return Err(format!("'{part}' is not db=source[.schema]"));
        }
        m.insert(
            db.trim().to_string(),
            (source.trim().to_string(), schema.trim().to_string()),
        );
    }
    Ok(m)
}

/// CTE names, which are not tables to qualify.
#[derive(Default)]
struct Ctes(BTreeSet<String>);

impl Visitor for Ctes {
    type Break = ();
    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(w) = &q.with {
            for c in &w.cte_tables {
                self.0.insert(c.alias.name.value.to_lowercase());
            }
        }
        ControlFlow::Continue(())
    }
}

/// Qualify the bare table names of `sql` with `source.schema`.
pub fn qualify(sql: &str, source: &str, schema: &str) -> Result<String, String> {
    use datafusion::sql::sqlparser::ast::Visit;
    let mut statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| format!("the query does not parse: {e}"))?;
    let mut ctes = Ctes::default();
    let _ = statements.visit(&mut ctes);
    let _ = visit_relations_mut(&mut statements, |name: &mut ObjectName| {
        if name.0.len() == 1
            && let ObjectNamePart::Identifier(id) = &name.0[0]
            && !ctes.0.contains(&id.value.to_lowercase())
        {
            let table = id.clone();
            name.0 = vec![
                ObjectNamePart::Identifier(Ident::new(source)),
                ObjectNamePart::Identifier(Ident::new(schema)),
                ObjectNamePart::Identifier(table),
            ];
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(statements
        .iter()
        .map(Statement::to_string)
        .collect::<Vec<_>>()
        .join(";\n"))
}

/// A YAML scalar: JSON string syntax is valid YAML and escapes everything.
fn scalar(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// Convert CSV text to eval YAML. `name` is used in error messages and ids.
pub fn convert(name: &str, csv_text: &str, map: &SourceMap) -> Result<String, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(csv_text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{name}: {e}"))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    let col = |c: &str| headers.iter().position(|h| h == c);
    let (Some(q_at), Some(sql_at)) = (col("question"), col("query")) else {
        return Err(format!(
            "{name}: needs the columns question and query (found: {})",
            headers.join(", ")
        ));
    };
    let db_at = col("db_name");
    let cat_at = col("query_category");
    let note_at = col("instructions");
    let stem = std::path::Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    let mut out = format!(
        "# Imported from {name} by `skipper eval import`.\nversion: 1\nname: {}\nquestions:\n",
        scalar(&stem)
    );
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| format!("{name}:{line}: {e}"))?;
        let field = |at: Option<usize>| at.and_then(|a| rec.get(a)).map(str::trim).unwrap_or("");
        let question = field(Some(q_at));
        let query = field(Some(sql_at));
        if question.is_empty() || query.is_empty() {
            return Err(format!("{name}:{line}: an empty question or query"));
        }
        let db = field(db_at);
        let gold = if map.is_empty() {
            query.to_string()
        } else {
            let (source, schema) = map.get(db).ok_or_else(|| {
                format!(
                    "{name}:{line}: db_name '{db}' has no --source-map entry (mapped: {})",
                    map.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?;
            qualify(query, source, schema).map_err(|e| format!("{name}:{line}: {e}"))?
        };
        let prefix = if db.is_empty() { stem.as_str() } else { db };
        let n = counts.entry(prefix.to_string()).or_default();
        *n += 1;
        out.push_str(&format!(
            "  - id: {}\n",
            scalar(&format!("{prefix}-{n:03}"))
        ));
        out.push_str(&format!("    question: {}\n", scalar(question)));
        let category = field(cat_at);
        if !category.is_empty() {
            out.push_str(&format!("    category: {}\n", scalar(category)));
        }
        out.push_str(&format!("    gold: {}\n", scalar(&gold)));
        let note = field(note_at);
        if !note.is_empty() {
            out.push_str(&format!("    note: {}\n", scalar(note)));
        }
    }
    if counts.is_empty() {
        return Err(format!("{name}: no rows"));
    }
    // What we write must load.
    super::parse(name, &out).map_err(|e| format!("the converted file does not load: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_items_with_qualified_tables() {
        let csv = "question,query,db_name,query_category,instructions\n\
            \"How many accounts, by tier?\",\"SELECT plan_tier, count(*) FROM accounts GROUP BY 1\",billing,group_by,\n\
            Open tickets,\"WITH t AS (SELECT * FROM support_tickets) SELECT count(*) FROM t JOIN x.y.z ON true\",billing,,Use status\n";
        let map = parse_source_map("billing=billing").unwrap();
        let yaml = convert("defog.csv", csv, &map).unwrap();
        let l = crate::eval::parse("out.yaml", &yaml).unwrap();
        let q = &l.set.questions;
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].id, "billing-001");
        assert_eq!(q[0].question, "How many accounts, by tier?");
        assert_eq!(q[0].category.as_deref(), Some("group_by"));
        assert!(
            q[0].gold
                .as_deref()
                .unwrap()
                .contains("FROM billing.main.accounts"),
            "{:?}",
            q[0].gold
        );
        let g1 = q[1].gold.as_deref().unwrap();
        assert!(g1.contains("FROM billing.main.support_tickets"), "{g1}");
        assert!(g1.contains("FROM t JOIN x.y.z"), "{g1}");
        assert_eq!(q[1].note.as_deref(), Some("Use status"));
    }

    #[test]
    fn bad_csv_is_named() {
        let map = parse_source_map("a=b.public").unwrap();
        assert_eq!(map["a"], ("b".to_string(), "public".to_string()));
        assert!(parse_source_map("nonsense").is_err());
        let e = convert("x.csv", "q,sql\n1,2\n", &SourceMap::new()).unwrap_err();
        assert!(e.contains("needs the columns question and query"), "{e}");
        let e = convert("x.csv", "question,query,db_name\nq,SELECT 1,other\n", &map).unwrap_err();
        assert!(e.starts_with("x.csv:2: db_name 'other'"), "{e}");
        let e = convert("x.csv", "question,query\nq,SELEC oops\n", &map).unwrap_err();
        assert!(e.contains("db_name ''"), "{e}");
    }
}
