//! Writing the generated lake: Parquet files, a SQLite file, or Postgres tables.

use super::DemoError;
use super::model::{Event, Lake};
use chrono::{NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{
    ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

fn io(e: impl std::fmt::Display) -> DemoError {
    DemoError::Io(e.to_string())
}

fn ts_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

fn write_file(path: &Path, batch: RecordBatch) -> Result<(), DemoError> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(io)?;
    }
    let file = std::fs::File::create(path).map_err(io)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).map_err(io)?))
        .build();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(io)?;
    w.write(&batch).map_err(io)?;
    w.close().map_err(io)?;
    Ok(())
}

fn events_batch(events: &[&Event], sampled: bool) -> Result<RecordBatch, DemoError> {
    let mut fields = vec![
        ts_field("event_minute"),
        Field::new("account_id", DataType::Int64, true),
        Field::new("legacy_customer_id", DataType::Utf8, true),
        Field::new("product", DataType::Utf8, false),
        Field::new("asn", DataType::Int64, false),
        Field::new("client_country", DataType::Utf8, false),
        Field::new("event_count", DataType::Int64, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from(
                events.iter().map(|e| micros(e.minute)).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(Int64Array::from(
            events.iter().map(|e| e.account_id).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            events
                .iter()
                .map(|e| e.legacy_customer_id.as_deref())
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            events.iter().map(|e| e.product).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            events.iter().map(|e| e.asn).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            events
                .iter()
                .map(|e| e.client_country.as_str())
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            events.iter().map(|e| e.count).collect::<Vec<_>>(),
        )),
    ];
    if sampled {
        fields.push(Field::new("sample_rate", DataType::Float64, false));
        cols.push(Arc::new(Float64Array::from(vec![0.01; events.len()])));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(io)
}

pub fn parquet(lake: &Lake, dir: &Path) -> Result<(), DemoError> {
    // usage_events, one folder per day (hive partitioning).
    let mut by_day: std::collections::BTreeMap<NaiveDate, Vec<&Event>> = Default::default();
    for e in &lake.events {
        by_day.entry(e.minute.date()).or_default().push(e);
    }
    let first = super::model::first_day(lake.anchor);
    for d in 0..super::model::DAYS {
        let day = first + chrono::Duration::days(d);
        let events = by_day.remove(&day).unwrap_or_default();
        write_file(
            &dir.join(format!("usage_events/day={day}/part-0.parquet")),
            events_batch(&events, false)?,
        )?;
    }
    let sampled: Vec<&Event> = lake.sampled.iter().map(|i| &lake.events[*i]).collect();
    write_file(
        &dir.join("usage_events_sampled/part-0.parquet"),
        events_batch(&sampled, true)?,
    )?;

    let hourly = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            ts_field("usage_hour"),
            Field::new("account_id", DataType::Int64, false),
            Field::new("product", DataType::Utf8, false),
            Field::new("units", DataType::Int64, false),
        ])),
        vec![
            Arc::new(
                TimestampMicrosecondArray::from(
                    lake.hourly.keys().map(|k| micros(k.0)).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(
                lake.hourly.keys().map(|k| k.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                lake.hourly.keys().map(|k| k.2).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                lake.hourly.values().copied().collect::<Vec<_>>(),
            )),
        ],
    )
    .map_err(io)?;
    write_file(&dir.join("billing_usage_hourly/part-0.parquet"), hourly)?;

    let daily = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("usage_date", DataType::Date32, false),
            Field::new("account_id", DataType::Int64, false),
            Field::new("product", DataType::Utf8, false),
            Field::new("units", DataType::Int64, false),
        ])),
        vec![
            Arc::new(Date32Array::from(
                lake.daily.keys().map(|k| days(k.0)).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                lake.daily.keys().map(|k| k.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                lake.daily.keys().map(|k| k.2).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                lake.daily.values().copied().collect::<Vec<_>>(),
            )),
        ],
    )
    .map_err(io)?;
    write_file(&dir.join("billing_usage_daily/part-0.parquet"), daily)?;
    Ok(())
}

/// The relational tables' DDL; the same text serves SQLite and Postgres (schema `main`).
fn ddl(postgres: bool) -> Vec<String> {
    let (date, ts) = if postgres {
        ("DATE", "TIMESTAMPTZ")
    } else {
        ("TEXT", "TEXT")
    };
    vec![
        format!(
            "CREATE TABLE main.accounts (account_id BIGINT PRIMARY KEY, name TEXT NOT NULL, \
             contact_name TEXT, contact_email TEXT, contact_phone TEXT, address TEXT, \
             country TEXT NOT NULL, plan_tier TEXT NOT NULL, created_date {date} NOT NULL)"
        ),
        "CREATE TABLE main.legacy_customer_ids (legacy_customer_id TEXT PRIMARY KEY, \
         account_id BIGINT NOT NULL)"
            .to_string(),
        "CREATE TABLE main.rate_card (plan_tier TEXT NOT NULL, product TEXT NOT NULL, \
         unit TEXT NOT NULL, units_per_price BIGINT NOT NULL, price_cents BIGINT NOT NULL, \
         included_units_per_month BIGINT NOT NULL, PRIMARY KEY (plan_tier, product))"
            .to_string(),
        format!(
            "CREATE TABLE main.invoices (invoice_id TEXT PRIMARY KEY, account_id BIGINT NOT NULL, \
             invoice_month {date} NOT NULL, product TEXT NOT NULL, units BIGINT NOT NULL, \
             included_units BIGINT NOT NULL, billable_units BIGINT NOT NULL, \
             units_per_price BIGINT NOT NULL, price_cents BIGINT NOT NULL, \
             amount_cents BIGINT NOT NULL, status TEXT NOT NULL)"
        ),
        format!(
            "CREATE TABLE main.support_tickets (ticket_id BIGINT PRIMARY KEY, \
             account_id BIGINT NOT NULL, opened_at {ts} NOT NULL, closed_at {ts}, \
             priority TEXT NOT NULL, status TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL)"
        ),
    ]
}

/// Rows of every relational table as text (NULL as None), in DDL column order.
fn relational_rows(lake: &Lake) -> Vec<(&'static str, Vec<Vec<Option<String>>>)> {
    let s = |v: &str| Some(v.to_string());
    let ts = |t: NaiveDateTime| Some(t.format("%Y-%m-%d %H:%M:%S+00").to_string());
    vec![
        (
            "accounts",
            lake.accounts
                .iter()
                .map(|a| {
                    vec![
                        s(&a.account_id.to_string()),
                        s(&a.name),
                        s(&a.contact_name),
                        s(&a.contact_email),
                        s(&a.contact_phone),
                        s(&a.address),
                        s(&a.country),
                        s(&a.plan_tier),
                        s(&a.created_date.to_string()),
                    ]
                })
                .collect(),
        ),
        (
            "legacy_customer_ids",
            lake.accounts
                .iter()
                .filter_map(|a| {
                    a.legacy_customer_id
                        .as_ref()
                        .map(|l| vec![s(l), s(&a.account_id.to_string())])
                })
                .collect(),
        ),
        (
            "rate_card",
            lake.rate_card
                .iter()
                .map(|r| {
                    vec![
                        s(r.plan_tier),
                        s(r.product),
                        s(r.unit),
                        s(&r.units_per_price.to_string()),
                        s(&r.price_cents.to_string()),
                        s(&r.included_units_per_month.to_string()),
                    ]
                })
                .collect(),
        ),
        (
            "invoices",
            lake.invoices
                .iter()
                .map(|i| {
                    vec![
                        s(&i.invoice_id),
                        s(&i.account_id.to_string()),
                        s(&i.month.to_string()),
                        s(i.product),
                        s(&i.units.to_string()),
                        s(&i.included_units.to_string()),
                        s(&i.billable_units.to_string()),
                        s(&i.units_per_price.to_string()),
                        s(&i.price_cents.to_string()),
                        s(&i.amount_cents.to_string()),
                        s(i.status),
                    ]
                })
                .collect(),
        ),
        (
            "support_tickets",
            lake.tickets
                .iter()
                .map(|t| {
                    vec![
                        s(&t.ticket_id.to_string()),
                        s(&t.account_id.to_string()),
                        ts(t.opened_at),
                        t.closed_at.and_then(ts),
                        s(t.priority),
                        s(t.status),
                        s(&t.subject),
                        s(&t.body),
                    ]
                })
                .collect(),
        ),
    ]
}

pub fn sqlite(lake: &Lake, path: &Path) -> Result<(), DemoError> {
    let mut conn = rusqlite::Connection::open(path).map_err(io)?;
    let tx = conn.transaction().map_err(io)?;
    for stmt in ddl(false) {
        tx.execute(&stmt, []).map_err(io)?;
    }
    for (table, rows) in relational_rows(lake) {
        let Some(first) = rows.first() else { continue };
        let marks = vec!["?"; first.len()].join(", ");
        let mut ins = tx
            .prepare(&format!("INSERT INTO main.{table} VALUES ({marks})"))
            .map_err(io)?;
        let integer_cols = integer_columns(table);
        for row in &rows {
            let values: Vec<rusqlite::types::Value> = row
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    None => rusqlite::types::Value::Null,
                    Some(v) if integer_cols.contains(&i) => {
                        rusqlite::types::Value::Integer(v.parse().unwrap_or_default())
                    }
                    Some(v) => {
                        rusqlite::types::Value::Text(v.strip_suffix("+00").unwrap_or(v).to_string())
                    }
                })
                .collect();
            ins.execute(rusqlite::params_from_iter(values))
                .map_err(io)?;
        }
    }
    tx.commit().map_err(io)?;
    Ok(())
}

fn integer_columns(table: &str) -> &'static [usize] {
    match table {
        "accounts" => &[0],
        "legacy_customer_ids" => &[1],
        "rate_card" => &[3, 4, 5],
        "invoices" => &[1, 4, 5, 6, 7, 8, 9],
        "support_tickets" => &[0, 1],
        _ => &[],
    }
}

pub async fn postgres(lake: &Lake, url: &str) -> Result<(), DemoError> {
    use futures::SinkExt;
    let pg = |e: tokio_postgres::Error| DemoError::Postgres(crate::engine::flatten_error(&e));
    let (mut client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(pg)?;
    let driver = tokio::spawn(conn);
    let tx = client.transaction().await.map_err(pg)?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS main; \
         DROP TABLE IF EXISTS main.accounts, main.legacy_customer_ids, main.rate_card, \
         main.invoices, main.support_tickets",
    )
    .await
    .map_err(pg)?;
    for stmt in ddl(true) {
        tx.batch_execute(&stmt).await.map_err(pg)?;
    }
    for (table, rows) in relational_rows(lake) {
        let mut csv = csv::WriterBuilder::new().from_writer(Vec::new());
        for row in &rows {
            // An unquoted empty field is NULL in COPY's CSV format; text is always quoted.
            let rec: Vec<String> = row
                .iter()
                .map(|v| match v {
                    None => String::new(),
                    Some(v) => v.clone(),
                })
                .collect();
            csv.write_record(&rec).map_err(io)?;
        }
        let bytes = csv.into_inner().map_err(io)?;
        let sink = tx
            .copy_in(&format!("COPY main.{table} FROM STDIN (FORMAT csv)"))
            .await
            .map_err(pg)?;
        futures::pin_mut!(sink);
        sink.send(bytes::Bytes::from(bytes)).await.map_err(pg)?;
        sink.finish().await.map_err(pg)?;
    }
    tx.batch_execute("ANALYZE main.accounts")
        .await
        .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    drop(client);
    let _ = driver.await;
    Ok(())
}
