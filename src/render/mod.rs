//! Result output for the front ends: one [`Format`] type shared by the `--format` flag and (later)
//! the REPL, and a [`ResultWriter`] that streams record batches to stdout as they arrive.
//!
//! Values are printed exactly: decimals keep every digit (strings in JSON, so no float rounding),
//! timestamps are converted to one explicit time zone (UTC unless configured) and printed in
//! RFC 3339, dates as `YYYY-MM-DD`. CSV, JSON and NDJSON stream in bounded memory; the table
//! format must know column widths, so it holds at most [`TABLE_ROW_CAP`] rows and says so on
//! stderr (through the caller) when it stopped short.
//!
//! The JSON shape (`--format json`) is [`JSON_VERSION`]:
//! `{"version":1,"columns":[{"name":…,"type":…}],"rows":[{…},…],"row_count":N}`.

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use comfy_table::{Cell as TableCell, CellAlignment, ContentArrangement, Table, presets};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit,
    IntervalYearMonthType, Schema, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use std::io::Write;

pub const JSON_VERSION: u32 = 1;
pub const TABLE_ROW_CAP: usize = 10_000;

/// The output format, for the `--format` flag and the REPL's `\format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
    /// The Arrow IPC stream format, for pyarrow, DuckDB, Polars: exact types, no text.
    Arrow,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "ndjson" => Ok(Format::Ndjson),
            "arrow" => Ok(Format::Arrow),
            other => Err(format!(
                "unknown format '{other}': use table, csv, json, ndjson or arrow"
            )),
        }
    }
}

impl Format {
    /// Table on a terminal, JSON otherwise, unless the user said.
    pub fn resolve(asked: Option<Format>, stdout_is_terminal: bool) -> Format {
        asked.unwrap_or(if stdout_is_terminal {
            Format::Table
        } else {
            Format::Json
        })
    }
}

/// One value, typed for output.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    /// An exact number kept as its digits (decimals): a JSON string, plain in text formats.
    Exact(String),
    Text(String),
}

impl Cell {
    /// The value as text: empty for NULL.
    pub fn text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => format_float(*f),
            Cell::Exact(s) | Cell::Text(s) => s.clone(),
        }
    }

    fn json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Int(i) => match i64::try_from(*i) {
                Ok(v) => Value::from(v),
                Err(_) => match u64::try_from(*i) {
                    Ok(v) => Value::from(v),
                    Err(_) => Value::String(i.to_string()),
                },
            },
            Cell::Float(f) if f.is_finite() => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Cell::Float(f) => Value::String(format_float(*f)),
            Cell::Exact(s) | Cell::Text(s) => Value::String(s.clone()),
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(self, Cell::Int(_) | Cell::Float(_) | Cell::Exact(_))
    }
}

/// As Postgres prints a double (`1.7e+18`, `NaN`, `Infinity`), so the same answer reads the same.
fn format_float(f: f64) -> String {
    crate::engine::postgres_float(f)
}

/// Turns arrow values into [`Cell`]s in one time zone.
#[derive(Debug, Clone, Copy)]
pub struct CellFormatter {
    tz: Tz,
}

impl CellFormatter {
    pub fn new(tz: Tz) -> Self {
        CellFormatter { tz }
    }

    fn instant(&self, t: DateTime<Utc>) -> String {
        let local = t.with_timezone(&self.tz);
        let frac = if t.timestamp_subsec_nanos() == 0 {
            ""
        } else {
            "%.f"
        };
        if self.tz == Tz::UTC {
            local
                .format(&format!("%Y-%m-%dT%H:%M:%S{frac}Z"))
                .to_string()
        } else {
            local
                .format(&format!("%Y-%m-%dT%H:%M:%S{frac}%:z"))
                .to_string()
        }
    }

    /// The value at `row` of `array`.
    pub fn cell(&self, array: &dyn Array, row: usize) -> Cell {
        if array.is_null(row) {
            return Cell::Null;
        }
        macro_rules! int {
            ($t:ty) => {
                Cell::Int(array.as_primitive::<$t>().value(row) as i128)
            };
        }
        match array.data_type() {
            DataType::Null => Cell::Null,
            DataType::Boolean => Cell::Bool(array.as_boolean().value(row)),
            DataType::Int8 => int!(Int8Type),
            DataType::Int16 => int!(Int16Type),
            DataType::Int32 => int!(Int32Type),
            DataType::Int64 => int!(Int64Type),
            DataType::UInt8 => int!(UInt8Type),
            DataType::UInt16 => int!(UInt16Type),
            DataType::UInt32 => int!(UInt32Type),
            DataType::UInt64 => int!(UInt64Type),
            DataType::Float16 => {
                Cell::Float(array.as_primitive::<Float16Type>().value(row).to_f64())
            }
            DataType::Float32 => {
                // Through the shortest decimal text, so 0.1f32 prints 0.1, not 0.10000000149.
                let v = array.as_primitive::<Float32Type>().value(row);
                Cell::Float(v.to_string().parse().unwrap_or(v as f64))
            }
            DataType::Float64 => Cell::Float(array.as_primitive::<Float64Type>().value(row)),
            DataType::Decimal128(_, _) => Cell::Exact(
                array
                    .as_primitive::<datafusion::arrow::datatypes::Decimal128Type>()
                    .value_as_string(row),
            ),
            DataType::Decimal256(_, _) => Cell::Exact(
                array
                    .as_primitive::<datafusion::arrow::datatypes::Decimal256Type>()
                    .value_as_string(row),
            ),
            DataType::Utf8 => Cell::Text(array.as_string::<i32>().value(row).to_string()),
            DataType::LargeUtf8 => Cell::Text(array.as_string::<i64>().value(row).to_string()),
            DataType::Utf8View => Cell::Text(array.as_string_view().value(row).to_string()),
            DataType::Date32 => {
                let d = array.as_primitive::<Date32Type>().value(row);
                match Date32Type::to_naive_date_opt(d) {
                    Some(d) => Cell::Text(d.format("%Y-%m-%d").to_string()),
                    None => self.fallback(array, row),
                }
            }
            DataType::Date64 => {
                let d = array.as_primitive::<Date64Type>().value(row);
                match Date64Type::to_naive_date_opt(d) {
                    Some(d) => Cell::Text(d.format("%Y-%m-%d").to_string()),
                    None => self.fallback(array, row),
                }
            }
            DataType::Timestamp(unit, _) => {
                // Zone-less timestamps are taken as UTC, like DataFusion does.
                let (v, nanos_per) = match unit {
                    TimeUnit::Second => (
                        array.as_primitive::<TimestampSecondType>().value(row) as i128,
                        1_000_000_000i128,
                    ),
                    TimeUnit::Millisecond => (
                        array.as_primitive::<TimestampMillisecondType>().value(row) as i128,
                        1_000_000,
                    ),
                    TimeUnit::Microsecond => (
                        array.as_primitive::<TimestampMicrosecondType>().value(row) as i128,
                        1_000,
                    ),
                    TimeUnit::Nanosecond => (
                        array.as_primitive::<TimestampNanosecondType>().value(row) as i128,
                        1,
                    ),
                };
                let nanos = v * nanos_per;
                let secs = nanos.div_euclid(1_000_000_000) as i64;
                let sub = nanos.rem_euclid(1_000_000_000) as u32;
                match Utc.timestamp_opt(secs, sub).single() {
                    Some(t) => Cell::Text(self.instant(t)),
                    None => self.fallback(array, row),
                }
            }
            DataType::Time32(_) | DataType::Time64(_) => {
                let nanos: i64 = match array.data_type() {
                    DataType::Time32(TimeUnit::Second) => {
                        array.as_primitive::<Time32SecondType>().value(row) as i64 * 1_000_000_000
                    }
                    DataType::Time32(_) => {
                        array.as_primitive::<Time32MillisecondType>().value(row) as i64 * 1_000_000
                    }
                    DataType::Time64(TimeUnit::Microsecond) => {
                        array.as_primitive::<Time64MicrosecondType>().value(row) * 1_000
                    }
                    _ => array.as_primitive::<Time64NanosecondType>().value(row),
                };
                match NaiveTime::from_num_seconds_from_midnight_opt(
                    (nanos / 1_000_000_000) as u32,
                    (nanos % 1_000_000_000) as u32,
                ) {
                    // Postgres prints only the fractional digits that are there: 23:59:59.5
                    Some(t) => {
                        let s = t.to_string();
                        Cell::Text(if s.contains('.') {
                            s.trim_end_matches('0').to_string()
                        } else {
                            s
                        })
                    }
                    None => self.fallback(array, row),
                }
            }
            DataType::Interval(IntervalUnit::MonthDayNano) => {
                let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
                Cell::Text(postgres_interval(v.months, v.days, v.nanoseconds))
            }
            DataType::Interval(IntervalUnit::DayTime) => {
                let v = array.as_primitive::<IntervalDayTimeType>().value(row);
                Cell::Text(postgres_interval(
                    0,
                    v.days,
                    v.milliseconds as i64 * 1_000_000,
                ))
            }
            DataType::Interval(IntervalUnit::YearMonth) => {
                let v = array.as_primitive::<IntervalYearMonthType>().value(row);
                Cell::Text(postgres_interval(v, 0, 0))
            }
            // A difference of timestamps: Postgres's interval, whole days apart (as it prints
            // `timestamp - timestamp`), instead of arrow's ISO 8601 `PT3637S`.
            DataType::Duration(unit) => {
                use datafusion::arrow::datatypes::{
                    DurationMicrosecondType as Us, DurationMillisecondType as Ms,
                    DurationNanosecondType as Ns, DurationSecondType as S,
                };
                let (v, per): (i64, i128) = match unit {
                    TimeUnit::Second => (array.as_primitive::<S>().value(row), 1_000_000_000),
                    TimeUnit::Millisecond => (array.as_primitive::<Ms>().value(row), 1_000_000),
                    TimeUnit::Microsecond => (array.as_primitive::<Us>().value(row), 1_000),
                    TimeUnit::Nanosecond => (array.as_primitive::<Ns>().value(row), 1),
                };
                match i64::try_from(v as i128 * per) {
                    Ok(nanos) => Cell::Text(crate::engine::postgres_duration(nanos)),
                    Err(_) => self.fallback(array, row),
                }
            }
            DataType::Dictionary(_, _) => {
                let dict = array.as_any_dictionary();
                match dict.normalized_keys().get(row) {
                    Some(&k) => self.cell(dict.values().as_ref(), k),
                    None => Cell::Null,
                }
            }
            _ => self.fallback(array, row),
        }
    }

    fn fallback(&self, array: &dyn Array, row: usize) -> Cell {
        let options = FormatOptions::default().with_null("");
        match ArrayFormatter::try_new(array, &options) {
            Ok(f) => Cell::Text(f.value(row).to_string()),
            Err(e) => Cell::Text(format!("<{e}>")),
        }
    }
}

/// A text column that holds exact numbers (marked by the engine's Postgres reader).
fn is_exact_text(f: &datafusion::arrow::datatypes::Field) -> bool {
    f.metadata().get("skipper.type").map(String::as_str) == Some("numeric")
}

/// The length a column of char(n) values read without their padding prints at, as Postgres
/// prints char(n) (marked by the engine's Postgres reader; lost by any expression over it, whose
/// text is unpadded in Postgres too).
fn char_length(f: &datafusion::arrow::datatypes::Field) -> Option<usize> {
    f.metadata()
        .get("skipper.type")?
        .strip_prefix("char(")?
        .strip_suffix(')')?
        .parse()
        .ok()
}

/// An interval the way Postgres prints it (the engine's, which casts to text the same way).
pub use crate::engine::postgres_interval;

/// What a finished write reports, for the stderr summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteSummary {
    pub rows: u64,
    /// Rows the table format received but did not show.
    pub not_shown: u64,
}

/// Streams batches in one format. Call [`begin`](Self::begin), then
/// [`write_batch`](Self::write_batch) for each batch, then [`finish`](Self::finish).
pub struct ResultWriter<W: Write> {
    format: Format,
    out: W,
    cells: CellFormatter,
    columns: Vec<String>,
    rows: u64,
    table: Vec<Vec<Cell>>,
    csv: Option<csv::Writer<Vec<u8>>>,
    /// The header waits for the first rows (or the end), so a query that fails before
    /// producing anything leaves stdout empty.
    pending_header: Option<datafusion::arrow::datatypes::SchemaRef>,
    /// Wrap the table to the terminal's width (only when writing to a terminal).
    fit_terminal: bool,
    /// Each column's name as an encoded JSON key with its colon: `"name":`.
    json_keys: Vec<Vec<u8>>,
    /// Columns of exact numbers carried as text (a Postgres numeric with no declared scale).
    exact_text: Vec<bool>,
    /// Per column: char(n)'s n, to pad its values to.
    padded: Vec<Option<usize>>,
    /// The Arrow IPC writer, writing into a buffer drained to `out` after each batch.
    ipc: Option<datafusion::arrow::ipc::writer::StreamWriter<Vec<u8>>>,
}

impl<W: Write> ResultWriter<W> {
    pub fn new(format: Format, out: W, tz: Tz) -> Self {
        ResultWriter {
            format,
            out,
            cells: CellFormatter::new(tz),
            columns: vec![],
            rows: 0,
            table: vec![],
            csv: None,
            pending_header: None,
            fit_terminal: false,
            json_keys: vec![],
            exact_text: vec![],
            padded: vec![],
            ipc: None,
        }
    }

    /// Wrap wide tables to the terminal's width; for output that goes to a terminal.
    pub fn fit_terminal(mut self, yes: bool) -> Self {
        self.fit_terminal = yes;
        self
    }

    /// Take the result's schema; nothing is written until rows arrive or the write finishes.
    pub fn begin(&mut self, schema: &Schema) -> std::io::Result<()> {
        self.columns = schema.fields().iter().map(|f| f.name().clone()).collect();
        self.pending_header = Some(std::sync::Arc::new(schema.clone()));
        Ok(())
    }

    fn write_header(&mut self) -> std::io::Result<()> {
        let Some(schema) = self.pending_header.take() else {
            return Ok(());
        };
        self.columns = schema.fields().iter().map(|f| f.name().clone()).collect();
        self.exact_text = schema.fields().iter().map(|f| is_exact_text(f)).collect();
        self.padded = schema.fields().iter().map(|f| char_length(f)).collect();
        self.json_keys = self
            .columns
            .iter()
            .map(|c| {
                let mut k = serde_json::to_vec(c).unwrap_or_default();
                k.push(b':');
                k
            })
            .collect();
        match self.format {
            Format::Json => {
                let cols: Vec<serde_json::Value> = schema
                    .fields()
                    .iter()
                    .map(|f| {
                        let ty = if is_exact_text(f) {
                            "Numeric".to_string()
                        } else {
                            f.data_type().to_string()
                        };
                        serde_json::json!({"name": f.name(), "type": ty})
                    })
                    .collect();
                write!(
                    self.out,
                    "{{\"version\":{JSON_VERSION},\"columns\":{},\"rows\":[",
                    serde_json::Value::Array(cols)
                )?;
            }
            Format::Csv => {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(&self.columns)?;
                self.flush_csv(w)?;
            }
            Format::Arrow => {
                let w = datafusion::arrow::ipc::writer::StreamWriter::try_new(
                    Vec::new(),
                    schema.as_ref(),
                )
                .map_err(std::io::Error::other)?;
                self.ipc = Some(w);
                self.drain_ipc()?;
            }
            _ => {}
        }
        Ok(())
    }

    fn drain_ipc(&mut self) -> std::io::Result<()> {
        if let Some(w) = self.ipc.as_mut() {
            let buf = w.get_mut();
            self.out.write_all(buf)?;
            buf.clear();
        }
        Ok(())
    }

    fn flush_csv(&mut self, w: csv::Writer<Vec<u8>>) -> std::io::Result<()> {
        let bytes = w
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.out.write_all(&bytes)?;
        self.csv = Some(csv::Writer::from_writer(Vec::new()));
        Ok(())
    }

    /// Column `i`'s value in `row`, char(n) padded to n characters.
    fn cell(&self, i: usize, array: &dyn Array, row: usize) -> Cell {
        match (
            self.cells.cell(array, row),
            self.padded.get(i).copied().flatten(),
        ) {
            (Cell::Text(mut t), Some(n)) => {
                let short = n.saturating_sub(t.chars().count());
                t.extend(std::iter::repeat_n(' ', short));
                Cell::Text(t)
            }
            (cell, _) => cell,
        }
    }

    pub fn write_batch(&mut self, batch: &RecordBatch) -> std::io::Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        self.write_header()?;
        match self.format {
            Format::Table => {
                for row in 0..n {
                    if self.table.len() < TABLE_ROW_CAP {
                        let cells = batch
                            .columns()
                            .iter()
                            .enumerate()
                            .map(|(i, c)| match self.cell(i, c.as_ref(), row) {
                                Cell::Text(t) if self.exact_text.get(i) == Some(&true) => {
                                    Cell::Exact(t)
                                }
                                other => other,
                            })
                            .collect();
                        self.table.push(cells);
                    }
                }
            }
            Format::Csv => {
                let mut w = self
                    .csv
                    .take()
                    .unwrap_or_else(|| csv::Writer::from_writer(Vec::new()));
                for row in 0..n {
                    let rec: Vec<String> = batch
                        .columns()
                        .iter()
                        .enumerate()
                        .map(|(i, c)| self.cell(i, c.as_ref(), row).text())
                        .collect();
                    w.write_record(&rec)?;
                }
                self.flush_csv(w)?;
            }
            Format::Arrow => {
                if let Some(w) = self.ipc.as_mut() {
                    w.write(batch).map_err(std::io::Error::other)?;
                }
                self.drain_ipc()?;
            }
            Format::Json | Format::Ndjson => {
                // Keys are encoded once per result (see `write_header`); each row writes them
                // and its values straight into one buffer, with no map per row.
                let mut buf = Vec::with_capacity(n * 64);
                for row in 0..n {
                    if self.format == Format::Json {
                        if self.rows > 0 || row > 0 {
                            buf.push(b',');
                        }
                        buf.push(b'\n');
                    }
                    buf.push(b'{');
                    for (i, c) in batch.columns().iter().enumerate() {
                        if i > 0 {
                            buf.push(b',');
                        }
                        buf.extend_from_slice(&self.json_keys[i]);
                        serde_json::to_writer(&mut buf, &self.cell(i, c.as_ref(), row).json())?;
                    }
                    buf.push(b'}');
                    if self.format == Format::Ndjson {
                        buf.push(b'\n');
                    }
                }
                self.out.write_all(&buf)?;
            }
        }
        self.rows += n as u64;
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<WriteSummary> {
        self.write_header()?;
        let mut summary = WriteSummary {
            rows: self.rows,
            not_shown: 0,
        };
        match self.format {
            Format::Table => {
                summary.not_shown = self.rows - self.table.len() as u64;
                let mut t = Table::new();
                // A terminal that reports no size (a bare pty) gets the natural width, not one
                // character per column.
                let fit = self.fit_terminal && t.width().is_some_and(|w| w >= 20);
                t.load_preset(presets::UTF8_FULL_CONDENSED)
                    .set_content_arrangement(if fit {
                        ContentArrangement::Dynamic
                    } else {
                        ContentArrangement::Disabled
                    })
                    .set_header(self.columns.clone());
                for row in &self.table {
                    t.add_row(row.iter().map(|c| {
                        let cell = TableCell::new(if *c == Cell::Null {
                            "NULL".to_string()
                        } else {
                            c.text()
                        });
                        if c.is_numeric() {
                            cell.set_alignment(CellAlignment::Right)
                        } else {
                            cell
                        }
                    }));
                }
                writeln!(self.out, "{t}")?;
            }
            Format::Json => {
                writeln!(self.out, "\n],\"row_count\":{}}}", self.rows)?;
            }
            Format::Arrow => {
                if let Some(w) = self.ipc.as_mut() {
                    w.finish().map_err(std::io::Error::other)?;
                }
                self.drain_ipc()?;
            }
            Format::Csv | Format::Ndjson => {}
        }
        self.out.flush()?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Decimal128Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::Field;
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("amount", DataType::Decimal128(20, 4), true),
            Field::new("ratio", DataType::Float64, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a,b"), None])),
                Arc::new(
                    Decimal128Array::from(vec![Some(12345678901234567890i128), None])
                        .with_precision_and_scale(20, 4)
                        .unwrap(),
                ),
                Arc::new(Float64Array::from(vec![Some(0.5), Some(f64::NAN)])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(1_700_000_000_000_001), None])
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap()
    }

    fn render(format: Format, tz: Tz) -> String {
        let b = batch();
        let mut out = Vec::new();
        let mut w = ResultWriter::new(format, &mut out, tz);
        w.begin(&b.schema()).unwrap();
        w.write_batch(&b).unwrap();
        let s = w.finish().unwrap();
        assert_eq!(s.rows, 2);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn char_columns_print_padded_to_their_length() {
        let padded = Field::new("badge", DataType::Utf8, true).with_metadata(
            std::collections::HashMap::from([("skipper.type".into(), "char(4)".into())]),
        );
        let schema = Arc::new(Schema::new(vec![
            padded,
            Field::new("joined", DataType::Utf8, true),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("é1"), None, Some("B123")])),
                Arc::new(StringArray::from(vec![Some("[é1]"), None, Some("x")])),
            ],
        )
        .unwrap();
        for (format, expected) in [
            (Format::Csv, "badge,joined\né1  ,[é1]\n,\nB123,x\n"),
            (
                Format::Ndjson,
                "{\"badge\":\"é1  \",\"joined\":\"[é1]\"}\n{\"badge\":null,\"joined\":null}\n\
                 {\"badge\":\"B123\",\"joined\":\"x\"}\n",
            ),
        ] {
            let mut out = Vec::new();
            let mut w = ResultWriter::new(format, &mut out, Tz::UTC);
            w.begin(&b.schema()).unwrap();
            w.write_batch(&b).unwrap();
            w.finish().unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn intervals_print_as_postgres_does() {
        let h = 3_600_000_000_000i64;
        assert_eq!(
            postgres_interval(14, 3, 4 * h + 305_500_000_000),
            "1 year 2 mons 3 days 04:05:05.5"
        );
        assert_eq!(postgres_interval(-3, 0, 0), "-3 mons");
        assert_eq!(postgres_interval(0, -1, 2 * h), "-1 days +02:00:00");
        assert_eq!(postgres_interval(0, 0, 0), "00:00:00");
        assert_eq!(postgres_interval(0, 1, -h), "1 day -01:00:00");
        assert_eq!(postgres_interval(0, 0, 30 * h), "30:00:00");
    }

    /// Postgres 15: `timestamp '2024-01-02 02:00' - timestamp '2024-01-01'` and the reverse,
    /// and `timestamp '2024-01-01' - timestamp '2024-01-01 01:00:37'`.
    #[test]
    fn timestamp_differences_print_as_postgres_intervals() {
        let us = 3_600_000_000i64;
        let a = datafusion::arrow::array::DurationMicrosecondArray::from(vec![
            26 * us,
            -26 * us,
            -(us + 37_000_000),
        ]);
        let f = CellFormatter::new(chrono_tz::UTC);
        let text: Vec<String> = (0..3).map(|i| f.cell(&a, i).text()).collect();
        assert_eq!(text, ["1 day 02:00:00", "-1 days -02:00:00", "-01:00:37"]);
    }

    #[test]
    fn json_keeps_decimals_exact_and_timestamps_in_utc() {
        let out = render(Format::Json, Tz::UTC);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["row_count"], 2);
        assert_eq!(v["rows"][0]["amount"], "1234567890123456.7890");
        assert_eq!(v["rows"][0]["at"], "2023-11-14T22:13:20.000001Z");
        assert_eq!(v["rows"][1]["ratio"], "NaN");
        assert!(v["rows"][1]["name"].is_null());
        assert_eq!(v["columns"][2]["type"], "Decimal128(20, 4)");
    }

    #[test]
    fn csv_quotes_and_converts_time_zone() {
        let out = render(Format::Csv, "Europe/Berlin".parse().unwrap());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "id,name,amount,ratio,at");
        assert_eq!(
            lines[1],
            "1,\"a,b\",1234567890123456.7890,0.5,2023-11-14T23:13:20.000001+01:00"
        );
        assert_eq!(lines[2], "2,,,NaN,");
    }

    // Postgres 15 prints these float8 values as 1.7e+18, 1e-05, 123456789012345, -Infinity.
    #[test]
    fn doubles_print_as_postgres_prints_them() {
        let got: Vec<String> = [1.7e18, 1e-5, 123456789012345.0, f64::NEG_INFINITY]
            .into_iter()
            .map(|f| Cell::Float(f).text())
            .collect();
        assert_eq!(got, ["1.7e+18", "1e-05", "123456789012345", "-Infinity"]);
    }

    #[test]
    fn ndjson_is_one_object_per_line_and_table_shows_null() {
        let out = render(Format::Ndjson, Tz::UTC);
        assert_eq!(out.lines().count(), 2);
        for l in out.lines() {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
        let t = render(Format::Table, Tz::UTC);
        assert!(
            t.contains("NULL") && t.contains("1234567890123456.7890"),
            "{t}"
        );
    }
}
