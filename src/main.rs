//! The `skipper` binary: parse the command line, start tracing, run, exit with the code `run`
//! chose. Everything else lives in the library.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc, as DataFusion's CLI and Python bindings use: DataFusion allocates many short-lived
/// buffers, and glibc's malloc was measurably slower on TPC-H here (see README, benchmarks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
