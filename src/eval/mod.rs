//! Golden question sets: the file format, loading with `file:line` errors, and the chains a run
//! walks (a question and its follow-ups, asked in one conversation).
//!
//! ```yaml
//! version: 1
//! name: demo
//! now: 2026-11-22T12:00:00Z        # the instant the expected answers hold for
//! demo: {anchor: 2026-11-21, seed: 42}   # run on this demo lake when no config is given
//! questions:
//!   - id: rev-by-tier-oct
//!     question: revenue by plan tier in October
//!     category: joins
//!     gold: SELECT … ORDER BY …    # or expected_rows: [[enterprise, 1234.5], …]
//!     alternatives: [SELECT …]     # other accepted answers
//!     tolerance: 0.001             # relative, for numbers
//!     ordered: false               # default: the gold query's (or question's) ordering
//!     then:                        # follow-ups in the same conversation
//!       - {id: rev-by-tier-oct.enterprise, question: only enterprise, gold: …}
//!   - {id: churn, question: what is our churn rate, abstain: true}
//! ```

pub mod import;
pub mod report;
pub mod score;

use crate::catalog::Pos;
use serde::Deserialize;
use std::path::Path;

pub const EVAL_VERSION: u32 = 1;

/// One eval file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSet {
    pub version: u32,
    /// Names the set in reports and in recording keys (default: the file's stem).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The pinned "now" the expected answers hold for (RFC 3339); `SKIPPER_NOW` for the run.
    #[serde(default)]
    pub now: Option<String>,
    /// The zone time phrases are read in (default: the configuration's, else UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// The demo lake the set was written against, used when no configuration is given.
    #[serde(default)]
    pub demo: Option<DemoPin>,
    /// Defaults for every question.
    #[serde(default)]
    pub defaults: Defaults,
    pub questions: Vec<Item>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoPin {
    /// YYYY-MM-DD
    pub anchor: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    42
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// The user questions run as (for the access-control work).
    #[serde(default)]
    pub user: Option<String>,
}

/// One golden question.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: String,
    pub question: String,
    #[serde(default)]
    pub category: Option<String>,
    /// The gold SQL, run at eval time on the same lake.
    #[serde(default)]
    pub gold: Option<String>,
    /// Other SQL whose result is also accepted.
    #[serde(default)]
    pub alternatives: Vec<String>,
    /// Expected rows instead of (or as well as) gold SQL; cells are compared as text or numbers.
    #[serde(default)]
    pub expected_rows: Option<Vec<Vec<Option<String>>>>,
    /// The agent must decline: the data cannot answer this.
    #[serde(default)]
    pub abstain: bool,
    /// The agent must refuse (a write, or data the user may not see).
    #[serde(default)]
    pub refuse: bool,
    /// Relative tolerance for numbers (default 1e-6).
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// Whether row order matters (default: when the gold query or the question orders).
    #[serde(default)]
    pub ordered: Option<bool>,
    /// The user this question runs as.
    #[serde(default)]
    pub user: Option<String>,
    /// Free text for the reader of the set.
    #[serde(default)]
    pub note: Option<String>,
    /// Follow-ups, asked in order in the same conversation.
    #[serde(default)]
    pub then: Vec<Item>,
    /// Where the item starts in its file (filled in after parsing).
    #[serde(skip)]
    pub pos: Option<Pos>,
}

/// What an item expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Rows,
    Abstain,
    Refuse,
}

impl Item {
    pub fn expect(&self) -> Expect {
        if self.refuse {
            Expect::Refuse
        } else if self.abstain {
            Expect::Abstain
        } else {
            Expect::Rows
        }
    }

    pub fn category(&self) -> &str {
        self.category.as_deref().unwrap_or("uncategorised")
    }
}

/// A loaded set: its items, and the file it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: String,
    pub set: EvalSet,
}

impl Loaded {
    pub fn name(&self) -> String {
        self.set.name.clone().unwrap_or_else(|| {
            Path::new(&self.path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "eval".into())
        })
    }

    /// Chains: each top-level question with its follow-ups, in order.
    pub fn chains(&self) -> Vec<Vec<&Item>> {
        fn walk<'a>(i: &'a Item, out: &mut Vec<&'a Item>) {
            out.push(i);
            for t in &i.then {
                walk(t, out);
            }
        }
        self.set
            .questions
            .iter()
            .map(|q| {
                let mut v = Vec::new();
                walk(q, &mut v);
                v
            })
            .collect()
    }
}

/// A problem with an eval file, at its place.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct LoadError {
    pub pos: Pos,
    pub message: String,
}

/// Read and check one eval file.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        pos: Pos::file(&name),
        message: format!("cannot read: {e}"),
    })?;
    parse(&name, &text)
}

/// Parse and check eval YAML; `name` is used in error positions.
pub fn parse(name: &str, text: &str) -> Result<Loaded, LoadError> {
    let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true);
    let at = |m: Option<marked_yaml::Marker>| match m {
        Some(m) => Pos {
            file: name.to_string(),
            line: m.line(),
            column: m.column(),
        },
        None => Pos::file(name),
    };
    let mut set: EvalSet = marked_yaml::from_yaml_with_options(0, text, options).map_err(|e| {
        let (m, message) = crate::catalog::load::yaml_error(&e);
        let mut pos = at(m);
        if let marked_yaml::FromYamlError::FromNode(ne) = &e
            && let marked_yaml::Error::UnknownFieldError(field, _, _) = &**ne
        {
            crate::catalog::load::refine_to_key(&mut pos, text, field);
        }
        LoadError { pos, message }
    })?;
    // Each item's line: the line of its `id:` key, found in file order.
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start_matches([' ', '-', '{']);
            t.starts_with("id:")
        })
        .map(|(i, l)| {
            (
                i + 1,
                l.len() - l.trim_start_matches([' ', '-', '{']).len() + 1,
            )
        });
    fn place(items: &mut [Item], name: &str, lines: &mut dyn Iterator<Item = (usize, usize)>) {
        for i in items {
            i.pos = lines.next().map(|(line, column)| Pos {
                file: name.to_string(),
                line,
                column,
            });
            place(&mut i.then, name, lines);
        }
    }
    place(&mut set.questions, name, &mut lines);
    let err = |pos: Option<&Pos>, message: String| LoadError {
        pos: pos.cloned().unwrap_or_else(|| Pos::file(name)),
        message,
    };
    if set.version != EVAL_VERSION {
        return Err(err(
            None,
            format!(
                "version {} is not supported (this Skipper reads version {EVAL_VERSION})",
                set.version
            ),
        ));
    }
    if let Some(now) = &set.now {
        crate::config::Clock::parse(now).map_err(|e| err(None, format!("now: {e}")))?;
    }
    if let Some(d) = &set.demo {
        chrono::NaiveDate::parse_from_str(&d.anchor, "%Y-%m-%d").map_err(|_| {
            err(
                None,
                format!("demo.anchor '{}' is not YYYY-MM-DD", d.anchor),
            )
        })?;
    }
    if set.questions.is_empty() {
        return Err(err(None, "no questions".into()));
    }
    let loaded = Loaded {
        path: name.to_string(),
        set,
    };
    let mut seen = std::collections::HashSet::new();
    for chain in loaded.chains() {
        for i in chain {
            let p = i.pos.as_ref();
            if i.id.trim().is_empty() {
                return Err(err(p, "an empty id".into()));
            }
            if !seen.insert(i.id.clone()) {
                return Err(err(p, format!("duplicate id '{}'", i.id)));
            }
            if i.question.trim().is_empty() {
                return Err(err(p, format!("{}: the question is empty", i.id)));
            }
            let has_answer = i.gold.is_some() || i.expected_rows.is_some();
            match i.expect() {
                Expect::Rows if !has_answer => {
                    return Err(err(
                        p,
                        format!(
                            "{}: no gold SQL or expected_rows (or mark it abstain: true / refuse: true)",
                            i.id
                        ),
                    ));
                }
                Expect::Abstain | Expect::Refuse if has_answer => {
                    return Err(err(
                        p,
                        format!(
                            "{}: a question to abstain on or refuse has no gold answer",
                            i.id
                        ),
                    ));
                }
                _ => {}
            }
            if i.abstain && i.refuse {
                return Err(err(
                    p,
                    format!("{}: abstain and refuse are exclusive", i.id),
                ));
            }
            if let Some(t) = i.tolerance
                && !(0.0..1.0).contains(&t)
            {
                return Err(err(p, format!("{}: tolerance {t} must be in [0, 1)", i.id)));
            }
        }
    }
    Ok(loaded)
}

/// Whether `filter` (an id, an id prefix ending in `*`, or a category) selects `item`.
pub fn selected(item: &Item, filters: &[String]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| {
            f == &item.id
                || f.eq_ignore_ascii_case(item.category())
                || f.strip_suffix('*').is_some_and(|p| item.id.starts_with(p))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version: 1
now: 2026-11-22T12:00:00Z
questions:
  - id: a
    question: how many accounts
    category: lookup
    gold: SELECT count(*) FROM accounts
    then:
      - id: a.2
        question: only enterprise
        gold: SELECT count(*) FROM accounts WHERE plan_tier = 'enterprise'
  - id: b
    question: churn rate
    abstain: true
";

    #[test]
    fn a_good_file_loads_with_chains_and_places() {
        let l = parse("good.yaml", GOOD).unwrap();
        assert_eq!(l.name(), "good");
        let chains = l.chains();
        assert_eq!(chains.len(), 2);
        assert_eq!(
            chains[0].iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["a", "a.2"]
        );
        assert_eq!(chains[1][0].expect(), Expect::Abstain);
        assert_eq!(chains[0][1].pos.as_ref().unwrap().line, 9);
        assert_eq!(chains[1][0].pos.as_ref().unwrap().line, 12);
    }

    #[test]
    fn bad_files_say_file_and_line() {
        let cases = [
            (
                GOOD.replace("    category: lookup", "    categry: lookup"),
                "good.yaml:6:",
                "categry",
            ),
            (
                GOOD.replace("id: b", "id: a"),
                "good.yaml:12:",
                "duplicate id 'a'",
            ),
            (
                GOOD.replace("    abstain: true\n", ""),
                "good.yaml:12:",
                "no gold SQL",
            ),
            (
                GOOD.replace("version: 1", "version: 7"),
                "good.yaml",
                "version 7",
            ),
            (
                GOOD.replace("  - id: b", "  - id: b\n  bad: [unclosed"),
                "good.yaml:",
                "",
            ),
        ];
        for (text, at, what) in cases {
            let e = parse("good.yaml", &text).unwrap_err().to_string();
            assert!(e.starts_with(at), "{e}");
            assert!(e.contains(what), "{e}");
        }
    }

    #[test]
    fn filters_pick_ids_prefixes_and_categories() {
        let l = parse("good.yaml", GOOD).unwrap();
        let a = &l.set.questions[0];
        assert!(selected(a, &[]));
        assert!(selected(a, &["a".into()]));
        assert!(selected(a, &["LOOKUP".into()]));
        assert!(selected(a, &["a*".into()]));
        assert!(!selected(a, &["b".into()]));
    }
}
