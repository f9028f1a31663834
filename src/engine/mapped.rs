//! Local files read through memory maps: [`MappedLocalFiles`].
//!
//! `object_store`'s `LocalFileSystem` serves each read by opening the file on a blocking
//! thread, zero-filling a buffer and `pread`ing into it: per column chunk, an `open`, a hand-off
//! to the blocking pool and back, a `memset` and the kernel's copy out of the page cache. Over
//! the 22 TPC-H queries at SF1 that was 4–5% of all CPU samples (`_copy_to_iter` 3.1%, the
//! `memset` in `read_range` 1.6%), besides the thread hand-offs (`futex` was 80% of syscall
//! time under `strace -c`). This store answers a read with slices of a memory map of the bytes
//! asked for (for `get_ranges`, one map spanning a row group's column chunks): no buffer to
//! fill, no copy, no blocking thread. A map lives as long as the slices of it the reader holds,
//! so resident memory follows the data in flight, as with `pread`, not the files' sizes.
//!
//! Each read opens the file and maps it as it is at that moment. Everything but plain ranged
//! reads (listing, heads, conditional gets, writes) goes to the `LocalFileSystem` it wraps, as
//! do reads it cannot answer, so errors are `object_store`'s own.
//!
//! The known cost of mapping: a file truncated *in place* while a query reads it would fault
//! (SIGBUS) instead of failing the read. Files replaced the usual way (written elsewhere, then
//! renamed over) are safe: the old inode stays mapped until its last slice is dropped.
//! `[engine] mmap = false` turns this store off.

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
use std::ops::Range;
use std::os::unix::fs::MetadataExt;

#[derive(Debug, Default)]
pub(crate) struct MappedLocalFiles {
    inner: LocalFileSystem,
}

impl MappedLocalFiles {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The bytes `span(len)` names of `location` as it is now, mapped, with the span and the
    /// file's metadata; `None` when the file cannot be mapped (missing, empty, not a regular
    /// file) or `span` is not inside it: the caller then asks `inner`, whose error or answer
    /// is the right one.
    fn map(
        &self,
        location: &Path,
        span: impl FnOnce(u64) -> Option<Range<u64>>,
    ) -> Option<(Bytes, Range<u64>, ObjectMeta)> {
        let path = self.inner.path_to_filesystem(location).ok()?;
        let file = std::fs::File::open(&path).ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() == 0 {
            return None;
        }
        let span = span(meta.len()).filter(|r| r.start < r.end && r.end <= meta.len())?;
        // SAFETY: a read-only private map of an open file. Its contents change only if the
        // file is modified in place, which lake files are not; see the module notes.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(span.start)
                .len((span.end - span.start) as usize)
                .map(&file)
        }
        .ok()?;
        Some((Bytes::from_owner(map), span, object_meta(location, &meta)))
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
            && let Some((bytes, span, meta)) = self.map(location, |len| range.as_range(len).ok())
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
        if let Some((bytes, span, _)) = self.map(location, covering) {
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
        (MappedLocalFiles::new(), dir, location)
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
}
