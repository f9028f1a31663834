//! Parquet on an S3-compatible server on loopback (moto's server from PyPI), read through
//! `object_store` exactly as a bucket on AWS, R2 or MinIO would be.

use crate::harness::{free_port, run, skipper, unavailable};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Moto(Child);
impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto(port: u16) -> Option<Moto> {
    let probe = Command::new("python3")
        .args(["-c", "import moto.server"])
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        unavailable(
            "moto S3 server",
            "python3 -m moto.server not installed (pip install 'moto[server]')",
        );
        return None;
    }
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let moto = Moto(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(moto);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto did not start on port {port}");
}

#[tokio::test(flavor = "multi_thread")]
async fn parquet_in_a_bucket_is_queryable() {
    use object_store::ObjectStoreExt;
    let port = free_port();
    let Some(_moto) = start_moto(port) else {
        return;
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    // Create the bucket and upload a hive-partitioned table of the demo's own Parquet.
    let home = crate::harness::demo_home();
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name("lakehouse")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let client = create_bucket(&endpoint).await;
    assert!(client, "could not create the bucket");
    let lake = home.path().join("data/demo/lake");
    let mut uploaded = 0;
    for day in ["2026-11-20", "2026-11-21"] {
        let bytes =
            std::fs::read(lake.join(format!("usage_events/day={day}/part-0.parquet"))).unwrap();
        store
            .put(
                &object_store::path::Path::from(format!(
                    "prefix/usage_events/day={day}/part-0.parquet"
                )),
                bytes.into(),
            )
            .await
            .unwrap();
        uploaded += 1;
    }
    assert_eq!(uploaded, 2);
    let bytes = std::fs::read(lake.join("billing_usage_daily/part-0.parquet")).unwrap();
    store
        .put(
            &object_store::path::Path::from("prefix/billing_usage_daily.parquet"),
            bytes.into(),
        )
        .await
        .unwrap();

    std::fs::write(
        home.path().join("skipper.toml"),
        format!(
            "[sources.s3lake]\nkind = \"parquet\"\npath = \"s3://lakehouse/prefix/\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\naccess_key_id = \"testing\"\nsecret_access_key = \"sekrit-key\"\n"
        ),
    )
    .unwrap();
    // Wrong secret: moto accepts any key, so check the redaction path with config show.
    let r = run(skipper(home.path()).args(["config", "show"]));
    assert!(!r.stdout.contains("sekrit-key"), "{r:?}");

    let q = "SELECT day, count(*) AS n, sum(event_count) AS s FROM s3lake.main.usage_events GROUP BY day ORDER BY day";
    let r = run(skipper(home.path()).args(["sql", "--format", "json", q]));
    assert_eq!(r.code, 0, "{r:?}");
    let remote: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // The same days read from the local demo lake give the same answer.
    let local_cfg = crate::harness::demo_config(home.path());
    let r = run(skipper(home.path()).args([
        "sql",
        "--format",
        "json",
        "--config",
    ]).arg(&local_cfg).arg(
        "SELECT day, count(*) AS n, sum(event_count) AS s FROM lake.main.usage_events WHERE day >= DATE '2026-11-20' GROUP BY day ORDER BY day",
    ));
    assert_eq!(r.code, 0, "{r:?}");
    let local: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(remote["rows"], local["rows"]);
    assert_eq!(remote["rows"].as_array().unwrap().len(), 2);
    let r = run(skipper(home.path()).args([
        "sql",
        "--format",
        "json",
        "SELECT count(*) AS n FROM s3lake.main.billing_usage_daily",
    ]));
    assert_eq!(r.code, 0, "{r:?}");

    // Endpoint, region and keys from the usual AWS_* variables instead of the file.
    std::fs::write(
        home.path().join("skipper.toml"),
        "[sources.envlake]\nkind = \"parquet\"\npath = \"s3://lakehouse/prefix/\"\n\n\
         [sources.nobucket]\nkind = \"parquet\"\npath = \"s3://no-such-bucket/x/\"\n",
    )
    .unwrap();
    let with_env = |cmd: &mut std::process::Command| {
        cmd.env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
    };
    let mut cmd = skipper(home.path());
    with_env(&mut cmd);
    let r = run(cmd.args([
        "sql",
        "--format",
        "json",
        q.replace("s3lake", "envlake").as_str(),
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let via_env: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(via_env["rows"], local["rows"]);
    // A bucket that does not exist: that source is unavailable, with the reason.
    let mut cmd = skipper(home.path());
    with_env(&mut cmd);
    let r = run(cmd.args(["sql", "SELECT * FROM nobucket.main.t"]));
    assert_eq!(r.code, 5, "{r:?}");
    assert!(
        r.stderr
            .contains("source 'nobucket' is unavailable: cannot list s3://no-such-bucket/x/"),
        "{r:?}"
    );
}

/// Create the bucket with boto3, which moto's server package brings along.
async fn create_bucket(endpoint: &str) -> bool {
    let script = format!(
        "import boto3; boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1', \
         aws_access_key_id='testing', aws_secret_access_key='testing').create_bucket(Bucket='lakehouse')"
    );
    Command::new("python3")
        .args(["-c", &script])
        .status()
        .is_ok_and(|s| s.success())
}
