//! Scoring by execution: a generated result matches the gold result when, for some assignment
//! of gold columns to distinct generated columns, the rows agree.
//!
//! The rules follow the execution-accuracy scoring of established text-to-SQL harnesses:
//! - column names and column order are ignored; a generated result may carry extra columns, as
//!   long as every gold column is present;
//! - row order is ignored unless the comparison is ordered (the gold query or the question
//!   orders);
//! - duplicates count: rows are compared as multisets, not sets;
//! - NULL equals NULL;
//! - numbers are equal within a relative tolerance (`|a-b| <= tol * max(|a|, |b|)`, or both
//!   within 1e-9 of each other); an integer and a float with the same value are equal;
//! - everything else is compared as its display text (dates, timestamps, strings).

use datafusion::arrow::array::Array;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use std::cmp::Ordering;

/// One value, normalised for comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Num(f64),
    Text(String),
}

impl Cell {
    /// A cell from its text (numbers are recognised; a timestamp at midnight is its date, so a
    /// `date_trunc` that returns a timestamp equals the same day as a DATE); `None` is NULL.
    pub fn from_text(t: Option<&str>) -> Cell {
        match t {
            None => Cell::Null,
            Some(s) => match s.trim().parse::<f64>() {
                Ok(n) if !s.trim().is_empty() && n.is_finite() => Cell::Num(n),
                _ => Cell::Text(midnight_to_date(s).unwrap_or(s).to_string()),
            },
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Cell::Null => 0,
            Cell::Num(_) => 1,
            Cell::Text(_) => 2,
        }
    }

    fn order(&self, other: &Cell) -> Ordering {
        match (self, other) {
            (Cell::Num(a), Cell::Num(b)) => a.total_cmp(b),
            (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }

    fn same(&self, other: &Cell, tol: f64) -> bool {
        match (self, other) {
            (Cell::Null, Cell::Null) => true,
            (Cell::Num(a), Cell::Num(b)) => {
                let d = (a - b).abs();
                d <= 1e-9 || d <= tol * a.abs().max(b.abs())
            }
            (Cell::Text(a), Cell::Text(b)) => a == b,
            _ => false,
        }
    }
}

/// A result: column names and rows of cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Rows {
    /// Rows of record batches, every value through Arrow's display formatting.
    pub fn from_batches(
        schema: &datafusion::arrow::datatypes::Schema,
        batches: &[RecordBatch],
    ) -> Rows {
        let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
        let opts = FormatOptions::default();
        let mut rows = Vec::new();
        for b in batches {
            let fmts: Vec<_> = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).ok())
                .collect();
            for r in 0..b.num_rows() {
                rows.push(
                    b.columns()
                        .iter()
                        .zip(&fmts)
                        .map(|(c, f)| {
                            if c.is_null(r) {
                                Cell::Null
                            } else {
                                let text = f
                                    .as_ref()
                                    .map(|f| f.value(r).to_string())
                                    .unwrap_or_default();
                                Cell::from_text(Some(&text))
                            }
                        })
                        .collect(),
                );
            }
        }
        Rows { columns, rows }
    }

    /// Rows given as text cells (`expected_rows` in an eval file).
    pub fn from_text(rows: &[Vec<Option<String>>]) -> Rows {
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        Rows {
            columns: (1..=width).map(|i| format!("column{i}")).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|c| Cell::from_text(c.as_deref())).collect())
                .collect(),
        }
    }

    fn column(&self, i: usize) -> Vec<Cell> {
        self.rows.iter().map(|r| r[i].clone()).collect()
    }
}

/// `2026-11-01T00:00:00Z` (or with a space, fractions of zero, no zone) → `2026-11-01`.
fn midnight_to_date(s: &str) -> Option<&str> {
    let (date, time) = s.split_once(['T', ' '])?;
    let ok_date = date.len() == 10
        && date.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    let time = time.trim_end_matches('Z').trim_end_matches("+00:00");
    let zero = time.strip_prefix("00:00:00").is_some_and(|rest| {
        rest.is_empty() || rest.trim_start_matches('.').chars().all(|c| c == '0')
    });
    (ok_date && zero).then_some(date)
}

fn sorted(mut v: Vec<Cell>) -> Vec<Cell> {
    v.sort_by(|a, b| a.order(b));
    v
}

fn same_list(a: &[Cell], b: &[Cell], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y, tol))
}

fn row_order(a: &[Cell], b: &[Cell]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.order(y))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// Whether two lists of rows hold the same rows (as multisets unless `ordered`).
fn same_rows(gold: &[Vec<Cell>], got: &[Vec<Cell>], ordered: bool, tol: f64) -> bool {
    if gold.len() != got.len() {
        return false;
    }
    let eq = |a: &Vec<Cell>, b: &Vec<Cell>| same_list(a, b, tol);
    if ordered {
        return gold.iter().zip(got).all(|(a, b)| eq(a, b));
    }
    let mut g = gold.to_vec();
    let mut o = got.to_vec();
    g.sort_by(|a, b| row_order(a, b));
    o.sort_by(|a, b| row_order(a, b));
    if g.iter().zip(&o).all(|(a, b)| eq(a, b)) {
        return true;
    }
    // Numbers within tolerance can sort apart; match greedily on small results.
    if g.len() > 5000 {
        return false;
    }
    let mut used = vec![false; o.len()];
    g.iter()
        .all(|a| match (0..o.len()).find(|&j| !used[j] && eq(a, &o[j])) {
            Some(j) => {
                used[j] = true;
                true
            }
            None => false,
        })
}

/// Compare a generated result with the gold one. `Err` says why they differ.
pub fn compare(gold: &Rows, got: &Rows, ordered: bool, tol: f64) -> Result<(), String> {
    if gold.rows.len() != got.rows.len() {
        return Err(format!(
            "{} rows, the gold result has {}",
            got.rows.len(),
            gold.rows.len()
        ));
    }
    let width = gold
        .columns
        .len()
        .max(gold.rows.first().map_or(0, Vec::len));
    if width == 0 {
        return Ok(());
    }
    let got_width = got.columns.len().max(got.rows.first().map_or(0, Vec::len));
    if got_width < width {
        return Err(format!("{got_width} columns, the gold result has {width}"));
    }
    // Candidates for each gold column: generated columns holding the same values.
    let got_sorted: Vec<Vec<Cell>> = (0..got_width).map(|j| sorted(got.column(j))).collect();
    let mut cands: Vec<(usize, Vec<usize>)> = Vec::new();
    for i in 0..width {
        let g = sorted(gold.column(i));
        let c: Vec<usize> = (0..got_width)
            .filter(|&j| same_list(&g, &got_sorted[j], tol))
            .collect();
        if c.is_empty() {
            let name = gold.columns.get(i).cloned().unwrap_or_default();
            return Err(format!("no column holds the gold column {name}'s values"));
        }
        cands.push((i, c));
    }
    // Search assignments, the most constrained gold column first.
    cands.sort_by_key(|(_, c)| c.len());
    let mut assign = vec![usize::MAX; width];
    let mut taken = vec![false; got_width];
    let mut budget = 10_000usize;
    fn search(
        k: usize,
        cands: &[(usize, Vec<usize>)],
        assign: &mut Vec<usize>,
        taken: &mut Vec<bool>,
        budget: &mut usize,
        check: &dyn Fn(&[usize]) -> bool,
    ) -> bool {
        if k == cands.len() {
            *budget = budget.saturating_sub(1);
            return check(assign);
        }
        let (gi, ref options) = cands[k];
        for &j in options {
            if taken[j] || *budget == 0 {
                continue;
            }
            taken[j] = true;
            assign[gi] = j;
            if search(k + 1, cands, assign, taken, budget, check) {
                return true;
            }
            taken[j] = false;
        }
        false
    }
    let check = |a: &[usize]| {
        let projected: Vec<Vec<Cell>> = got
            .rows
            .iter()
            .map(|r| a.iter().map(|&j| r[j].clone()).collect())
            .collect();
        same_rows(&gold.rows, &projected, ordered, tol)
    };
    if search(0, &cands, &mut assign, &mut taken, &mut budget, &check) {
        Ok(())
    } else if ordered && {
        // Say whether only the order was wrong.
        let mut a2 = vec![usize::MAX; width];
        let mut t2 = vec![false; got_width];
        let mut b2 = 10_000usize;
        let unordered = |a: &[usize]| {
            let projected: Vec<Vec<Cell>> = got
                .rows
                .iter()
                .map(|r| a.iter().map(|&j| r[j].clone()).collect())
                .collect();
            same_rows(&gold.rows, &projected, false, tol)
        };
        search(0, &cands, &mut a2, &mut t2, &mut b2, &unordered)
    } {
        Err(
            "the same rows in a different order (the question or the gold query orders them)"
                .into(),
        )
    } else {
        Err("the columns hold the gold values, but not in the same rows".into())
    }
}

/// Whether the comparison is ordered: the item says so, else the gold query has a top-level
/// ORDER BY, or the question asks for a ranking.
pub fn is_ordered(explicit: Option<bool>, gold_sql: Option<&str>, question: &str) -> bool {
    if let Some(o) = explicit {
        return o;
    }
    let words = crate::agent::offline::words_of(question);
    let asks = words.iter().any(|w| {
        matches!(
            w.as_str(),
            "top"
                | "bottom"
                | "rank"
                | "ranked"
                | "ranking"
                | "sorted"
                | "ordered"
                | "order"
                | "highest"
                | "lowest"
                | "largest"
                | "smallest"
                | "biggest"
        )
    });
    asks || gold_sql.is_some_and(top_level_order_by)
}

fn top_level_order_by(sql: &str) -> bool {
    use datafusion::sql::sqlparser::{ast::Statement, dialect::GenericDialect, parser::Parser};
    match Parser::parse_sql(&GenericDialect {}, sql) {
        Ok(st) => st.iter().any(|s| match s {
            Statement::Query(q) => q.order_by.is_some(),
            _ => false,
        }),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(cols: &[&str], data: &[&[Option<&str>]]) -> Rows {
        Rows {
            columns: cols.iter().map(|s| s.to_string()).collect(),
            rows: data
                .iter()
                .map(|r| r.iter().map(|c| Cell::from_text(*c)).collect())
                .collect(),
        }
    }

    const GOLD: &[&[Option<&str>]] = &[
        &[Some("pro"), Some("10")],
        &[Some("enterprise"), Some("30")],
        &[Some("free"), None],
    ];

    #[test]
    fn row_order_is_ignored_unless_ordered() {
        let gold = rows(&["tier", "n"], GOLD);
        let shuffled = rows(
            &["tier", "n"],
            &[
                &[Some("free"), None],
                &[Some("pro"), Some("10")],
                &[Some("enterprise"), Some("30")],
            ],
        );
        assert_eq!(compare(&gold, &shuffled, false, 1e-6), Ok(()));
        let e = compare(&gold, &shuffled, true, 1e-6).unwrap_err();
        assert!(e.contains("different order"), "{e}");
        assert_eq!(compare(&gold, &gold, true, 1e-6), Ok(()));
    }

    #[test]
    fn column_names_and_order_are_ignored_and_extra_columns_allowed() {
        let gold = rows(&["tier", "n"], GOLD);
        let got = rows(
            &["total", "extra", "plan"],
            &[
                &[Some("10"), Some("x"), Some("pro")],
                &[Some("30"), Some("y"), Some("enterprise")],
                &[None, Some("z"), Some("free")],
            ],
        );
        assert_eq!(compare(&gold, &got, false, 1e-6), Ok(()));
        // A missing gold column is not made up for by an extra one.
        let short = rows(
            &["plan"],
            &[&[Some("pro")], &[Some("enterprise")], &[Some("free")]],
        );
        assert!(compare(&gold, &short, false, 1e-6).is_err());
    }

    #[test]
    fn numbers_match_within_tolerance_and_across_types() {
        let gold = rows(&["x"], &[&[Some("100")], &[Some("0.3")]]);
        let close = rows(
            &["x"],
            &[&[Some("100.0000001")], &[Some("0.30000000000000004")]],
        );
        assert_eq!(compare(&gold, &close, false, 1e-6), Ok(()));
        let off = rows(&["x"], &[&[Some("101")], &[Some("0.3")]]);
        assert!(compare(&gold, &off, false, 1e-6).is_err());
        assert_eq!(compare(&gold, &off, false, 0.02), Ok(()));
        // Text that is not a number is compared exactly, except that a midnight timestamp is
        // its date.
        let a = rows(&["d"], &[&[Some("2026-11-01")]]);
        let b = rows(&["d"], &[&[Some("2026-11-01T00:00:00")]]);
        assert_eq!(compare(&a, &b, false, 1e-6), Ok(()));
        let c = rows(&["d"], &[&[Some("2026-11-01 00:00:00.000Z")]]);
        assert_eq!(compare(&a, &c, false, 1e-6), Ok(()));
        let d = rows(&["d"], &[&[Some("2026-11-01T01:00:00Z")]]);
        assert!(compare(&a, &d, false, 1e-6).is_err());
        let e = rows(&["d"], &[&[Some("Pro")]]);
        assert!(compare(&rows(&["d"], &[&[Some("pro")]]), &e, false, 1e-6).is_err());
    }

    #[test]
    fn nulls_equal_nulls_only() {
        let gold = rows(&["x"], &[&[None]]);
        assert_eq!(
            compare(&gold, &rows(&["y"], &[&[None]]), false, 1e-6),
            Ok(())
        );
        assert!(compare(&gold, &rows(&["y"], &[&[Some("0")]]), false, 1e-6).is_err());
        assert!(compare(&gold, &rows(&["y"], &[&[Some("")]]), false, 1e-6).is_err());
    }

    #[test]
    fn duplicates_are_respected() {
        let gold = rows(&["x"], &[&[Some("a")], &[Some("a")], &[Some("b")]]);
        let got = rows(&["x"], &[&[Some("a")], &[Some("b")], &[Some("b")]]);
        assert!(compare(&gold, &got, false, 1e-6).is_err());
        let fewer = rows(&["x"], &[&[Some("a")], &[Some("b")]]);
        let e = compare(&gold, &fewer, false, 1e-6).unwrap_err();
        assert!(e.contains("2 rows"), "{e}");
    }

    #[test]
    fn values_must_stay_in_their_rows() {
        let gold = rows(
            &["t", "n"],
            &[&[Some("a"), Some("1")], &[Some("b"), Some("2")]],
        );
        let swapped = rows(
            &["t", "n"],
            &[&[Some("a"), Some("2")], &[Some("b"), Some("1")]],
        );
        let e = compare(&gold, &swapped, false, 1e-6).unwrap_err();
        assert!(e.contains("not in the same rows"), "{e}");
    }

    #[test]
    fn two_columns_with_the_same_values_are_assigned_without_reuse() {
        let gold = rows(
            &["a", "b"],
            &[&[Some("1"), Some("1")], &[Some("2"), Some("2")]],
        );
        let one = rows(&["a"], &[&[Some("1")], &[Some("2")]]);
        assert!(compare(&gold, &one, false, 1e-6).is_err());
        let two = rows(
            &["x", "y"],
            &[&[Some("1"), Some("1")], &[Some("2"), Some("2")]],
        );
        assert_eq!(compare(&gold, &two, false, 1e-6), Ok(()));
    }

    #[test]
    fn ordering_follows_the_gold_query_or_the_question() {
        assert!(is_ordered(None, Some("SELECT a FROM t ORDER BY a"), "x"));
        assert!(!is_ordered(
            None,
            Some("SELECT a FROM (SELECT a FROM t ORDER BY a)"),
            "x"
        ));
        assert!(is_ordered(None, Some("SELECT a FROM t"), "top 5 accounts"));
        assert!(!is_ordered(
            Some(false),
            Some("SELECT a FROM t ORDER BY a"),
            "x"
        ));
    }
}
