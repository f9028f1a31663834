//! Context selection: for one question, the part of the catalog the model needs, within a token
//! budget.
//!
//! 1. **Rank** tables and columns by BM25 over their names (split at `_` and case changes),
//!    descriptions, synonyms, tags, annotations and linked glossary terms; add what the question
//!    names exactly: glossary terms and synonyms, metric names, and values seen by
//!    introspection (`'workers_requests'` in "workers requests"); add the verified examples
//!    whose questions resemble this one (their tables and columns), and a usage prior from past
//!    queries. A sampled table is demoted unless the question asks for a sample or an estimate:
//!    exact questions must not land on a sampled copy.
//! 2. **Expand** along join paths: the shortest declared (or often used) join path between any
//!    two chosen tables brings its bridge tables and keys, and a chosen table with an id
//!    translation brings its translation table.
//! 3. **Assemble** within the budget, counting with the model's tokenizer ([`tokens`]): tables
//!    in rank order (whole, or reduced to their relevant columns when a whole one does not
//!    fit), then the joins between them, matching glossary terms and metrics, and the closest
//!    verified examples. What did not fit is listed, never silently cut.

pub mod tokens;

use crate::catalog::{Catalog, Table};
// aHash, not SipHash: hashing names and term ids was a tenth of catalog load and selection time.
use ahash::{AHashMap as HashMap, AHashSet as HashSet};
use std::collections::{BTreeSet, VecDeque};
use tokens::TokenCounter;

/// The default budget: fits an 8k-context local model with room for the instructions, the
/// question and the answer.
pub const DEFAULT_BUDGET: usize = 6000;
/// At most this many tables are chosen by rank (bridges come on top).
pub const MAX_TABLES: usize = 6;

const K1: f32 = 1.2;
const B: f32 = 0.75;

const STOPWORDS: &[&str] = &[
    "a", "an", "the", "of", "for", "by", "in", "on", "to", "and", "or", "is", "are", "was", "were",
    "be", "been", "what", "which", "who", "whom", "how", "many", "much", "me", "show", "give",
    "list", "tell", "find", "get", "all", "our", "we", "my", "i", "you", "did", "does", "do",
    "this", "that", "these", "those", "it", "its", "as", "with", "from", "at", "than", "then",
    "there", "their", "have", "has", "had", "per", "each", "every", "any", "some", "please", "can",
    "could", "would", "should", "into", "over", "under", "about", "between", "most", "least",
    "top", "last", "first", "so", "far", "ever", "out", "up", "not", "no", "yes", "s",
];

/// Words for the question asking for approximate answers (a sampled table is then fine).
const ESTIMATE_WORDS: &[&str] = &["sample", "sampl", "estim", "approxim", "rough", "trend"];

/// A term: the id of a stemmed word (interned, so indexing 200k columns allocates once per
/// distinct word, not once per occurrence).
type TermId = u32;

/// Splits and stems text into index terms (Snowball English).
pub struct Analyzer {
    stemmer: rust_stemmers::Stemmer,
    /// lowercased word → its term (None: a stop word).
    words: std::cell::RefCell<HashMap<String, Option<TermId>>>,
    /// stem → term, and term → stem.
    stems: std::cell::RefCell<(HashMap<String, TermId>, Vec<String>)>,
    stop: HashSet<&'static str>,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer {
            stemmer: rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English),
            words: Default::default(),
            stems: Default::default(),
            stop: STOPWORDS.iter().copied().collect(),
        }
    }
}

impl Analyzer {
    /// Terms of `text`: split at anything not a letter or digit and at lower→upper case
    /// changes, lowercased, stop words dropped, stemmed.
    pub fn ids(&self, text: &str) -> Vec<TermId> {
        let mut out = Vec::new();
        let mut word = String::new();
        let mut prev_lower = false;
        let flush = |w: &mut String, out: &mut Vec<TermId>| {
            if !w.is_empty() {
                if let Some(id) = self.word(w) {
                    out.push(id);
                }
                w.clear();
            }
        };
        for ch in text.chars() {
            if ch.is_alphanumeric() {
                if ch.is_uppercase() && prev_lower {
                    flush(&mut word, &mut out);
                }
                prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
                if ch.is_ascii() {
                    word.push(ch.to_ascii_lowercase());
                } else {
                    word.extend(ch.to_lowercase());
                }
            } else {
                flush(&mut word, &mut out);
                prev_lower = false;
            }
        }
        flush(&mut word, &mut out);
        out
    }

    /// The stems of `text`, as text (for people and tests).
    pub fn terms(&self, text: &str) -> Vec<String> {
        let ids = self.ids(text);
        let stems = self.stems.borrow();
        ids.into_iter()
            .map(|i| stems.1[i as usize].clone())
            .collect()
    }

    fn stem_of(&self, id: TermId) -> String {
        self.stems.borrow().1[id as usize].clone()
    }

    fn word(&self, lw: &str) -> Option<TermId> {
        if let Some(&id) = self.words.borrow().get(lw) {
            return id;
        }
        let id = if self.stop.contains(lw) {
            None
        } else {
            let stem = self.stemmer.stem(lw).into_owned();
            let mut st = self.stems.borrow_mut();
            let next = st.1.len() as TermId;
            let id = *st.0.entry(stem.clone()).or_insert(next);
            if id == next {
                st.1.push(stem);
            }
            Some(id)
        };
        self.words.borrow_mut().insert(lw.to_string(), id);
        id
    }
}

/// A document's weighted terms (few, so a vector beats a map).
type Bag = Vec<(TermId, f32)>;

/// An Okapi BM25 index over weighted term bags.
#[derive(Default)]
struct Bm25 {
    postings: Vec<Vec<(u32, f32)>>,
    lens: Vec<f32>,
    avg: f32,
}

impl Bm25 {
    fn build(docs: Vec<Bag>) -> Bm25 {
        let mut idx = Bm25::default();
        for (i, d) in docs.into_iter().enumerate() {
            let len: f32 = d.iter().map(|x| x.1).sum();
            idx.lens.push(len);
            for (t, tf) in d {
                let t = t as usize;
                if idx.postings.len() <= t {
                    idx.postings.resize_with(t + 1, Vec::new);
                }
                idx.postings[t].push((i as u32, tf));
            }
        }
        let n = idx.lens.len().max(1) as f32;
        idx.avg = (idx.lens.iter().sum::<f32>() / n).max(1.0);
        idx
    }

    fn search(&self, query: &[TermId]) -> HashMap<u32, f32> {
        let n = self.lens.len() as f32;
        let mut scores: HashMap<u32, f32> = HashMap::new();
        let uniq: BTreeSet<&TermId> = query.iter().collect();
        for &t in uniq {
            let Some(list) = self.postings.get(t as usize).filter(|l| !l.is_empty()) else {
                continue;
            };
            let df = list.len() as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for &(d, tf) in list {
                let norm = K1 * (1.0 - B + B * self.lens[d as usize] / self.avg);
                *scores.entry(d).or_default() += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        scores
    }
}

fn add(bag: &mut Bag, terms: Vec<TermId>, w: f32) {
    for t in terms {
        match bag.iter_mut().find(|x| x.0 == t) {
            Some(x) => x.1 += w,
            None => bag.push((t, w)),
        }
    }
}

/// The catalog indexed for selection; build once, select many times.
pub struct Selector<'a> {
    cat: &'a Catalog,
    an: Analyzer,
    tables: Bm25,
    columns: Bm25,
    /// column doc → (table index, column index)
    column_of: Vec<(usize, usize)>,
    metrics: Bm25,
    examples: Bm25,
    /// Phrase (terms joined by space) → glossary term index.
    term_phrases: Vec<(Vec<TermId>, usize)>,
    /// Value phrase → (table, column) holding it.
    values: HashMap<Vec<TermId>, Vec<(usize, usize)>>,
    /// Table → (neighbour, join index or usize::MAX for a usage-learned join).
    graph: Vec<Vec<(usize, usize)>>,
    table_index: HashMap<String, usize>,
    /// Multipliers for copies of another table: date shards, staging, archive and backup
    /// copies of a table that exists beside them, and tables tagged so (1.0 for the rest).
    demote: Vec<(f32, Option<String>)>,
    /// Sources whose tables may not be shown (a "local models only" source and a remote model).
    hidden_sources: HashSet<String>,
    /// Show introspected common values (sample values); declared allowed values always show.
    sample_values: bool,
}

/// Name families that are copies of the table named by the rest of the name.
const COPY_PREFIXES: &[&str] = &["stg_", "staging_", "tmp_", "temp_", "bak_", "old_"];
const COPY_SUFFIXES: &[&str] = &[
    "_archive",
    "_archived",
    "_backup",
    "_bak",
    "_old",
    "_tmp",
    "_deprecated",
    "_copy",
];
const COPY_TAGS: &[&str] = &["deprecated", "staging", "archive", "archived", "backup"];

/// `base` when `name` is `base_YYYYMM`, `base_YYYYMMDD`, `base_YYYY_MM` or `base_YYYY_MM_DD`.
fn date_shard_base(name: &str) -> Option<&str> {
    let (base, tail) = name.rsplit_once('_')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if digits(tail, 6) || digits(tail, 8) {
        return Some(base);
    }
    // base_YYYY_MM or base_YYYY_MM_DD
    let (b2, t2) = base.rsplit_once('_')?;
    if digits(tail, 2) && digits(t2, 4) {
        return Some(b2);
    }
    let (b3, t3) = b2.rsplit_once('_')?;
    if digits(tail, 2) && digits(t2, 2) && digits(t3, 4) {
        return Some(b3);
    }
    None
}

/// How much a table is demoted for being a copy of another, and why.
fn copy_of(t: &Table, exists: &dyn Fn(&str) -> bool) -> (f32, Option<String>) {
    let prefix = t.name.len() - t.short_name().len();
    let ns = &t.name[..prefix];
    let short = t.short_name();
    if let Some(base) = date_shard_base(short)
        && exists(&format!("{ns}{base}"))
    {
        return (0.3, Some(format!("date shard of {ns}{base}")));
    }
    for p in COPY_PREFIXES {
        if let Some(base) = short.strip_prefix(p)
            && exists(&format!("{ns}{base}"))
        {
            return (0.6, Some(format!("copy of {ns}{base}")));
        }
    }
    for sfx in COPY_SUFFIXES {
        if let Some(base) = short.strip_suffix(sfx)
            && exists(&format!("{ns}{base}"))
        {
            return (0.6, Some(format!("copy of {ns}{base}")));
        }
    }
    if let Some(tag) = t
        .tags
        .iter()
        .find(|g| COPY_TAGS.contains(&g.to_lowercase().as_str()))
    {
        return (0.6, Some(format!("tagged {tag}")));
    }
    (1.0, None)
}

/// One chosen table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChosenTable {
    pub name: String,
    pub score: f64,
    /// Why it was chosen: "ranked", "bridge", "id translation".
    pub reason: String,
    /// Columns shown, best first, with their scores.
    pub columns: Vec<ChosenColumn>,
    /// Only the relevant columns were shown (the whole table did not fit).
    pub reduced: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ChosenColumn {
    pub name: String,
    pub score: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Scored {
    pub name: String,
    pub score: f64,
}

/// What would be sent to the model for one question.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Selection {
    pub question: String,
    pub tables: Vec<ChosenTable>,
    pub metrics: Vec<Scored>,
    pub terms: Vec<Scored>,
    pub examples: Vec<Scored>,
    pub joins: Vec<String>,
    /// Annotations shown, as `target: note`.
    pub annotations: Vec<String>,
    /// Ranked tables left out because the budget was spent.
    pub left_out: Vec<String>,
    pub tokens: usize,
    pub budget: usize,
    pub tokenizer: String,
    pub text: String,
}

impl<'a> Selector<'a> {
    pub fn new(cat: &'a Catalog) -> Selector<'a> {
        let an = Analyzer::default();
        let mut table_index = HashMap::new();
        for (i, t) in cat.tables.iter().enumerate() {
            table_index.insert(t.name.to_lowercase(), i);
        }
        // Glossary words that point at columns and tables.
        let mut col_terms: HashMap<String, Vec<String>> = HashMap::new();
        for term in &cat.terms {
            let mut words = vec![term.name.clone()];
            words.extend(term.synonyms.iter().cloned());
            for c in &term.columns {
                col_terms
                    .entry(c.to_lowercase())
                    .or_default()
                    .extend(words.iter().cloned());
            }
        }
        let mut metric_words: HashMap<String, Vec<String>> = HashMap::new();
        for m in &cat.metrics {
            let e = metric_words.entry(m.table.to_lowercase()).or_default();
            e.push(m.name.clone());
            e.extend(m.synonyms.iter().cloned());
        }
        let mut table_docs = Vec::with_capacity(cat.tables.len());
        let mut column_docs = Vec::new();
        let mut column_of = Vec::new();
        let mut values: HashMap<Vec<TermId>, Vec<(usize, usize)>> = HashMap::new();
        for (ti, t) in cat.tables.iter().enumerate() {
            let mut bag = Bag::new();
            add(&mut bag, an.ids(t.short_name()), 3.0);
            if let Some(d) = &t.description {
                add(&mut bag, an.ids(d), 1.0);
            }
            for tag in &t.tags {
                add(&mut bag, an.ids(tag), 1.0);
            }
            if let Some(g) = &t.grain {
                add(&mut bag, an.ids(g), 1.0);
            }
            for a in cat.notes_for(&t.name) {
                add(&mut bag, an.ids(&a.note), 0.5);
            }
            if let Some(words) = metric_words.get(&t.name.to_lowercase()) {
                for w in words {
                    add(&mut bag, an.ids(w), 1.0);
                }
            }
            table_docs.push(bag);
            let short = an.ids(t.short_name());
            for (ci, c) in t.columns.iter().enumerate() {
                let mut bag = Bag::new();
                add(&mut bag, an.ids(&c.name), 3.0);
                add(&mut bag, short.clone(), 0.5);
                if let Some(d) = &c.description {
                    add(&mut bag, an.ids(d), 1.0);
                }
                for s in &c.synonyms {
                    add(&mut bag, an.ids(s), 2.0);
                }
                for v in &c.allowed_values {
                    add(&mut bag, an.ids(v), 1.0);
                }
                if let Some(words) = col_terms.get(&format!("{}.{}", t.name, c.name).to_lowercase())
                {
                    for w in words {
                        add(&mut bag, an.ids(w), 2.0);
                    }
                }
                column_docs.push(bag);
                column_of.push((ti, ci));
                // Values a question may name: allowed values and introspected common values.
                let common = c
                    .stats
                    .iter()
                    .flat_map(|s| s.common_values.iter().map(|(v, _)| v));
                for v in c.allowed_values.iter().chain(common) {
                    let phrase = an.ids(v);
                    if !phrase.is_empty() && v.chars().count() >= 2 {
                        let e = values.entry(phrase).or_default();
                        if !e.contains(&(ti, ci)) {
                            e.push((ti, ci));
                        }
                    }
                }
            }
        }
        let metric_docs = cat
            .metrics
            .iter()
            .map(|m| {
                let mut bag = Bag::new();
                add(&mut bag, an.ids(&m.name), 3.0);
                for s in &m.synonyms {
                    add(&mut bag, an.ids(s), 2.0);
                }
                if let Some(d) = &m.description {
                    add(&mut bag, an.ids(d), 1.0);
                }
                bag
            })
            .collect();
        let example_docs = cat
            .examples
            .iter()
            .map(|e| {
                let mut bag = Bag::new();
                add(&mut bag, an.ids(&e.question), 1.0);
                bag
            })
            .collect();
        let mut term_phrases = Vec::new();
        for (i, term) in cat.terms.iter().enumerate() {
            for w in std::iter::once(&term.name).chain(term.synonyms.iter()) {
                let p = an.ids(w);
                if !p.is_empty() {
                    term_phrases.push((p, i));
                }
            }
        }
        let mut graph = vec![Vec::new(); cat.tables.len()];
        for (ji, j) in cat.joins.iter().enumerate() {
            if let (Some(&l), Some(&r)) = (
                table_index.get(&j.left.to_lowercase()),
                table_index.get(&j.right.to_lowercase()),
            ) {
                graph[l].push((r, ji));
                graph[r].push((l, ji));
            }
        }
        for (a, b) in cat.usage.joins.keys() {
            let ta = a
                .rsplit_once('.')
                .and_then(|(t, _)| table_index.get(&t.to_lowercase()));
            let tb = b
                .rsplit_once('.')
                .and_then(|(t, _)| table_index.get(&t.to_lowercase()));
            if let (Some(&l), Some(&r)) = (ta, tb)
                && !graph[l].iter().any(|&(n, _)| n == r)
            {
                graph[l].push((r, usize::MAX));
                graph[r].push((l, usize::MAX));
            }
        }
        let exists = |n: &str| table_index.contains_key(&n.to_lowercase());
        let demote = cat.tables.iter().map(|t| copy_of(t, &exists)).collect();
        Selector {
            cat,
            demote,
            tables: Bm25::build(table_docs),
            columns: Bm25::build(column_docs),
            column_of,
            metrics: Bm25::build(metric_docs),
            examples: Bm25::build(example_docs),
            term_phrases,
            values,
            graph,
            table_index,
            an,
            hidden_sources: HashSet::new(),
            sample_values: true,
        }
    }

    /// Never show tables of these sources (nor examples and metrics over them).
    pub fn hide_sources(mut self, sources: impl IntoIterator<Item = String>) -> Self {
        self.hidden_sources = sources.into_iter().map(|s| s.to_lowercase()).collect();
        self
    }

    /// Whether introspected common values may be shown (what-leaves-the-machine policy).
    pub fn sample_values(mut self, yes: bool) -> Self {
        self.sample_values = yes;
        self
    }

    fn hidden(&self, table: usize) -> bool {
        !self.hidden_sources.is_empty()
            && self
                .hidden_sources
                .contains(&self.cat.tables[table].source.to_lowercase())
    }

    fn hidden_name(&self, table: &str) -> bool {
        self.table_index
            .get(&table.to_lowercase())
            .is_some_and(|&i| self.hidden(i))
    }

    /// Choose and assemble the context for `question` within `budget` tokens.
    pub fn select(&self, question: &str, budget: usize, counter: &TokenCounter) -> Selection {
        let cat = self.cat;
        let q = self.an.ids(question);
        let qstems: Vec<String> = q.iter().map(|&t| self.an.stem_of(t)).collect();
        let n_tables = cat.tables.len();
        let mut tscore = vec![0f32; n_tables];
        let mut cscore: HashMap<(usize, usize), f32> = HashMap::new();

        for (d, s) in self.tables.search(&q) {
            tscore[d as usize] += s;
        }
        // Columns: their own score, and the best three lift their table.
        let mut per_table: HashMap<usize, Vec<f32>> = HashMap::new();
        for (d, s) in self.columns.search(&q) {
            let (ti, ci) = self.column_of[d as usize];
            *cscore.entry((ti, ci)).or_default() += s;
            per_table.entry(ti).or_default().push(s);
        }
        for (ti, mut v) in per_table {
            v.sort_by(|a, b| b.total_cmp(a));
            tscore[ti] += 0.5 * v.iter().take(3).sum::<f32>();
        }
        // Exact phrases: glossary terms and values.
        let phrase_in =
            |p: &[TermId]| -> bool { !p.is_empty() && q.windows(p.len()).any(|w| w == p) };
        let mut terms_hit: Vec<(usize, f32)> = Vec::new();
        for (p, i) in &self.term_phrases {
            if phrase_in(p) && !terms_hit.iter().any(|(j, _)| j == i) {
                terms_hit.push((*i, 2.0 + p.len() as f32));
            }
        }
        let mut metric_boost: Vec<(usize, f32)> = self
            .metrics
            .search(&q)
            .into_iter()
            .map(|(d, s)| (d as usize, s))
            .collect();
        for &(ti_term, _) in &terms_hit {
            let term = &cat.terms[ti_term];
            for c in &term.columns {
                if let Some((t, col)) = c.rsplit_once('.')
                    && let Some(&ti) = self.table_index.get(&t.to_lowercase())
                    && let Some(ci) = cat.tables[ti]
                        .columns
                        .iter()
                        .position(|x| x.name.eq_ignore_ascii_case(col))
                {
                    *cscore.entry((ti, ci)).or_default() += 3.0;
                    tscore[ti] += 2.0;
                }
            }
            for m in &term.metrics {
                if let Some(mi) = cat.metrics.iter().position(|x| &x.name == m) {
                    metric_boost.push((mi, 3.0));
                }
            }
        }
        let mut metric_scores: HashMap<usize, f32> = HashMap::new();
        for (mi, s) in metric_boost {
            *metric_scores.entry(mi).or_default() += s;
        }
        for (&mi, &s) in &metric_scores {
            let m = &cat.metrics[mi];
            if let Some(&ti) = self.table_index.get(&m.table.to_lowercase()) {
                tscore[ti] += 0.7 * s;
                for d in m.dimensions.iter().chain(m.time_column.iter()) {
                    if let Some(ci) = cat.tables[ti]
                        .columns
                        .iter()
                        .position(|c| c.name.eq_ignore_ascii_case(d))
                    {
                        *cscore.entry((ti, ci)).or_default() += 0.5;
                    }
                }
            }
        }
        for n in 1..=3.min(q.len()) {
            for w in q.windows(n) {
                if let Some(hits) = self.values.get(w) {
                    for &(ti, ci) in hits {
                        *cscore.entry((ti, ci)).or_default() += 2.0 + n as f32;
                        tscore[ti] += 1.0 + n as f32 / hits.len() as f32;
                    }
                }
            }
        }
        // Verified examples that resemble the question.
        let mut ex: Vec<(usize, f32)> = self
            .examples
            .search(&q)
            .into_iter()
            .map(|(d, s)| (d as usize, s))
            .collect();
        ex.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let best_ex = ex.first().map_or(0.0, |e| e.1);
        for &(ei, s) in ex.iter().take(3) {
            let w = s / best_ex.max(1e-6);
            for t in &cat.examples[ei].tables {
                if let Some(&ti) = self.table_index.get(&t.to_lowercase()) {
                    tscore[ti] += 1.5 * w;
                }
            }
            for c in &cat.examples[ei].columns {
                if let Some((t, col)) = c.rsplit_once('.')
                    && let Some(&ti) = self.table_index.get(&t.to_lowercase())
                    && let Some(ci) = cat.tables[ti]
                        .columns
                        .iter()
                        .position(|x| x.name.eq_ignore_ascii_case(col))
                {
                    *cscore.entry((ti, ci)).or_default() += 0.5 * w;
                }
            }
        }
        // Usage prior (only lifts tables that already match), sampled copies demoted.
        let estimate = qstems
            .iter()
            .any(|w| ESTIMATE_WORDS.iter().any(|e| w.starts_with(e)));
        for (ti, t) in cat.tables.iter().enumerate() {
            if tscore[ti] <= 0.0 {
                continue;
            }
            if self.hidden(ti) {
                tscore[ti] = 0.0;
                continue;
            }
            if let Some(&u) = cat.usage.tables.get(&t.name) {
                tscore[ti] += 0.3 * (1.0 + u as f32).ln();
            }
            if t.is_sampled() && !estimate {
                tscore[ti] *= 0.5;
            }
            tscore[ti] *= self.demote[ti].0;
        }
        // Rank.
        let mut order: Vec<usize> = (0..n_tables).filter(|&i| tscore[i] > 0.0).collect();
        order.sort_by(|&a, &b| tscore[b].total_cmp(&tscore[a]).then(a.cmp(&b)));
        let top = order.first().map_or(0.0, |&i| tscore[i]);
        let core: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| tscore[i] >= 0.3 * top)
            .take(MAX_TABLES)
            .collect();
        // Expand along joins.
        let mut chosen: Vec<(usize, String)> = core
            .iter()
            .map(|&i| match &self.demote[i].1 {
                Some(why) => (i, format!("ranked (demoted: {why})")),
                None => (i, "ranked".to_string()),
            })
            .collect();
        let mut have: HashSet<usize> = core.iter().copied().collect();
        for a in 0..core.len() {
            for b in a + 1..core.len() {
                if let Some(path) = self.path(core[a], core[b], 3) {
                    for &mid in &path[1..path.len() - 1] {
                        if !self.hidden(mid) && have.insert(mid) {
                            chosen.push((
                                mid,
                                format!(
                                    "bridge: joins {} to {}",
                                    cat.tables[core[a]].name, cat.tables[core[b]].name
                                ),
                            ));
                        }
                    }
                }
            }
        }
        for &i in &core {
            for j in &cat.joins {
                if j.id_translation
                    && j.left.eq_ignore_ascii_case(&cat.tables[i].name)
                    && let Some(&r) = self.table_index.get(&j.right.to_lowercase())
                    && !self.hidden(r)
                    && have.insert(r)
                {
                    chosen.push((r, format!("id translation for {}", cat.tables[i].name)));
                }
            }
        }
        // Keys of the joins among the chosen tables count as relevant columns.
        let chosen_set: HashSet<usize> = chosen.iter().map(|c| c.0).collect();
        let mut join_lines = Vec::new();
        for j in &cat.joins {
            let (Some(&l), Some(&r)) = (
                self.table_index.get(&j.left.to_lowercase()),
                self.table_index.get(&j.right.to_lowercase()),
            ) else {
                continue;
            };
            if chosen_set.contains(&l) && chosen_set.contains(&r) {
                for (lc, rc) in &j.on {
                    for (t, c) in [(l, lc), (r, rc)] {
                        if let Some(ci) = cat.tables[t].columns.iter().position(|x| &x.name == c) {
                            *cscore.entry((t, ci)).or_default() += 1.0;
                        }
                    }
                }
                let mut line = format!("{} ({}", j.condition(), j.cardinality.as_str());
                if j.id_translation {
                    line.push_str(", id translation");
                }
                line.push(')');
                if let Some(d) = &j.description {
                    line.push_str(&format!(": {}", d.trim()));
                }
                join_lines.push(line);
            }
        }

        // Assemble within the budget.
        let header = format!(
            "-- Tables, columns and business context chosen for: {}\n-- Names are source.schema.table; quote nothing unless shown quoted.\n",
            question.trim()
        );
        let mut pack = Packer {
            used: counter.count(&header),
            text: header,
            budget,
            counter,
        };
        let mut tables_out = Vec::new();
        let mut left_out = Vec::new();
        for (ti, reason) in &chosen {
            let t = &cat.tables[*ti];
            let scores: Vec<f32> = (0..t.columns.len())
                .map(|ci| cscore.get(&(*ti, ci)).copied().unwrap_or(0.0))
                .collect();
            let reduced = if pack.add(&self.render_table(t, &scores, false)) {
                false
            } else if pack.add(&self.render_table(t, &scores, true)) {
                true
            } else {
                left_out.push(t.name.clone());
                continue;
            };
            let mut cols: Vec<ChosenColumn> = t
                .columns
                .iter()
                .enumerate()
                .filter(|(ci, c)| !reduced || keep_reduced(t, c, scores[*ci]))
                .map(|(ci, c)| ChosenColumn {
                    name: c.name.clone(),
                    score: round(scores[ci]),
                })
                .collect();
            cols.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.name.cmp(&b.name)));
            tables_out.push(ChosenTable {
                name: t.name.clone(),
                score: round(tscore[*ti]),
                reason: reason.clone(),
                columns: cols,
                reduced,
            });
        }
        let shown: HashSet<&str> = tables_out.iter().map(|t| t.name.as_str()).collect();
        let mut joins_out = Vec::new();
        if !join_lines.is_empty() {
            let mut block = String::from("\n-- How these tables join:\n");
            for l in &join_lines {
                block.push_str(&format!("--   {l}\n"));
            }
            if pack.add(&block) {
                joins_out = join_lines;
            }
        }
        let mut terms_out = Vec::new();
        terms_hit.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for &(i, s) in terms_hit.iter().take(5) {
            let term = &cat.terms[i];
            let mut block = format!(
                "\n-- Glossary: \"{}\": {}",
                term.name,
                term.definition.replace('\n', " ")
            );
            if !term.columns.is_empty() {
                block.push_str(&format!(" (columns: {})", term.columns.join(", ")));
            }
            if !term.metrics.is_empty() {
                block.push_str(&format!(" (metrics: {})", term.metrics.join(", ")));
            }
            block.push('\n');
            if pack.add(&block) {
                terms_out.push(Scored {
                    name: term.name.clone(),
                    score: round(s),
                });
            }
        }
        let mut metrics_ranked: Vec<(usize, f32)> = metric_scores.into_iter().collect();
        metrics_ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut metrics_out = Vec::new();
        for &(mi, s) in metrics_ranked.iter().take(5) {
            let m = &cat.metrics[mi];
            if self.hidden_name(&m.table) {
                continue;
            }
            let mut block = format!("\n-- Metric {}: {}", m.name, m.sql());
            if let Some(d) = &m.description {
                block.push_str(&format!("\n--   {}", d.trim().replace('\n', " ")));
            }
            if !m.dimensions.is_empty() {
                block.push_str(&format!(
                    "\n--   may be grouped by: {}",
                    m.dimensions.join(", ")
                ));
            }
            for a in cat.notes_for(&format!("metric:{}", m.name)) {
                block.push_str(&format!("\n--   note: {}", a.note.replace('\n', " ")));
            }
            block.push('\n');
            if pack.add(&block) {
                metrics_out.push(Scored {
                    name: m.name.clone(),
                    score: round(s),
                });
            }
        }
        let mut examples_out = Vec::new();
        for &(ei, s) in ex.iter().take(3) {
            let e = &cat.examples[ei];
            // An example over tables not shown would mislead more than help.
            if !e.tables.iter().all(|t| shown.contains(t.as_str())) {
                continue;
            }
            let block = format!(
                "\n-- Verified example. Q: {}\n{};\n",
                e.question,
                e.sql.trim_end_matches(';')
            );
            if pack.add(&block) {
                examples_out.push(Scored {
                    name: e.question.clone(),
                    score: round(s),
                });
            }
        }
        for &i in order.iter().skip(core.len()).take(5) {
            if !shown.contains(cat.tables[i].name.as_str()) && tscore[i] >= 0.3 * top {
                left_out.push(cat.tables[i].name.clone());
            }
        }
        // The annotations the text carries: on shown tables and columns (full renderings only)
        // and on shown metrics.
        let mut notes_out = Vec::new();
        for a in &cat.annotations {
            let target = a.target.to_lowercase();
            let on_table = tables_out.iter().any(|t| {
                let name = t.name.to_lowercase();
                !t.reduced
                    && (target == name
                        || target.strip_prefix(&format!("{name}.")).is_some_and(|c| {
                            t.columns.iter().any(|x| x.name.eq_ignore_ascii_case(c))
                        }))
            });
            let on_metric = metrics_out
                .iter()
                .any(|m| target == format!("metric:{}", m.name.to_lowercase()));
            if on_table || on_metric {
                notes_out.push(format!(
                    "{}: {}",
                    a.target,
                    a.note.trim().replace('\n', " ")
                ));
            }
        }
        let text = pack.text;
        let tokens = counter.count(&text);
        Selection {
            annotations: notes_out,
            question: question.to_string(),
            tables: tables_out,
            metrics: metrics_out,
            terms: terms_out,
            examples: examples_out,
            joins: joins_out,
            left_out,
            tokens,
            budget,
            tokenizer: counter.describe(),
            text,
        }
    }

    /// Shortest join path between two tables, at most `max_hops` joins.
    fn path(&self, from: usize, to: usize, max_hops: usize) -> Option<Vec<usize>> {
        let mut prev: HashMap<usize, usize> = HashMap::new();
        let mut q = VecDeque::from([(from, 0usize)]);
        prev.insert(from, from);
        while let Some((n, d)) = q.pop_front() {
            if n == to {
                let mut p = vec![to];
                let mut c = to;
                while c != from {
                    c = prev[&c];
                    p.push(c);
                }
                p.reverse();
                return Some(p);
            }
            if d == max_hops {
                continue;
            }
            for &(m, _) in &self.graph[n] {
                if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(m) {
                    e.insert(n);
                    q.push_back((m, d + 1));
                }
            }
        }
        None
    }

    fn render_table(&self, t: &Table, scores: &[f32], reduced: bool) -> String {
        let mut s = format!("\n-- {}", t.name);
        if let Some(d) = &t.description {
            s.push_str(&format!(": {}", d.trim().replace('\n', " ")));
        }
        s.push('\n');
        let mut facts = Vec::new();
        if let Some(g) = &t.grain {
            facts.push(format!("one row per {g}"));
        }
        if let Some(tc) = &t.time_column {
            facts.push(format!("time column {tc}"));
        }
        if let Some(p) = &t.partitioning {
            facts.push(format!("partitioned by {p}"));
        }
        match t.sampled.as_ref().and_then(|s| s.rate()) {
            Some(r) if r.is_nan() => facts.push("SAMPLED".into()),
            Some(r) => facts.push(format!("SAMPLED at rate {r}: not for exact answers")),
            None if t.sampled.is_some() => facts.push("unsampled (exact)".into()),
            None => {}
        }
        if let Some(n) = t.row_count {
            facts.push(format!("{n} rows"));
        }
        if !facts.is_empty() {
            s.push_str(&format!("-- ({})\n", facts.join("; ")));
        }
        if !reduced {
            for a in self.cat.notes_for(&t.name) {
                if a.target.eq_ignore_ascii_case(&t.name) {
                    s.push_str(&format!("-- NOTE: {}\n", a.note.replace('\n', " ")));
                }
            }
        }
        s.push_str(&format!("CREATE TABLE {} (\n", t.name));
        let mut hidden = 0;
        let mut lines = Vec::new();
        for (ci, c) in t.columns.iter().enumerate() {
            if reduced && !keep_reduced(t, c, scores[ci]) {
                hidden += 1;
                continue;
            }
            let mut line = format!("  {} {}", c.name, c.data_type.as_deref().unwrap_or("?"));
            let mut notes = Vec::new();
            if !reduced && let Some(d) = &c.description {
                notes.push(d.trim().trim_end_matches('.').replace('\n', " "));
            }
            if let Some(u) = &c.unit {
                notes.push(format!("unit: {u}"));
            }
            if !c.allowed_values.is_empty() {
                notes.push(format!("values: {}", quoted(&c.allowed_values, 12)));
            } else if let Some(st) = &c.stats
                && self.sample_values
                && !st.common_values.is_empty()
                && !c.is_pii()
            {
                let vals: Vec<String> = st.common_values.iter().map(|(v, _)| v.clone()).collect();
                notes.push(format!(
                    "values include: {}",
                    quoted(&vals, if reduced { 6 } else { 12 })
                ));
            }
            if c.is_pii() {
                notes.push(format!(
                    "PII: {}",
                    c.classification
                        .as_ref()
                        .and_then(|x| x.pii.as_deref())
                        .unwrap_or("yes")
                ));
            }
            if !reduced {
                for a in self.cat.notes_for(&format!("{}.{}", t.name, c.name)) {
                    notes.push(format!("NOTE: {}", a.note.replace('\n', " ")));
                }
            }
            if !notes.is_empty() {
                line.push_str(&format!(" -- {}", notes.join("; ")));
            }
            lines.push(line);
        }
        // Commas go before the comments: put them on the column part.
        let n = lines.len();
        for (i, l) in lines.into_iter().enumerate() {
            let comma = if i + 1 < n { "," } else { "" };
            match l.find(" -- ") {
                Some(p) => s.push_str(&format!("{}{comma}{}\n", &l[..p], &l[p..])),
                None => s.push_str(&format!("{l}{comma}\n")),
            }
        }
        if hidden > 0 {
            s.push_str(&format!("  -- … {hidden} more columns not shown\n"));
        }
        s.push_str(");\n");
        s
    }
}

/// The context text being assembled, and the tokens it has used of its budget.
struct Packer<'c> {
    text: String,
    used: usize,
    budget: usize,
    counter: &'c TokenCounter,
}

impl Packer<'_> {
    /// Append `block` if it fits in what is left of the budget.
    fn add(&mut self, block: &str) -> bool {
        let n = self.counter.count(block);
        if self.used + n > self.budget {
            return false;
        }
        self.used += n;
        self.text.push_str(block);
        true
    }
}

/// In a reduced table: columns that matched, plus its time column.
fn keep_reduced(t: &Table, c: &crate::catalog::Column, score: f32) -> bool {
    score > 0.0 || t.time_column.as_deref() == Some(c.name.as_str())
}

fn quoted(values: &[String], max: usize) -> String {
    let mut v: Vec<String> = values
        .iter()
        .take(max)
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect();
    if values.len() > max {
        v.push("…".into());
    }
    v.join(", ")
}

fn round(x: f32) -> f64 {
    (x as f64 * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_shards_are_recognised() {
        assert_eq!(date_shard_base("sales_orders_202401"), Some("sales_orders"));
        assert_eq!(
            date_shard_base("sales_orders_20240131"),
            Some("sales_orders")
        );
        assert_eq!(
            date_shard_base("sales_orders_2024_01"),
            Some("sales_orders")
        );
        assert_eq!(
            date_shard_base("sales_orders_2024_01_31"),
            Some("sales_orders")
        );
        assert_eq!(date_shard_base("sales_orders_v2"), None);
        assert_eq!(date_shard_base("orders_2024"), None);
    }

    #[test]
    fn words_split_and_stem() {
        let a = Analyzer::default();
        assert_eq!(
            a.terms("Top accounts by billableUnits"),
            vec!["account", "billabl", "unit"]
        );
        assert_eq!(a.terms("workers_requests"), vec!["worker", "request"]);
    }
}
