//! Postgres sources: connection settings the way libpq users write them, a bounded pool whose
//! sessions are read-only with a server-side statement timeout, and server-side cancellation.
//!
//! Connection settings come from the source's `url`, then `password_env`, then the `PG*`
//! variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGPASSWORD`, `PGSSLMODE`,
//! `PGSSLROOTCERT`), then `~/.pgpass` (or `PGPASSFILE`). The password never leaves
//! [`Secret`] except to the driver, and is scrubbed from any error text.
//!
//! Every connection is opened with `-c default_transaction_read_only=on -c statement_timeout=…
//! -c client_connection_check_interval=1000` (PostgreSQL 14+), and an `application_name` unique
//! to this process, so that [`PgCanceller`] can cancel exactly our running queries with
//! `pg_cancel_backend` from a fresh connection when the user presses Ctrl-C or a timeout fires.

use super::flatten_error;
use crate::config::{PostgresSource, Secret};
use datafusion_table_providers::postgres::pool::PostgresConnectionPool;
use secrecy::SecretString;
use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::config::Host;

/// Resolved connection settings for one Postgres source.
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    pub password: Option<Secret>,
    pub sslmode: String,
    pub sslrootcert: Option<PathBuf>,
    pub pool_size: u32,
}

/// Where environment lookups come from; a trait so tests can pass a map.
pub trait Env {
    fn var(&self, key: &str) -> Option<String>;
}

pub struct ProcessEnv;
impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl PgSettings {
    pub fn resolve(source: &PostgresSource, env: &dyn Env) -> Result<PgSettings, String> {
        let mut host = None;
        let mut port = None;
        let mut user = None;
        let mut dbname = None;
        let mut password = None;
        let mut sslmode = source.sslmode.clone();
        if let Some(url) = &source.url {
            let cfg = tokio_postgres::Config::from_str(url.expose()).map_err(|e| {
                // The driver's message names the part it could not read, never the value.
                format!("url is not a valid Postgres connection string: {e}")
            })?;
            host = cfg.get_hosts().first().map(|h| match h {
                Host::Tcp(s) => s.clone(),
                Host::Unix(p) => p.to_string_lossy().into_owned(),
            });
            port = cfg.get_ports().first().copied();
            user = cfg.get_user().map(str::to_owned);
            dbname = cfg.get_dbname().map(str::to_owned);
            password = cfg
                .get_password()
                .map(|p| Secret::new(String::from_utf8_lossy(p).into_owned()));
            if sslmode.is_none() {
                sslmode = url_param(url.expose(), "sslmode");
            }
        }
        if let Some(var) = &source.password_env {
            match env.var(var) {
                Some(p) => password = Some(Secret::new(p)),
                None => return Err(format!("password_env names ${var}, which is not set")),
            }
        }
        let host = host
            .or_else(|| env.var("PGHOST"))
            .unwrap_or_else(|| "localhost".into());
        let port = match port {
            Some(p) => p,
            None => match env.var("PGPORT") {
                Some(p) => p
                    .parse()
                    .map_err(|_| format!("PGPORT '{p}' is not a port number"))?,
                None => 5432,
            },
        };
        let user = user
            .or_else(|| env.var("PGUSER"))
            .or_else(|| env.var("USER"))
            .unwrap_or_else(|| "postgres".into());
        let dbname = dbname
            .or_else(|| env.var("PGDATABASE"))
            .unwrap_or_else(|| user.clone());
        if password.is_none() {
            password = env.var("PGPASSWORD").map(Secret::new);
        }
        if password.is_none() {
            password = pgpass_lookup(env, &host, port, &dbname, &user);
        }
        // libpq's default is `prefer`: TLS when the server offers it.
        let sslmode = sslmode
            .or_else(|| env.var("PGSSLMODE"))
            .unwrap_or_else(|| "prefer".into());
        if !crate::config::SSL_MODES.contains(&sslmode.as_str()) {
            return Err(format!(
                "sslmode '{sslmode}' is not one of {}",
                crate::config::SSL_MODES.join(", ")
            ));
        }
        let sslrootcert = source
            .sslrootcert
            .clone()
            .or_else(|| env.var("PGSSLROOTCERT").map(PathBuf::from));
        Ok(PgSettings {
            host,
            port,
            user,
            dbname,
            password,
            sslmode,
            sslrootcert,
            pool_size: source.pool_size.unwrap_or(4).max(1),
        })
    }

    /// `user@host:port/db`, safe to print.
    pub fn display(&self) -> String {
        format!("{}@{}:{}/{}", self.user, self.host, self.port, self.dbname)
    }

    fn session_options(statement_timeout: Duration) -> String {
        format!(
            "-c default_transaction_read_only=on -c statement_timeout={} -c client_connection_check_interval=1000 -c TimeZone=UTC",
            statement_timeout.as_millis()
        )
    }

    /// The process-unique application name our sessions carry.
    pub fn application_name() -> String {
        format!("skipper/{}", std::process::id())
    }

    /// Remove the password from a message, in case a driver ever echoes it.
    pub fn scrub(&self, message: &str) -> String {
        match &self.password {
            Some(p) if !p.expose().is_empty() => message.replace(p.expose(), "***"),
            _ => message.to_string(),
        }
    }

    /// Open the bounded, read-only pool. Reachability is checked first with `connect_timeout`
    /// so an unreachable host fails fast with a clear message.
    pub async fn open_pool(
        &self,
        connect_timeout: Duration,
        statement_timeout: Duration,
    ) -> Result<PostgresConnectionPool, String> {
        if !self.host.starts_with('/') {
            let addr = format!("{}:{}", self.host, self.port);
            match tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(&addr)).await
            {
                Err(_) => {
                    return Err(format!(
                        "cannot reach {addr}: no answer within {}s",
                        connect_timeout.as_secs()
                    ));
                }
                Ok(Err(e)) => return Err(format!("cannot reach {addr}: {e}")),
                Ok(Ok(_)) => {}
            }
        }
        let mut params: HashMap<String, SecretString> = HashMap::new();
        let mut put = |k: &str, v: String| {
            params.insert(k.to_string(), SecretString::from(v));
        };
        put("host", self.host.clone());
        put("port", self.port.to_string());
        put("user", self.user.clone());
        put("db", self.dbname.clone());
        put("sslmode", self.sslmode.clone());
        put("connection_pool_size", self.pool_size.to_string());
        put("options", Self::session_options(statement_timeout));
        put("application_name", Self::application_name());
        if let Some(root) = &self.sslrootcert {
            put("sslrootcert", root.to_string_lossy().into_owned());
        }
        if let Some(p) = &self.password {
            put("pass", p.expose().to_string());
        }
        let opened = tokio::time::timeout(
            connect_timeout * 3,
            PostgresConnectionPool::new(params),
        )
        .await
        .map_err(|_| {
            format!(
                "{}: the server accepted the connection but did not finish logging in within {}s",
                self.display(),
                (connect_timeout * 3).as_secs()
            )
        })?;
        opened.map_err(|e| {
            let text = flatten_error(&e);
            let hint = if text.contains("password authentication failed")
                || text.contains("Authentication failed")
            {
                format!("password authentication failed for user \"{}\"", self.user)
            } else {
                text
            };
            self.scrub(&format!("{}: {hint}", self.display()))
        })
    }

    /// A canceller for this source's running queries.
    pub fn canceller(&self) -> PgCanceller {
        PgCanceller {
            settings: self.clone(),
        }
    }
}

/// What Skipper reads about a Postgres database when it opens it.
pub struct Listing {
    /// Every schema's queryable relations: tables, views, materialized views, foreign and
    /// partitioned tables (the upstream listing reads `pg_tables`, which has no views).
    pub relations: std::collections::BTreeMap<String, Vec<String>>,
    /// Whether the database's default character classes are the C locale's (libc provider,
    /// `LC_CTYPE` C or POSIX), where `upper`, `lower` and `initcap` change ASCII letters only.
    pub c_ctype: bool,
}

pub async fn list_relations(pool: &PostgresConnectionPool) -> Result<Listing, String> {
    let conn = pool.connect_direct().await.map_err(|e| flatten_error(&e))?;
    // Both on one connection, pipelined: one round trip.
    let (rows, ctype) = futures::future::join(
        conn.conn.query(
            "SELECT n.nspname, c.relname FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname !~ '^pg_toast' AND has_schema_privilege(n.oid, 'USAGE') \
             ORDER BY 1, 2",
            &[],
        ),
        // The libc locale decides case unless the database's default collation is ICU's
        // (`datlocprovider`, Postgres 15 and later; read through jsonb so older servers,
        // which lack the column and have no ICU default, answer too).
        conn.conn.query_one(
            "SELECT current_setting('lc_ctype') IN ('C', 'POSIX') \
             AND coalesce((SELECT to_jsonb(d) ->> 'datlocprovider' FROM pg_database d \
                           WHERE d.datname = current_database()), 'c') = 'c'",
            &[],
        ),
    )
    .await;
    let rows = rows.map_err(|e| flatten_error(&e))?;
    let mut relations: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in rows {
        relations
            .entry(r.get::<_, String>(0))
            .or_default()
            .push(r.get::<_, String>(1));
    }
    let c_ctype = ctype.map(|r| r.get::<_, bool>(0)).unwrap_or(false);
    Ok(Listing { relations, c_ctype })
}

/// `COMMENT ON TABLE` and `COMMENT ON COLUMN` texts of every visible relation.
pub async fn comments(
    pool: &PostgresConnectionPool,
) -> Result<Vec<super::introspect::SourceComment>, String> {
    let conn = pool.connect_direct().await.map_err(|e| flatten_error(&e))?;
    let rows = conn
        .conn
        .query(
            "SELECT n.nspname, c.relname, a.attname, d.description FROM pg_description d \
             JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid \
             WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND (d.objsubid = 0 OR NOT a.attisdropped) \
             ORDER BY 1, 2, d.objsubid",
            &[],
        )
        .await
        .map_err(|e| flatten_error(&e))?;
    Ok(rows
        .into_iter()
        .map(|r| super::introspect::SourceComment {
            schema: r.get(0),
            table: r.get(1),
            column: r.get(2),
            comment: r.get(3),
        })
        .collect())
}

/// Postgres's write counters per table (inserts, updates, deletes, truncates seen by the
/// statistics collector): when they have not moved, neither has the data.
pub async fn table_counters(
    pool: &PostgresConnectionPool,
) -> Result<Vec<((String, String), String)>, String> {
    let conn = pool.connect_direct().await.map_err(|e| flatten_error(&e))?;
    let rows = conn
        .conn
        .query(
            "SELECT schemaname::text, relname::text, \
                    (n_tup_ins + n_tup_upd + n_tup_del)::text || ':' || n_live_tup::text \
                    || ':' || coalesce(date_part('epoch', last_analyze)::text, '') \
             FROM pg_stat_user_tables",
            &[],
        )
        .await
        .map_err(|e| flatten_error(&e))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                (r.get(0), r.get(1)),
                format!("pg:{}", r.get::<_, String>(2)),
            )
        })
        .collect())
}

fn url_param(url: &str, key: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

/// `.pgpass` lines are `host:port:db:user:password`, `*` matching anything, `\:` escaping.
fn pgpass_lookup(env: &dyn Env, host: &str, port: u16, db: &str, user: &str) -> Option<Secret> {
    let path = env
        .var("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| env.var("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let port = port.to_string();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass(line);
        if fields.len() != 5 {
            continue;
        }
        let m = |pat: &str, val: &str| pat == "*" || pat == val;
        if m(&fields[0], host) && m(&fields[1], &port) && m(&fields[2], db) && m(&fields[3], user) {
            return Some(Secret::new(fields[4].clone()));
        }
    }
    None
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.last_mut().expect("never empty").push(n);
                }
            }
            ':' if out.len() < 5 => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

/// Cancels this process's running queries on one Postgres server.
#[derive(Debug, Clone)]
pub struct PgCanceller {
    settings: PgSettings,
}

impl PgCanceller {
    /// Open a separate short-lived connection and `pg_cancel_backend` every active backend
    /// carrying our application name. Returns how many were cancelled.
    pub async fn cancel_running(&self) -> Result<u64, String> {
        let s = &self.settings;
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&s.host)
            .port(s.port)
            .user(&s.user)
            .dbname(&s.dbname)
            .application_name("skipper-cancel")
            .connect_timeout(Duration::from_secs(5));
        if let Some(p) = &s.password {
            cfg.password(p.expose());
        }
        let sql = "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity \
                   WHERE application_name = $1 AND state <> 'idle' AND pid <> pg_backend_pid()";
        let app = PgSettings::application_name();
        let run = async {
            let client = if s.sslmode == "disable" {
                let (client, conn) = cfg
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                client
            } else {
                let tls = native_tls::TlsConnector::builder()
                    .danger_accept_invalid_certs(
                        s.sslmode != "verify-full" && s.sslmode != "verify-ca",
                    )
                    .danger_accept_invalid_hostnames(s.sslmode != "verify-full")
                    .build()
                    .map_err(|e| e.to_string())?;
                let (client, conn) = cfg
                    .connect(postgres_native_tls::MakeTlsConnector::new(tls))
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                client
            };
            let row = client
                .query_one(sql, &[&app])
                .await
                .map_err(|e| e.to_string())?;
            Ok::<i64, String>(row.get(0))
        };
        match tokio::time::timeout(Duration::from_secs(10), run).await {
            Ok(Ok(n)) => Ok(n.max(0) as u64),
            Ok(Err(e)) => Err(s.scrub(&e)),
            Err(_) => Err("cancel request timed out".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct MapEnv(HashMap<&'static str, String>);
    impl Env for MapEnv {
        fn var(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
    }

    #[test]
    fn url_wins_then_pg_variables_fill_the_gaps() {
        let src = PostgresSource {
            url: Some(Secret::new(
                "postgresql://ann:pw1@db.example:6543/billing?sslmode=require",
            )),
            ..Default::default()
        };
        let env = MapEnv(HashMap::from([("PGHOST", "other".to_string())]));
        let s = PgSettings::resolve(&src, &env).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_str(), s.dbname.as_str()),
            ("db.example", 6543, "ann", "billing")
        );
        assert_eq!(s.password.unwrap().expose(), "pw1");
        assert_eq!(s.sslmode, "require");

        let env = MapEnv(HashMap::from([
            ("PGHOST", "h".to_string()),
            ("PGPORT", "7000".to_string()),
            ("PGUSER", "u".to_string()),
            ("PGPASSWORD", "pw2".to_string()),
        ]));
        let s = PgSettings::resolve(&PostgresSource::default(), &env).unwrap();
        assert_eq!(s.display(), "u@h:7000/u");
        assert_eq!(s.password.unwrap().expose(), "pw2");
        assert_eq!(s.sslmode, "prefer");
    }

    #[test]
    fn password_env_and_pgpass() {
        let dir = std::env::temp_dir().join(format!("skipper-pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pgpass = dir.join("pgpass");
        std::fs::write(
            &pgpass,
            "# comment\nother:*:*:*:no\nh:5432:db:u:se\\:cret\n",
        )
        .unwrap();
        let src = PostgresSource {
            url: Some(Secret::new("postgresql://u@h/db")),
            ..Default::default()
        };
        let env = MapEnv(HashMap::from([(
            "PGPASSFILE",
            pgpass.to_string_lossy().into_owned(),
        )]));
        let s = PgSettings::resolve(&src, &env).unwrap();
        assert_eq!(s.password.unwrap().expose(), "se:cret");

        let src = PostgresSource {
            url: Some(Secret::new("postgresql://u@h/db")),
            password_env: Some("BILLING_PW".into()),
            ..Default::default()
        };
        let e = PgSettings::resolve(&src, &MapEnv(HashMap::new())).unwrap_err();
        assert!(e.contains("$BILLING_PW"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn scrub_removes_the_password() {
        let src = PostgresSource {
            url: Some(Secret::new("postgresql://u:hunter2@h/db")),
            ..Default::default()
        };
        let s = PgSettings::resolve(&src, &MapEnv(HashMap::new())).unwrap();
        assert_eq!(s.scrub("bad hunter2 here"), "bad *** here");
    }
}
