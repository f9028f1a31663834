//! The built-catalog cache: [`Catalog::build`] of a large `context/` costs the YAML parse, the
//! snapshot parse and the merge (at 10k tables ~0.7 s), and every `skipper ask` needs it. So a
//! successful build is kept under the data dir, keyed by a digest of everything the build reads:
//!
//! - the content of every file `load` reads (`context/*.yaml|yml`, `context/transforms/*.sql`)
//!   and the folder's name as given (positions in diagnostics carry it);
//! - the stored snapshot of each configured source (its text, as the store holds it);
//! - the dbt manifest, when one is configured;
//! - this cache's format and the executable that wrote it (a rebuilt Skipper never reads a
//!   catalog an older one built).
//!
//! Contents, not sizes and times, are digested (BLAKE3): an edit within the same second, or a
//! checkout that restores old times, can never reuse a stale build. Reading the files costs a
//! few milliseconds against the parse it saves. A cached catalog is exactly what the build
//! made, positions and diagnostics included; usage counts are learned afresh each time.
//!
//! Writes are atomic (a temporary file renamed into place); a cache that is missing, corrupt,
//! from another key or unreadable is a miss, never an error.

use super::Catalog;
use super::load;
use super::store::Store;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bumped whenever the serialised [`Catalog`] changes shape.
const FORMAT: &str = "skipper catalog cache 1";

/// A digest of everything one build reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(blake3::Hash);

impl Key {
    /// The key for building from `context_dir`, the snapshots of `sources` in `store`, and the
    /// dbt manifest at `dbt`. `None` when the build would not be cached: a source has no
    /// snapshot yet (it is taken during the build), or a file cannot be read (the full load
    /// reports it).
    pub fn compute(
        context_dir: &Path,
        store: &Store,
        sources: &[&str],
        dbt: Option<&Path>,
    ) -> Option<Key> {
        let mut h = blake3::Hasher::new();
        let field = |h: &mut blake3::Hasher, bytes: &[u8]| {
            h.update(&(bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(&mut h, FORMAT.as_bytes());
        field(&mut h, env!("CARGO_PKG_VERSION").as_bytes());
        field(&mut h, executable_identity().as_bytes());
        field(&mut h, context_dir.display().to_string().as_bytes());
        if context_dir.is_dir() {
            let mut files = load::list_files(context_dir, load::YAML).ok()?;
            let tdir = context_dir.join("transforms");
            if tdir.is_dir() {
                files.extend(load::list_files(&tdir, load::SQL).ok()?);
            }
            for f in files {
                field(&mut h, f.display().to_string().as_bytes());
                let text = std::fs::read(&f).ok()?;
                field(&mut h, blake3::hash(&text).as_bytes());
            }
        } else {
            field(&mut h, b"no context folder");
        }
        let mut names: Vec<&str> = sources.to_vec();
        names.sort_unstable();
        for s in names {
            field(&mut h, s.as_bytes());
            let digest = store.digest(s).ok()??;
            field(&mut h, digest.as_bytes());
        }
        if let Some(p) = dbt {
            field(&mut h, p.display().to_string().as_bytes());
            let text = std::fs::read(p).ok()?;
            field(&mut h, blake3::hash(&text).as_bytes());
        }
        Some(Key(h.finalize()))
    }

    fn hex(&self) -> String {
        self.0.to_hex().to_string()
    }
}

/// The running executable's path, size and modification time: a new build is a new identity.
fn executable_identity() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return String::new();
    };
    let meta = std::fs::metadata(&exe).ok();
    let modified = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}\n{}\n{modified}",
        exe.display(),
        meta.map_or(0, |m| m.len())
    )
}

/// Where the cached build for the configuration `config_key` lives.
pub fn path(data_dir: &Path, config_key: &str) -> PathBuf {
    let name = blake3::hash(config_key.as_bytes()).to_hex();
    data_dir
        .join("catalog-cache")
        .join(format!("{}.json", &name[..16]))
}

/// The tables are stored in this many separately parsed sections (the rest of the catalog is
/// one more), so reading spreads over the machine's cores.
const TABLE_CHUNKS: usize = 8;

/// The cached build at `path` when it was made from exactly `key`.
///
/// The file is the key's hex digits and a newline, the byte lengths of the sections separated
/// by spaces and a newline, then the sections: the catalog without its tables, then the tables
/// in [`TABLE_CHUNKS`] JSON arrays.
pub fn read(path: &Path, key: &Key) -> Option<Catalog> {
    let bytes = std::fs::read(path).ok()?;
    let (first, rest) = split_line(&bytes)?;
    if first != key.hex().as_bytes() {
        return None;
    }
    let (lengths, mut body) = split_line(rest)?;
    let mut sections = Vec::new();
    for n in std::str::from_utf8(lengths).ok()?.split(' ') {
        let n: usize = n.parse().ok()?;
        if n > body.len() {
            return None;
        }
        let (section, tail) = body.split_at(n);
        sections.push(section);
        body = tail;
    }
    enum Section {
        Rest(Box<Catalog>),
        Tables(Vec<super::Table>),
    }
    let parsed = load::par_map(&sections, |i, bytes| {
        if i == 0 {
            serde_json::from_slice(bytes).map(|c| Section::Rest(Box::new(c)))
        } else {
            serde_json::from_slice(bytes).map(Section::Tables)
        }
    });
    let mut cat = None;
    let mut tables = Vec::new();
    for p in parsed {
        match p {
            Ok(Section::Rest(c)) => cat = Some(*c),
            Ok(Section::Tables(t)) => tables.extend(t),
            Err(e) => {
                tracing::debug!("catalog cache {} unreadable: {e}", path.display());
                return None;
            }
        }
    }
    let mut cat = cat?;
    cat.tables = tables;
    cat.reindex();
    Some(cat)
}

/// One section of the file, whatever its type.
mod erased {
    pub trait Section {
        fn write_json(&self, w: &mut dyn std::io::Write) -> std::io::Result<()>;
    }
    impl<T: serde::Serialize + ?Sized> Section for T {
        fn write_json(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
            serde_json::to_writer(w, self).map_err(std::io::Error::other)
        }
    }
}

fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let newline = bytes.iter().position(|&b| b == b'\n')?;
    Some((&bytes[..newline], &bytes[newline + 1..]))
}

/// Keep `cat`, built from `key`, at `path` (atomically: a reader sees the old file or the new
/// one, never part of one).
pub fn write(path: &Path, key: &Key, cat: &Catalog) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("cache"),
        std::process::id()
    ));
    let result = (|| {
        use std::io::{Seek, SeekFrom};
        // Streamed straight to the file (a buffer of the whole thing would be ~80 MB at 10k
        // tables, and faulting that memory in costs more than the writing): the header's
        // lengths are written as a fixed-width placeholder and filled in at the end.
        let per_chunk = cat.tables.len().div_ceil(TABLE_CHUNKS).max(1);
        let chunks: Vec<&[super::Table]> = cat.tables.chunks(per_chunk).collect();
        let width = 20;
        let header_len = (chunks.len() + 1) * (width + 1);
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(key.hex().as_bytes())?;
        f.write_all(b"\n")?;
        f.write_all(&vec![b' '; header_len])?;
        let mut lengths = Vec::new();
        let mut at = f.stream_position()?;
        let mut section = |f: &mut std::io::BufWriter<std::fs::File>,
                           value: &dyn erased::Section|
         -> std::io::Result<()> {
            value.write_json(f)?;
            let end = f.stream_position()?;
            lengths.push(format!("{:0width$}", end - at));
            at = end;
            Ok(())
        };
        section(&mut f, cat)?;
        for c in &chunks {
            section(&mut f, c)?;
        }
        let header = lengths.join(" ") + "\n";
        debug_assert_eq!(header.len(), header_len);
        f.seek(SeekFrom::Start(key.hex().len() as u64 + 1))?;
        f.write_all(header.as_bytes())?;
        // No fsync: a file cut short by a crash fails to parse, which is a miss.
        f.into_inner().map_err(|e| e.into_error())?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::store::{ColumnSnapshot, ColumnStats, SourceSnapshot, TableSnapshot};

    const CONTEXT: &str = "datasets:
  - name: wh.main.orders
    description: One row per order.
    sampled: {rate: 0.25}
    columns:
      - name: amount
        description: Order total.
metrics:
  - name: revenue
    expression: sum(amount)
    table: wh.main.orders
    time_column: no_such_column
";

    fn snapshot(rows: u64) -> SourceSnapshot {
        let col = |name: &str, stats: Option<ColumnStats>| ColumnSnapshot {
            name: name.into(),
            data_type: "Float64".into(),
            nullable: true,
            comment: None,
            stats,
        };
        SourceSnapshot {
            source: "wh".into(),
            kind: "sqlite".into(),
            refreshed_at: "2026-11-23T00:00:00Z".into(),
            error: None,
            tables: vec![TableSnapshot {
                schema: "main".into(),
                table: "orders".into(),
                fingerprint: None,
                comment: Some("from the source".into()),
                row_count: Some(rows),
                stats_at: None,
                columns: vec![
                    col(
                        "amount",
                        Some(ColumnStats {
                            null_fraction: 0.1 + 0.2,
                            distinct: Some(7),
                            min: Some("0.5".into()),
                            max: None,
                            common_values: vec![("a".into(), 3)],
                        }),
                    ),
                    col("placed_at", None),
                ],
            }],
        }
    }

    struct Fixture {
        dir: tempfile::TempDir,
        ctx: PathBuf,
        config: PathBuf,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let ctx = dir.path().join("context");
            std::fs::create_dir_all(ctx.join("transforms")).unwrap();
            std::fs::write(ctx.join("a.yaml"), CONTEXT).unwrap();
            std::fs::write(
                ctx.join("transforms/t.sql"),
                "CREATE TABLE wh.main.x AS SELECT 1",
            )
            .unwrap();
            let config = dir.path().join("skipper.toml");
            std::fs::write(&config, "").unwrap();
            Store::open(dir.path(), &config)
                .unwrap()
                .save(&[snapshot(10)])
                .unwrap();
            Fixture { dir, ctx, config }
        }
        fn store(&self) -> Store {
            Store::open(self.dir.path(), &self.config).unwrap()
        }
        fn key(&self) -> Option<Key> {
            Key::compute(&self.ctx, &self.store(), &["wh"], None)
        }
        fn build(&self) -> Catalog {
            let docs = load::load(&self.ctx).unwrap();
            let snap = self.store().load("wh").unwrap().unwrap();
            Catalog::build(&docs, &[snap], None)
        }
    }

    /// Everything a catalog holds, positions included (`Serialize` skips the tables, which
    /// the cache stores itself, and the index and usage, which are not cached).
    fn everything(cat: &Catalog) -> serde_json::Value {
        serde_json::json!({"rest": cat, "tables": cat.tables})
    }

    #[test]
    fn a_cached_build_reads_back_exactly_with_positions_and_diagnostics() {
        let f = Fixture::new();
        let built = f.build();
        assert!(
            built
                .diagnostics
                .iter()
                .any(|d| d.message.contains("no_such_column")
                    && d.pos.as_ref().is_some_and(|p| p.line == 12)),
            "{:?}",
            built.diagnostics
        );
        assert!(built.tables[0].pos.is_some());
        let key = f.key().unwrap();
        let path = path(f.dir.path(), f.store().config_key());
        write(&path, &key, &built).unwrap();
        let read = read(&path, &key).expect("a hit");
        assert_eq!(everything(&read), everything(&built));
        assert_eq!(read.tables[0].pos, built.tables[0].pos);
        assert_eq!(
            read.table("WH.MAIN.ORDERS").map(|t| &t.name),
            Some(&"wh.main.orders".to_string()),
            "the name index is rebuilt"
        );
        assert_eq!(read.tables[0].is_sampled(), built.tables[0].is_sampled());
        // Another key never reads it; neither does a cut-short or corrupt file.
        let other = Key(blake3::hash(b"other"));
        assert!(super::read(&path, &other).is_none());
        let text = std::fs::read(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        assert!(super::read(&path, &key).is_none());
        std::fs::write(&path, b"").unwrap();
        assert!(super::read(&path, &key).is_none());
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn the_key_changes_with_every_input_and_only_then() {
        let f = Fixture::new();
        let k0 = f.key().unwrap();
        assert_eq!(f.key().unwrap(), k0, "the same inputs give the same key");
        // A same-size edit, with the file's time put back: contents are what count.
        let file = f.ctx.join("a.yaml");
        let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, CONTEXT.replace("One row", "One Row")).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let k1 = f.key().unwrap();
        assert_ne!(k1, k0);
        std::fs::write(&file, CONTEXT).unwrap();
        assert_eq!(f.key().unwrap(), k0);
        // A transform, a new file, a new snapshot, a dbt manifest, another folder name.
        std::fs::write(
            f.ctx.join("transforms/t.sql"),
            "CREATE TABLE wh.main.x AS SELECT 2",
        )
        .unwrap();
        let k2 = f.key().unwrap();
        assert_ne!(k2, k0);
        std::fs::write(f.ctx.join("b.yml"), "").unwrap();
        let k3 = f.key().unwrap();
        assert_ne!(k3, k2);
        f.store().save(&[snapshot(11)]).unwrap();
        let k4 = f.key().unwrap();
        assert_ne!(k4, k3);
        let manifest = f.dir.path().join("manifest.json");
        std::fs::write(&manifest, "{}").unwrap();
        let k5 = Key::compute(&f.ctx, &f.store(), &["wh"], Some(&manifest)).unwrap();
        assert_ne!(k5, k4);
        std::fs::write(&manifest, "{ }").unwrap();
        assert_ne!(
            Key::compute(&f.ctx, &f.store(), &["wh"], Some(&manifest)).unwrap(),
            k5
        );
        let elsewhere = f.dir.path().join("./context");
        assert_ne!(
            Key::compute(&elsewhere, &f.store(), &["wh"], None).unwrap(),
            k4
        );
        // Not cached: a source without a snapshot, an unreadable manifest.
        assert!(Key::compute(&f.ctx, &f.store(), &["wh", "pg"], None).is_none());
        assert!(
            Key::compute(
                &f.ctx,
                &f.store(),
                &["wh"],
                Some(&f.dir.path().join("gone"))
            )
            .is_none()
        );
    }
}
