//! `--explain`: which part of a query runs in which source, and the SQL each remote source
//! receives, read off the physical plan that will actually execute.

use datafusion::physical_plan::{ExecutionPlan, displayable};
use datafusion_federation::sql::VirtualExecutionPlan;
use serde::Serialize;
use std::collections::HashMap;

/// One part of the plan that runs inside a remote source.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RemoteFragment {
    /// The source's configured name.
    pub source: String,
    /// The SQL sent to it, in its dialect.
    pub sql: String,
}

/// The whole answer to "where does this run".
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub remote: Vec<RemoteFragment>,
    /// Local file scans (Parquet/CSV/JSON) DataFusion runs itself.
    pub local_scans: Vec<String>,
    /// The physical plan, indented, as DataFusion prints it.
    pub plan: String,
}

/// `with_metrics`: the plan has run; print each operator's counters (rows, time, bytes, what
/// its filters pruned) as DataFusion's `EXPLAIN ANALYZE` does.
pub(super) fn explain(
    plan: &dyn ExecutionPlan,
    contexts: &HashMap<String, String>,
    with_metrics: bool,
) -> Explanation {
    let mut remote = Vec::new();
    let mut local_scans = Vec::new();
    walk(plan, contexts, &mut remote, &mut local_scans);
    let shown = if with_metrics {
        datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(plan)
    } else {
        displayable(plan)
    };
    Explanation {
        remote,
        local_scans,
        plan: shown.indent(true).to_string(),
    }
}

fn walk(
    plan: &dyn ExecutionPlan,
    contexts: &HashMap<String, String>,
    remote: &mut Vec<RemoteFragment>,
    local: &mut Vec<String>,
) {
    if let Some(q) = plan.downcast_ref::<super::pgread::PgQueryExec>() {
        let sql = if q.partitions() > 1 {
            format!(
                "{} -- one of {} ctid ranges read in parallel",
                q.sql(),
                q.partitions()
            )
        } else {
            q.sql().to_string()
        };
        remote.push(RemoteFragment {
            source: q.source().to_string(),
            sql,
        });
        return;
    }
    if let Some(scan) = plan.downcast_ref::<super::scan::SourceScanExec>() {
        remote.push(RemoteFragment {
            source: scan.source().to_string(),
            sql: scan.sql(),
        });
        return;
    }
    if let Some(v) = plan.downcast_ref::<VirtualExecutionPlan>() {
        let executor = v.executor();
        let source = executor
            .compute_context()
            .and_then(|c| contexts.get(&c).cloned())
            .unwrap_or_else(|| executor.name().to_string());
        let line = displayable(plan).one_line().to_string();
        remote.push(RemoteFragment {
            source,
            sql: final_sql(&line),
        });
        return;
    }
    if let Some(shared) = plan.downcast_ref::<super::share::SharedExec>() {
        // Each occurrence of a shared subplan names it; it runs, and is listed, once.
        let mut inner_remote = Vec::new();
        let mut inner_local = Vec::new();
        walk(
            shared.input().as_ref(),
            contexts,
            &mut inner_remote,
            &mut inner_local,
        );
        for r in inner_remote {
            if !remote
                .iter()
                .any(|x| x.source == r.source && x.sql == r.sql)
            {
                remote.push(r);
            }
        }
        for l in inner_local {
            if !local.contains(&l) {
                local.push(l);
            }
        }
        return;
    }
    let line = displayable(plan).one_line().to_string();
    if line.starts_with("DataSourceExec") && line.contains("file_groups") {
        local.push(line.trim().to_string());
    }
    for child in plan.children() {
        walk(child.as_ref(), contexts, remote, local);
    }
}

/// The federation node prints the SQL at each rewriting stage; the last one is what is sent.
fn final_sql(line: &str) -> String {
    let markers = [
        " base_sql=",
        " rewritten_logical_sql=",
        " rewritten_executor_sql=",
        " rewritten_ast_analyzer=",
        " rewritten_sql_query=",
    ];
    let mut best: Option<(usize, &str)> = None;
    for m in markers {
        if let Some(pos) = line.rfind(m)
            && best.is_none_or(|(p, _)| pos > p)
        {
            best = Some((pos, m));
        }
    }
    match best {
        Some((pos, m)) => {
            let rest = &line[pos + m.len()..];
            // Any later marker ends this stage's SQL.
            let end = markers
                .iter()
                .filter_map(|mm| rest.find(mm))
                .min()
                .unwrap_or(rest.len());
            rest[..end].trim().to_string()
        }
        None => line.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_last_rewrite() {
        let line = "VirtualExecutionPlan name=pg compute_context=x base_sql=SELECT a FROM t rewritten_executor_sql=SELECT \"a\" FROM \"t\"";
        assert_eq!(final_sql(line), "SELECT \"a\" FROM \"t\"");
        assert_eq!(
            final_sql("VirtualExecutionPlan name=pg base_sql=SELECT 1"),
            "SELECT 1"
        );
    }
}
