//! The REPL through a pseudo-terminal: a question, a follow-up that refines it, `\why`,
//! Ctrl-C during a slow query (the query stops, the REPL stays), completion-free commands,
//! `\save`, and Ctrl-D.

use crate::harness::{demo_config, demo_home, skipper};
use rexpect::session::spawn_command;

#[test]
fn a_question_a_follow_up_why_ctrl_c_and_ctrl_d() {
    let home = demo_home();
    let h = home.path();
    let mut cmd = skipper(h);
    cmd.arg("--config")
        .arg(demo_config(h))
        .args(["--now", "2026-11-22T12:00:00Z"])
        .env("TERM", "xterm")
        .env("COLUMNS", "200")
        // The pty is the terminal: undo the harness's null stdin.
        .stdin(std::process::Stdio::inherit());
    let mut p = spawn_command(cmd, Some(60_000)).expect("the REPL starts in a pty");
    p.exp_string("compiled offline").unwrap();
    p.exp_string("skipper> ").unwrap();

    p.send_line("workers requests last month").unwrap();
    p.exp_string("workers_requests, last month: ").unwrap();
    p.exp_string("skipper> ").unwrap();

    // A follow-up keeps the metric and the range and adds the split.
    p.send_line("by plan tier").unwrap();
    p.exp_string("by: billing.main.accounts.plan_tier").unwrap();
    p.exp_string("enterprise").unwrap();
    p.exp_string("skipper> ").unwrap();

    p.send_line("\\why").unwrap();
    p.exp_string("GROUP BY plan_tier").unwrap();
    p.exp_string("read as: time: last month = 2026-10-01")
        .unwrap();
    p.exp_string("skipper> ").unwrap();

    // Ctrl-C stops a slow query, not the REPL.
    p.send_line("\\sql SELECT count(*) FROM generate_series(1, 50000000000) AS t(x);")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    p.send_control('c').unwrap();
    p.exp_string("interrupted").unwrap();
    p.exp_string("skipper> ").unwrap();

    p.send_line("\\sql SELECT 1 AS one;").unwrap();
    p.exp_string("1 row in ").unwrap();
    p.exp_string("skipper> ").unwrap();

    p.send_line("\\tables usage").unwrap();
    p.exp_string("lake.main.usage_events_sampled").unwrap();
    p.exp_string("skipper> ").unwrap();

    p.send_line("\\nope").unwrap();
    p.exp_string("unknown command \\nope").unwrap();
    p.exp_string("skipper> ").unwrap();

    // \save keeps the last answer as a verified example that the catalog then loads.
    p.send_line("open tickets by priority").unwrap();
    p.exp_string("open_tickets: 4 rows").unwrap();
    p.exp_string("skipper> ").unwrap();
    p.send_line("\\save").unwrap();
    p.exp_string("saved to").unwrap();
    p.exp_string("skipper> ").unwrap();

    p.send_control('d').unwrap();
    let tail = p.exp_eof().unwrap();
    let status = p.process().wait().unwrap();
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
    let saved = std::fs::read_to_string(h.join("data/demo/context/saved_examples.yaml")).unwrap();
    assert!(
        saved.contains("question: \"open tickets by priority\""),
        "{saved}"
    );
    let r = crate::harness::run(
        skipper(h)
            .arg("--config")
            .arg(demo_config(h))
            .args(["--format", "json", "catalog", "check"]),
    );
    assert_eq!(r.code, 0, "the saved example loads and plans: {r:?}");
    // The history file was written.
    assert!(h.join("data/repl_history").is_file(), "{tail}");
}

/// Statements piped into the REPL run in one session, each answer followed by its row count
/// and time (how the benchmarks drive a long-lived Skipper); an error is reported and the
/// session goes on.
#[test]
fn piped_statements_run_in_one_session_with_timings() {
    let home = crate::harness::home_with_config("");
    let r = crate::harness::run_with_stdin(
        &mut skipper(home.path()),
        b"\\format csv\n\\sql SELECT x FROM (VALUES (1),(2)) t(x) ORDER BY x;\n\
          \\sql SELECT nope;\n\\sql SELECT 3 AS y;\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    let stdout = &r.stdout;
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "x")
        .expect("the first answer");
    assert_eq!(&lines[at + 1..at + 3], ["1", "2"], "{stdout}");
    assert!(lines[at + 3].starts_with("2 rows in "), "{stdout}");
    assert!(lines[at + 3].ends_with('s'), "{stdout}");
    let err = lines
        .iter()
        .position(|l| l.starts_with("error:"))
        .expect("an error");
    assert!(err > at + 3, "{stdout}");
    let y = lines
        .iter()
        .position(|l| *l == "y")
        .expect("the last answer");
    assert!(y > err, "{stdout}");
    assert_eq!(lines[y + 1], "3");
    assert!(lines[y + 2].starts_with("1 row in "), "{stdout}");
}
