//! What an eval run measured: one record per question, summaries per category and overall,
//! the comparison with a baseline run, and the Markdown summary.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const REPORT_VERSION: u32 = 1;

/// How one question went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The answer matches (or the agent declined or refused as it should).
    Correct,
    /// An answer that does not match, or a decline where an answer was due.
    Wrong,
    /// Offline: the compiler could not map the question (it needs a model).
    NeedsModel,
    /// The gold SQL itself failed: the eval set is broken, not the agent.
    BrokenGold,
    /// The run could not ask (no model, a missing recording): not a judgement of the agent.
    Error,
}

/// One question's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub category: String,
    pub question: String,
    /// The question this one follows up, in its chain.
    #[serde(default)]
    pub follows: Option<String>,
    pub expect: String,
    pub verdict: Verdict,
    /// Why it is not correct (or what the gold problem is).
    #[serde(default)]
    pub reason: Option<String>,
    /// The agent's status: answered, abstained, refused, …
    #[serde(default)]
    pub status: Option<String>,
    pub sql: Option<String>,
    pub gold_sql: Option<String>,
    /// The final SQL parsed and planned.
    pub valid_sql: bool,
    pub attempts: u32,
    /// Schema linking: gold tables and columns found in the context the model was shown
    /// (None offline, or when there is no gold SQL).
    pub table_recall: Option<f64>,
    pub table_precision: Option<f64>,
    pub column_recall: Option<f64>,
    pub column_precision: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Option<f64>,
    /// The replayed requests differed from their recordings.
    #[serde(default)]
    pub drift: bool,
    pub total_ms: f64,
    pub own_ms: f64,
    pub model_ms: f64,
    pub execute_ms: f64,
    /// Time per stage (context, model, parse, plan, access, execute, checks, summary), ms.
    #[serde(default)]
    pub stages: BTreeMap<String, f64>,
}

/// Totals over a group of records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub questions: usize,
    /// Questions scored (broken golds and run errors left out).
    pub scored: usize,
    pub correct: usize,
    pub accuracy: f64,
    /// Offline: the share of scored questions the compiler answered, and its accuracy on those.
    pub answered: usize,
    pub accuracy_answered: f64,
    /// Of the questions that expect rows (None when none do).
    pub valid_sql_rate: Option<f64>,
    pub mean_attempts: f64,
    pub table_recall: Option<f64>,
    pub table_precision: Option<f64>,
    pub column_recall: Option<f64>,
    pub column_precision: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Option<f64>,
    pub broken_gold: usize,
    pub errors: usize,
    pub drift: usize,
    pub total_ms_p50: f64,
    pub total_ms_p95: f64,
    pub own_ms_p50: f64,
    pub own_ms_p95: f64,
    /// Mean time per stage over the questions the agent ran, ms.
    #[serde(default)]
    pub stage_ms_mean: BTreeMap<String, f64>,
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, s) = v.fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
    (n > 0).then(|| s / n as f64)
}

fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Summary {
    pub fn of<'a>(records: impl IntoIterator<Item = &'a Record>) -> Summary {
        let all: Vec<&Record> = records.into_iter().collect();
        let scored: Vec<&Record> = all
            .iter()
            .copied()
            .filter(|r| !matches!(r.verdict, Verdict::BrokenGold | Verdict::Error))
            .collect();
        let correct = scored
            .iter()
            .filter(|r| r.verdict == Verdict::Correct)
            .count();
        let answered: Vec<&&Record> = scored
            .iter()
            .filter(|r| r.verdict != Verdict::NeedsModel)
            .collect();
        let answered_correct = answered
            .iter()
            .filter(|r| r.verdict == Verdict::Correct)
            .count();
        let with_sql: Vec<&&Record> = scored.iter().filter(|r| r.expect == "rows").collect();
        // Time only where the agent ran (not questions the offline compiler could not map).
        let ran = || scored.iter().filter(|r| r.attempts > 0);
        let totals: Vec<f64> = ran().map(|r| r.total_ms).collect();
        let owns: Vec<f64> = ran().map(|r| r.own_ms).collect();
        let costs: Vec<f64> = all.iter().filter_map(|r| r.cost).collect();
        Summary {
            questions: all.len(),
            scored: scored.len(),
            correct,
            accuracy: ratio(correct, scored.len()),
            answered: answered.len(),
            accuracy_answered: ratio(answered_correct, answered.len()),
            valid_sql_rate: (!with_sql.is_empty()).then(|| {
                ratio(
                    with_sql.iter().filter(|r| r.valid_sql).count(),
                    with_sql.len(),
                )
            }),
            mean_attempts: mean(scored.iter().map(|r| r.attempts as f64)).unwrap_or(0.0),
            table_recall: mean(scored.iter().filter_map(|r| r.table_recall)),
            table_precision: mean(scored.iter().filter_map(|r| r.table_precision)),
            column_recall: mean(scored.iter().filter_map(|r| r.column_recall)),
            column_precision: mean(scored.iter().filter_map(|r| r.column_precision)),
            prompt_tokens: all.iter().map(|r| r.prompt_tokens).sum(),
            completion_tokens: all.iter().map(|r| r.completion_tokens).sum(),
            cost: (!costs.is_empty()).then(|| costs.iter().sum()),
            broken_gold: all
                .iter()
                .filter(|r| r.verdict == Verdict::BrokenGold)
                .count(),
            errors: all.iter().filter(|r| r.verdict == Verdict::Error).count(),
            drift: all.iter().filter(|r| r.drift).count(),
            total_ms_p50: pct(&totals, 0.5),
            total_ms_p95: pct(&totals, 0.95),
            own_ms_p50: pct(&owns, 0.5),
            own_ms_p95: pct(&owns, 0.95),
            stage_ms_mean: {
                let mut m: BTreeMap<String, (f64, usize)> = BTreeMap::new();
                for r in ran() {
                    for (k, v) in &r.stages {
                        let e = m.entry(k.clone()).or_default();
                        e.0 += v;
                        e.1 += 1;
                    }
                }
                m.into_iter()
                    .map(|(k, (s, n))| (k, (s / n as f64 * 100.0).round() / 100.0))
                    .collect()
            },
        }
    }
}

/// What changed against a baseline run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Comparison {
    pub baseline: String,
    pub baseline_accuracy: f64,
    /// Correct in the baseline, not now.
    pub regressed: Vec<String>,
    /// Not correct in the baseline, correct now.
    pub fixed: Vec<String>,
    /// Questions new since the baseline.
    pub new: Vec<String>,
}

/// The whole report (`report.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    pub sets: Vec<String>,
    /// "offline", "replay" or "model".
    pub mode: String,
    pub model: Option<String>,
    pub now: Option<String>,
    pub started_at: String,
    pub overall: Summary,
    pub categories: BTreeMap<String, Summary>,
    pub records: Vec<Record>,
    #[serde(default)]
    pub comparison: Option<Comparison>,
}

impl Report {
    pub fn summarise(&mut self) {
        self.overall = Summary::of(&self.records);
        let mut cats: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
        for r in &self.records {
            cats.entry(r.category.clone()).or_default().push(r);
        }
        self.categories = cats.into_iter().map(|(k, v)| (k, Summary::of(v))).collect();
    }

    /// Compare with a baseline report.
    pub fn compare(&self, baseline: &Report, name: &str) -> Comparison {
        let before: BTreeMap<&str, Verdict> = baseline
            .records
            .iter()
            .map(|r| (r.id.as_str(), r.verdict))
            .collect();
        let mut c = Comparison {
            baseline: name.to_string(),
            baseline_accuracy: baseline.overall.accuracy,
            ..Default::default()
        };
        for r in &self.records {
            match before.get(r.id.as_str()) {
                None => c.new.push(r.id.clone()),
                Some(Verdict::Correct) if r.verdict != Verdict::Correct => {
                    c.regressed.push(r.id.clone())
                }
                Some(v) if *v != Verdict::Correct && r.verdict == Verdict::Correct => {
                    c.fixed.push(r.id.clone())
                }
                _ => {}
            }
        }
        c
    }

    /// The Markdown summary (`report.md`).
    pub fn markdown(&self) -> String {
        let pc = |x: f64| format!("{:.1}%", x * 100.0);
        let opt = |x: Option<f64>| x.map(pc).unwrap_or_else(|| "–".into());
        let mut s = format!(
            "# Skipper eval: {}\n\nmode {}{}; {} questions; started {}{}\n\n",
            self.sets.join(", "),
            self.mode,
            self.model
                .as_ref()
                .map(|m| format!(", model {m}"))
                .unwrap_or_default(),
            self.overall.questions,
            self.started_at,
            self.now
                .as_ref()
                .map(|n| format!("; now pinned at {n}"))
                .unwrap_or_default(),
        );
        s.push_str("| category | questions | accuracy | answered | valid SQL | attempts | table recall | column recall | tokens (prompt/completion) | p50 ms | p95 ms |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        let row = |name: &str, m: &Summary| {
            format!(
                "| {name} | {} | {} ({}/{}) | {} | {} | {:.2} | {} | {} | {}/{} | {:.1} | {:.1} |\n",
                m.questions,
                pc(m.accuracy),
                m.correct,
                m.scored,
                m.answered,
                opt(m.valid_sql_rate),
                m.mean_attempts,
                opt(m.table_recall),
                opt(m.column_recall),
                m.prompt_tokens,
                m.completion_tokens,
                m.total_ms_p50,
                m.total_ms_p95
            )
        };
        for (k, m) in &self.categories {
            s.push_str(&row(k, m));
        }
        s.push_str(&row("**all**", &self.overall));
        if !self.overall.stage_ms_mean.is_empty() {
            s.push_str(&format!(
                "\nMean ms per stage: {}\n",
                self.overall
                    .stage_ms_mean
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(c) = self.overall.cost {
            s.push_str(&format!("\nEstimated cost: {c:.4}\n"));
        }
        if self.overall.broken_gold > 0 {
            s.push_str(&format!(
                "\n**{} broken gold queries** (fixed in the eval set, not by the agent).\n",
                self.overall.broken_gold
            ));
        }
        if let Some(c) = &self.comparison {
            s.push_str(&format!(
                "\n## Against {}\n\naccuracy {} → {}\n\n",
                c.baseline,
                pc(c.baseline_accuracy),
                pc(self.overall.accuracy)
            ));
            for (title, ids) in [("Regressed", &c.regressed), ("Fixed", &c.fixed)] {
                s.push_str(&format!("- {title}: {}\n", list(ids)));
            }
        }
        let misses: Vec<&Record> = self
            .records
            .iter()
            .filter(|r| r.verdict != Verdict::Correct)
            .collect();
        if !misses.is_empty() {
            s.push_str("\n## Not correct\n\n| id | verdict | reason |\n|---|---|---|\n");
            for r in misses {
                s.push_str(&format!(
                    "| {} | {:?} | {} |\n",
                    r.id,
                    r.verdict,
                    r.reason
                        .as_deref()
                        .unwrap_or("")
                        .replace('|', "\\|")
                        .replace('\n', " ")
                ));
            }
        }
        s
    }
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".into()
    } else {
        ids.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, cat: &str, verdict: Verdict) -> Record {
        Record {
            id: id.into(),
            category: cat.into(),
            question: id.into(),
            follows: None,
            expect: "rows".into(),
            verdict,
            reason: None,
            status: None,
            sql: None,
            gold_sql: None,
            valid_sql: verdict == Verdict::Correct,
            attempts: 1,
            table_recall: Some(1.0),
            table_precision: Some(0.5),
            column_recall: None,
            column_precision: None,
            prompt_tokens: 10,
            completion_tokens: 2,
            cost: None,
            drift: false,
            total_ms: 1.0,
            own_ms: 1.0,
            model_ms: 0.0,
            execute_ms: 0.0,
            stages: BTreeMap::new(),
        }
    }

    fn report(records: Vec<Record>) -> Report {
        let mut r = Report {
            version: REPORT_VERSION,
            sets: vec!["t".into()],
            mode: "replay".into(),
            model: None,
            now: None,
            started_at: "x".into(),
            overall: Summary::default(),
            categories: BTreeMap::new(),
            records,
            comparison: None,
        };
        r.summarise();
        r
    }

    #[test]
    fn broken_golds_and_errors_are_not_scored() {
        let r = report(vec![
            rec("a", "x", Verdict::Correct),
            rec("b", "x", Verdict::Wrong),
            rec("c", "y", Verdict::BrokenGold),
            rec("d", "y", Verdict::Error),
            rec("e", "y", Verdict::NeedsModel),
        ]);
        assert_eq!(r.overall.questions, 5);
        assert_eq!(r.overall.scored, 3);
        assert!((r.overall.accuracy - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.overall.answered, 2);
        assert!((r.overall.accuracy_answered - 0.5).abs() < 1e-9);
        assert_eq!(r.overall.broken_gold, 1);
        assert_eq!(r.categories["x"].accuracy, 0.5);
        assert_eq!(r.overall.table_recall, Some(1.0));
        assert_eq!(r.overall.column_recall, None);
    }

    #[test]
    fn a_baseline_lists_regressed_fixed_and_new() {
        let old = report(vec![
            rec("a", "x", Verdict::Correct),
            rec("b", "x", Verdict::Wrong),
            rec("c", "x", Verdict::Correct),
        ]);
        let new = report(vec![
            rec("a", "x", Verdict::Wrong),
            rec("b", "x", Verdict::Correct),
            rec("c", "x", Verdict::Correct),
            rec("d", "x", Verdict::Correct),
        ]);
        let c = new.compare(&old, "old.json");
        assert_eq!(c.regressed, ["a"]);
        assert_eq!(c.fixed, ["b"]);
        assert_eq!(c.new, ["d"]);
        let md = Report {
            comparison: Some(c),
            ..new
        }
        .markdown();
        assert!(md.contains("- Regressed: a"), "{md}");
        assert!(md.contains("| a | Wrong |"), "{md}");
    }
}
