//! The `skipper` binary: parse the command line, start tracing, run, exit with the code `run`
//! chose. Everything else lives in the library.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc, as DataFusion's CLI and Python bindings use: DataFusion allocates many short-lived
/// buffers, and glibc's malloc was measurably slower on TPC-H here (see README, benchmarks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
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
