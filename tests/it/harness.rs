//! Real components for the integration tests: a PostgreSQL server started in a temporary
//! directory on a free loopback port (as the `postgres` user when the tests run as root, since
//! initdb refuses root), the `skipper` binary, and the demo lake.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const PG_PASSWORD: &str = "s3cret-Pg-pw";

/// Are we in CI? Then nothing that needs a real component may skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skip (loudly) outside CI, fail in CI.
pub fn unavailable(what: &str, why: &str) {
    if in_ci() {
        panic!("{what} is required under CI=true but unavailable: {why}");
    }
    eprintln!("SKIPPED (not in CI): {what} unavailable: {why}");
}

fn pg_bin_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("PG_BIN") {
        return Some(PathBuf::from(d));
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    candidates.sort();
    if let Some(p) = candidates.pop() {
        return Some(p);
    }
    let which = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .ok()?;
    let p = String::from_utf8_lossy(&which.stdout).trim().to_string();
    (!p.is_empty()).then(|| PathBuf::from(p).parent().unwrap().to_path_buf())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running PostgreSQL server, stopped and deleted on drop.
pub struct Pg {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
}

impl Pg {
    /// Start a server, or `None` (after [`unavailable`]) when PostgreSQL is not installed.
    pub fn start() -> Option<Pg> {
        Pg::start_with(false)
    }

    /// Like [`Pg::start`], with TLS on: a self-signed certificate for 127.0.0.1 at
    /// [`Pg::cert_path`].
    pub fn start_tls() -> Option<Pg> {
        Pg::start_with(true)
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    fn start_with(tls: bool) -> Option<Pg> {
        let Some(bin) = pg_bin_dir() else {
            unavailable("PostgreSQL", "initdb not found (install postgresql)");
            return None;
        };
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("skipper-pg-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PG_PASSWORD).unwrap();
        if tls {
            let ok = Command::new("openssl")
                .args([
                    "req",
                    "-new",
                    "-x509",
                    "-days",
                    "2",
                    "-nodes",
                    "-subj",
                    "/CN=127.0.0.1",
                ])
                .args(["-addext", "subjectAltName=IP:127.0.0.1"])
                .arg("-keyout")
                .arg(dir.path().join("server.key"))
                .arg("-out")
                .arg(dir.path().join("server.crt"))
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "openssl could not make a test certificate");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                dir.path().join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of the test cluster to postgres failed");
        }
        let port = free_port();
        let pg = Pg {
            port,
            dir,
            bin,
            as_postgres,
        };
        let out = pg.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "skipper",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={}", pwfile.to_string_lossy()),
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c fsync=off",
            pg.dir.path().to_string_lossy()
        );
        if tls {
            opts.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={0}/server.crt -c ssl_key_file={0}/server.key",
                pg.dir.path().to_string_lossy()
            ));
        }
        let out = pg.run(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-o",
                &opts,
                "-l",
                &pg.dir.path().join("log").to_string_lossy(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        if !out.status.success() {
            let log = std::fs::read_to_string(pg.dir.path().join("log")).unwrap_or_default();
            panic!(
                "pg_ctl start failed: {}\n{log}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        pg.psql("postgres", "CREATE DATABASE billing");
        pg.psql("billing", "CREATE EXTENSION pg_stat_statements");
        Some(pg)
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let path = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"))
    }

    /// Run SQL through psql over TCP with the password; panics on error. Returns stdout.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let psql = if self.bin.join("psql").is_file() {
            self.bin.join("psql")
        } else {
            PathBuf::from("psql")
        };
        let out = Command::new(psql)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "skipper",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ])
            .env("PGPASSWORD", PG_PASSWORD)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql failed for {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://skipper:{PG_PASSWORD}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    pub fn url_without_password(&self, db: &str) -> String {
        format!(
            "postgresql://skipper@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// Wait until `sql` (a count) returns 0, or time out; returns the last value.
    pub fn wait_for_zero(&self, db: &str, sql: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let v = self.psql(db, sql);
            if v == "0" || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

/// The path of the built `skipper` binary.
pub fn skipper_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_skipper"))
}

/// A `skipper` command isolated from the developer's environment: its own data directory,
/// working directory, no inherited SKIPPER_* settings.
pub fn skipper(home: &Path) -> Command {
    let mut c = Command::new(skipper_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("SKIPPER_")
            || k.starts_with("PG")
            || k.starts_with("AWS_")
            || k.starts_with("OPENAI_")
        {
            c.env_remove(k);
        }
    }
    c.env("SKIPPER_DATA_DIR", home.join("data"))
        .env_remove("XDG_DATA_HOME")
        .env("NO_COLOR", "1")
        .current_dir(home)
        .stdin(Stdio::null());
    c
}

/// Finished command output, decoded.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    Run::of(cmd.output().expect("skipper runs"))
}

impl Run {
    fn of(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// `run`, with `input` written to the command's stdin (then closed).
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("skipper runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    Run::of(child.wait_with_output().expect("skipper runs"))
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A fresh home with the demo lake built at a fixed anchor date (seed 42, SQLite).
pub fn demo_home() -> tempfile::TempDir {
    let home = tempfile::Builder::new()
        .prefix("skipper-home-")
        .tempdir()
        .unwrap();
    let r = run(skipper(home.path()).args(["demo", "--anchor-date", "2026-11-21"]));
    assert_eq!(r.code, 0, "{r:?}");
    home
}

/// The demo's config path in a [`demo_home`].
pub fn demo_config(home: &Path) -> PathBuf {
    home.join("data/demo/skipper.toml")
}

/// A fresh home whose `skipper.toml` holds `config`.
pub fn home_with_config(config: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("skipper.toml"), config).unwrap();
    home
}

/// Writes `batches` (all of one schema, at least one) to the Parquet file `path`, creating its
/// folder.
pub fn write_parquet(
    path: &Path,
    batches: impl IntoIterator<Item = datafusion::arrow::array::RecordBatch>,
) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut batches = batches.into_iter().peekable();
    let schema = batches.peek().expect("at least one batch").schema();
    let file = std::fs::File::create(path).unwrap();
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    for batch in batches {
        w.write(&batch).unwrap();
    }
    w.close().unwrap();
}
