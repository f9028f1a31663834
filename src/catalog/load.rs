//! Reading `context/`: every `*.yaml`/`*.yml` file at its top level and every
//! `transforms/*.sql`. A file that does not parse or has the wrong shape is an error with its
//! file, line and column; if any file fails, nothing is returned, so nothing half-loaded is
//! ever used.

use super::model::ContextFile;
use super::{Diagnostic, Pos, Severity};
use marked_yaml::{LoaderOptions, Marker, Span};
use std::path::{Path, PathBuf};

/// The files of one `context/` folder, parsed.
#[derive(Debug, Default)]
pub struct ContextDocs {
    pub dir: PathBuf,
    /// Display names of the YAML files, indexed by marked-yaml's source number.
    pub names: Vec<String>,
    pub files: Vec<ContextFile>,
    /// `(display name, SQL text)` of each transformation file.
    pub transforms: Vec<(String, String)>,
}

impl ContextDocs {
    /// The position a span starts at, with its file's name.
    pub fn pos(&self, span: &Span) -> Option<Pos> {
        span.start().map(|m| self.marker_pos(m))
    }

    fn marker_pos(&self, m: &Marker) -> Pos {
        Pos {
            file: self.names.get(m.source()).cloned().unwrap_or_default(),
            line: m.line(),
            column: m.column(),
        }
    }
}

/// Load `dir`. A missing folder is an empty catalog (Skipper still answers from the sources'
/// own schemas); anything unreadable or malformed is a list of errors.
pub fn load(dir: &Path) -> Result<ContextDocs, Vec<Diagnostic>> {
    let mut docs = ContextDocs {
        dir: dir.to_path_buf(),
        ..Default::default()
    };
    if !dir.is_dir() {
        return Ok(docs);
    }
    let mut errors = Vec::new();
    let yaml_files = match list_files(dir, YAML) {
        Ok(v) => v,
        Err(e) => return Err(vec![Diagnostic::error(None, e)]),
    };
    docs.names = yaml_files.iter().map(|p| p.display().to_string()).collect();
    for (i, outcome) in parse_all(&yaml_files).into_iter().enumerate() {
        let name = docs.names[i].clone();
        match outcome {
            Ok(f) => docs.files.push(f),
            Err(Parse::Read(e)) => errors.push(Diagnostic::error(
                Some(Pos::file(&name)),
                format!("cannot read: {e}"),
            )),
            Err(Parse::Yaml(e, text)) => {
                let (mut pos, message) = describe(&docs, &e);
                let e = *e;
                // An unknown key is reported at its mapping; point at the key itself.
                if let marked_yaml::FromYamlError::FromNode(ne) = &e
                    && let marked_yaml::Error::UnknownFieldError(field, _, _) = &**ne
                    && let Some(p) = pos.as_mut()
                {
                    refine_to_key(p, &text, field);
                }
                errors.push(Diagnostic::error(
                    Some(pos.unwrap_or_else(|| Pos::file(&name))),
                    message,
                ));
            }
        }
    }
    let tdir = dir.join("transforms");
    if tdir.is_dir() {
        match list_files(&tdir, SQL) {
            Ok(v) => {
                for p in v {
                    match std::fs::read_to_string(&p) {
                        Ok(t) => docs.transforms.push((p.display().to_string(), t)),
                        Err(e) => errors.push(Diagnostic::error(
                            Some(Pos::file(&p.display().to_string())),
                            format!("cannot read: {e}"),
                        )),
                    }
                }
            }
            Err(e) => errors.push(Diagnostic::error(None, e)),
        }
    }
    if errors.is_empty() {
        Ok(docs)
    } else {
        Err(errors)
    }
}

/// The extensions of the files `load` reads: YAML at the top level, SQL under `transforms/`.
pub const YAML: &[&str] = &["yaml", "yml"];
pub const SQL: &[&str] = &["sql"];

/// The files directly in `d` with one of these extensions, sorted.
pub fn list_files(d: &Path, exts: &[&str]) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d)
        .map_err(|e| format!("cannot list {}: {e}", d.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| exts.contains(&e))
        })
        .collect();
    v.sort();
    Ok(v)
}

enum Parse {
    Read(std::io::Error),
    Yaml(Box<marked_yaml::FromYamlError>, String),
}

/// Parse one file. The fast path deserialises straight from the parsed nodes; only a file
/// with an error is deserialised again with path tracking, which finds the error's place.
fn parse_one(index: usize, path: &Path) -> Result<ContextFile, Parse> {
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    let text = std::fs::read_to_string(path).map_err(Parse::Read)?;
    if text.trim().is_empty() {
        return Ok(ContextFile::default());
    }
    let options = || LoaderOptions::default().error_on_duplicate_keys(true);
    let node = marked_yaml::parse_yaml_with_options(index, &text, options())
        .map_err(|e| Parse::Yaml(Box::new(e.into()), String::new()))?;
    match ContextFile::deserialize((&node).into_deserializer()) {
        Ok(f) => Ok(f),
        Err(_) => match marked_yaml::from_yaml_with_options::<ContextFile>(index, &text, options())
        {
            Ok(f) => Ok(f),
            Err(e) => Err(Parse::Yaml(Box::new(e), text)),
        },
    }
}

/// Parse every file, spread over the machine's cores (a large catalog is many files).
fn parse_all(paths: &[PathBuf]) -> Vec<Result<ContextFile, Parse>> {
    par_map(paths, |i, p| parse_one(i, p))
}

/// `f` over `items` on as many threads as the machine has cores (each takes the next item
/// when it is done), results in the items' order.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len())
        .max(1);
    if workers == 1 {
        return items.iter().enumerate().map(|(i, x)| f(i, x)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(x) = items.get(i) else {
                            break out;
                        };
                        out.push((i, f(i, x)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker thread panicked"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Where a YAML error is and what it says, without the library's own position prefix.
fn describe(docs: &ContextDocs, e: &marked_yaml::FromYamlError) -> (Option<Pos>, String) {
    let (m, what) = yaml_error(e);
    (m.map(|m| docs.marker_pos(&m)), what)
}

/// Where a YAML file went wrong (line and column, when known) and what, in words.
pub fn yaml_error(e: &marked_yaml::FromYamlError) -> (Option<Marker>, String) {
    use marked_yaml::LoadError as L;
    match e {
        marked_yaml::FromYamlError::ParseYaml(le) => match le {
            L::TopLevelMustBeMapping(m) => (
                Some(*m),
                "the top level must be a mapping of sections (datasets:, glossary:, …)".to_string(),
            ),
            L::TopLevelMustBeSequence(m) => (Some(*m), "the top level must be a sequence".into()),
            L::UnexpectedAnchor(m) => (Some(*m), "YAML anchors are not supported".into()),
            L::MappingKeyMustBeScalar(m) => (Some(*m), "keys must be plain scalars".into()),
            L::UnexpectedTag(m) => (Some(*m), "YAML tags are not supported".into()),
            L::ScanError(m, s) => (Some(*m), format!("invalid YAML: {}", s.info())),
            L::DuplicateKey(inner) => (
                inner.key.span().start().copied(),
                format!("duplicate key \"{}\"", inner.key.as_str()),
            ),
        },
        marked_yaml::FromYamlError::FromNode(ne) => {
            let mut text = ne.to_string();
            if let Some(p) = ne.path() {
                text = format!("{p}: {text}");
            }
            (ne.start_mark(), text)
        }
    }
}

/// Move `pos` to the first line at or after it that starts with `key:` (a YAML key).
pub fn refine_to_key(pos: &mut Pos, text: &str, key: &str) {
    for (i, line) in text.lines().enumerate().skip(pos.line.saturating_sub(1)) {
        let trimmed = line.trim_start_matches([' ', '-']);
        if trimmed.starts_with(&format!("{key}:")) {
            pos.line = i + 1;
            pos.column = line.len() - trimmed.len() + 1;
            return;
        }
    }
}

impl Diagnostic {
    pub fn error(pos: Option<Pos>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            pos,
            message: message.into(),
        }
    }
    pub fn warning(pos: Option<Pos>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            pos,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_errors_point_at_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "datasets:\n  - name: lake.main.t\n    descripton: typo\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.yaml"),
            "glossary:\n  - name: [unclosed\n",
        )
        .unwrap();
        let errs = load(dir.path()).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        let a = errs[0].pos.as_ref().unwrap();
        assert!(a.file.ends_with("a.yaml"));
        assert_eq!(a.line, 3, "{errs:?}");
        assert!(
            errs[0].message.contains("descripton"),
            "{}",
            errs[0].message
        );
        assert!(errs[1].pos.as_ref().unwrap().file.ends_with("b.yaml"));
    }
}
