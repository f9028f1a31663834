//! How long `skipper demo` takes to build the Town Lake, by scale: best of N runs, printed as a
//! table (the foundation issue's target: scale 1 in under about 3 s).
//!
//! `cargo bench --bench demo_lake` (release), or `cargo bench --profile dev --bench demo_lake`
//! for a quick look with the test build. `DEMO_BENCH_RUNS` sets N (default 3).

use skipper::demo::{DemoOutcome, DemoRequest, ensure};
use std::time::{Duration, Instant};

fn main() {
    let runs: usize = std::env::var("DEMO_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let anchor = chrono::NaiveDate::from_ymd_opt(2026, 11, 21).expect("date");
    println!("| scale | accounts | usage events | best of {runs} | target |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for scale in [1u32, 10] {
        let mut best = Duration::MAX;
        let mut sizes = (0, 0);
        for _ in 0..runs {
            let dir = tempfile::tempdir().expect("temp dir");
            let req = DemoRequest {
                dir: dir.path().join("demo"),
                seed: 42,
                anchor,
                scale,
                force: true,
                postgres: None,
            };
            let started = Instant::now();
            let outcome = rt.block_on(ensure(&req)).expect("demo builds");
            best = best.min(started.elapsed());
            if let DemoOutcome::Created(m) = outcome {
                sizes = (m.accounts, m.events);
            }
        }
        let target = if scale == 1 { "≤ ~3 s" } else { "-" };
        println!(
            "| {scale} | {} | {} | {:.2} s | {target} |",
            sizes.0,
            sizes.1,
            best.as_secs_f64()
        );
    }
}
