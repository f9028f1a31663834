//! The `skipper` binary: parse the command line, start tracing, run, exit with the code `run`
//! chose. Everything else lives in the library.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc, as DataFusion's CLI and Python bindings use: DataFusion allocates many short-lived
/// buffers, and glibc's malloc was measurably slower on TPC-H here (see README, benchmarks).
#[global_allocator]
static GLOBAL: Allocator = Allocator;

/// mimalloc, with large zeroed allocations faulted in for writing at once.
///
/// `vec![0; n]` asks for zeroed memory, and mimalloc hands out fresh pages from the OS as they
/// are (the kernel zeroes them when first touched). DataFusion then often reads such a buffer
/// before writing it: its dense-key join table (`ArrayMap`) checks each slot before filling it.
/// The read maps the kernel's shared zero page, and the write that follows must replace it,
/// which flushes that address from every core's TLB with an inter-processor interrupt: costly
/// under a hypervisor. `perf` of one-shot TPC-H q21 put ~30% of its samples there (under
/// `ArrayMap::try_new`, `do_wp_page`, `flush_tlb_mm_range`), and 0.42 s of its 0.45 s in
/// system time. `MADV_POPULATE_WRITE` on the allocation's whole pages faults them in writable
/// in one call instead; it never changes their contents (already-present pages are left as they
/// are), so the memory is as zeroed as mimalloc made it. Only between 1 MiB and 256 MiB: below,
/// the call costs more than it saves; above, a sparse table would be committed in full.
struct Allocator;

const POPULATE_MIN: usize = 1 << 20;
const POPULATE_MAX: usize = 256 << 20;

// SAFETY: every call is mimalloc's; `alloc_zeroed` only adds an madvise over pages inside the
// block it returned.
unsafe impl std::alloc::GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) };
        #[cfg(target_os = "linux")]
        if !p.is_null() && (POPULATE_MIN..=POPULATE_MAX).contains(&layout.size()) {
            const PAGE: usize = 4096;
            let start = (p as usize).next_multiple_of(PAGE);
            let end = (p as usize + layout.size()) & !(PAGE - 1);
            if end > start {
                // SAFETY: [start, end) is whole pages inside the block just allocated; populating
                // keeps their contents. An error (a kernel before 5.14) changes nothing.
                unsafe {
                    libc::madvise(
                        start as *mut libc::c_void,
                        end - start,
                        libc::MADV_POPULATE_WRITE,
                    )
                };
            }
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

/// `mi_option_purge_decommits` in mimalloc.h (the sys crate's constants predate it; mimalloc
/// keeps option numbers stable and deprecates rather than renumbers).
const MI_OPTION_PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;

/// Freed memory is handed back to the OS lazily (`MADV_FREE`: the kernel takes it back only
/// when it needs it) instead of decommitted: mimalloc's default returns what stays unused for
/// a second, so in a long-lived session (the REPL) each query faulted in and zeroed its memory
/// again. TPC-H SF1, 22 queries sent to one REPL process 1.2 s apart: geomean 0.85x of the
/// default's time (q18, q21 ~0.6x); in `benches/peers/tpch.py`'s interleaved run
/// (`skipper-session` against `baseline-session`) 0.97x. The environment's
/// `MIMALLOC_PURGE_DECOMMITS` still wins.
///
/// Transparent huge pages are turned off for the process. mimalloc asks for them on its 1 GiB
/// arena (`madvise(MADV_HUGEPAGE)`, before `main`), so every first touch of a 2 MiB region
/// zeroes all of it, and purging 64 KiB of one splits it: `perf` showed 5–7% of TPC-H q01's
/// samples in the kernel's `clear_page_erms` under `do_huge_pmd_anonymous_page`. Off, system
/// time over eight q18 runs in one process fell from 1.0–1.3 s to 0.4–0.5 s and the median
/// run from 0.34–0.39 s to 0.30–0.33 s (user time unchanged). `MIMALLOC_ALLOW_THP` in the
/// environment leaves the kernel's setting alone (mimalloc reads it itself).
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DECOMMITS").is_none() {
        // SAFETY: sets one of mimalloc's global options, which it reads atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DECOMMITS, 0) };
    }
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: a process-wide flag; no memory is touched. An error (old kernel) leaves
        // transparent huge pages as they were, which is only slower.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = skipper::cli::Cli::parse();
    skipper::app::init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(5);
        }
    };
    ExitCode::from(runtime.block_on(skipper::app::run(cli)))
}
