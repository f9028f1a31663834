//! Local files read through memory maps: [`MappedLocalFiles`].
//!
//! `object_store`'s `LocalFileSystem` serves each read by opening the file on a blocking
//! thread, zero-filling a buffer and `pread`ing into it: per column chunk, an `open`, a hand-off
//! to the blocking pool and back, a `memset` and the kernel's copy out of the page cache. Over
//! the 22 TPC-H queries at SF1 that was 4–5% of all CPU samples (`_copy_to_iter` 3.1%, the
//! `memset` in `read_range` 1.6%), besides the thread hand-offs (`futex` was 80% of syscall
//! time under `strace -c`). This store answers a read with slices of a memory map: no buffer
//! to fill, no copy, no blocking thread.
//!
//! Two kinds of map:
//! - **Per read** (the first time a file is read): a map of just the bytes asked for (for
//!   `get_ranges`, one map spanning a row group's column chunks), gone when the reader drops
//!   its last slice of it. Resident memory follows the data in flight, as with `pread`, so a
//!   one-pass job (an export of a whole table) stays flat however large the file.
//! - **Kept** (a file read again by a later statement, see [`MappedLocalFiles::new`]'s
//!   `statements`): one map of the whole file, kept for the reads that follow. A file a
//!   session keeps querying is then read with no map, fault or unmap per read: 5% of warm
//!   TPC-H time at SF1. Its pages are the kernel's page cache, clean and reclaimable, but they
//!   count in the process's RSS. Kept maps are bounded: a quarter of physical memory in all
//!   ([`KEPT_SHARE`]), the least recently read dropped first, and a map not read for [`KEPT_IDLE`]
//!   statements dropped at the next read of any file (which also frees a deleted file's disk
//!   space). A file whose identity (device, inode, size, modification time) changed is
//!   mapped anew.
//!
//! Everything but plain ranged reads (listing, heads, conditional gets, writes) goes to the
//! `LocalFileSystem` it wraps, as do reads it cannot answer, so errors are `object_store`'s own.
//!
//! The known cost of mapping: a file truncated *in place* while mapped would fault (SIGBUS)
//! instead of failing the read. Files replaced the usual way (written elsewhere, then renamed
//! over) are safe: the old inode stays mapped until its last slice is dropped, and the next
//! read sees the new identity. `[engine] mmap = false` turns this store off.

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    Attributes, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    Result,
};
use std::collections::HashMap;
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The share of physical memory kept maps may span in all.
pub(crate) const KEPT_SHARE: u64 = 4; // a quarter
/// Statements after which a file not read since is forgotten (its kept map dropped).
pub(crate) const KEPT_IDLE: u64 = 256;

#[derive(Debug)]
pub(crate) struct MappedLocalFiles {
    inner: LocalFileSystem,
    /// Bumped by the engine at each statement it plans; a file read in two is kept mapped.
    statements: Arc<AtomicU64>,
    /// Bytes kept maps may span in all.
    budget: u64,
    files: Mutex<Files>,
}

#[derive(Debug, Default)]
struct Files {
    by_path: HashMap<PathBuf, Seen>,
    kept_bytes: u64,
}

/// What is known of a file: who it is, the statement that first and last read it, and its
/// whole-file map once kept.
#[derive(Debug)]
struct Seen {
    identity: Identity,
    first: u64,
    last: u64,
    kept: Option<Bytes>,
}

/// A file as it is on disk now: replaced or rewritten files differ in one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl Identity {
    fn of(m: &std::fs::Metadata) -> Self {
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        }
    }
}

impl MappedLocalFiles {
    /// `statements` is the engine's statement counter: a file read while it reads `n` and
    /// again at a later value is kept mapped whole (within the budget).
    pub(crate) fn new(statements: Arc<AtomicU64>) -> Self {
        Self::with_budget(statements, physical_memory() / KEPT_SHARE)
    }

    pub(crate) fn with_budget(statements: Arc<AtomicU64>, budget: u64) -> Self {
        MappedLocalFiles {
            inner: LocalFileSystem::new(),
            statements,
            budget,
            files: Mutex::default(),
        }
    }

    /// Bytes of files kept mapped whole now.
    #[cfg(test)]
    fn kept_bytes(&self) -> u64 {
        self.files.lock().unwrap().kept_bytes
    }

    /// The bytes `span(len)` names of `location` as it is now, with the span and the file's
    /// metadata: a slice of the file's kept map, or a map of just the span; `None` when the
    /// file cannot be mapped (missing, empty, not a regular file) or `span` is not inside it:
    /// the caller then asks `inner`, whose error or answer is the right one.
    fn read(
        &self,
        location: &Path,
        span: impl FnOnce(u64) -> Option<Range<u64>>,
    ) -> Option<(Bytes, Range<u64>, ObjectMeta)> {
        let path = self.inner.path_to_filesystem(location).ok()?;
        let now = self.statements.load(Ordering::Relaxed);
        let Ok(meta) = std::fs::metadata(&path) else {
            self.forget(&path);
            return None;
        };
        if !meta.is_file() || meta.len() == 0 {
            return None;
        }
        let span = span(meta.len()).filter(|r| r.start < r.end && r.end <= meta.len())?;
        let identity = Identity::of(&meta);
        if let Some(whole) = self.kept(&path, identity, now) {
            let bytes = whole.slice(span.start as usize..span.end as usize);
            return Some((bytes, span, object_meta(location, &meta)));
        }
        let file = std::fs::File::open(&path).ok()?;
        let meta = file.metadata().ok()?;
        if Identity::of(&meta) != identity {
            // Replaced between the two looks: `inner` reads whatever is there now.
            return None;
        }
        let bytes = map(&file, span.clone())?;
        Some((bytes, span, object_meta(location, &meta)))
    }

    /// The file's kept whole-file map, made now if the file was first read by an earlier
    /// statement and the budget has room; `None` means map just the span. Records the read.
    fn kept(&self, path: &std::path::Path, identity: Identity, now: u64) -> Option<Bytes> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.sweep(now);
        let seen = files.by_path.get_mut(path);
        match seen {
            Some(seen) if seen.identity == identity => {
                seen.last = now;
                if let Some(kept) = &seen.kept {
                    return Some(kept.clone());
                }
                if seen.first == now {
                    return None;
                }
            }
            _ => {
                files.remove(path);
                files.by_path.insert(
                    path.to_path_buf(),
                    Seen {
                        identity,
                        first: now,
                        last: now,
                        kept: None,
                    },
                );
                return None;
            }
        }
        // Read again by a later statement: keep it whole, if it fits.
        if identity.len > self.budget {
            return None;
        }
        files.make_room(identity.len, self.budget);
        let file = std::fs::File::open(path).ok()?;
        let meta = file.metadata().ok()?;
        if Identity::of(&meta) != identity {
            return None;
        }
        let whole = map(&file, 0..identity.len)?;
        files.kept_bytes += identity.len;
        files.by_path.get_mut(path)?.kept = Some(whole.clone());
        Some(whole)
    }

    fn forget(&self, path: &std::path::Path) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.remove(path);
    }
}

impl Files {
    fn remove(&mut self, path: &std::path::Path) {
        if let Some(Seen {
            kept: Some(whole), ..
        }) = self.by_path.remove(path)
        {
            self.kept_bytes -= whole.len() as u64;
        }
    }

    /// Forget files no statement has read for [`KEPT_IDLE`] statements.
    fn sweep(&mut self, now: u64) {
        let idle: Vec<PathBuf> = self
            .by_path
            .iter()
            .filter(|(_, s)| s.last + KEPT_IDLE < now)
            .map(|(p, _)| p.clone())
            .collect();
        for p in idle {
            self.remove(&p);
        }
    }

    /// Drop the least recently read kept maps until `len` more bytes fit in `budget`.
    fn make_room(&mut self, len: u64, budget: u64) {
        while self.kept_bytes + len > budget {
            let Some(oldest) = self
                .by_path
                .iter()
                .filter(|(_, s)| s.kept.is_some())
                .min_by_key(|(_, s)| s.last)
                .map(|(p, _)| p.clone())
            else {
                return;
            };
            if let Some(seen) = self.by_path.get_mut(&oldest)
                && let Some(whole) = seen.kept.take()
            {
                self.kept_bytes -= whole.len() as u64;
            }
        }
    }
}

/// A read-only map of `span` of `file`, as bytes that unmap when their last slice is dropped.
fn map(file: &std::fs::File, span: Range<u64>) -> Option<Bytes> {
    // SAFETY: a read-only private map of an open file. Its contents change only if the file
    // is modified in place, which lake files are not; see the module notes.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(span.start)
            .len((span.end - span.start) as usize)
            .map(file)
    }
    .ok()?;
    Some(Bytes::from_owner(map))
}

/// Physical memory in bytes (a gigabyte when the system will not say).
fn physical_memory() -> u64 {
    // SAFETY: sysconf only reads system configuration.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        pages as u64 * size as u64
    } else {
        1 << 30
    }
}

/// The metadata `LocalFileSystem` reports for a file, e-tag included, so that both agree.
fn object_meta(location: &Path, m: &std::fs::Metadata) -> ObjectMeta {
    let modified = m.modified().unwrap_or(std::time::UNIX_EPOCH);
    let mtime_us = modified
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    ObjectMeta {
        location: location.clone(),
        last_modified: modified.into(),
        size: m.len(),
        e_tag: Some(format!("{:x}-{:x}-{:x}", m.ino(), mtime_us, m.len())),
        version: None,
    }
}

impl std::fmt::Display for MappedLocalFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MappedLocalFiles({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for MappedLocalFiles {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let plain = !options.head
            && options.if_match.is_none()
            && options.if_none_match.is_none()
            && options.if_modified_since.is_none()
            && options.if_unmodified_since.is_none()
            && options.version.is_none();
        if plain
            && let Some(range) = &options.range
            && let Some((bytes, span, meta)) = self.read(location, |len| range.as_range(len).ok())
        {
            return Ok(GetResult {
                payload: GetResultPayload::Stream(
                    futures::stream::once(async { Ok(bytes) }).boxed(),
                ),
                meta,
                range: span,
                attributes: Attributes::default(),
            });
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        // One map over all the ranges (a row group's column chunks lie close together); each
        // range a slice of it, and the map goes when the last slice is dropped.
        let covering = |len: u64| {
            let start = ranges.iter().map(|r| r.start).min()?;
            let end = ranges.iter().map(|r| r.end).max()?;
            ranges
                .iter()
                .all(|r| r.start < r.end && r.end <= len)
                .then_some(start..end)
        };
        if let Some((bytes, span, _)) = self.read(location, covering) {
            return Ok(ranges
                .iter()
                .map(|r| {
                    bytes.slice((r.start - span.start) as usize..(r.end - span.start) as usize)
                })
                .collect());
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    fn store_and_file(contents: &[u8]) -> (MappedLocalFiles, tempfile::TempDir, Path) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.bin");
        std::fs::write(&file, contents).unwrap();
        let location = Path::from_filesystem_path(&file).unwrap();
        (MappedLocalFiles::new(Arc::default()), dir, location)
    }

    fn bump(store: &MappedLocalFiles, by: u64) {
        store.statements.fetch_add(by, Ordering::Relaxed);
    }

    #[tokio::test]
    async fn ranged_reads_match_the_plain_store() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (store, _dir, at) = store_and_file(&data);
        let plain = LocalFileSystem::new();
        let ranges = [0..1, 17..4_000, 9_000..10_000];
        assert_eq!(
            store.get_ranges(&at, &ranges).await.unwrap(),
            plain.get_ranges(&at, &ranges).await.unwrap()
        );
        for r in [
            object_store::GetRange::Bounded(5..50),
            object_store::GetRange::Offset(9_990),
            object_store::GetRange::Suffix(8),
        ] {
            let opts = || GetOptions::new().with_range(Some(r.clone()));
            let ours = store.get_opts(&at, opts()).await.unwrap();
            let theirs = plain.get_opts(&at, opts()).await.unwrap();
            assert_eq!(ours.range, theirs.range);
            assert_eq!(ours.meta, theirs.meta);
            assert_eq!(ours.bytes().await.unwrap(), theirs.bytes().await.unwrap());
        }
    }

    #[tokio::test]
    async fn a_rewritten_file_is_read_anew_and_bad_ranges_fail_like_the_plain_store() {
        let (store, dir, at) = store_and_file(b"first version");
        assert_eq!(&store.get_range(&at, 0..5).await.unwrap()[..], b"first");
        let held = store.get_range(&at, 6..13).await.unwrap();
        // Replaced the usual way: a new file renamed over the old one.
        let next = dir.path().join("next.bin");
        std::fs::write(&next, b"second, longer version").unwrap();
        std::fs::rename(&next, dir.path().join("f.bin")).unwrap();
        assert_eq!(&store.get_range(&at, 0..6).await.unwrap()[..], b"second");
        assert_eq!(
            &held[..],
            b"version",
            "a slice still held reads the old file"
        );
        assert!(store.get_range(&at, 100..200).await.is_err());
        assert!(store.get_ranges(&at, &[0..1, 50..60]).await.is_err());
        let missing = Path::from_filesystem_path(dir.path()).unwrap().join("nope");
        let err = store.get_range(&missing, 0..1).await.unwrap_err();
        assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_file_read_by_two_statements_is_kept_whole_and_one_read_once_is_not() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 13 % 251) as u8).collect();
        let (store, _dir, at) = store_and_file(&data);
        let plain = LocalFileSystem::new();
        let ranges = [0..100, 4_000..20_000, 49_000..50_000];
        // One statement reading the file many times (a one-pass export): per-read maps only.
        bump(&store, 1);
        for _ in 0..3 {
            assert_eq!(
                store.get_ranges(&at, &ranges).await.unwrap(),
                plain.get_ranges(&at, &ranges).await.unwrap()
            );
        }
        assert_eq!(store.kept_bytes(), 0);
        // The next statement reads it again: now it is kept, and reads come from that map.
        bump(&store, 1);
        let held = store.get_range(&at, 10..20).await.unwrap();
        assert_eq!(store.kept_bytes(), data.len() as u64);
        assert_eq!(&held[..], &data[10..20]);
        assert_eq!(
            store.get_ranges(&at, &ranges).await.unwrap(),
            plain.get_ranges(&at, &ranges).await.unwrap()
        );
        let r = object_store::GetRange::Suffix(8);
        let ours = store
            .get_opts(&at, GetOptions::new().with_range(Some(r.clone())))
            .await
            .unwrap();
        let theirs = plain
            .get_opts(&at, GetOptions::new().with_range(Some(r)))
            .await
            .unwrap();
        assert_eq!((&ours.range, &ours.meta), (&theirs.range, &theirs.meta));
        assert_eq!(ours.bytes().await.unwrap(), theirs.bytes().await.unwrap());
        assert_eq!(store.kept_bytes(), data.len() as u64);
    }

    #[tokio::test]
    async fn a_kept_file_replaced_or_deleted_is_read_anew_or_not_found() {
        let (store, dir, at) = store_and_file(b"first version");
        bump(&store, 1);
        store.get_range(&at, 0..5).await.unwrap();
        bump(&store, 1);
        let held = store.get_range(&at, 6..13).await.unwrap();
        assert_eq!(store.kept_bytes(), 13);
        let next = dir.path().join("next.bin");
        std::fs::write(&next, b"second, longer version").unwrap();
        std::fs::rename(&next, dir.path().join("f.bin")).unwrap();
        assert_eq!(&store.get_range(&at, 0..6).await.unwrap()[..], b"second");
        assert_eq!(store.kept_bytes(), 0, "the old file's map is dropped");
        assert_eq!(
            &held[..],
            b"version",
            "a slice still held reads the old file"
        );
        bump(&store, 1);
        assert_eq!(&store.get_range(&at, 8..14).await.unwrap()[..], b"longer");
        assert_eq!(store.kept_bytes(), 22);
        std::fs::remove_file(dir.path().join("f.bin")).unwrap();
        let err = store.get_range(&at, 0..1).await.unwrap_err();
        assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
        assert_eq!(store.kept_bytes(), 0, "a deleted file's map is dropped");
    }

    #[tokio::test]
    async fn kept_maps_stay_within_the_budget_and_idle_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, len: usize| {
            let f = dir.path().join(name);
            std::fs::write(&f, vec![name.as_bytes()[0]; len]).unwrap();
            Path::from_filesystem_path(&f).unwrap()
        };
        let (a, b, big) = (file("a", 100), file("b", 100), file("c", 1_000));
        let store = MappedLocalFiles::with_budget(Arc::default(), 150);
        for at in [&a, &b, &big] {
            store.get_range(at, 0..1).await.unwrap();
        }
        bump(&store, 1);
        assert_eq!(&store.get_range(&a, 0..2).await.unwrap()[..], b"aa");
        assert_eq!(store.kept_bytes(), 100);
        // `b` needs room: `a`, the least recently read, goes.
        assert_eq!(&store.get_range(&b, 0..2).await.unwrap()[..], b"bb");
        assert_eq!(store.kept_bytes(), 100);
        // Larger than the whole budget: never kept, still read.
        assert_eq!(&store.get_range(&big, 998..1_000).await.unwrap()[..], b"cc");
        assert_eq!(store.kept_bytes(), 100);
        // Long unread, `b` is forgotten at the next read of any file.
        bump(&store, KEPT_IDLE + 1);
        store.get_range(&big, 0..1).await.unwrap();
        assert_eq!(store.kept_bytes(), 0);
    }
}
